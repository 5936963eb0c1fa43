"""The life of a tracked post: what one observation changes, and which events follow.

Pure functions over plain rows (:mod:`monitor.rows`): no I/O. A post is in one of
five states (:class:`PostState`)::

    unseen ──OK──▶ visible ──absent probe / missing from listing──▶ suspect
                     ▲                                               │
                     │◀──── OK probe or listed (suspicion lifted) ───┤
                     │                                               │ N consistent probes,
                     │                                               │ spaced ≥ CONFIRM_SPACING
                  restored ◀── OK / listed ── gone | hidden ◀────────┘

Absence is never deletion by itself: a post missing from a listing, or a single absent
probe, only makes it *suspect* (a :class:`Suspicion` gathers the probes). Transient
outcomes (timeouts, 5xx, 429, anti-bot pages, expired tokens…) change nothing; nor
does a notice the platform also serves for a stale access token, unless the listing
says the post is gone (:mod:`monitor.tokens`).

This module owns the states and the events. Two neighbours do the rest of the
bookkeeping of each observation: :mod:`monitor.runs` (which observation row it
lands in) and :mod:`monitor.schedule` (when the post and target are checked next),
with :mod:`monitor.tokens` for per-item access tokens. A target with several vantage
points has its suspect posts decided by :mod:`monitor.verdicts` (the answers of every
vantage point: removed everywhere, or ``geo_blocked``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import diff, geo, labels, reading, runs, schedule, tokens
from .classify import classify_disappearance, classify_hiding
from .events import Event, Verdict
from .observation import Observation, Outcome, PostContent
from .rows import (
    SOURCES_KEY,
    Changes,
    NewVersion,
    ObsWrite,
    PostRow,
    PostState,
    SharedToken,
    Suspicion,
    SuspicionKind,
    TargetRow,
    probe_summary,
)
from .runs import IdSource
from .schedule import PROBE_FAILURES
from .verdicts import VantageVerdicts
from .window import add_context as _add_context
from .window import window_start

__all__ = [
    "PROBE_FAILURES", "Changes", "IdSource", "Lifecycle", "NewVersion", "ObsWrite",
    "OldContent", "PostRow", "PostState", "Rules", "SOURCES_KEY", "Suspicion", "TargetRow",
    "window_start",
]

#: States a listing can change (``unseen`` and ``gone`` posts are the probes' business).
_LISTED_STATES = {PostState.VISIBLE, PostState.SUSPECT, PostState.HIDDEN}
#: Failed listing reads in a row since a suspicion began, after which its cause is
#: decided without the listing (which may carry a tombstone or account state).
LISTING_TRIES = 3
_EPOCH = datetime.min.replace(tzinfo=UTC)


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
    vantage_patience: float = 86400.0

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
            vantage_patience=float(s["VANTAGE_PATIENCE"]),
        )


#: Old content of a post's current version, for word diffs: post id → Normalised.
OldContent = Callable[[int], "diff.Normalised | None"]


class Lifecycle(VantageVerdicts):
    """Applies observations to rows, collecting the writes and events in ``changes``."""

    def __init__(self, rules: Rules, ids: IdSource, old_content: OldContent):
        self.rules = rules
        self.ids = ids
        self.old_content = old_content
        self.changes = Changes()
        self._slot = runs.Slot(0, False)
        #: Posts a listing made suspect just now: probed at once.
        self._fresh: set[int] = set()

    # --- probes ------------------------------------------------------------

    def probe(self, target: TargetRow, post: PostRow, obs: Observation) -> None:
        """One permalink probe of ``post``."""
        norm, raw = (reading.read(post, obs.post, obs.platform)
                     if obs.outcome is Outcome.OK and obs.post else (None, None))
        self._slot = runs.post_slot(post, obs, norm, self.ids)
        read: int | None = None  # the version read, when another source's
        # An answer about the access token, not the post: never absence (monitor.tokens).
        token_problem = tokens.token_problem(target, post, obs)
        tokens.attend(target, post, obs, token_problem)
        if obs.outcome is Outcome.OK:
            if obs.post is not None and norm is not None:
                _remember(post, obs.post, probe=True)
                read = self._see_content(target, post, obs.post, norm, obs)
                reading.remember(post, raw, norm)  # unchanged next time: not parsed
            if not self._vantage_answer(target, post, obs):
                self._seen_visible(target, post, obs, via="probe")
        elif obs.outcome.absent and not token_problem and not _paused(obs):
            if not self._vantage_answer(target, post, obs):
                self._seen_absent(target, post, obs)
        write = runs.post_write(self._slot, target, post, obs, obs.post)
        write.version_id = read or write.version_id
        self.changes.observations.append(write)
        schedule.schedule_post(self.rules, target, post, obs, token_problem)
        if target.single_post:
            schedule.target_checked(self.rules, target, obs)
            self.changes.targets.append(target)
        self.changes.posts.append(post)

    # --- listings ----------------------------------------------------------

    def listing(self, target: TargetRow, posts: dict[str, PostRow], obs: Observation,
                new_post: Callable[[PostContent], PostRow]) -> None:
        """One walk of a target's listing. ``posts`` holds the target's tracked posts
        that may be affected (listed now, inside the window, or not visible)."""
        now = obs.observed_at
        self._fresh.clear()
        schedule.target_checked(self.rules, target, obs)
        if obs.outcome is Outcome.OK:
            previous_state = target.account_state
            if obs.signals.get("account_state"):
                target.account_state = obs.signals["account_state"]
            listed = self._walk(target, posts, obs, new_post)
            self._unlisted(target, posts, obs, listed, previous_state)
        elif obs.outcome.absent and not _paused(obs):
            # The feed or account itself is gone: every visible post is suspect.
            for post in posts.values():
                if post.state == PostState.VISIBLE:
                    self._suspect(post, "listing_gone", "absence", now,
                                  {"listing_outcome": obs.outcome.value, **obs.signals})
        self.changes.observations.append(runs.target_write(target, obs, self.ids,
                                                                suspects=bool(self._fresh)))
        for post in posts.values():
            if post.id in self._fresh:
                post.next_check = now  # probe at once
        self._fresh.clear()
        self.changes.posts.extend(posts.values())
        self.changes.targets.append(target)

    def _walk(self, target: TargetRow, posts: dict[str, PostRow], obs: Observation,
              new_post: Callable[[PostContent], PostRow]) -> set[str]:
        """The listed entries: each is seen visible. Returns their keys."""
        listed: set[str] = set()
        for entry in obs.entries or []:
            post = posts.get(entry.key)
            if post is None:
                post = posts[entry.key] = new_post(entry)
            listed.add(entry.key)
            post.last_listed_at = obs.observed_at
            _remember(post, entry)
            if (token := tokens.token_refreshed(post, entry, obs.observed_at)) is not None:
                self.changes.tokens.append(SharedToken(post.id, post.platform, post.post_key,
                                                       str(tokens.probe_token(post.platform)),
                                                       token, obs.observed_at))
            norm, raw = reading.read(post, entry, obs.platform)
            self._slot = runs.post_slot(post, obs, norm, self.ids)
            self._see_content(target, post, entry, norm, obs)
            reading.remember(post, raw, norm)
            self._seen_visible(target, post, obs, via="listing")
            self.changes.observations.append(runs.post_write(self._slot, target, post, obs,
                                                             entry))
            if post.is_new or post.next_check is None:
                schedule.schedule_post(self.rules, target, post, obs)
        return listed

    def _unlisted(self, target: TargetRow, posts: dict[str, PostRow], obs: Observation,
                  listed: set[str], previous_state: str | None) -> None:
        """What a good listing says about the posts it did not list, and about the
        account: tombstones, a suspended or limited account, posts missing from
        inside the window."""
        now = obs.observed_at
        account = obs.signals.get("account_state")
        newly_limited = account == "limited" and previous_state != "limited"
        oldest = window_start(obs)
        # Entries the spider could not parse were skipped: their posts were
        # served, so their absence here says nothing. When a skipped entry's
        # key is unknown, it could be any post: vouch for no absence at all.
        skipped_keys = set(obs.signals.get("skipped_keys") or ())
        if int(obs.signals.get("skipped_entries") or 0) > len(skipped_keys):
            oldest = None
        for ref, signals, message in obs.tombstones:
            post = posts.get(ref)
            if post is not None and post.state in _LISTED_STATES:
                ctx = {**signals, "author": post.author, "tombstone_comment": message}
                self._suspect(post, "tombstone", "absence", now, ctx)
        for key, post in posts.items():
            if key in listed or key in skipped_keys or post.state not in _LISTED_STATES:
                continue
            if account in {"suspended", "deleted"}:
                self._suspect(post, "account_state", "absence", now,
                              {"account_state": account})
            elif newly_limited and post.state != PostState.HIDDEN:
                self._suspect(post, "account_limited", "hiding", now,
                              {"account_state": "limited"})
            elif (
                oldest is not None
                and post.published_at is not None
                and post.published_at >= oldest
                and post.last_listed_at is not None
            ):
                # Inside the window yet not listed: a hiding or a deletion. A post
                # older than the oldest entry merely rotated out: no signal at all.
                if post.state != PostState.HIDDEN:
                    self._suspect(post, "missing_from_listing", "hiding", now, {})
                elif post.last_listed_at >= post.state_since:
                    # Hidden yet still listed (a limited account's posts are), and
                    # now missing: probe it at once. It stays hidden until a probe
                    # finds it absent, which makes it suspect like any other post.
                    self._fresh.add(post.id)
        if newly_limited:
            for key in listed:
                if posts[key].state == PostState.VISIBLE:
                    self._suspect(posts[key], "account_limited", "hiding", now,
                                  {"account_state": "limited"})

    # --- state changes -----------------------------------------------------

    def _see_content(self, target: TargetRow, post: PostRow, content: PostContent,
                     norm: diff.Normalised, obs: Observation) -> int | None:
        """Compare a reading with the post's current version. Returns the version id
        of a reading of another source (a feed entry's article page), which is
        compared with that source's readings alone (:meth:`_see_source`)."""
        now = obs.observed_at
        if labels.LABELS_FIELD in content.extra:  # most readings carry none: no closure
            labels.see_labels(post, content, now, lambda kind, verdict, extra: self._event(
                target, post, kind, now, obs, verdict=verdict, extra=extra))
        new_hash = norm.content_hash
        if post.author is None and content.author:
            post.author = content.author
        if post.published_at is None and content.published_at:
            post.published_at = content.published_at
        if norm.source and not target.single_post:
            return self._see_source(target, post, content, norm, obs)
        if new_hash == post.current_hash:
            return None
        if post.current_hash is not None and diff.is_flap(new_hash, post.recent_hashes):
            # Flip-flopping between known versions is not a new edit.
            self.changes.revert_versions.append((post.id, new_hash))
            post.current_hash = new_hash
            post.current_version_id = None  # resolved by the store
            return None
        version = self._version(post, content, norm, now)
        old_hash, old_id = post.current_hash, post.current_version_id
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
                              "previous_version": old_id, "signals": dict(obs.signals)})
        return None

    def _see_source(self, target: TargetRow, post: PostRow, content: PostContent,
                    norm: diff.Normalised, obs: Observation) -> int:
        """A reading of another source than the post (a feed entry's article page,
        whose text is not the entry's summary): compared only with that source's last
        reading (:data:`SOURCES_KEY`), never with the post's versions. A change is
        ``edited``, its edit naming the source and both versions; a reading matching
        one of the source's last FLAP_VERSIONS is not an edit; the first is the
        baseline. Returns the reading's version id."""
        sources = post.known.get(SOURCES_KEY)
        sources = dict(sources) if isinstance(sources, dict) else {}
        last = sources.get(norm.source)
        last = last if isinstance(last, dict) else {}
        recent = reading.source_readings(last.get("recent"))
        new_hash = norm.content_hash
        if new_hash in recent:  # the same as the last reading, or a flap back
            version_id = recent[new_hash]
        else:
            version_id = self._version(post, content, norm, obs.observed_at).id
            old = last.get("content")
            if recent and isinstance(old, dict):
                edit = diff.compare(diff.Normalised.from_json(old), norm)
                post.transitions += 1
                self._event(target, post, "edited", obs.observed_at, obs,
                            version_id=version_id,
                            edit={**edit.to_json(), "rendered": edit.render(),
                                  "source": norm.source, "previous_version": next(
                                      iter(recent.values())), "signals": dict(obs.signals)})
        kept = [(new_hash, version_id), *((h, v) for h, v in recent.items() if h != new_hash)]
        sources[norm.source] = {"recent": [list(r) for r in kept[: max(
            1, self.rules.flap_versions)]], "content": norm.to_json()}  # for this batch
        post.known[SOURCES_KEY] = sources
        return version_id

    def _version(self, post: PostRow, content: PostContent, norm: diff.Normalised,
                 now: datetime) -> NewVersion:
        version = NewVersion(id=self.ids("versions"), post_id=post.id,
                             content_hash=norm.content_hash, content=norm.to_json(),
                             raw_text=content.text, title=content.title, first_seen=now)
        self.changes.versions.append(version)
        return version

    def _seen_visible(self, target: TargetRow, post: PostRow, obs: Observation,
                      via: str) -> None:
        now = obs.observed_at
        post.last_visible_at = now
        if post.state == PostState.UNSEEN:
            post.state, post.state_since = PostState.VISIBLE, now
            return
        suspicion = post.suspicion
        if via == "listing" and self._withheld_elsewhere(target, post, obs):
            return  # the home's listing vouches for the home's country only
        if post.state == PostState.GONE or (post.state == PostState.HIDDEN
                                            and via == "listing"):
            if post.state == PostState.HIDDEN and target.account_state == "limited":
                return  # still limited: listing it proves nothing
            post.transitions += 1
            self._event(target, post, "restored", now, obs, extra={
                "previous_cause": post.gone_cause, "via": via})
            post.state, post.state_since = PostState.VISIBLE, now
            post.suspicion, post.gone_cause, post.first_gone_at = None, None, None
            return
        if post.state != PostState.SUSPECT or suspicion is None:
            return
        if via == "listing" and not (
            suspicion.reason == "account_limited" and target.account_state == "limited"
        ):
            post.state, post.suspicion, post.first_gone_at = PostState.VISIBLE, None, None
            return
        if suspicion.kind == "absence":
            # The absence did not hold: absence is not deletion.
            post.state, post.suspicion, post.first_gone_at = PostState.VISIBLE, None, None
            return
        suspicion.probes.append(probe_summary(obs, self._slot.id))
        if suspicion.confirmed(self.rules.confirm_probes, self.rules.confirm_spacing):
            verdict = classify_hiding({**suspicion.context,
                                       "account_state": target.account_state})
            self._transition(target, post, PostState.HIDDEN, verdict, now, obs)

    def _seen_absent(self, target: TargetRow, post: PostRow, obs: Observation) -> None:
        now = obs.observed_at
        if post.state in {PostState.UNSEEN, PostState.GONE}:
            return  # never seen visible, or already confirmed gone
        if post.state in {PostState.VISIBLE, PostState.HIDDEN}:
            self._suspect(post, "probe_absent", "absence", now,  # see _listing_caught_up
                          {"listing_streak": target.error_streak})
        suspicion = post.suspicion
        if suspicion is None:  # a suspect row without its suspicion: start one
            suspicion = post.suspicion = Suspicion("probe_absent", "absence", now)
        if suspicion.kind == "hiding":
            # Hidden, and now the permalink fails too: start over as an absence.
            suspicion.restart("probe_absent")
        if post.first_gone_at is None:
            post.first_gone_at = now
        suspicion.probes.append(probe_summary(obs, self._slot.id))
        self._record_answer(target, suspicion, obs)
        if obs.signals.get("followup_failed"):
            return  # its second signal is missing: decide on a complete probe
        if not self._listing_caught_up(target, suspicion, now):
            return  # the listing may still bring a tombstone or the account's state
        if geo.fans_out(target.vantages):
            self._decide_vantages(target, post, obs)  # every vantage point has its say
        elif suspicion.confirmed(self.rules.confirm_probes, self.rules.confirm_spacing):
            verdict = classify_disappearance(
                post.platform, suspicion.probes, {**suspicion.context, "author": post.author},
            )
            self._transition(target, post, PostState.GONE, verdict, now, obs)

    def _suspect(self, post: PostRow, reason: str, kind: SuspicionKind, now: datetime,
                 context: dict[str, Any]) -> None:
        self._fresh.add(post.id)
        if reason in tokens.LISTING_REASONS:  # the listing backs an ambiguous notice
            context = {**context, tokens.UNLISTED: reason}
        if post.suspicion is not None:
            _add_context(post.suspicion, context, now)
            if kind == "absence" and post.suspicion.kind == "hiding":
                post.suspicion.restart(reason)
            return
        post.suspicion = Suspicion(reason, kind, now, context)
        post.known.pop(geo.GEO_KEY, None)  # no longer watched as geo-blocked
        if post.state != PostState.SUSPECT:
            post.state, post.state_since = PostState.SUSPECT, now

    def _listing_caught_up(self, target: TargetRow, suspicion: Suspicion,
                           now: datetime) -> bool:
        """Decide a cause only after the target's listing was read since the suspicion
        began: a tombstone or an account state found there decides causes that the
        probe alone cannot. A listing tried since and failed is waited for until it has
        failed :data:`LISTING_TRIES` times in a row *since the suspicion began* (tries,
        not time: a failing listing backs off beyond its interval; failures before the
        suspicion are not its tries); one not tried at all, for three intervals."""
        if target.single_post or (target.last_ok_at or _EPOCH) >= suspicion.since:
            return True
        if target.last_checked_at is not None and target.last_checked_at >= suspicion.since:
            before = int(suspicion.context.get("listing_streak") or 0)
            return target.error_streak - before >= LISTING_TRIES
        return (now - suspicion.since).total_seconds() >= 3 * target.interval_s

    def _transition(self, target: TargetRow, post: PostRow, state: PostState,
                    verdict: Verdict, now: datetime, obs: Observation) -> None:
        suspicion = post.suspicion.to_json() if post.suspicion is not None else {}
        post.transitions += 1
        kind = "disappeared" if state == PostState.GONE else "hidden"
        self._event(target, post, kind, now, obs, verdict=verdict,
                    extra={"suspicion": suspicion})
        post.state, post.state_since = state, now
        post.gone_cause = verdict.cause
        post.suspicion = None

    # --- records -----------------------------------------------------------

    def _event(self, target: TargetRow, post: PostRow, kind: str, now: datetime,
               obs: Observation, *, verdict: Verdict | None = None,
               version_id: int | None = None, edit: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None) -> None:
        evidence: dict[str, Any] = {
            "observed": probe_summary(obs, self._slot.id),
            **(extra or {}),
        }
        if verdict is not None:
            evidence.update(verdict.evidence)
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


def _paused(obs: Observation) -> bool:
    """The collector was blocked or the platform out when this was seen
    (:mod:`monitor.collector`): an absence then says nothing about the post."""
    return bool(obs.signals.get("collector_paused"))


def _remember(post: PostRow, entry: PostContent, probe: bool = False) -> None:
    if not probe:  # a probe's own URL is already known; keep the listing's permalink
        post.url = entry.url or post.url
        post.probe_url = entry.probe_url or post.probe_url or entry.url
    post.known.update({k: v for k, v in entry.extra.items()
                       if v is not None and k not in (diff.SOURCE_FIELD, labels.LABELS_FIELD)})
