"""The issue's "done when": the demo's events, recorded untouched (with the sandbox's
faults on), each have a stamped bundle that verify accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tsa_server import LocalAuthority

from monitor.db import Database
from monitor.evidence.collect import bundle_bytes
from monitor.evidence.stamping import stamp_pending
from monitor.evidence.tsa import load_ca_file
from monitor.evidence.verify import verify_bundle
from monitor.settings import Settings


@pytest.mark.slow
def test_every_event_of_a_faulty_demo_has_an_accepted_bundle(
        db_url: str, live_authority: LocalAuthority) -> None:
    from test_e2e import run_scenario

    events, _ = run_scenario(db_url, fault_rate=0.2, seed=3)
    assert events
    settings = Settings.load(environ={}).replace(
        TIMESTAMP_AUTHORITIES=[live_authority.url],
        TIMESTAMP_CA_FILE=str(live_authority.ca_file))
    now = datetime.now(UTC)
    with Database(db_url) as db:
        run = stamp_pending(db, settings, now)
        assert run.errors == [] and run.failed == 0
        with db.transaction() as conn:
            ids = [r["id"] for r in conn.execute("SELECT id FROM events ORDER BY id")]
        assert run.stamped == len(ids)
        ca = load_ca_file(str(live_authority.ca_file))
        for event_id in ids:
            with db.transaction() as conn:
                data = bundle_bytes(conn, event_id, now)
            report = verify_bundle(data, ca_certs=ca)
            assert report.accepted, (event_id, "\n".join(report.lines()))
            statuses = {c.name: c.status for c in report.checks}
            assert statuses["chain"] == statuses["chain coverage"] == "ok"
