"""Exports as byte streams over a database: what the API and the CLI both serve.

Each generator holds one transaction (and one pooled connection) for as long as
it is read, because the rows come from a server-side cursor; closing the
generator early rolls the transaction back and returns the connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from ..db import Database
from ..db import access as access_store
from ..db import availability as availability_store
from ..db import exports as store
from ..db.queries import EventFilter
from .atom import FeedSpec, build_feed
from .research import research_table
from .tables import AVAILABILITY, EVENTS, POSTS, VERSIONS
from .tabular import encode

#: The plain exports: ``takedown export NAME`` and ``/api/v1/exports/NAME.FORMAT``.
EXPORTS = ("events", "posts", "versions", "availability")


def table_bytes(db: Database, name: str, fmt: str, f: EventFilter, *,
                chunk: int = store.CHUNK) -> Iterator[bytes]:
    """The export ``name`` (events, posts, versions, availability) as ``fmt``, filtered
    by ``f``."""
    if name not in EXPORTS:
        raise ValueError(f"unknown export {name!r}; use one of: {', '.join(EXPORTS)}")
    with db.transaction() as conn:
        if name == "events":
            yield from encode(EVENTS, store.stream_events(conn, f, chunk=chunk), fmt)
        elif name == "posts":
            yield from encode(POSTS, store.stream_posts(conn, f, chunk=chunk), fmt)
        elif name == "availability":
            yield from encode(AVAILABILITY, availability_store.stream(conn, f, chunk=chunk), fmt)
        else:
            yield from encode(VERSIONS, store.stream_versions(conn, f, chunk=chunk), fmt)


def research_bytes(db: Database, settings: Any, table: str, fmt: str, f: EventFilter, *,
                   with_text: bool = False, chunk: int = store.CHUNK) -> Iterator[bytes]:
    """The anonymised research export of ``table`` (events, posts or availability):
    published events only, pseudonyms keyed by the database's pseudonym secret."""
    with db.transaction() as conn:
        secret = access_store.pseudonym_secret(conn, settings)
        spec = research_table(table, secret, with_text=with_text)
        published = access_store.published_clause("e")
        source = {"events": store.stream_events, "posts": store.stream_posts,
                  "availability": availability_store.stream}[table]
        yield from encode(spec, source(conn, f, chunk=chunk, published=published), fmt)


def feed_bytes(db: Database, settings: Any, spec: FeedSpec, f: EventFilter, *,
               entries: int, now: datetime, public: bool) -> bytes:
    """An Atom feed of the ``entries`` newest events ``f`` keeps; a ``public`` feed
    carries only published events."""
    with db.transaction() as conn:
        published = access_store.published_clause("e") if public else None
        rows = store.latest_events(conn, f, entries, published=published)
    return build_feed(rows, spec, now)


def public_author(db: Database, settings: Any) -> Callable[[dict[str, Any]], str | None]:
    """How the public sees an author: a pseudonym when ``PUBLIC_PSEUDONYMS``, else the
    handle. Returns a function of an event row."""
    from ..access import pseudonym

    if not settings["PUBLIC_PSEUDONYMS"]:
        return lambda row: row.get("author")
    with db.transaction() as conn:
        secret = access_store.pseudonym_secret(conn, settings)
    return lambda row: pseudonym(secret, row["author"]) if row.get("author") else None
