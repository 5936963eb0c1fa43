"""The life of a tracked post: what one observation changes, and which events follow.

Pure functions over plain rows: no I/O. A post is in one of five states::

    unseen ──OK──▶ visible ──absent probe / missing from listing──▶ suspect
                     ▲                                               │
                     │◀──── OK probe or listed (suspicion lifted) ───┤
                     │                                               │ N consistent probes,
                     │                                               │ spaced ≥ CONFIRM_SPACING
                  restored ◀── OK / listed ── gone | hidden ◀────────┘

Absence is never deletion by itself: a post missing from a listing, or a single
absent probe, only makes it *suspect*. Transient outcomes (timeouts, 5xx, 429,
anti-bot pages, expired tokens…) are recorded and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import diff
from .cadence import next_post_check, probe_retry, target_retry
from .classify import classify_disappearance, classify_hiding
from .events import Event, Verdict
from .observation import Observation, Outcome, PostContent


@dataclass(slots=True)
class Rules:
    """The settings the lifecycle reads, resolved once."""

    confirm_probes: int = 2
    confirm_spacing: float = 300.0
    confirm_retry: float = 120.0
    flap_versions: int = 5
    offsets: list[float] = field(default_factory=lambda: [120.0, 300.0, 600.0, 1800.0])
    horizon: float = 30 * 86400.0
    error_backoff_max: float = 3600.0

    @classmethod
    def from_settings(cls, s: Any) -> Rules:
        return cls(
            confirm_probes=max(1, int(s["CONFIRM_PROBES"])),
            confirm_spacing=float(s["CONFIRM_SPACING"]),
            confirm_retry=float(s["CONFIRM_RETRY"]),
            flap_versions=max(0, int(s["FLAP_VERSIONS"])),
            offsets=list(s["RECHECK_SCHEDULE"]),
            horizon=float(s["RECHECK_HORIZON"]),
            error_backoff_max=float(s["ERROR_BACKOFF_MAX"]),
        )


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


@dataclass(slots=True)
class PostRow:
    id: int
    target_id: int
    platform: str
    post_key: str
    first_seen: datetime
    state: str
    state_since: datetime
    url: str | None = None
    probe_url: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    last_listed_at: datetime | None = None
    suspicion: dict[str, Any] | None = None
    gone_cause: str | None = None
    transitions: int = 0
    current_version_id: int | None = None
    current_hash: str | None = None
    recent_hashes: list[str] = field(default_factory=list)
    known: dict[str, Any] = field(default_factory=dict)
    check_step: int = 0
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


IdSource = Callable[[str], int]
"""Hands out fresh row ids: ``ids("observations")``, ``ids("versions")``."""

#: Old content of a post's current version, for word diffs: post id → Normalised.
OldContent = Callable[[int], "diff.Normalised | None"]


class Lifecycle:
    """Applies observations to rows, collecting the writes and events in ``changes``."""

    def __init__(self, rules: Rules, ids: IdSource, old_content: OldContent):
        self.rules = rules
        self.ids = ids
        self.old_content = old_content
        self.changes = Changes()
        self._obs_id = 0
        self._extend = False

    # --- probes ------------------------------------------------------------

    def probe(self, target: TargetRow, post: PostRow, obs: Observation) -> None:
        """One permalink probe of ``post``."""
        norm = diff.normalise(obs.post) if obs.outcome is Outcome.OK and obs.post else None
        self._obs_id = self._begin_record(post, obs, norm)
        if obs.outcome is Outcome.OK:
            if obs.post is not None and norm is not None:
                _remember(post, obs.post, probe=True)
                self._see_content(target, post, obs.post, norm, obs)
            self._seen_visible(target, post, obs, via="probe")
        elif obs.outcome.absent:
            self._seen_absent(target, post, obs)
        self._finish_record(target, post, obs, obs.post)
        self._schedule_post(target, post, obs)
        if target.kind == "post":
            self._target_checked(target, obs)
            self.changes.targets.append(target)
        self.changes.posts.append(post)

    # --- listings ----------------------------------------------------------

    def listing(self, target: TargetRow, posts: dict[str, PostRow], obs: Observation,
                new_post: Callable[[PostContent], PostRow]) -> None:
        """One walk of a target's listing. ``posts`` holds the target's tracked posts
        that may be affected (listed now, inside the window, or not visible)."""
        now = obs.observed_at
        self._target_checked(target, obs)
        if obs.outcome is Outcome.OK:
            previous_state = target.account_state
            account = obs.signals.get("account_state")
            if account:
                target.account_state = account
            entries = obs.entries or []
            listed: set[str] = set()
            for entry in entries:
                post = posts.get(entry.key)
                if post is None:
                    post = new_post(entry)
                    posts[entry.key] = post
                listed.add(entry.key)
                post.last_listed_at = now
                _remember(post, entry)
                norm = diff.normalise(entry)
                self._obs_id = self._begin_record(post, obs, norm)
                self._see_content(target, post, entry, norm, obs)
                self._seen_visible(target, post, obs, via="listing")
                self._finish_record(target, post, obs, entry)
                if post.is_new or post.next_check is None:
                    self._schedule_post(target, post, obs)
            oldest = window_start(obs)
            # Entries the spider could not parse were skipped: their posts were
            # served, so their absence here says nothing. When a skipped entry's
            # key is unknown, it could be any post: vouch for no absence at all.
            skipped_keys = set(obs.signals.get("skipped_keys") or ())
            if int(obs.signals.get("skipped_entries") or 0) > len(skipped_keys):
                oldest = None
            for ref, signals, message in obs.tombstones:
                post = posts.get(ref)
                if post is not None and post.state in {"visible", "hidden", "suspect"}:
                    ctx = {**signals, "author": post.author, "tombstone_comment": message}
                    self._suspect(post, "tombstone", "absence", now, ctx)
            for key, post in posts.items():
                if key in listed or key in skipped_keys or \
                        post.state not in {"visible", "suspect", "hidden"}:
                    continue
                if account in {"suspended", "deleted"}:
                    self._suspect(post, "account_state", "absence", now,
                                  {"account_state": account})
                elif post.state == "hidden":
                    continue  # already hidden; only the account's fate changes that
                elif account == "limited" and previous_state != "limited":
                    self._suspect(post, "account_limited", "hiding", now,
                                  {"account_state": "limited"})
                elif (
                    post.state == "visible"
                    and oldest is not None
                    and post.published_at is not None
                    and post.published_at >= oldest
                    and post.last_listed_at is not None
                ):
                    # Inside the window yet not listed: a hiding or a deletion. A post
                    # older than the oldest entry merely rotated out: no signal at all.
                    self._suspect(post, "missing_from_listing", "hiding", now, {})
            if account == "limited" and previous_state != "limited":
                for key in listed:
                    post = posts[key]
                    if post.state == "visible":
                        self._suspect(post, "account_limited", "hiding", now,
                                      {"account_state": "limited"})
        elif obs.outcome.absent:
            # The feed or account itself is gone: every visible post is suspect.
            for post in posts.values():
                if post.state == "visible":
                    self._suspect(post, "listing_gone", "absence", now,
                                  {"listing_outcome": obs.outcome.value, **obs.signals})
        self._record_target(target, obs)
        for post in posts.values():
            if post.suspicion and post.suspicion.get("fresh"):
                post.suspicion.pop("fresh")
                post.next_check = now  # probe at once
        self.changes.posts.extend(posts.values())
        self.changes.targets.append(target)

    # --- state changes -----------------------------------------------------

    def _see_content(self, target: TargetRow, post: PostRow, content: PostContent,
                     norm: diff.Normalised, obs: Observation) -> None:
        now = obs.observed_at
        new_hash = norm.content_hash
        if post.author is None and content.author:
            post.author = content.author
        if post.published_at is None and content.published_at:
            post.published_at = content.published_at
        if new_hash == post.current_hash:
            return
        if post.current_hash is not None and diff.is_flap(new_hash, post.recent_hashes):
            # Flip-flopping between known versions is not a new edit.
            self.changes.revert_versions.append((post.id, new_hash))
            post.current_hash = new_hash
            post.current_version_id = None  # resolved by the store
            return
        version = NewVersion(
            id=self.ids("versions"),
            post_id=post.id,
            content_hash=new_hash,
            content=norm.to_json(),
            raw_text=content.text,
            title=content.title,
            first_seen=now,
        )
        self.changes.versions.append(version)
        old_hash = post.current_hash
        old = self.old_content(post.id) if old_hash is not None else None
        post.current_hash = new_hash
        post.current_version_id = version.id
        post.recent_hashes = ([new_hash] + [h for h in post.recent_hashes if h != new_hash])[
            : max(1, self.rules.flap_versions)
        ]
        if old_hash is not None and old is not None:
            edit = diff.compare(old, norm)
            post.transitions += 1
            self._event(target, post, "edited", now, obs, version_id=version.id,
                        edit={**edit.to_json(), "rendered": edit.render(),
                              "signals": dict(obs.signals)})

    def _seen_visible(self, target: TargetRow, post: PostRow, obs: Observation,
                      via: str) -> None:
        now = obs.observed_at
        post.last_visible_at = now
        if post.state == "unseen":
            post.state, post.state_since = "visible", now
            return
        suspicion = post.suspicion
        if post.state == "gone" or (post.state == "hidden" and via == "listing"):
            if post.state == "hidden" and target.account_state == "limited":
                return  # still limited: listing it proves nothing
            post.transitions += 1
            self._event(target, post, "restored", now, obs, extra={
                "previous_cause": post.gone_cause, "via": via})
            post.state, post.state_since = "visible", now
            post.suspicion, post.gone_cause, post.first_gone_at = None, None, None
            return
        if post.state != "suspect" or suspicion is None:
            return
        if via == "listing" and not (
            suspicion["reason"] == "account_limited" and target.account_state == "limited"
        ):
            post.state, post.suspicion, post.first_gone_at = "visible", None, None
            return
        if suspicion["kind"] == "absence":
            # The absence did not hold: absence is not deletion.
            post.state, post.suspicion, post.first_gone_at = "visible", None, None
            return
        suspicion["probes"].append(_probe_summary(obs, self._obs_id))
        if self._confirmed(suspicion):
            verdict = classify_hiding({**suspicion.get("context", {}),
                                       "account_state": target.account_state})
            self._transition(target, post, "hidden", verdict, now, obs)

    def _seen_absent(self, target: TargetRow, post: PostRow, obs: Observation) -> None:
        now = obs.observed_at
        if post.state == "unseen" or post.state == "gone":
            return  # never seen visible, or already confirmed gone
        if post.state in {"visible", "hidden"}:
            self._suspect(post, "probe_absent", "absence", now, {})
        suspicion = post.suspicion
        assert suspicion is not None
        if suspicion["kind"] == "hiding":
            # Hidden, and now the permalink fails too: start over as an absence.
            suspicion.update(kind="absence", reason="probe_absent", probes=[])
        if post.first_gone_at is None:
            post.first_gone_at = now
        suspicion["probes"].append(_probe_summary(obs, self._obs_id))
        if obs.signals.get("followup_failed"):
            return  # its second signal is missing: decide on a complete probe
        if not self._listing_caught_up(target, suspicion, now):
            return  # the listing may still bring a tombstone or the account's state
        if self._confirmed(suspicion):
            verdict = classify_disappearance(
                post.platform, suspicion["probes"],
                {**suspicion.get("context", {}), "author": post.author},
            )
            self._transition(target, post, "gone", verdict, now, obs)

    def _suspect(self, post: PostRow, reason: str, kind: str, now: datetime,
                 context: dict[str, Any]) -> None:
        if post.suspicion is not None:
            post.suspicion.setdefault("context", {}).update(context)
            if kind == "absence" and post.suspicion["kind"] == "hiding":
                post.suspicion.update(kind="absence", reason=reason, probes=[])
            post.suspicion["fresh"] = True
            return
        post.suspicion = {"reason": reason, "kind": kind, "since": now.isoformat(),
                          "context": context, "probes": [], "fresh": True}
        if post.state != "suspect":
            post.state, post.state_since = "suspect", now

    def _listing_caught_up(self, target: TargetRow, suspicion: dict[str, Any],
                           now: datetime) -> bool:
        """Decide a cause only after the target's listing was read since the suspicion
        began (or it has failed for three intervals): a tombstone or an account state
        found there decides causes that the probe alone cannot."""
        if target.kind == "post":
            return True
        since = datetime.fromisoformat(suspicion["since"])
        if target.last_ok_at is not None and target.last_ok_at >= since:
            return True
        return (now - since).total_seconds() >= 3 * target.interval_s

    def _confirmed(self, suspicion: dict[str, Any]) -> bool:
        probes = suspicion["probes"]
        if len(probes) < self.rules.confirm_probes:
            return False
        first = datetime.fromisoformat(probes[0]["at"])
        last = datetime.fromisoformat(probes[-1]["at"])
        return (last - first).total_seconds() >= self.rules.confirm_spacing

    def _transition(self, target: TargetRow, post: PostRow, state: str, verdict: Verdict,
                    now: datetime, obs: Observation) -> None:
        suspicion = post.suspicion or {}
        post.transitions += 1
        kind = "disappeared" if state == "gone" else "hidden"
        self._event(target, post, kind, now, obs, verdict=verdict, extra={
            "suspicion": {k: v for k, v in suspicion.items() if k != "fresh"}})
        post.state, post.state_since = state, now
        post.gone_cause = verdict.cause
        post.suspicion = None

    # --- records -----------------------------------------------------------

    def _event(self, target: TargetRow, post: PostRow, kind: str, now: datetime,
               obs: Observation, *, verdict: Verdict | None = None,
               version_id: int | None = None, edit: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None) -> None:
        evidence: dict[str, Any] = {
            "observed": _probe_summary(obs, self._obs_id),
            **(extra or {}),
        }
        if verdict is not None:
            evidence["reason"] = verdict.reason
        self.changes.events.append(Event(
            kind=kind,
            post_id=post.id,
            target_id=target.id,
            platform=post.platform,
            group=target.group_name,
            post_key=post.post_key,
            detected_at=now,
            cause=verdict.cause if verdict else None,
            cause_detail=verdict.detail if verdict else None,
            candidates=list(verdict.candidates) if verdict else [],
            last_seen_visible=post.last_visible_at,
            first_seen_gone=post.first_gone_at if kind == "disappeared" else None,
            published_at=post.published_at,
            version_id=version_id or post.current_version_id,
            edit=edit,
            evidence=evidence,
            dedupe_key=f"{post.id}:{post.transitions}:{kind}",
        ))

    def _begin_record(self, post: PostRow, obs: Observation,
                      norm: diff.Normalised | None) -> int:
        """Choose the observation row this one lands in: the last one, extended in place
        when nothing but the time differs (an unchanged re-check costs no new row)."""
        sig = "|".join(str(x) for x in (
            obs.mode, obs.outcome.value, obs.http_status,
            norm.content_hash if norm else None, obs.message, obs.signals.get("notice"),
            obs.vantage, obs.signals.get("account_state")))
        self._extend = post.last_obs_id is not None and post.last_obs_sig == sig
        obs_id = post.last_obs_id if self._extend and post.last_obs_id else \
            self.ids("observations")
        post.last_obs_id, post.last_obs_sig = obs_id, sig
        return obs_id

    def _finish_record(self, target: TargetRow, post: PostRow, obs: Observation,
                       content: PostContent | None) -> None:
        self.changes.observations.append(ObsWrite(
            id=self._obs_id, extend=self._extend, target_id=target.id, post_id=post.id,
            mode=obs.mode, at=obs.observed_at, outcome=obs.outcome.value,
            http_status=obs.http_status,
            version_id=post.current_version_id if obs.outcome is Outcome.OK else None,
            body_hash=obs.body_hash, message=obs.message, url=obs.url, vantage=obs.vantage,
            signals=dict(obs.signals), counters=diff.counters(content) if content else None,
            detail=obs.detail,
        ))

    def _record_target(self, target: TargetRow, obs: Observation) -> None:
        sig = "|".join(str(x) for x in (obs.mode, obs.outcome.value, obs.http_status,
                                        obs.message, obs.vantage,
                                        obs.signals.get("account_state"),
                                        len(obs.entries or [])))
        extend = target.last_obs_id is not None and target.last_obs_sig == sig
        obs_id = target.last_obs_id if extend and target.last_obs_id else \
            self.ids("observations")
        self.changes.observations.append(ObsWrite(
            id=obs_id, extend=extend, target_id=target.id, post_id=None, mode=obs.mode,
            at=obs.observed_at, outcome=obs.outcome.value, http_status=obs.http_status,
            version_id=None, body_hash=obs.body_hash, message=obs.message, url=obs.url,
            vantage=obs.vantage, signals=dict(obs.signals),
            counters={"entries": len(obs.entries or []), "tombstones": len(obs.tombstones)},
            detail=obs.detail,
        ))
        target.last_obs_id, target.last_obs_sig = obs_id, sig

    # --- scheduling --------------------------------------------------------

    def _schedule_post(self, target: TargetRow, post: PostRow, obs: Observation) -> None:
        now = obs.observed_at
        rules = self.rules
        max_gap = target.interval_s if target.kind == "post" else None
        failed_probe = obs.mode == "probe" and obs.outcome.transient
        if obs.mode == "probe":
            # Transient probe failures in a row, per post (kept in ``known``).
            streak = int(post.known.get(PROBE_FAILURES) or 0) + 1 if failed_probe else 0
            if streak:
                post.known[PROBE_FAILURES] = streak
            else:
                post.known.pop(PROBE_FAILURES, None)
        retry_after = float(obs.signals.get("retry_after") or 0) if failed_probe else 0.0
        if post.state == "suspect" and post.suspicion is not None:
            wait = rules.confirm_retry
            if failed_probe:
                wait = probe_retry(int(post.known[PROBE_FAILURES]), rules.confirm_retry,
                                   rules.error_backoff_max, retry_after)
            when = now + timedelta(seconds=wait)
            probes = post.suspicion["probes"]
            if probes and len(probes) >= rules.confirm_probes - 1:
                earliest = datetime.fromisoformat(probes[0]["at"]) + timedelta(
                    seconds=rules.confirm_spacing)
                when = max(when, earliest)
            post.next_check = when
            return
        due, step = next_post_check(post.first_seen, now, rules.offsets, rules.horizon, max_gap)
        if due is None and target.kind == "post":
            due = now + timedelta(seconds=max_gap or 86400)
        if failed_probe:
            # Back off, but never past the post's next scheduled re-check: it keeps
            # its place in the schedule (the schedule counts from first sight).
            until = (due - now).total_seconds() if due is not None else None
            wait = probe_retry(int(post.known[PROBE_FAILURES]), rules.confirm_retry,
                               rules.error_backoff_max, retry_after, until)
            post.next_check = now + timedelta(seconds=wait)
            return
        post.next_check, post.check_step = due, step

    def _target_checked(self, target: TargetRow, obs: Observation) -> None:
        now = obs.observed_at
        target.last_checked_at = now
        target.last_outcome = obs.outcome.value
        # A listing that is absent before it was ever read (a mistyped feed URL or
        # account) is the user's error to fix, not news about the target.
        never_read = (obs.mode == "listing" and obs.outcome.absent
                      and target.last_ok_at is None)
        if obs.outcome.transient or never_read:
            target.error_streak += 1
            target.last_error = (_first_check_error(target, obs) if never_read else
                                 f"{obs.outcome.value}: {obs.detail or obs.http_status or ''}")
            wait = target_retry(target.error_streak, target.interval_s,
                                self.rules.error_backoff_max,
                                float(obs.signals.get("retry_after") or 0))
        else:
            target.error_streak = 0
            target.last_error = None
            target.last_ok_at = now
            wait = target.interval_s
        if target.kind != "post":
            target.next_due = now + timedelta(seconds=wait)


#: Key in ``PostRow.known``: transient probe failures in a row (for the back-off).
PROBE_FAILURES = "probe_failures"


def _first_check_error(target: TargetRow, obs: Observation) -> str:
    """What the user sees when a listing was absent on its first check."""
    answer = f"HTTP {obs.http_status}" if obs.http_status else f"'{obs.outcome.value}'"
    if target.platform == "rss":
        return f"the feed answered {answer} on its first check: check the URL"
    return (f"the {target.kind} {target.value!r} answered {answer} on its first check: "
            f"check its name and base_url")


def window_start(obs: Observation) -> datetime | None:
    """The oldest publication time a listing vouches for: posts published since then
    and not listed are missing from inside the window."""
    entries = obs.entries or []
    if obs.signals.get("listing_end") and obs.complete:
        return datetime.min.replace(tzinfo=UTC)
    return min((e.published_at for e in entries if e.published_at), default=None)


def _remember(post: PostRow, entry: PostContent, probe: bool = False) -> None:
    if not probe:  # a probe's own URL is already known; keep the listing's permalink
        post.url = entry.url or post.url
        post.probe_url = entry.probe_url or post.probe_url or entry.url
    post.known.update({k: v for k, v in entry.extra.items() if v is not None})


def _probe_summary(obs: Observation, obs_id: int | None) -> dict[str, Any]:
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
