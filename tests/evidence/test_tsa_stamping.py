"""The stamping chore against local authorities: stamps land, a failing authority
is recorded and retried with back-off, and nothing ever raises into the daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tsa_server import LocalAuthority

from monitor.db import Database
from monitor.db import evidence as store
from monitor.evidence.collect import bundle_bytes, ensure_manifest
from monitor.evidence.stamping import backoff, stamp_pending
from monitor.evidence.tsa import load_ca_file
from monitor.evidence.verify import verify_bundle
from monitor.settings import Settings

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _settings(*urls: str, **more: Any) -> Settings:
    return Settings.load(environ={}).replace(TIMESTAMP_AUTHORITIES=list(urls),
                                             TIMESTAMP_TIMEOUT=5, **more)


def _statuses(db: Database, url: str) -> dict[str, int]:
    with db.transaction() as conn:
        return {r["status"]: r["n"] for r in conn.execute(
            "SELECT status, count(*) AS n FROM evidence_stamps WHERE authority = %s"
            " GROUP BY status", (url,))}


def _events(db: Database) -> int:
    with db.transaction() as conn:
        row = conn.execute("SELECT count(*) AS n FROM events").fetchone()
    return int(row["n"])


@pytest.mark.parametrize(("attempts", "seconds"), [
    (1, 60), (2, 120), (5, 960), (20, 86400), (10**6, 86400)])
def test_backoff_doubles_up_to_the_cap(attempts: int, seconds: float) -> None:
    assert backoff(attempts, 86400) == timedelta(seconds=seconds)


def test_every_event_is_stamped(analyst_db: Database, live_authority: LocalAuthority) -> None:
    settings = _settings(live_authority.url, TIMESTAMP_CA_FILE=str(live_authority.ca_file))
    run = stamp_pending(analyst_db, settings, NOW)
    total = _events(analyst_db)
    assert (run.built, run.stamped, run.failed, run.errors) == (total, total, 0, [])
    assert _statuses(analyst_db, live_authority.url) == {"ok": total}
    assert set(live_authority.user_agents[-total:]) == {settings["USER_AGENT"]}
    # A second run has nothing to do.
    asked = live_authority.queries
    again = stamp_pending(analyst_db, settings, NOW + timedelta(hours=1))
    assert (again.built, again.stamped, live_authority.queries) == (0, 0, asked)


def test_an_authority_down_never_blocks_and_is_retried(
        analyst_db: Database, live_authority: LocalAuthority) -> None:
    url = live_authority.url
    settings = _settings(url)
    live_authority.up = False
    run = stamp_pending(analyst_db, settings, NOW)  # must not raise
    total = _events(analyst_db)
    assert run.built == total and run.stamped == 0 and run.failed == total
    assert _statuses(analyst_db, url) == {"failed": total}
    # Asked once: the other stamps of a failing authority wait without a request.
    assert live_authority.queries >= 1
    with analyst_db.transaction() as conn:
        rows = conn.execute("SELECT DISTINCT next_try, last_error, attempts"
                            " FROM evidence_stamps").fetchall()
    assert len(rows) == 1
    assert rows[0]["next_try"] == NOW + timedelta(minutes=1)
    assert "HTTP 503" in rows[0]["last_error"] and rows[0]["attempts"] == 1
    # An export meanwhile: the bundle is there, unstamped, and verifies.
    with analyst_db.transaction() as conn:
        event_id = conn.execute("SELECT min(id) AS id FROM events").fetchone()["id"]
        pending = bundle_bytes(conn, event_id, NOW)
    assert verify_bundle(pending).accepted

    live_authority.up = True
    asked = live_authority.queries
    early = stamp_pending(analyst_db, settings, NOW + timedelta(seconds=30))
    assert (early.stamped, live_authority.queries) == (0, asked)  # backing off
    later = stamp_pending(analyst_db, settings, NOW + timedelta(seconds=61))
    assert later.stamped == total and _statuses(analyst_db, url) == {"ok": total}
    with analyst_db.transaction() as conn:
        stamped = bundle_bytes(conn, event_id, NOW)
        row = store.stamps(conn, event_id)[0]
    assert row["attempts"] == 2 and row["last_error"] is None
    report = verify_bundle(stamped, ca_certs=load_ca_file(str(live_authority.ca_file)))
    assert report.accepted, report.lines()
    # The manifest was frozen while the authority was down: the same bytes got stamped.
    assert stamped.count(pending[pending.index(b"{"):pending.index(b"{") + 200]) == 1


def test_one_authority_down_another_up(analyst_db: Database, live_authority: LocalAuthority,
                                       second_authority: LocalAuthority) -> None:
    second_authority.up = False
    settings = _settings(live_authority.url, second_authority.url)
    total = _events(analyst_db)
    first = stamp_pending(analyst_db, settings, NOW)  # a batch is at most STAMP_BATCH
    second = stamp_pending(analyst_db, settings, NOW)
    assert first.stamped + second.stamped == total
    assert _statuses(analyst_db, live_authority.url) == {"ok": total}
    assert _statuses(analyst_db, second_authority.url) == {"failed": total}
    with analyst_db.transaction() as conn:
        data = bundle_bytes(conn, 1, NOW)
    report = verify_bundle(data)
    assert report.accepted
    assert len([c for c in report.checks if c.name.startswith("timestamp ")]) == 1


def test_a_token_from_an_untrusted_authority_is_not_kept(
        analyst_db: Database, live_authority: LocalAuthority,
        second_authority: LocalAuthority) -> None:
    # The authority answers, but its certificate does not chain to the configured CA.
    settings = _settings(live_authority.url, TIMESTAMP_CA_FILE=str(second_authority.ca_file))
    run = stamp_pending(analyst_db, settings, NOW)
    assert run.stamped == 0 and run.failed == _events(analyst_db)
    with analyst_db.transaction() as conn:
        errors = {r["last_error"] for r in conn.execute("SELECT last_error FROM evidence_stamps")}
    assert len(errors) == 1 and "unusable token" in errors.pop()


def test_a_broken_answer_is_recorded(analyst_db: Database) -> None:
    def liar(url: str, data: bytes, **_: Any) -> bytes:
        from monitor.evidence.tsa import parse_response

        return parse_response(b"<html>gateway</html>", data, 1)

    run = stamp_pending(analyst_db, _settings("http://127.0.0.1:9/tsr"), NOW, request=liar)
    assert run.stamped == 0 and run.failed == _events(analyst_db) and not run.errors


def test_a_database_outage_never_raises(analyst_db_url: str,
                                        live_authority: LocalAuthority) -> None:
    db = Database(analyst_db_url)
    db.close()
    run = stamp_pending(db, _settings(live_authority.url), NOW)
    assert run.errors and run.stamped == 0


def test_no_authority_configured_still_freezes_manifests(analyst_db: Database) -> None:
    run = stamp_pending(analyst_db, Settings.load(environ={}), NOW)
    assert run.built == _events(analyst_db) and run.stamped == run.failed == 0
    with analyst_db.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM evidence_stamps").fetchone()["n"] == 0


def test_a_silent_authority_holds_nothing_the_recorder_needs(analyst_db: Database) -> None:
    """While the chore waits for an authority that never answers, the recorder's
    writes go on: no transaction is open and no lock it takes is held."""
    import socket
    import threading
    import time

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(50)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/tsr"
        settings = _settings(url).replace(TIMESTAMP_TIMEOUT=2)
        with analyst_db.transaction() as conn:  # manifests first: only the wait remains
            for event_id in [r["id"] for r in conn.execute("SELECT id FROM events")]:
                ensure_manifest(conn, event_id, NOW, [url])
        result: list[Any] = []
        chore = threading.Thread(target=lambda: result.append(
            stamp_pending(analyst_db, settings, NOW)))
        started = time.monotonic()
        chore.start()
        # Its connection accepted (and left unanswered): the chore is now waiting on
        # the authority, whatever the machine's load, so the locks below are looked
        # at while it waits, not before it began.
        silent.settimeout(15)
        waiting_on, _ = silent.accept()
        with waiting_on:  # closed after the chore, on a failed assertion too
            assert chore.is_alive()
            with analyst_db.transaction() as conn:
                conn.execute("SET LOCAL lock_timeout = '300ms'")
                conn.execute("SELECT seq FROM chain_head FOR UPDATE")  # what an append takes
                conn.execute("LOCK TABLE evidence_stamps, evidence_manifests IN EXCLUSIVE MODE")
                waiting = conn.execute(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state = 'idle in transaction'").fetchone()["n"]
            assert waiting == 0
            chore.join(timeout=30)
    assert not chore.is_alive() and time.monotonic() - started < 20
    run = result[0]
    assert run.stamped == 0 and run.failed == _events(analyst_db) and not run.errors


def test_the_authorities_setting() -> None:
    from monitor.errors import ConfigError

    as_text = Settings.load({"timestamp_authorities": "https://freetsa.org/tsr, "
                                                      "http://timestamp.digicert.com"},
                            environ={})
    as_list = Settings.load({"timestamp_authorities": ["https://freetsa.org/tsr",
                                                       "http://timestamp.digicert.com"]},
                            environ={})
    assert as_text.TIMESTAMP_AUTHORITIES == as_list.TIMESTAMP_AUTHORITIES == (
        "https://freetsa.org/tsr", "http://timestamp.digicert.com")
    assert Settings.load(environ={}).TIMESTAMP_AUTHORITIES == ()
    with pytest.raises(ConfigError, match="TIMESTAMP_AUTHORITIES.*not an http"):
        Settings.load(environ={"TAKEDOWN_TIMESTAMP_AUTHORITIES": "file:///etc/passwd"})
