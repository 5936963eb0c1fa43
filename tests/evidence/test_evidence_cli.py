"""``takedown evidence`` as a user runs it, and the API's bundle download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from tsa_server import LocalAuthority

from monitor.db import Database
from monitor.db.access import create_token
from monitor.evidence.verify import verify_bundle
from spiders.cli.app import cli


@pytest.fixture
def run(analyst_db_url: str) -> Any:
    def invoke(*args: str, **env: str) -> Result:
        env = {"TAKEDOWN_DATABASE_URL": analyst_db_url, **env}
        return CliRunner().invoke(cli, ["--watchlist", "/nonexistent/watchlist.toml",
                                        "evidence", *args], env=env)

    return invoke


def _first_event(db: Database) -> int:
    with db.transaction() as conn:
        return int(conn.execute("SELECT min(id) AS id FROM events").fetchone()["id"])


def test_export_then_verify(run: Any, analyst_db: Database, tmp_path: Path,
                            live_authority: LocalAuthority) -> None:
    event_id = _first_event(analyst_db)
    env = {"TAKEDOWN_TIMESTAMP_AUTHORITIES": live_authority.url}
    stamped = run("stamp", **env)
    assert stamped.exit_code == 0, stamped.output
    assert "stamp(s) obtained" in stamped.output
    out = tmp_path / "bundle.zip"
    result = run("export", str(event_id), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"takedown evidence verify {out}" in result.output
    checked = run("verify", str(out), "--tsa-ca", str(live_authority.ca_file))
    assert checked.exit_code == 0, checked.output
    assert "ACCEPTED" in checked.output and "chains to the CA given" in checked.output
    # One byte changed: rejected, exit 1.
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x20
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    rejected = run("verify", str(bad))
    assert rejected.exit_code == 1 and "REJECTED" in rejected.output


def test_verify_uses_the_configured_ca(run: Any, analyst_db: Database, tmp_path: Path,
                                       live_authority: LocalAuthority,
                                       second_authority: LocalAuthority) -> None:
    env = {"TAKEDOWN_TIMESTAMP_AUTHORITIES": live_authority.url}
    assert run("stamp", **env).exit_code == 0
    out = tmp_path / "b.zip"
    assert run("export", str(_first_event(analyst_db)), "-o", str(out)).exit_code == 0
    wrong = run("verify", str(out), TAKEDOWN_TIMESTAMP_CA_FILE=str(second_authority.ca_file))
    assert wrong.exit_code == 1 and "does not chain" in wrong.output


def test_clear_errors(run: Any, tmp_path: Path) -> None:
    unknown = run("export", "999999", "-o", str(tmp_path / "x.zip"))
    assert unknown.exit_code == 1 and "no event 999999" in unknown.output
    assert not (tmp_path / "x.zip").exists()
    missing = run("verify", str(tmp_path / "nope.zip"))
    assert missing.exit_code == 1 and "cannot read" in missing.output
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"hello")
    garbage = run("verify", str(junk))
    assert garbage.exit_code == 1 and "zip cannot be read" in garbage.output
    nothing = run("verify")
    assert nothing.exit_code == 2 and "--chain" in nothing.output


def test_verify_chain(run: Any, db_url: str) -> None:
    # The analyst history was edited behind the recorder's back: the chain says so.
    tampered = run("verify", "--chain")
    assert tampered.exit_code == 1 and "row edited" in tampered.output
    clean = CliRunner().invoke(cli, ["--watchlist", "/nonexistent/w.toml", "evidence",
                                     "verify", "--chain"],
                               env={"TAKEDOWN_DATABASE_URL": db_url})
    assert clean.exit_code == 0 and "ACCEPTED" in clean.output


def test_prune(run: Any) -> None:
    result = run("prune", TAKEDOWN_ARCHIVE_RETENTION="1d")
    assert result.exit_code == 0, result.output
    assert "raw capture(s) expired" in result.output


def test_the_api_serves_the_bundle(analyst_db: Database) -> None:
    from monitor.api.app import create_app
    from monitor.settings import Settings

    client = TestClient(create_app(Settings(), analyst_db), base_url="http://127.0.0.1")
    event_id = _first_event(analyst_db)
    assert client.get(f"/api/v1/events/{event_id}/evidence").status_code == 401
    with analyst_db.transaction() as conn:
        _, secret = create_token(conn, "evidence-viewer", "viewer")
    client.headers["Authorization"] = f"Bearer {secret}"
    answer = client.get(f"/api/v1/events/{event_id}/evidence")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert f"evidence-{event_id}.zip" in answer.headers["content-disposition"]
    assert verify_bundle(answer.content).accepted
    assert client.get("/api/v1/events/999999/evidence").status_code == 404
    assert client.get("/api/v1/events/0/evidence").status_code == 422
    with analyst_db.transaction() as conn:
        audit = conn.execute("SELECT subject FROM audit_log WHERE action = 'export'"
                             " ORDER BY id DESC LIMIT 1").fetchone()
    assert audit["subject"] == "events/999999/evidence"
