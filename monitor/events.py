"""Event kinds and the cause vocabulary, shared by every platform.

An event is a confirmed change in what the public can see of a post. Each kind
is documented here; ``tests/test_docs.py`` fails if the README leaves one out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Event kinds, with what each means.
EVENT_KINDS: dict[str, str] = {
    "disappeared": "the post's permalink stopped serving it, confirmed by consistent probes; "
    "`cause` says why, or `ambiguous` with the candidates",
    "hidden": "the permalink still serves the post, but a listing that should show it no "
    "longer does (cause `hidden_from_feed`), or the account was limited; or it is served "
    "from some vantage points and withheld from others (cause `geo_blocked`, with "
    "`countries_withheld` and `countries_visible` in the evidence); or a moderation label "
    "was put on it (cause `restricted`, the labeler and label in the evidence: Bluesky)",
    "edited": "the post's content changed (not its counters); `edit` holds the class, "
    "similarity and word diff",
    "restored": "a post that had disappeared or been hidden is visible again",
}

#: Causes, with what each means. One vocabulary across platforms.
CAUSES: dict[str, str] = {
    "deleted_by_author": "the author deleted it",
    "removed_by_moderator": "a community or instance moderator removed it",
    "removed_by_platform": "platform staff or automation removed it; `cause_detail` is "
    "policy, legal, copyright or spam when the platform says",
    "geo_blocked": "withheld in some countries: absent from the vantage points there, "
    "served to the others (or the platform's own words say so)",
    "account_suspended": "the author's account was suspended",
    "account_deleted": "the author's account was deleted",
    "hidden_from_feed": "still reachable by permalink, missing from the listing inside its window",
    "hidden_by_author": "a privacy setting of the author's: not censorship",
    "restricted": "behind a gate or in an abnormal state (under review, limited account)",
    "ambiguous": "the public signals cannot decide; `candidates` lists the possible causes",
}

REMOVAL_DETAILS = ("policy", "legal", "copyright", "spam")


@dataclass(slots=True)
class Verdict:
    """The classifier's answer for a confirmed disappearance or hiding."""

    cause: str
    detail: str | None = None
    candidates: list[str] = field(default_factory=list)
    reason: str = ""  # one sentence: which signal decided it
    #: Facts seen beside the deciding signals that did not decide, merged into the
    #: event's evidence: ``later_account_state`` (``{"state", "at", "via"}``), an
    #: account suspended or deleted only after the post was already gone.
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cause not in CAUSES:
            raise ValueError(f"unknown cause {self.cause!r}")
        if self.cause == "ambiguous" and len(self.candidates) < 2:
            raise ValueError("an ambiguous verdict lists at least two candidate causes")


@dataclass(slots=True)
class Event:
    """A confirmed change, ready to store. ``evidence`` is JSON-serialisable."""

    kind: str
    post_id: int
    target_id: int
    platform: str
    group: str
    post_key: str
    detected_at: datetime
    cause: str | None = None
    cause_detail: str | None = None
    candidates: list[str] = field(default_factory=list)
    last_seen_visible: datetime | None = None
    first_seen_gone: datetime | None = None
    published_at: datetime | None = None
    version_id: int | None = None
    edit: dict[str, Any] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    #: Unique per post and transition: storing the same event twice is a no-op.
    dedupe_key: str = ""
    #: The row id, once stored.
    id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")
        if self.cause is not None and self.cause not in CAUSES:
            raise ValueError(f"unknown cause {self.cause!r}")
