"""The issue's "done when": the demo's events, as recorded (the demo scenario run once
per session through the real pipeline: sandbox, spiders, recorder), each have a
stamped bundle that verify accepts."""

from __future__ import annotations

from datetime import UTC, datetime

from tsa_server import LocalAuthority

from monitor.db import Database
from monitor.evidence.collect import bundle_bytes
from monitor.evidence.stamping import stamp_pending
from monitor.evidence.tsa import load_ca_file
from monitor.evidence.verify import verify_bundle
from monitor.settings import Settings


def test_every_event_of_the_demo_has_a_stamped_bundle_verify_accepts(
        demo_db_url: str, live_authority: LocalAuthority) -> None:
    settings = Settings.load(environ={}).replace(
        TIMESTAMP_AUTHORITIES=[live_authority.url],
        TIMESTAMP_CA_FILE=str(live_authority.ca_file))
    now = datetime.now(UTC)
    with Database(demo_db_url) as db:
        run = stamp_pending(db, settings, now)
        assert run.errors == [] and run.failed == 0
        with db.transaction() as conn:
            ids = [r["id"] for r in conn.execute("SELECT id FROM events ORDER BY id")]
        assert ids and run.stamped == len(ids)
        ca = load_ca_file(str(live_authority.ca_file))
        for event_id in ids:
            with db.transaction() as conn:
                data = bundle_bytes(conn, event_id, now)
            report = verify_bundle(data, ca_certs=ca)
            assert report.accepted, (event_id, "\n".join(report.lines()))
            statuses = {c.name: c.status for c in report.checks}
            assert statuses["chain"] == statuses["chain coverage"] == "ok"
