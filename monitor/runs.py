"""Runs of repeated observations: an unchanged re-check costs no new row.

Most checks see what the last one saw. The observation row of a post (or of a
target's listing) is then extended in place (its ``last_at`` and ``repeats``)
instead of a new row being added; a row is new whenever anything but the time
differs: mode, outcome, HTTP status, content hash, message, detail, vantage point
or any signal (for a listing also its number of entries). Only the signals in
:data:`VOLATILE_SIGNALS` are left out: they vary between checks that saw the same
thing. The signature of the last row is kept on the post or target
(``last_obs_sig``); the words (message, detail, signals) enter it as one digest,
so it stays short however long they are.

The same rule decides which writes carry the raw capture for the evidence archive
(:mod:`monitor.archive`), so an unchanged re-check never stores one: a new row; a
probe of a suspect post (a confirming probe, even when it extends a row); a probe
that changed the post's state (a confirmation, a restoration); a listing whose own
row is new (new entries or versions, a tombstone, the feed gone) or that made posts
suspect. One listing's capture is stored once for all the rows it serves.

Pure functions over rows: the store applies the resulting :class:`ObsWrite`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import diff
from .chain import canonical
from .observation import Observation, Outcome, PostContent, RawCapture
from .rows import ObsWrite, PostRow, PostState, TargetRow

IdSource = Callable[[str], int]
"""Hands out fresh row ids: ``ids("observations")``, ``ids("versions")``."""


@dataclass(frozen=True, slots=True)
class Slot:
    """The observation row one observation lands in."""

    id: int
    #: True: extend the existing row ``id``; False: insert a new row with it.
    extend: bool


#: Signals that differ between checks which saw the same thing: the seconds a
#: Retry-After asked for, how many posts shared the batched request, and the raw
#: hash of the post's item in that answer (like ``body_hash``, it moves with every
#: counter; the content hash decides the run). A row keeps the first check's
#: values of these (signals are chained, :mod:`monitor.chain`); every other signal
#: is evidence, and a check whose evidence differs gets a row of its own.
VOLATILE_SIGNALS = frozenset({"retry_after", "batch_size", "item_hash"})


def _signature(*parts: object) -> str:
    return "|".join(str(x) for x in parts)


def _words_digest(message: str | None, detail: str | None,
                  signals: Mapping[str, Any]) -> str:
    """A digest of what an observation says beyond its status: the platform's message,
    our detail and the signals but the volatile ones, in the canonical JSON the hash
    chain digests them in (:func:`monitor.chain.canonical`)."""
    kept = {k: v for k, v in signals.items() if k not in VOLATILE_SIGNALS}
    if message is None and detail is None and not kept:
        return ""
    return hashlib.blake2b(canonical([message, detail, kept]), digest_size=10).hexdigest()


def _slot(last_id: int | None, last_sig: str | None, sig: str, ids: IdSource) -> Slot:
    if last_id is not None and last_sig == sig:
        return Slot(last_id, True)
    return Slot(ids("observations"), False)


def post_slot(post: PostRow, obs: Observation, norm: diff.Normalised | None,
              ids: IdSource) -> Slot:
    """Choose the row of a post's observation: its last one when nothing but the time
    differs, else a new one. Remembers the choice on ``post``."""
    sig = _signature(obs.mode, obs.outcome.value, obs.http_status,
                     norm.content_hash if norm else None, obs.vantage,
                     _words_digest(obs.message, obs.detail, obs.signals))
    slot = _slot(post.last_obs_id, post.last_obs_sig, sig, ids)
    post.last_obs_id, post.last_obs_sig = slot.id, sig
    return slot


def post_write(slot: Slot, target: TargetRow, post: PostRow, obs: Observation,
               content: PostContent | None) -> ObsWrite:
    """The write of a post's observation into ``slot`` (after the lifecycle ran, so
    that it points at the post's current version)."""
    return ObsWrite(
        id=slot.id, extend=slot.extend, target_id=target.id, post_id=post.id,
        mode=obs.mode, at=obs.observed_at, outcome=obs.outcome.value,
        http_status=obs.http_status,
        version_id=post.current_version_id if obs.outcome is Outcome.OK else None,
        body_hash=obs.body_hash, message=obs.message, url=obs.url, vantage=obs.vantage,
        signals=dict(obs.signals), counters=diff.counters(content) if content else None,
        detail=obs.detail, capture=_post_capture(slot, post, obs),
    )


def _post_capture(slot: Slot, post: PostRow, obs: Observation) -> RawCapture | None:
    """The capture a post's write keeps: a new row's, a confirming probe's (the post is
    suspect), or a probe's that just changed the post's state (made an event)."""
    if obs.capture is None:
        return None
    if not slot.extend:
        return obs.capture
    if obs.mode == "probe" and (post.state == PostState.SUSPECT
                                or post.state_since == obs.observed_at):
        return obs.capture
    return None


def target_write(target: TargetRow, obs: Observation, ids: IdSource, *,
                 suspects: bool = False) -> ObsWrite:
    """The write of a listing's own observation (the walk, not its entries), extending
    the target's last row when nothing but the time differs. ``suspects``: the
    listing made posts suspect (its capture is then kept even on an extended row)."""
    entries = len(obs.entries or [])
    sig = _signature(obs.mode, obs.outcome.value, obs.http_status, obs.vantage,
                     _words_digest(obs.message, obs.detail, obs.signals), entries)
    slot = _slot(target.last_obs_id, target.last_obs_sig, sig, ids)
    target.last_obs_id, target.last_obs_sig = slot.id, sig
    return ObsWrite(
        id=slot.id, extend=slot.extend, target_id=target.id, post_id=None, mode=obs.mode,
        at=obs.observed_at, outcome=obs.outcome.value, http_status=obs.http_status,
        version_id=None, body_hash=obs.body_hash, message=obs.message, url=obs.url,
        vantage=obs.vantage, signals=dict(obs.signals),
        counters={"entries": entries, "tombstones": len(obs.tombstones)},
        detail=obs.detail,
        capture=obs.capture if not slot.extend or suspects else None,
    )
