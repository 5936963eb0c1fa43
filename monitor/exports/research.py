"""The anonymised research export, in the spirit of Weiboscope's open data.

Authors, posts, targets and events appear under keyed pseudonyms
(:func:`monitor.access.pseudonym`), stable for one database's secret so a
researcher can follow an account across rows without learning who it is. Left out:
handles, URLs (they carry handles), target values and keys, the platform's words
and the raw evidence (they may quote a name). Times, platforms, groups, kinds and
causes stay: they are the research. Titles and texts only with ``with_text``: a
post's words can name people, or be found again with a search engine, so the
operator opts in knowing that.

Only published events are exported (``published_clause``), and only posts whose
events all are: the research export is a public output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..access import pseudonym
from ..query import lifetime
from .tabular import Table

#: The research tables (``research --table``).
RESEARCH_TABLES = ("events", "posts", "availability")

_TEXT = (("title", "text"), ("text", "text"))

_EVENT_COLUMNS = (
    ("event", "text"), ("detected_at", "time"), ("kind", "text"), ("cause", "text"),
    ("cause_detail", "text"), ("candidates", "texts"), ("platform", "text"),
    ("group", "text"), ("target", "text"), ("post", "text"), ("author", "text"),
    ("published_at", "time"), ("last_seen_visible", "time"), ("first_seen_gone", "time"),
    ("lifetime_seconds", "float"), ("http_status", "int"), ("edit_classes", "texts"),
    ("edit_similarity", "float"),
)

_POST_COLUMNS = (
    ("post", "text"), ("platform", "text"), ("group", "text"), ("target", "text"),
    ("author", "text"), ("published_at", "time"), ("first_seen", "time"),
    ("state", "text"), ("state_since", "time"), ("gone_cause", "text"),
    ("last_visible_at", "time"), ("first_gone_at", "time"), ("versions", "int"),
    ("disappearances", "int"), ("edits", "int"), ("other_events", "int"),
)

#: Per-country availability (monitor.availability) without the vantage points' names:
#: they are the operator's (a partner's relay, a residential line), not the research.
_AVAILABILITY_COLUMNS = (
    ("post", "text"), ("platform", "text"), ("group", "text"), ("target", "text"),
    ("country", "text"), ("mode", "text"), ("first_at", "time"), ("last_at", "time"),
    ("repeats", "int"), ("measurement", "text"), ("outcome", "text"),
    ("http_status", "int"), ("fingerprint", "text"), ("notice", "text"),
    ("ok_elsewhere", "texts"),
)


class Pseudonyms:
    """Pseudonymous ids under one secret, one namespace per kind of thing, so an
    author and a post never share an id."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def author(self, handle: str | None) -> str | None:
        # The bare handle, as the public view pseudonymises it: the same author has
        # the same pseudonym in both.
        return pseudonym(self._secret, handle) if handle else None

    def post(self, platform: str, post_key: str) -> str:
        return pseudonym(self._secret, f"post:{platform}:{post_key}")

    def target(self, target_key: str) -> str:
        return pseudonym(self._secret, f"target:{target_key}")

    def event(self, event_id: int) -> str:
        return pseudonym(self._secret, f"event:{event_id}")


def _event_record(ids: Pseudonyms, with_text: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def record(row: dict[str, Any]) -> dict[str, Any]:
        observed = (row.get("evidence") or {}).get("observed") or {}
        edit = row.get("edit") or {}
        life = lifetime(row)
        out = {
            "event": ids.event(row["id"]), "detected_at": row["detected_at"],
            "kind": row["kind"], "cause": row.get("cause"),
            "cause_detail": row.get("cause_detail"), "candidates": row.get("candidates"),
            "platform": row["platform"], "group": row["group"],
            "target": ids.target(row["target_key"]),
            "post": ids.post(row["platform"], row["post_key"]),
            "author": ids.author(row.get("author")),
            "published_at": row.get("published_at"),
            "last_seen_visible": row.get("last_seen_visible"),
            "first_seen_gone": row.get("first_seen_gone"),
            "lifetime_seconds": life.total_seconds() if life else None,
            "http_status": _int(observed.get("http_status")),
            "edit_classes": [str(c) for c in edit.get("classes", [])] if edit else None,
            "edit_similarity": _float(edit.get("similarity")) if edit else None,
        }
        if with_text:
            out["title"], out["text"] = row.get("title"), row.get("text")
        return out

    return record


def _post_record(ids: Pseudonyms, with_text: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def record(row: dict[str, Any]) -> dict[str, Any]:
        out = {name: row.get(name) for name, _ in _POST_COLUMNS}
        out["post"] = ids.post(row["platform"], row["post_key"])
        out["target"] = ids.target(row["target_key"])
        out["author"] = ids.author(row.get("author"))
        if with_text:
            out["title"], out["text"] = row.get("title"), row.get("text")
        return out

    return record


def _availability_record(ids: Pseudonyms) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def record(row: dict[str, Any]) -> dict[str, Any]:
        out = {name: row.get(name) for name, _ in _AVAILABILITY_COLUMNS}
        out["post"] = ids.post(row["platform"], row["post_key"])
        out["target"] = ids.target(row["target_key"])
        return out

    return record


def research_table(table: str, secret: bytes, *, with_text: bool = False) -> Table:
    """The research ``table`` (events, posts or availability) under pseudonyms keyed by
    ``secret``. Availability has no text: ``with_text`` changes nothing there."""
    ids = Pseudonyms(secret)
    extra = _TEXT if with_text else ()
    if table == "events":
        return Table("research-events", _EVENT_COLUMNS + extra, _event_record(ids, with_text))
    if table == "posts":
        return Table("research-posts", _POST_COLUMNS + extra, _post_record(ids, with_text))
    if table == "availability":
        return Table("research-availability", _AVAILABILITY_COLUMNS, _availability_record(ids))
    raise ValueError(f"unknown research table {table!r}; use one of: "
                     f"{', '.join(RESEARCH_TABLES)}")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
