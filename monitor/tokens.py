"""Per-item access tokens (RedNote's ``xsec_token``): which token a probe uses, when an
answer is about the token rather than the post, and what a post waits for then.

A platform declares the token field its listings hand out
(:attr:`~monitor.platform.Platform.probe_token`) and the notices it also serves when
that token is expired or missing (:attr:`~monitor.platform.Platform.token_notices`).
Such a notice is *token-ambiguous*: the same page answers a deleted post and a stale
link. The rules, in order:

- A token-ambiguous answer counts as absence only when the target's listing says
  the post is gone (its suspicion began from the listing: missing from inside the
  window, the listing itself gone, the account's state, a tombstone) and the probe
  used the latest token the listing handed out. The confirmation then runs as for
  any absence, and the words decide the cause (the generic notice stays
  ``ambiguous``).
- Otherwise it is a *token problem*, handled exactly like ``token_expired``: no
  suspicion, no event; the probe waits for the next listing's fresh token
  (:func:`token_wait`, :func:`token_refreshed`).
- A single-post target has no listing of its own to refresh its token. A token
  problem there marks its post as needing attention (:data:`ATTENTION`), shown by
  ``takedown status`` and the metrics, never an event, unless a watched account's
  listing handed the post a token (the store shares it across rows of the same
  post, :mod:`monitor.db.tokens`) and no token problem has met it since. A probe
  that gets an answer about the post clears it, and so does a watched listing that
  carries the post (its token is shared, and the post probed at once).

Pure functions over rows (:mod:`monitor.rows`); the keys they keep live in
``PostRow.known``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .observation import Observation, Outcome, PostContent
from .platforms import PLATFORMS
from .rows import PostRow, PostState, TargetRow

__all__ = ["ATTENTION", "ATTENTION_REASONS", "LISTING_REASONS", "TOKEN_AT", "TOKEN_WAIT",
           "UNLISTED", "attend", "listing_says_gone", "probe_token", "token_ambiguous",
           "token_notices", "token_problem", "token_refreshed", "token_wait"]

#: Key in ``PostRow.known``: when a probe met a token problem; set until a listing
#: hands out a fresh token (see :func:`token_wait`).
TOKEN_WAIT = "token_wait"
#: Key in ``PostRow.known``: when a listing (this target's or, shared by the store,
#: another's) last handed out the post's token.
TOKEN_AT = "token_at"
#: Key in ``PostRow.known``: why the post's target needs the user (a reason of
#: :data:`ATTENTION_REASONS`).
ATTENTION = "attention"
#: Reasons a target needs attention, with what the user sees and should do.
ATTENTION_REASONS: dict[str, str] = {
    "token_expired": "token expired: add the author's profile or a fresh URL",
}
#: Suspicion reasons that come from the target's listing.
LISTING_REASONS = frozenset({"missing_from_listing", "listing_gone", "account_state",
                             "tombstone"})
#: Key in ``Suspicion.context``: the listing-backed reason that made (or joined) the
#: suspicion; kept when a hiding restarts as an absence.
UNLISTED = "unlisted"


def probe_token(platform: str) -> str | None:
    """The ``PostContent.extra`` field a probe of ``platform`` must take from the
    latest listing (its declaration's ``probe_token``), if any."""
    declared = PLATFORMS.get(platform)
    return declared.probe_token if declared is not None and declared.has_listing else None


def token_notices(platform: str) -> frozenset[str]:
    """The notices ``platform`` also serves for an expired or missing token."""
    declared = PLATFORMS.get(platform)
    return declared.token_notices if declared is not None else frozenset()


def token_ambiguous(obs: Observation) -> bool:
    """Whether ``obs`` is an absent answer whose notice a stale token also gets."""
    notice = obs.signals.get("notice")
    return (obs.outcome.absent and isinstance(notice, str)
            and notice in token_notices(obs.platform))


def listing_says_gone(target: TargetRow, post: PostRow) -> bool:
    """Whether the target's listing says ``post`` is gone, and the post holds the
    latest token that listing handed out (the one its probes use)."""
    suspicion = post.suspicion
    if target.single_post or post.state != PostState.SUSPECT or suspicion is None:
        return False
    if not (suspicion.context.get(UNLISTED) or suspicion.reason in LISTING_REASONS):
        return False
    field = probe_token(post.platform)
    return field is None or bool(post.known.get(field))


def token_problem(target: TargetRow, post: PostRow, obs: Observation) -> bool:
    """Whether a probe's answer is about the token, not the post: ``token_expired``,
    or a token-ambiguous notice that the listing does not back."""
    if obs.mode != "probe":
        return False
    if obs.outcome is Outcome.TOKEN_EXPIRED:
        return True
    return token_ambiguous(obs) and not listing_says_gone(target, post)


def attend(target: TargetRow, post: PostRow, obs: Observation, problem: bool) -> None:
    """Mark or clear the post's need of attention after a probe (before
    :func:`token_wait` records the wait). A single post needs it when a token
    problem meets it and no listing can refresh its token: none ever handed one out,
    or none did since the last token problem."""
    if obs.mode != "probe":
        return
    if problem:
        if target.single_post and (TOKEN_AT not in post.known or TOKEN_WAIT in post.known):
            post.known[ATTENTION] = "token_expired"
    elif not obs.outcome.transient:
        post.known.pop(ATTENTION, None)


def token_wait(target: TargetRow, post: PostRow, obs: Observation,
               problem: bool) -> datetime | None:
    """When a probe that met a token problem may run again, or None when the usual
    schedule applies.

    Retrying with the same token would only fail again, so the post waits for the
    target's next listing, which hands out a fresh token: the listing brings the
    probe forward (:func:`token_refreshed`). If that listing does not list the
    post, the probe runs one interval after it, with what it has. A probe that gets
    any other answer ends the wait. A post nothing refreshes (a platform without
    listing tokens, a single post no watched listing carries) backs off as usual.
    """
    if obs.mode != "probe":
        return None
    if not problem:
        post.known.pop(TOKEN_WAIT, None)
        return None
    if probe_token(post.platform) is None:
        return None
    if target.single_post and TOKEN_AT not in post.known:
        return None
    now = obs.observed_at
    if _refreshed_since(post, obs):
        # A listing handed out a fresh token while this probe ran with the one
        # before it: no need to wait for the next listing.
        post.known.pop(TOKEN_WAIT, None)
        return now
    post.known[TOKEN_WAIT] = now.isoformat()
    listing = max(target.next_due or now, now)
    return listing + timedelta(seconds=target.interval_s)


def token_refreshed(post: PostRow, entry: PostContent, now: datetime) -> str | None:
    """A listing showed ``post``: remember when it handed out the entry's token (already
    in ``post.known``) and, if the post's probe waits for one, probe it now. Returns
    the token, for the store to share with other rows of the same post."""
    field = probe_token(post.platform)
    token = entry.extra.get(field) if field else None
    if not isinstance(token, str) or not token:
        return None
    post.known[TOKEN_AT] = now.isoformat()
    if post.known.pop(TOKEN_WAIT, None) is not None:
        post.next_check = now
    return token


def _refreshed_since(post: PostRow, obs: Observation) -> bool:
    """Whether a listing refreshed the post's token at or after ``obs`` began (the
    probe was claimed before that, with the token before it)."""
    try:
        refreshed = datetime.fromisoformat(str(post.known.get(TOKEN_AT)))
    except ValueError:
        return False
    began = obs.observed_at - timedelta(milliseconds=max(0.0, obs.elapsed_ms or 0.0))
    return refreshed.tzinfo is not None and refreshed >= began
