"""What a listing vouches for: its window, and what it adds to a running suspicion.

Pure helpers of :mod:`monitor.lifecycle` (re-exported there): the store reads the
posts a listing may affect with :func:`window_start`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .observation import Observation
from .rows import Suspicion

__all__ = ["add_context", "window_start"]


def window_start(obs: Observation) -> datetime | None:
    """The oldest publication time a listing vouches for: posts published since then
    and not listed are missing from inside the window. The store reads the posts a
    listing may affect with it, so a listing that is itself gone (the feed or account
    vanished) vouches for every post, and a transient one for none."""
    entries = obs.entries or []
    if obs.outcome.absent or (obs.signals.get("listing_end") and obs.complete):
        return datetime.min.replace(tzinfo=UTC)
    return min((e.published_at for e in entries if e.published_at), default=None)


def add_context(suspicion: Suspicion, context: dict[str, Any], now: datetime) -> None:
    """Add what a listing said to a running suspicion. The cause rests on the evidence
    from when the post first went missing: an account state first read after an absent
    probe is kept apart, as ``account_state_later``, and never decides the cause."""
    state = context.get("account_state")
    if state is not None and suspicion.kind == "absence" and suspicion.probes:
        context = {k: v for k, v in context.items() if k != "account_state"}
        if state not in (suspicion.context.get("account_state"), "normal"):
            suspicion.context.setdefault("account_state_later", {
                "state": state, "at": now.isoformat(), "via": "listing"})
    suspicion.context.update(context)
