"""Tokens: stored hashed, looked up by prefix, revoked at once; roles; the CLI."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from monitor.access import has_role, pseudonym
from monitor.db import Database
from monitor.db.access import (
    AccessError,
    audit_rows,
    authenticate,
    create_token,
    list_tokens,
    revoke_token,
)


def test_only_a_hash_of_the_secret_is_stored(db: Database) -> None:
    with db.transaction() as conn:
        token_id, secret = create_token(conn, "alice", "viewer")
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM api_tokens WHERE id = %s", (token_id,)).fetchone()
    assert row is not None
    stored = " ".join(str(v) for v in row.values())
    assert secret not in stored
    assert secret.split("_", 2)[2] not in stored  # not even the random part
    assert bytes(row["secret_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert secret.startswith(f"tdm_{row['prefix']}_")
    assert row["role"] == "viewer" and row["revoked_at"] is None


def test_authenticate_accepts_the_secret_and_nothing_close_to_it(db: Database) -> None:
    with db.transaction() as conn:
        token_id, secret = create_token(conn, "bob", "reviewer")
        assert authenticate(conn, secret) is not None
        principal = authenticate(conn, secret)
        assert principal is not None
        assert (principal.token_id, principal.name, principal.role) == (token_id, "bob",
                                                                       "reviewer")
        # Same prefix, wrong tail; truncated; junk; SQL; empty.
        assert authenticate(conn, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
        assert authenticate(conn, secret[:-5]) is None
        for junk in ("", "tdm_", "' OR 1=1 --", "x" * 10_000, "tdm_\x00\x00\x00\x00_abc"):
            assert authenticate(conn, junk) is None
        used = conn.execute("SELECT last_used_at FROM api_tokens WHERE id = %s",
                            (token_id,)).fetchone()
        assert used is not None and used["last_used_at"] is not None


def test_revoked_token_no_longer_authenticates_and_its_name_is_free(db: Database) -> None:
    with db.transaction() as conn:
        _, secret = create_token(conn, "carol", "admin")
    with db.transaction() as conn:
        row = revoke_token(conn, "carol")
        assert row["name"] == "carol"
    with db.transaction() as conn:
        assert authenticate(conn, secret) is None
        with pytest.raises(AccessError, match="no live token"):
            revoke_token(conn, "carol")
        new_id, _ = create_token(conn, "carol", "viewer")  # the name is free again
        assert [t["id"] for t in list_tokens(conn, include_revoked=False)] == [new_id]


@pytest.mark.parametrize("name, role, problem", [
    ("dave", "root", "unknown role"),
    ("", "viewer", "1 to 200 printable"),
    ("a\x00b", "viewer", "printable"),
    ("x" * 201, "viewer", "1 to 200"),
    ("12", "viewer", "only digits"),
])
def test_create_token_refuses_bad_input(db: Database, name: str, role: str,
                                        problem: str) -> None:
    with db.transaction() as conn, pytest.raises(AccessError, match=problem):
        create_token(conn, name, role)


def test_duplicate_live_name_is_refused(db: Database) -> None:
    with db.transaction() as conn:
        create_token(conn, "erin", "viewer")
    with db.transaction() as conn, pytest.raises(AccessError, match="exists"):
        create_token(conn, "erin", "admin")


def test_roles_are_ordered() -> None:
    assert has_role("admin", "reviewer") and has_role("reviewer", "viewer")
    assert not has_role("viewer", "reviewer") and not has_role("reviewer", "admin")
    assert not has_role("root", "viewer")
    with pytest.raises(ValueError):
        has_role("admin", "superuser")


def test_pseudonyms_are_stable_keyed_and_hide_the_handle() -> None:
    a = pseudonym(b"k1", "@alice")
    assert a == pseudonym(b"k1", "@alice") and a.startswith("anon-")
    assert "alice" not in a
    assert a != pseudonym(b"k2", "@alice") and a != pseudonym(b"k1", "@alice2")
    assert pseudonym(b"k1", "<script>\u202e") .startswith("anon-")


def _token_cli(db_url: str, tmp_path: Any, *args: str) -> Any:
    from click.testing import CliRunner

    from spiders.cli.access import token_group
    from spiders.cli.context import Ctx

    return CliRunner().invoke(token_group, list(args), obj=Ctx(tmp_path / "none.toml", 0),
                              env={"TAKEDOWN_DATABASE_URL": db_url})


def test_token_cli_create_list_revoke_is_audited(db: Database, db_url: str,
                                                 tmp_path: Any) -> None:
    made = _token_cli(db_url, tmp_path, "create", "ivy", "--role", "reviewer")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("tdm_")
    listed = _token_cli(db_url, tmp_path, "list")
    assert "ivy" in listed.output and "reviewer" in listed.output
    assert secret not in listed.output and secret[13:] not in listed.output
    assert _token_cli(db_url, tmp_path, "create", "ivy").exit_code != 0  # name taken
    bad = _token_cli(db_url, tmp_path, "create", "jo", "--role", "root")
    assert bad.exit_code != 0 and "root" in bad.output
    with db.transaction() as conn:
        assert authenticate(conn, secret) is not None
    revoked = _token_cli(db_url, tmp_path, "revoke", "ivy")
    assert revoked.exit_code == 0, revoked.output
    missing = _token_cli(db_url, tmp_path, "revoke", "ivy")
    assert missing.exit_code != 0 and "token list" in missing.output
    with db.transaction() as conn:
        assert authenticate(conn, secret) is None
        rows = audit_rows(conn)
    assert [(r["action"], r["detail"]["name"]) for r in rows] == [
        ("token.revoke", "ivy"), ("token.create", "ivy")]
    assert rows[1]["detail"]["role"] == "reviewer" and secret not in str(rows)
    assert "ivy" in _token_cli(db_url, tmp_path, "list", "--all").output


def test_token_api_is_admin_only_and_audited(db: Database, make_client: Any) -> None:
    admin = make_client("admin")
    r = admin.post("/api/v1/tokens", json={"name": "kim", "role": "viewer"})
    assert r.status_code == 201
    made = r.json()
    viewer = make_client()
    auth = {"Authorization": f"Bearer {made['secret']}"}
    assert viewer.get("/api/v1/review", headers=auth).status_code == 200
    listed = admin.get("/api/v1/tokens").json()["tokens"]
    assert "kim" in [t["name"] for t in listed] and made["secret"] not in str(listed)
    assert admin.post("/api/v1/tokens", json={"name": "kim", "role": "viewer"}
                      ).status_code == 400
    assert admin.post("/api/v1/tokens", json={"name": "x", "role": "god"}).status_code == 422
    assert admin.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
    assert viewer.get("/api/v1/review", headers=auth).status_code == 401
    assert admin.delete("/api/v1/tokens/nobody").status_code == 404
    actions = [e["action"] for e in admin.get("/api/v1/audit").json()["entries"]]
    assert actions[:2] == ["token.revoke", "token.create"]
