"""The OpenAPI document: it validates, it says how to authenticate, its schemas are real;
and a bounded schemathesis run against the analyst routes finds no server error and no
answer that breaks the document."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

#: The routes of this part (others' routes are tested by their owners).
OURS = r"^/api/v1/(events|posts|targets|accounts|status)(?!.*/evidence$)"  # evidence: its own


@pytest.fixture(scope="module")
def document(anonymous: TestClient) -> dict[str, Any]:
    r = anonymous.get("/api/v1/openapi.json")  # readable without a token: it is the manual
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def test_the_document_validates(app: FastAPI, document: dict[str, Any]) -> None:
    schemathesis.openapi.from_dict(copy.deepcopy(document)).validate()
    broken = copy.deepcopy(document)
    broken["paths"]["/api/v1/events"]["get"]["responses"] = "every answer"
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_the_document_says_how_to_authenticate(document: dict[str, Any]) -> None:
    assert document["info"]["title"] == "Takedown Monitor API"
    assert "Bearer" in document["info"]["description"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer",
                                     "description": schemes["bearerAuth"]["description"]}
    for path in ("/api/v1/events", "/api/v1/events/{event_id}", "/api/v1/posts/{post_id}",
                 "/api/v1/targets", "/api/v1/targets/{target_id}", "/api/v1/accounts",
                 "/api/v1/status"):
        operation = document["paths"][path]["get"]
        assert {"bearerAuth": []} in operation["security"], path
        assert {"401", "422"} <= set(operation["responses"]), path


def test_the_schemas_are_real(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    page = document["paths"]["/api/v1/events"]["get"]["responses"]["200"]
    assert page["content"]["application/json"]["schema"]["$ref"].endswith("/EventPage")
    assert {"id", "detected_at", "kind", "evidence", "post_id"} <= set(
        schemas["Event"]["properties"])
    assert "from" in schemas["TimelineRun"]["properties"]
    assert schemas["ErrorResponse"]["required"] == ["error"]
    params = {p["name"] for p in document["paths"]["/api/v1/events"]["get"]["parameters"]}
    assert {"since", "until", "platform", "group", "target", "kind", "cause", "q", "cursor",
            "limit"} <= params


def test_the_docs_page_is_served(anonymous: TestClient) -> None:
    r = anonymous.get("/api/v1/docs")
    assert r.status_code == 200 and "/api/v1/openapi.json" in r.text


def test_no_server_error_and_answers_match_the_document(app: FastAPI,
                                                        viewer_token: str) -> None:
    """A bounded run: a few dozen generated requests per operation of this part."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app).include(
        path_regex=OURS)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    headers = {"Authorization": f"Bearer {viewer_token}"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=checks)

        run()
