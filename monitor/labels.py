"""Moderation labels on a post: what a reading's labels change, and which events follow.

A platform that labels posts instead of (or before) removing them (Bluesky's
labelers) sends them in ``PostContent.extra["labels"]`` (:data:`LABELS_FIELD`),
a list of::

    {"labeler": <labeler id>, "value": <label value>, "applied_at": <iso time>,
     "retracted_at": <iso time or None>, "platform": <bool, optional>}

Only moderation labels belong there (the platform's own labeler, or labelers the
operator chose); an author's self-labels do not. ``platform`` says the labeler
is the platform's own moderation service (default false: a third party's opinion).

Each OK reading of a tracked post is compared with the post's memory,
``post.known["labels"]`` (:data:`LABELS_FIELD`; written only here, never copied
from the reading):

* a label not in memory and in force → a ``hidden`` event, cause ``restricted``;
* a label not in memory, applied *and* retracted in this reading → one ``hidden``
  event whose label carries ``retracted_at`` (a flap is reported once, no
  ``restored``);
* a reported label now retracted → ``restored``, the label in the evidence;
* a label applied again after a retraction we saw → nothing; the memory counts it
  (``reapplied``), and its later retractions are silent too; a reading showing the
  label as applied *before* that retraction is a stale (cached) answer: ignored;
* a label missing from a reading → nothing: a labeler that went silent, or an
  answer without it, is not a retraction.

A post first seen already labelled gets its event on that first reading: a
watchdog wants to know the post it just started watching is labelled.
Labels never change ``post.state``; each event bumps ``post.transitions`` so its
dedupe key is its own. Hostile lists are cut to :data:`MAX_LABELS` entries;
entries that are not label mappings are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .events import Verdict
from .observation import PostContent
from .rows import PostRow

log = logging.getLogger(__name__)

#: ``PostContent.extra`` key of the reading's labels, and ``PostRow.known`` key of
#: the post's label memory.
LABELS_FIELD = "labels"
#: Labels read from one reading, and labels kept in one post's memory.
MAX_LABELS = 100
#: Longest labeler id, label value or time kept (longer ones are cut).
_MAX_TEXT = 300

#: ``(kind, verdict or None, extra evidence) -> None``: the lifecycle's event maker,
#: bound to the target, post, time and observation at hand.
Emit = Callable[[str, "Verdict | None", dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Label:
    """One moderation label as read."""

    labeler: str
    value: str
    applied_at: str | None
    retracted_at: str | None
    platform: bool

    @property
    def key(self) -> str:
        return f"{self.labeler} {self.value}"

    def to_json(self, *, retracted: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"labeler": self.labeler, "value": self.value,
                               "applied_at": self.applied_at}
        if retracted:
            out["retracted_at"] = self.retracted_at
        return out


def _text(value: Any) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) and value else None


def read_labels(raw: Any) -> list[Label]:
    """The labels of a reading's ``extra["labels"]``, at most :data:`MAX_LABELS`;
    entries without a labeler and a value, or of the wrong types, are skipped. The
    same (labeler, value) twice: the last one read wins."""
    if not isinstance(raw, list):
        return []
    found: dict[str, Label] = {}
    for item in raw[: MAX_LABELS * 2]:
        if not isinstance(item, dict):
            continue
        labeler, value = _text(item.get("labeler")), _text(item.get("value"))
        if labeler is None or value is None:
            continue
        label = Label(labeler, value, _text(item.get("applied_at")),
                      _text(item.get("retracted_at")), item.get("platform") is True)
        found[label.key] = label
        if len(found) >= MAX_LABELS:
            break
    return list(found.values())


def _memory(post: PostRow) -> dict[str, dict[str, Any]]:
    stored = post.known.get(LABELS_FIELD)
    if not isinstance(stored, dict):
        return {}
    return {k: dict(v) for k, v in stored.items() if isinstance(k, str) and isinstance(v, dict)}


def see_labels(post: PostRow, content: PostContent, now: datetime, emit: Emit) -> int:
    """Compare ``content``'s labels with ``post``'s memory; emit the events the
    rules above call for. A reading without a labels field is not read at all.
    Returns the number of events emitted."""
    if LABELS_FIELD not in content.extra:
        return 0
    raw = content.extra.get(LABELS_FIELD)
    if not isinstance(raw, list):
        log.warning("post %s: labels field is %s, not a list; ignored", post.post_key,
                    type(raw).__name__)
        return 0
    memory = _memory(post)
    emitted = 0
    for label in read_labels(raw):
        retracted = label.retracted_at is not None
        known = memory.get(label.key)
        if known is None:
            if len(memory) >= MAX_LABELS:
                continue  # memory full: a hostile post cannot grow its row
            memory[label.key] = {"labeler": label.labeler, "value": label.value,
                                 "applied_at": label.applied_at,
                                 "retracted_at": label.retracted_at,
                                 "state": "retracted" if retracted else "applied",
                                 "reapplied": 0, "seen_at": now.isoformat()}
            post.transitions += 1
            emit("hidden", Verdict("restricted", detail="label",
                                   reason=_reason(label, flap=retracted)),
                 _evidence(label, retracted=retracted))
            emitted += 1
        elif known.get("state") == "applied" and retracted:
            known.update(state="retracted", retracted_at=label.retracted_at)
            if not int(known.get("reapplied") or 0):
                post.transitions += 1
                emit("restored", None, {**_evidence(label, retracted=True),
                                        "previous_cause": "restricted"})
                emitted += 1
        elif known.get("state") == "retracted" and not retracted \
                and _later(label.applied_at, known.get("retracted_at")):
            # A flap: reported once already; counted, not reported again. A reading
            # whose label predates the retraction is a stale (cached) answer: ignored.
            known.update(state="applied", applied_at=label.applied_at, retracted_at=None,
                         reapplied=int(known.get("reapplied") or 0) + 1)
    post.known[LABELS_FIELD] = memory
    return emitted


def _later(applied: str | None, retracted: Any) -> bool:
    """Whether a label applied at ``applied`` came after the retraction we saw (unknown
    times count as later: the labeler said it is in force now)."""
    try:
        return datetime.fromisoformat(str(applied)) > datetime.fromisoformat(str(retracted))
    except (TypeError, ValueError):
        return True


def _evidence(label: Label, *, retracted: bool) -> dict[str, Any]:
    return {"label": label.to_json(retracted=retracted), "labeler_is_platform": label.platform}


def _reason(label: Label, *, flap: bool) -> str:
    who = "the platform's labeler" if label.platform else f"labeler {label.labeler}"
    tail = ", and retracted it before this reading" if flap else ""
    return f"{who} labelled the post {label.value!r}{tail}"


__all__ = ["LABELS_FIELD", "MAX_LABELS", "Emit", "Label", "read_labels", "see_labels"]
