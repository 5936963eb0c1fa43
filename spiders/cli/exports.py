"""``takedown export``: events, posts, versions and availability as CSV, JSON lines or
Parquet, the anonymised research export, and the Atom feed of events."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from monitor.db.queries import EventFilter
from monitor.events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from monitor.platforms import PLATFORMS

from .records import _check_names, _platforms, _vocabulary, _when

if TYPE_CHECKING:
    from .context import Ctx

_FORMATS = click.Choice(["csv", "jsonl", "parquet"])


def _filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filters of ``takedown events``, and -o/--format."""
    options = [
        click.option("--since", help="ISO time, or a duration ago (24h, 7d)."),
        click.option("--until", help="ISO time, or a duration ago."),
        click.option("--platform", "platforms", multiple=True, callback=_platforms,
                     help=f"One of: {', '.join(sorted(PLATFORMS))}."),
        click.option("--group", "groups", multiple=True, help="A watchlist group."),
        click.option("--target", "targets", multiple=True,
                     help="Target key or value, as `takedown status` prints it."),
        click.option("--kind", "kinds", multiple=True,
                     callback=_vocabulary("kind", EVENT_KINDS),
                     help=f"One of: {', '.join(EVENT_KINDS)}."),
        click.option("--cause", "causes", multiple=True,
                     callback=_vocabulary("cause", [*CAUSES, *REMOVAL_DETAILS]),
                     help=f"One of: {', '.join(CAUSES)} (or a detail: "
                          f"{', '.join(REMOVAL_DETAILS)})."),
        click.option("--limit", type=click.IntRange(min=0),
                     help="At most this many rows (default: all)."),
        click.option("--format", "fmt", type=_FORMATS, default="csv", show_default=True),
        click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write to FILE (required for parquet; default: standard output)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _event_filter(c: Ctx, conn: Any, kw: dict[str, Any]) -> EventFilter:
    from monitor.db import queries as q

    if kw["groups"] or kw["targets"]:
        _check_names(c, q.target_names(conn), kw["groups"], kw["targets"])
    return EventFilter(
        since=_when(kw["since"]), until=_when(kw["until"]),
        platforms=list(kw["platforms"]) or None, groups=list(kw["groups"]) or None,
        targets=list(kw["targets"]) or None, kinds=list(kw["kinds"]) or None,
        causes=list(kw["causes"]) or None, limit=kw["limit"])


def _check_output(fmt: str, output: Path | None) -> None:
    if fmt == "parquet" and output is None:
        raise click.UsageError("Parquet is a binary file: give -o FILE.parquet (or use "
                               "--format csv or jsonl for standard output)")


def _write(chunks: Iterator[bytes], output: Path | None) -> None:
    """Stream ``chunks`` to ``output`` or standard output. A file is written beside
    its final name and renamed at the end, so a failed export leaves no half file."""
    if output is None:
        stream: IO[bytes] = sys.stdout.buffer
        for data in chunks:
            stream.write(data)
        stream.flush()
        return
    partial = output.with_name(output.name + ".part")
    try:
        with open(partial, "wb") as fh:
            for data in chunks:
                fh.write(data)
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    click.echo(f"wrote {output}", err=True)


@click.group("export")
def export() -> None:
    """Export events, posts, versions or availability (CSV, JSON lines, Parquet), the anonymised
    research export, or an Atom feed of events."""


def _table_command(name: str, doc: str) -> click.Command:
    @_filter_options
    @click.pass_obj
    def command(c: Ctx, fmt: str, output: Path | None, **kw: Any) -> None:
        from monitor.exports import table_bytes

        _check_output(fmt, output)
        with c.database() as db:
            with db.transaction() as conn:
                f = _event_filter(c, conn, kw)
            _write(table_bytes(db, name, fmt, f), output)

    command.__doc__ = doc
    return click.command(name)(command)


export.add_command(_table_command("events", """Events, with the columns of `takedown events
    --format json` and its filters."""))
export.add_command(_table_command("posts", """Posts with their current title and text and
    their event counts. --since/--until bound when they were first seen; --kind/--cause
    keep posts with such an event."""))
export.add_command(_table_command("versions", """Every stored version of the posts the
    filters keep (--since/--until: when the version was first seen)."""))
export.add_command(_table_command("availability", """Per-country availability: each
    observation run of the posts the filters keep, by country and vantage point, as an
    OONI-style measurement (ok, anomaly, confirmed with its fingerprint, or failure: the
    measurement failed, never evidence). --since/--until bound when a run began."""))


@export.command("research")
@_filter_options
@click.option("--table", type=click.Choice(["events", "posts", "availability"]),
              default="events", show_default=True,
              help="One row per published event, per post, or per measurement of a post's "
                   "availability by country (a post with an unpublished event is left out).")
@click.option("--with-text", is_flag=True,
              help="Include titles and texts. Off by default: a post's words can name "
                   "people, or be searched for to find its author.")
@click.pass_obj
def research(c: Ctx, fmt: str, output: Path | None, table: str, with_text: bool,
             **kw: Any) -> None:
    """The anonymised research export: published events (or posts) with pseudonymous
    ids for authors, posts and targets; no handles, no URLs, no target values."""
    from monitor.exports import research_bytes

    _check_output(fmt, output)
    settings = c.settings()
    with c.database(settings) as db:
        with db.transaction() as conn:
            f = _event_filter(c, conn, kw)
        _write(research_bytes(db, settings, table, fmt, f, with_text=with_text), output)


@export.command("atom")
@click.option("--group", help="Only this group's events.")
@click.option("--platform", "platforms", multiple=False, callback=lambda ctx, p, v: (
    _platforms(ctx, p, (v,))[0] if v else None), help="Only this platform's events.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True,
              help="Entries in the feed.")
@click.option("--base-url", help="Where the web interface is served, for the entries' "
                                 "links (default: http://API_ADDRESS/).")
@click.option("--public", is_flag=True, help="The public feed: published events only, "
                                             "authors pseudonymised if PUBLIC_PSEUDONYMS.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to FILE (default: standard output).")
@click.pass_obj
def atom(c: Ctx, group: str | None, platforms: str | None, limit: int,
         base_url: str | None, public: bool, output: Path | None) -> None:
    """An Atom feed of the newest events, e.g. to publish as a static file."""
    from monitor.clock import SystemClock
    from monitor.db import queries as q
    from monitor.exports import feed_bytes, public_author
    from monitor.exports.atom import events_feed

    settings = c.settings()
    base = (base_url or f"http://{settings['API_ADDRESS']}").rstrip("/") + "/"
    path = "public/feeds/events.atom" if public else "api/v1/feeds/events.atom"
    f = EventFilter(groups=[group] if group else None,
                    platforms=[platforms] if platforms else None)
    with c.database(settings) as db:
        if group:
            with db.transaction() as conn:
                _check_names(c, q.target_names(conn), [group], [])
        author = public_author(db, settings) if public else (lambda row: row.get("author"))
        spec = events_feed(base, base + path, group, platforms, public=public, author=author)
        body = feed_bytes(db, settings, spec, f, entries=limit, now=SystemClock().now(),
                          public=public)
    _write(iter([body]), output)
