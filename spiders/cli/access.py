"""The ``token`` and ``review`` command groups: API tokens, and the review queue of
groups with ``review = true``. Both write through :mod:`monitor.db.access`, audited
as the operator (``cli:<user>``, an admin: they hold the database already)."""

from __future__ import annotations

import getpass
import json
import unicodedata
from typing import TYPE_CHECKING, Any

import click

from monitor.access import ROLES, Principal
from monitor.db import access as store
from monitor.query import render_table

if TYPE_CHECKING:
    from .context import Ctx

__all__ = ["review_group", "token_group"]


def _operator() -> Principal:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a bare container: still audit something true
        user = "unknown"
    return Principal.cli(user)


def _plain(value: Any, width: int = 60) -> str:
    """One terminal-safe line: control and direction characters (a post can carry
    escape sequences or a right-to-left override) are shown as U+FFFD."""
    text = "" if value is None else str(value)
    text = "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in " ".join(text.split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def _ts(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


@click.group("token")
def token_group() -> None:
    """API tokens: create (the secret is shown once), list, revoke."""


@token_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True,
              help="viewer reads; reviewer also decides reviews; admin also manages tokens.")
@click.pass_obj
def token_create(c: Ctx, name: str, role: str) -> None:
    """Create a token called NAME and print its secret (only this once)."""
    try:
        with c.database() as db, db.transaction() as conn:
            token_id, secret = store.create_token(conn, name, role)
            store.audit(conn, _operator(), "token.create", f"token:{token_id}",
                        {"name": name.strip(), "role": role})
    except store.AccessError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {token_id} ({_plain(name)}, {role}) created. Its secret, shown only "
               "now; keep it safe:", err=True)
    click.echo(secret)


@token_group.command("list")
@click.option("--all", "everything", is_flag=True, help="Include revoked tokens.")
@click.pass_obj
def token_list(c: Ctx, everything: bool) -> None:
    """List tokens (never their secrets)."""
    with c.database() as db, db.transaction() as conn:
        rows = store.list_tokens(conn, include_revoked=everything)
    click.echo(render_table(
        ["id", "name", "role", "prefix", "created", "last_used", "revoked"],
        [[str(r["id"]), _plain(r["name"]), r["role"], f"tdm_{r['prefix']}_…",
          _ts(r["created_at"]), _ts(r["last_used_at"]), _ts(r["revoked_at"])] for r in rows]),
        nl=False)


@token_group.command("revoke")
@click.argument("ref", metavar="ID|NAME")
@click.pass_obj
def token_revoke(c: Ctx, ref: str) -> None:
    """Revoke a token by id or name; requests with it fail at once."""
    try:
        with c.database() as db, db.transaction() as conn:
            row = store.revoke_token(conn, ref)
            store.audit(conn, _operator(), "token.revoke", f"token:{row['id']}",
                        {"name": row["name"]})
    except store.AccessError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"token {row['id']} ({_plain(row['name'])}) revoked")


@click.group("review")
def review_group() -> None:
    """The review queue: events of groups with `review = true` wait here to be published."""


@review_group.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def review_list(c: Ctx, limit: int, fmt: str) -> None:
    """Events awaiting review, oldest first."""
    with c.database() as db, db.transaction() as conn:
        rows = store.pending(conn, limit=limit)
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r, default=str, ensure_ascii=False))
        return
    click.echo(render_table(
        ["id", "detected", "group", "platform", "kind", "cause", "author", "title", "notes"],
        [[str(r["id"]), _ts(r["detected_at"]), _plain(r["group_name"], 24), r["platform"],
          r["kind"], r["cause"] or "", _plain(r["author"], 24), _plain(r["title"], 40),
          str(len(r["notes"]))] for r in rows]), nl=False)


def _decide(c: Ctx, event_id: int, decision: str, text: str | None) -> None:
    try:
        with c.database() as db, db.transaction() as conn:
            row = store.decide(conn, _operator(), event_id, decision, text)
    except store.AccessError as exc:
        raise click.ClickException(str(exc)) from None
    done = {"approved": "approved", "rejected": "rejected", "note": "noted"}[decision]
    extra = f"; {row['deliveries']} public alert(s) released" if decision == "approved" \
        and row["deliveries"] else ""
    click.echo(f"event {event_id} {done}{extra}")


@review_group.command("approve")
@click.argument("event_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--note", help="Why (optional).")
@click.pass_obj
def review_approve(c: Ctx, event_id: int, note: str | None) -> None:
    """Approve EVENT_ID: it is published and its public alerts go out."""
    _decide(c, event_id, "approved", note)


@review_group.command("reject")
@click.argument("event_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--reason", required=True, help="Why it must not be published (required).")
@click.pass_obj
def review_reject(c: Ctx, event_id: int, reason: str) -> None:
    """Reject EVENT_ID: it stays unpublished and its public alerts are suppressed."""
    _decide(c, event_id, "rejected", reason)


@review_group.command("note")
@click.argument("event_id", type=click.IntRange(1, 2**63 - 1))
@click.argument("text")
@click.pass_obj
def review_note(c: Ctx, event_id: int, text: str) -> None:
    """Add a note to EVENT_ID (its review state does not change)."""
    _decide(c, event_id, "note", text)
