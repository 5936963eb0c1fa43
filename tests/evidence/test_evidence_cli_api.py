"""The bundle route against its OpenAPI document: a bounded schemathesis run."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from monitor.api.app import create_app
from monitor.db import Database
from monitor.db.access import create_token
from monitor.settings import Settings


def test_the_route_keeps_to_its_document(analyst_db: Database) -> None:
    app = create_app(Settings(), analyst_db)
    with analyst_db.transaction() as conn:
        _, secret = create_token(conn, "evidence-fuzz", "viewer")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app).include(
        path_regex=r"/evidence$")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert [o.label for o in operations] == ["GET /api/v1/events/{event_id}/evidence"]
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]

    @given(case=operations[0].as_strategy())
    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=checks)

    run()
    anonymous = operations[0].Case(path_parameters={"event_id": 1})
    anonymous.call_and_validate(checks=checks)  # a 401, as documented
