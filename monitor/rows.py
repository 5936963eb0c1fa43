"""The rows the core works on: targets, posts, and the writes one batch asks for.

Plain dataclasses shaped like the ``targets`` and ``posts`` tables, plus a post's
state (:class:`PostState`) and pending suspicion (:class:`Suspicion`, stored as
JSON). No logic beyond (de)serialising a suspicion and a probe, and reading a hand-built
target's ``single_post`` from its platform's declaration: the state machine is
:mod:`monitor.lifecycle`, run compression :mod:`monitor.runs`, scheduling
:mod:`monitor.schedule`, and :mod:`monitor.db.tracking` reads and writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from .events import Event
from .observation import Observation, RawCapture
from .platforms import is_single_post


class PostState(StrEnum):
    """Where a tracked post stands; the values are what ``posts.state`` stores."""

    #: Tracked (a watchlist post target) but never seen served yet.
    UNSEEN = "unseen"
    VISIBLE = "visible"
    #: An absence or a hiding is pending confirmation: see :class:`Suspicion`.
    SUSPECT = "suspect"
    #: A confirmed disappearance.
    GONE = "gone"
    #: A confirmed hiding: the permalink serves it, a listing does not.
    HIDDEN = "hidden"


SuspicionKind = Literal["absence", "hiding"]

#: ``PostRow.known`` key of the readings of a post's other content sources (a feed
#: entry's article page, :data:`monitor.platform.SOURCE_FIELD`): per source, ``recent``,
#: its last FLAP_VERSIONS readings as ``[hash, version id]``, newest first. Each
#: reading is a stored version like the post's own, so ``known`` stays small; the
#: store adds the newest one's content as ``content`` when it locks the row for a
#: probe, and never writes that back.
SOURCES_KEY = "sources"

#: A probe as kept in a suspicion and in evidence: time, URL, outcome, status…
ProbeSummary = dict[str, Any]


@dataclass(slots=True)
class Suspicion:
    """Why a post is suspect, since when, and the probes gathered so far."""

    #: What raised it: ``probe_absent``, ``missing_from_listing``, ``tombstone``,
    #: ``account_state``, ``account_limited`` or ``listing_gone``.
    reason: str
    #: ``absence`` ends in ``gone``, ``hiding`` in ``hidden``.
    kind: SuspicionKind
    since: datetime
    #: Signals for the classifier: tombstone, account state, listing outcome…
    context: dict[str, Any] = field(default_factory=dict)
    probes: list[ProbeSummary] = field(default_factory=list)
    #: Per vantage point (a target with several): its latest decisive answer since the
    #: suspicion began (:func:`monitor.geo.record`). Empty for a single vantage point.
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def restart(self, reason: str) -> None:
        """Start over as an absence (the probes of a hiding say nothing about one)."""
        self.kind, self.reason, self.probes = "absence", reason, []

    def confirmed(self, probes_needed: int, spacing: float) -> bool:
        """``probes_needed`` probes so far, spanning at least ``spacing`` seconds."""
        if len(self.probes) < probes_needed:
            return False
        first = datetime.fromisoformat(self.probes[0]["at"])
        last = datetime.fromisoformat(self.probes[-1]["at"])
        return (last - first).total_seconds() >= spacing

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in ``posts.suspicion`` and shown in an event's evidence."""
        out = {"reason": self.reason, "kind": self.kind, "since": self.since.isoformat(),
               "context": dict(self.context), "probes": list(self.probes)}
        if self.answers:
            out["answers"] = {k: dict(v) for k, v in self.answers.items()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Suspicion:
        """Read a stored suspicion, also as older versions wrote it (their transient
        ``fresh`` flag is ignored)."""
        missing = [k for k in ("reason", "kind", "since") if k not in data]
        if missing or data["kind"] not in ("absence", "hiding"):
            raise ValueError(f"stored suspicion {dict(data)!r} lacks {missing or 'a known kind'}: "
                             "clear posts.suspicion of that post and set its state to 'visible'")
        since = data["since"]
        return cls(reason=str(data["reason"]), kind=data["kind"],
                   since=since if isinstance(since, datetime) else
                   datetime.fromisoformat(str(since)),
                   context=dict(data.get("context") or {}),
                   probes=list(data.get("probes") or []),
                   answers=_answers(data.get("answers")))


def _answers(raw: Any) -> dict[str, dict[str, Any]]:
    """A stored suspicion's per-vantage answers; anything malformed is skipped."""
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): dict(v) for k, v in raw.items() if isinstance(v, Mapping)}


@dataclass(slots=True)
class TargetRow:
    id: int
    key: str
    group_name: str
    platform: str
    kind: str
    value: str
    base_url: str | None
    interval_s: float
    next_due: datetime | None = None
    last_checked_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_outcome: str | None = None
    error_streak: int = 0
    last_error: str | None = None
    account_state: str | None = None
    last_obs_id: int | None = None
    last_obs_sig: str | None = None
    #: One post rather than a listing (``targets.single_post``): its platform's kind
    #: has a ``post_ref``, whatever the kind is called. Only its post is probed; it
    #: has no listing to walk. The store always sets it; a row built without it (in
    #: memory, in tests) reads it from the installed declaration.
    single_post: bool | None = None
    #: The vantage point names it is fetched from (``targets.vantages``), the home
    #: first; None or one: no fan-out (:mod:`monitor.geo`).
    vantages: list[str] | None = None

    def __post_init__(self) -> None:
        if self.single_post is None:
            self.single_post = is_single_post(self.platform, self.kind)


@dataclass(slots=True)
class PostRow:
    id: int
    target_id: int
    platform: str
    post_key: str
    first_seen: datetime
    state: PostState
    state_since: datetime
    url: str | None = None
    probe_url: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    last_listed_at: datetime | None = None
    suspicion: Suspicion | None = None
    gone_cause: str | None = None
    transitions: int = 0
    current_version_id: int | None = None
    current_hash: str | None = None
    recent_hashes: list[str] = field(default_factory=list)
    #: What the spider needs on its next probe (tokens, ids), and the probe
    #: back-off streak (:data:`monitor.schedule.PROBE_FAILURES`).
    known: dict[str, Any] = field(default_factory=dict)
    next_check: datetime | None = None
    last_obs_id: int | None = None
    last_obs_sig: str | None = None
    last_visible_at: datetime | None = None
    first_gone_at: datetime | None = None
    #: Set by the caller when a new post row is to be inserted.
    is_new: bool = False


@dataclass(slots=True)
class NewVersion:
    id: int
    post_id: int
    content_hash: str
    content: dict[str, Any]
    raw_text: str
    title: str | None
    first_seen: datetime


@dataclass(slots=True)
class ObsWrite:
    """Insert a new observation row, or extend ``id`` in place when ``extend``."""

    id: int
    extend: bool
    target_id: int
    post_id: int | None
    mode: str
    at: datetime
    outcome: str
    http_status: int | None
    version_id: int | None
    body_hash: str | None
    message: str | None
    url: str
    vantage: str
    signals: dict[str, Any]
    counters: dict[str, Any] | None
    detail: str | None
    #: The raw exchange to archive with this write (:mod:`monitor.archive`), if kept.
    capture: RawCapture | None = None


@dataclass(frozen=True, slots=True)
class SharedToken:
    """A token a listing handed out for a post, for the store to copy to the other
    rows of the same post (other targets watching it: :mod:`monitor.db.tokens`)."""

    post_id: int
    platform: str
    post_key: str
    #: The ``PostContent.extra`` field (the platform's ``probe_token``).
    field: str
    token: str
    at: datetime


@dataclass(slots=True)
class Changes:
    """Everything one batch of observations asks the store to write."""

    posts: list[PostRow] = field(default_factory=list)
    targets: list[TargetRow] = field(default_factory=list)
    versions: list[NewVersion] = field(default_factory=list)
    #: Flaps: (post id, content hash) whose existing version becomes current again.
    revert_versions: list[tuple[int, str]] = field(default_factory=list)
    observations: list[ObsWrite] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: Tokens the batch's listings handed out, to share across rows of the same post.
    tokens: list[SharedToken] = field(default_factory=list)


def probe_summary(obs: Observation, obs_id: int | None) -> ProbeSummary:
    """A probe as a suspicion keeps it and an event's evidence shows it."""
    return {
        "obs": obs_id,
        "at": obs.observed_at.isoformat(),
        "mode": obs.mode,
        "url": obs.url,
        "final_url": obs.final_url,
        "vantage": obs.vantage,
        "outcome": obs.outcome.value,
        "http_status": obs.http_status,
        "message": obs.message,
        "body_hash": obs.body_hash,
        "signals": dict(obs.signals),
    }
