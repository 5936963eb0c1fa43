"""A post's history as the post page tells it: the observation runs of
:func:`monitor.db.analyst.timeline_runs` and the post's events, in sentences
("visible from T1 to T2, missing from T3, confirmed gone at T4"). Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Step", "timeline"]

#: How each run state reads.
_RUN_WORDS = {"visible": "visible", "missing": "missing", "gone": "missing",
              "failed": "not checked (the check failed)"}
#: How each event kind reads.
_EVENT_WORDS = {"disappeared": "confirmed gone", "hidden": "confirmed hidden",
                "edited": "edited", "restored": "visible again (restored)"}


@dataclass(frozen=True, slots=True)
class Step:
    """One sentence: ``what`` from ``start`` to ``end``, or at ``start`` when ``end`` is
    None; ``detail`` in brackets after it."""

    what: str
    start: datetime
    end: datetime | None = None
    checks: int = 1
    detail: str = ""
    event_id: int | None = None


def _run_detail(run: Mapping[str, Any]) -> str:
    if run.get("state") == "visible":
        return ""
    parts = [", ".join(str(o) for o in run.get("outcomes") or ())]
    if run.get("http_status"):
        parts.append(f"HTTP {run['http_status']}")
    return ", ".join(p for p in parts if p)


def _cause(e: Mapping[str, Any]) -> str:
    edit = e.get("edit")
    if e.get("kind") == "edited" and isinstance(edit, Mapping):
        return ", ".join(map(str, edit.get("classes") or ()))
    cause = str(e.get("cause") or "")
    if cause and e.get("cause_detail"):
        cause += f" / {e['cause_detail']}"
    if e.get("candidates"):
        cause += " (one of: " + ", ".join(map(str, e["candidates"])) + ")"
    return cause


def timeline(runs: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]]
             ) -> list[Step]:
    """The runs and the events as one story, in time order; an event at the same
    instant as a run's start reads after it."""
    steps: list[tuple[datetime, int, Step]] = []
    for run in runs:
        start, end = run["from"], run.get("to")
        steps.append((start, 0, Step(
            _RUN_WORDS.get(str(run.get("state")), str(run.get("state"))), start,
            end if end and end != start else None, int(run.get("count") or 1),
            _run_detail(run))))
    for e in events:
        steps.append((e["detected_at"], 1, Step(
            _EVENT_WORDS.get(str(e.get("kind")), str(e.get("kind"))), e["detected_at"],
            detail=_cause(e), event_id=e.get("id"))))
    return [s for _, _, s in sorted(steps, key=lambda x: (x[0], x[1]))]
