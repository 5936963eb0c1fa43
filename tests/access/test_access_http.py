"""Authentication over HTTP: Bearer tokens, roles, the session cookie and CSRF."""

from __future__ import annotations

from typing import Annotated

from access_helpers import Make
from fastapi import Depends

from monitor.access import csrf_for
from monitor.api.auth import CSRF_HEADER, SESSION_COOKIE, Principal, require
from monitor.db import Database
from monitor.db.access import create_token, revoke_token


def test_no_token_is_401_json_for_the_api(make_client: Make) -> None:
    r = make_client().get("/api/v1/review")
    assert r.status_code == 401
    assert "token create" in r.json()["error"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_bad_tokens_are_401(make_client: Make) -> None:
    client = make_client()
    for header in ("Bearer nope", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer tdm_AAAAAAAA_" +
                   "x" * 43, "Bearer <script>alert(1)</script>"):
        r = client.get("/api/v1/review", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert "error" in r.json()


def test_revoked_token_is_refused_at_once(make_client: Make, db: Database) -> None:
    client = make_client()
    with db.transaction() as conn:
        _, secret = create_token(conn, "frank", "viewer")
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/review", headers=auth).status_code == 200
    with db.transaction() as conn:
        revoke_token(conn, "frank")
    r = client.get("/api/v1/review", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["error"]


def test_viewer_cannot_review_or_administer(make_client: Make) -> None:
    viewer = make_client("viewer")
    r = viewer.post("/api/v1/review/1/approve", json={})
    assert r.status_code == 403
    assert "reviewer role" in r.json()["error"] and "viewer" in r.json()["error"]
    assert viewer.get("/api/v1/audit").status_code == 403
    reviewer = make_client("reviewer")
    assert reviewer.get("/api/v1/audit").status_code == 403
    assert reviewer.post("/api/v1/tokens", json={"name": "x", "role": "admin"}
                         ).status_code == 403
    assert make_client("admin").get("/api/v1/audit").status_code == 200


def test_cookie_login_then_csrf_guards_writes(make_client: Make, db: Database) -> None:
    with db.transaction() as conn:
        _, secret = create_token(conn, "gina", "reviewer")
    client = make_client()
    r = client.post("/login", data={"token": secret, "next": "/review"},
                    headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/review"
    cookie = r.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    # Reads work with the cookie alone.
    assert client.get("/api/v1/review").status_code == 200
    # A write without the CSRF token (what a forged cross-site form would send) fails...
    r = client.post("/api/v1/review/999999/note", json={"text": "hi"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = client.post("/api/v1/review/999999/note", json={"text": "hi"},
                    headers={CSRF_HEADER: csrf_for(secret + "x")})
    assert r.status_code == 403
    r = client.post("/api/v1/review/999999/note", data={"text": "hi", "csrf_token": "nope"})
    assert r.status_code == 403
    # ...and passes the check with it (header or form field): then 404, no such event.
    r = client.post("/api/v1/review/999999/note", json={"text": "hi"},
                    headers={CSRF_HEADER: csrf_for(secret)})
    assert r.status_code == 404 and "no event 999999" in r.json()["error"]
    r = client.post("/api/v1/review/999999/note",
                    data={"text": "hi", "csrf_token": csrf_for(secret)})
    assert r.status_code == 404
    # Logout clears the cookie.
    r = client.post("/logout")
    assert r.status_code == 200 and f'{SESSION_COOKIE}=""' in r.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/api/v1/review").status_code == 401


def test_login_refuses_bad_tokens_and_foreign_next(make_client: Make, db: Database) -> None:
    client = make_client()
    r = client.post("/login", data={"token": "wrong"})
    assert r.status_code == 401 and "set-cookie" not in r.headers
    r = client.post("/login", data={"token": "wrong", "next": "/x"},
                    headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?failed=1")
    with db.transaction() as conn:
        _, secret = create_token(conn, "hank", "viewer")
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"):
        r = client.post("/login", data={"token": secret, "next": bad},
                        headers={"Accept": "text/html"})
        assert r.headers["location"] == "/", bad


def test_bearer_writes_need_no_csrf(make_client: Make) -> None:
    r = make_client("reviewer").post("/api/v1/review/999999/note", json={"text": "hi"})
    assert r.status_code == 404


def test_pages_redirect_to_login(make_client: Make) -> None:
    """A page route guarded by require() sends a browser to /login with where it was."""
    client = make_client()
    app = client.app

    @app.get("/guarded")  # type: ignore[attr-defined, misc]
    def guarded(p: Annotated[Principal, Depends(require("viewer"))]) -> dict[str, str]:
        return {"name": p.name}

    r = client.get("/guarded?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fguarded%3Fx%3D1"
