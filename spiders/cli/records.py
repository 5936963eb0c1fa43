"""The commands that read what the monitor recorded: ``events``, ``history``, ``status``
and ``migrate``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from monitor import query
from monitor.db import queries as q
from monitor.errors import UnknownPlatform
from monitor.events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from monitor.platforms import PLATFORMS, get_platform
from monitor.settings import parse_duration

if TYPE_CHECKING:
    from .context import Ctx


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give an ISO date/time or a duration like 2h, 7d"
                                 ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _unknown(param: str, value: str, known: Iterable[str], what: str,
             listed: bool = True) -> click.BadParameter:
    """The error for a filter value nothing has: a close match and the known values."""
    names = sorted(set(known))
    close = difflib.get_close_matches(value, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    if listed:
        hint += f"known {what}s: " + (", ".join(names) or "none yet")
    else:
        hint += "`takedown status` lists the targets' keys"
    return click.BadParameter(f"unknown {what} {value!r}; {hint}", param_hint=param)


def _platforms(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
               ) -> tuple[str, ...]:
    try:
        return tuple(get_platform(v).name for v in values)
    except UnknownPlatform as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _vocabulary(what: str, known: Iterable[str]) -> Any:
    names = list(known)

    def check(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
              ) -> tuple[str, ...]:
        for value in values:
            if value not in names:
                raise _unknown(f"--{param.name}".removesuffix("s"), value, names, what)
        return values

    return check


@click.command()
@click.option("--since", help="ISO time, or a duration ago (24h, 7d).")
@click.option("--until", help="ISO time, or a duration ago.")
@click.option("--platform", "platforms", multiple=True, callback=_platforms,
              help=f"One of: {', '.join(sorted(PLATFORMS))}.")
@click.option("--group", "groups", multiple=True, help="A watchlist group.")
@click.option("--target", "targets", multiple=True,
              help="Target key or value, as `takedown status` prints it.")
@click.option("--kind", "kinds", multiple=True, callback=_vocabulary("kind", EVENT_KINDS),
              help=f"One of: {', '.join(EVENT_KINDS)}.")
@click.option("--cause", "causes", multiple=True,
              callback=_vocabulary("cause", [*CAUSES, *REMOVAL_DETAILS]),
              help=f"One of: {', '.join(CAUSES)} (or a detail: {', '.join(REMOVAL_DETAILS)}).")
@click.option("--limit", type=click.IntRange(min=0),
              help="At most this many events, oldest first (0: none; default: all).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.pass_obj
def events(c: Ctx, since: str | None, until: str | None, platforms: tuple[str, ...],
           groups: tuple[str, ...], targets: tuple[str, ...], kinds: tuple[str, ...],
           causes: tuple[str, ...], limit: int | None, fmt: str) -> None:
    """List takedown events, filtered."""
    f = q.EventFilter(since=_when(since), until=_when(until), platforms=list(platforms) or None,
                      groups=list(groups) or None, targets=list(targets) or None,
                      kinds=list(kinds) or None, causes=list(causes) or None, limit=limit)
    with c.database() as db, db.transaction() as conn:
        if groups or targets:
            _check_names(c, q.target_names(conn), groups, targets)
        rows = q.events(conn, f)
    click.echo(query.format_events(rows, fmt), nl=False)


def _check_names(c: Ctx, names: list[dict[str, Any]], groups: Iterable[str],
                 targets: Iterable[str]) -> None:
    """Reject a group or target that neither the watchlist nor the database knows."""
    known_groups = {r["group_name"] for r in names}
    if c.watchlist_path.exists():
        known_groups |= set(c.watchlist().groups)
    for group in groups:
        if group not in known_groups:
            raise _unknown("--group", group, known_groups, "group")
    known_targets = {r["key"] for r in names} | {r["value"] for r in names}
    for target in targets:
        if target not in known_targets:
            raise _unknown("--target", target, known_targets, "target", listed=False)


@click.command()
@click.argument("post")
@click.pass_obj
def history(c: Ctx, post: str) -> None:
    """Every stored version of POST, with word diffs, its timeline and its
    availability by country.

    POST is a post key, URL, or platform:key as `takedown events` and `check` print
    it; a target key (as `takedown status` prints it) lists the target's posts.
    """
    with c.database() as db, db.transaction() as conn:
        found = q.find_posts(conn, post, sorted(PLATFORMS))
        if not found and (target := q.find_target(conn, post)) is not None:
            click.echo(query.format_target_posts(target, q.target_posts(conn, target["id"])),
                       nl=False)
            return
        if not found:
            raise click.ClickException(f"no tracked post has the id or URL {post!r}; "
                                       "try `takedown events` to find one")
        from monitor.db import availability

        for row in found:
            click.echo(query.format_history(row, q.post_versions(conn, row["id"]),
                                            q.post_observations(conn, row["id"]),
                                            q.post_events(conn, row["id"]),
                                            availability.for_post(conn, row["id"])))


@click.command()
@click.pass_obj
def status(c: Ctx) -> None:
    """Each target's last successful check, error streak, next due time, what to do
    about a target that needs attention, the collectors paused (blocked or out), and
    the workers running with what they have claimed."""
    from alerts import delivery_summary
    from alerts.cli import format_summary
    from monitor.collector import format_paused
    from monitor.db import collector as collector_store
    from monitor.db import workers

    with c.database() as db, db.transaction() as conn:
        rows = q.status(conn)
        backlog = q.overdue(conn)
        deliveries = delivery_summary(conn)
        paused = collector_store.paused(conn)
        roster = workers.roster(conn)
    click.echo(query.format_status(rows), nl=False)
    click.echo(query.format_attention(rows), nl=False)
    click.echo(format_paused(paused), nl=False)
    click.echo(query.format_workers(roster), nl=False)
    failing = sum(query.target_state(r) == "failing" for r in rows)
    attention = sum(query.target_state(r) == "attention" for r in rows)
    click.echo(f"{len(rows)} target(s), {failing} failing, {attention} needing attention; "
               f"{backlog} check(s) overdue by more than a minute")
    click.echo(format_summary(deliveries))


@click.command()
@click.pass_obj
def migrate(c: Ctx) -> None:
    """Apply database migrations (they also apply themselves on every start)."""
    with c.database() as db:
        applied = db.migrate()
    click.echo("applied: " + ", ".join(applied) if applied else "schema is up to date")

