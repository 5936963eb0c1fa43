"""Why did a post disappear? Pure functions from observed signals to a cause.

Input is what the probes saw (outcome, signals, the platform's words) plus what
the listing said earlier (tombstones, account state). Output is a
:class:`~monitor.events.Verdict`. Where the public signals cannot decide, the
verdict is ``ambiguous`` with the candidate causes — never a guess.
Transient outcomes never reach this module: the lifecycle does not count them
as absence.

Two rules keep a verdict on the evidence of the disappearance itself:

- **The most specific signal decides.** Across the probes of a suspicion, a
  later, vaguer notice (a generic "cannot view" page) never overrides a more
  specific one ("removed for a violation"): :data:`NOTICE_SPECIFICITY` and
  :data:`_ACCOUNT_SPECIFICITY` are the orders, ties going to the later signal.
- **The account state is the one seen when the post went missing**: in the
  context (read at or before the first absent observation) and in the first
  complete absent probe. A later, more specific reading refines a suspension
  already seen (``suspended`` → ``suspended_temporary``); a suspension first
  seen after the post was gone does not decide the cause and is returned as
  the verdict's ``evidence["later_account_state"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .events import Verdict
from .observation import Outcome
from .platform import match_words
from .platforms import PLATFORMS

#: A later, vaguer account state never overrides a more specific one.
_ACCOUNT_SPECIFICITY = {"normal": 0, "limited": 0, "suspended": 1, "deleted": 2,
                        "suspended_temporary": 2, "suspended_permanent": 2}
#: The account states a platform's words or spider may report.
ACCOUNT_STATES = frozenset(_ACCOUNT_SPECIFICITY)

#: What a notice (``signals["notice"]``, set from a platform's words) says the cause
#: is: (cause, cause_detail). Kept as data; a notice missing here is read below or
#: left ambiguous.
_NOTICE_CAUSE: dict[str, tuple[str, str | None]] = {
    "deleted_by_author": ("deleted_by_author", None),
    "removed_by_moderator": ("removed_by_moderator", None),
    "removed_by_platform": ("removed_by_platform", None),
    "removed_violation": ("removed_by_platform", "policy"),
    "removed_legal": ("removed_by_platform", "legal"),
    "removed_copyright": ("removed_by_platform", "copyright"),
    "removed_spam": ("removed_by_platform", "spam"),
    "geo_blocked": ("geo_blocked", None),
    "private": ("hidden_by_author", None),
    "under_review": ("restricted", None),
    "age_restricted": ("restricted", None),
    "account_deactivated": ("account_deleted", None),
    "account_deleted": ("account_deleted", None),
    "account_suspended": ("account_suspended", None),
}

#: How much a notice says, least first: 0 nothing but absence, 1 gone but not
#: by whom, 2 the author or a state, 3 a remover, 4 a remover and why. The most
#: specific notice of a suspicion decides; among equals, the later one.
NOTICE_SPECIFICITY: dict[str, int] = {
    "not_found": 0, "unavailable_generic": 0,
    "deleted": 1, "content_unavailable": 1,
    "deleted_by_author": 2,
    "private": 2, "under_review": 2, "geo_blocked": 2, "account_deleted": 2,
    "age_restricted": 2, "account_deactivated": 2,
    "account_suspended": 2,
    # A removal outranks the author's deletion: an author may still delete a post a
    # moderator or the platform removed (Reddit: Reveddit's "deleted, but first
    # removed by"), and the later deletion must not hide who removed it.
    "removed_by_moderator": 3, "removed_by_platform": 3,
    "removed_violation": 4, "removed_legal": 4, "removed_copyright": 4, "removed_spam": 4,
}

#: Every notice code a platform's words may record: those above, those read
#: below, and ``not_found`` (the platform says only that it is not there).
NOTICES = frozenset({*_NOTICE_CAUSE, "deleted", "content_unavailable", "unavailable_generic",
                     "not_found"})

#: Where a platform's words read a tombstone's signer and comment (the feed's own
#: words about a withdrawn entry), one at a time: see :func:`_tombstone_verdict`.
TOMBSTONE_SCOPE = "tombstone"
#: A 451 answer says what the ``removed_legal`` notice says.
_LEGAL_NOTICE = "removed_legal"


def remover(platform: str) -> str:
    """Who, besides the author, removes posts on ``platform`` when it will not say
    (its declaration's ``remover``): a community moderator, or the platform itself."""
    declared = PLATFORMS.get(platform)
    return declared.remover if declared is not None else "removed_by_platform"


def classify_disappearance(
    platform: str,
    probes: Sequence[Mapping[str, Any]],
    context: Mapping[str, Any] | None = None,
) -> Verdict:
    """Decide the cause from the confirming probes (oldest first) and context.

    Each probe is a mapping with ``outcome``, ``signals``, ``message`` and ``at``.
    ``context`` holds signals gathered at or before the first absent observation:
    ``tombstone_by``, ``tombstone_comment``, ``author``, ``account_state`` from
    the listing; and ``account_state_later`` (``{"state", "at", "via"}``), an
    account state a listing read only after the post was gone.
    """
    if not probes:
        raise ValueError("a disappearance needs at least one probe")
    ctx = _signals(probes, context)
    verdict = _decide(platform, probes[-1], ctx)
    later = ctx.get("account_state_later")
    if later:
        verdict.evidence["later_account_state"] = dict(later)
    return verdict


def _decide(platform: str, last: Mapping[str, Any], ctx: Mapping[str, Any]) -> Verdict:
    outcome = Outcome(last["outcome"])
    author_or_remover = ["deleted_by_author", remover(platform)]
    if ctx.get("account_state") == "suspended" and ctx.get("notice") == "account_suspended":
        # A bare "suspended" flag leaves self-deletion open (Mastodon); the platform's
        # own words on the account's page (RedNote's ban notice) do not.
        return Verdict("account_suspended", reason="the platform's notice on the author's "
                       "page says the account is suspended")
    if (verdict := _account_verdict(ctx.get("account_state"))) is not None:
        return verdict
    notice = ctx.get("notice")
    if notice == _LEGAL_NOTICE and ctx.get("notice_from") == "http_451":
        return Verdict("removed_by_platform", "legal", reason="HTTP 451 Unavailable For Legal "
                       "Reasons")
    if (verdict := _notice_verdict(notice, author_or_remover)) is not None:
        return verdict
    by = ctx.get("tombstone_by")
    if by and (verdict := _tombstone_verdict(platform, str(by), ctx.get("tombstone_comment"),
                                             ctx.get("author"))) is not None:
        return verdict
    if outcome is Outcome.FORBIDDEN:
        return Verdict(
            "ambiguous",
            candidates=["geo_blocked", "restricted", "removed_by_platform"],
            reason="HTTP 403 from one vantage point: geo-blocking cannot be told apart",
        )
    return Verdict(
        "ambiguous",
        candidates=author_or_remover,
        reason=f"{outcome.value} ({last.get('http_status') or 'no status'}) alone cannot tell "
        "an author's deletion from a removal",
    )


def _signals(probes: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None
             ) -> dict[str, Any]:
    """The context, then each probe's signals: later probes override earlier ones,
    except for the account state (fixed when the post went missing) and the notice
    (the most specific one seen). A notice counts only on an ``unavailable`` answer
    (the words matched a notice page), a 451 as ``removed_legal``."""
    ctx: dict[str, Any] = dict(context or {})
    ctx.pop("notice", None)
    if (context or {}).get("listing_outcome") == Outcome.UNAVAILABLE.value:
        _note(ctx, (context or {}).get("notice"), "listing")
    settled = False  # the first complete absent probe was read
    for probe in probes:
        signals = probe.get("signals") or {}
        for key, value in signals.items():
            if value is None or key in ("notice", "account_state"):
                continue
            ctx[key] = value
        _account(ctx, signals.get("account_state"), probe, settled)
        outcome = probe.get("outcome")
        if outcome == Outcome.UNAVAILABLE.value:
            _note(ctx, signals.get("notice"), "probe")
        elif outcome == Outcome.LEGAL.value:
            _note(ctx, _LEGAL_NOTICE, "http_451")
        settled = settled or not signals.get("followup_failed")
    return ctx


def _note(ctx: dict[str, Any], notice: Any, source: str) -> None:
    """Keep ``notice`` unless the one kept so far is more specific."""
    if notice not in NOTICE_SPECIFICITY:
        return
    if NOTICE_SPECIFICITY[notice] >= NOTICE_SPECIFICITY.get(str(ctx.get("notice")), -1):
        ctx["notice"], ctx["notice_from"] = notice, source


def _account(ctx: dict[str, Any], state: Any, probe: Mapping[str, Any], settled: bool) -> None:
    """Fold one probe's account state into ``ctx``: until the first complete probe
    the more specific state wins; after it, a more specific state only refines a
    suspension already seen, and anything else is a later fact."""
    if state is None:
        return
    rank = _ACCOUNT_SPECIFICITY.get(state, 0)
    before = _ACCOUNT_SPECIFICITY.get(str(ctx.get("account_state")), 0)
    if not settled or before > 0:
        if rank >= before and (rank > 0 or not settled):
            ctx["account_state"] = state
        return
    if rank > before and not ctx.get("account_state_later"):
        ctx["account_state_later"] = {"state": state, "at": probe.get("at"), "via": "probe"}


def _account_verdict(account: Any) -> Verdict | None:
    """The verdict the author's account state alone gives, if any."""
    if account == "suspended_permanent":
        return Verdict(
            "ambiguous",
            candidates=["account_deleted", "account_suspended"],
            reason="the author's profile answers 410 Gone: permanently suspended or self-deleted",
        )
    if account == "deleted":
        return Verdict("account_deleted", reason="the platform reports the account deleted")
    if account == "suspended_temporary":
        return Verdict("account_suspended", reason="the author's account is suspended and its "
                       "profile answers 403 (temporary suspension)")
    if account == "suspended":
        return Verdict(
            "ambiguous",
            candidates=["account_deleted", "account_suspended"],
            reason="the account is flagged suspended, which Mastodon also shows for "
            "self-deleted accounts; the profile check did not decide",
        )
    return None


def _notice_verdict(notice: Any, author_or_remover: list[str]) -> Verdict | None:
    """The verdict a platform's notice page gives, if any (``None``: no notice)."""
    if notice in _NOTICE_CAUSE:
        cause, detail = _NOTICE_CAUSE[notice]
        return Verdict(cause, detail, reason=f"the platform's notice says {notice!r}")
    if notice == "deleted":
        return Verdict(
            "ambiguous",
            candidates=author_or_remover,
            reason="the platform says deleted but not by whom",
        )
    if notice == "content_unavailable":
        return Verdict(
            "ambiguous",
            candidates=["hidden_by_author", "restricted", "removed_by_platform"],
            reason="the platform says the content cannot be shown, without a reason",
        )
    if notice == "unavailable_generic":
        return Verdict(
            "ambiguous",
            candidates=["deleted_by_author", "removed_by_platform", "hidden_by_author"],
            reason="a generic 'cannot view' page, also served for expired tokens and "
            "anti-bot blocks",
        )
    return None


def _tombstone_verdict(platform: str, by: str, comment: Any, author: Any) -> Verdict | None:
    """Who withdrew an entry, from its deletion record: the author when the author
    signed it; otherwise the platform's words decide, reading the signer and the
    comment apart (:data:`TOMBSTONE_SCOPE`). A signer the words name a moderator
    stays a moderator; else the most specific notice of the two decides (staff
    signer: the platform; a comment about a legal complaint: the platform, legal).
    With no words matched, the platform's default remover, when the author is known."""
    if author and _same_name(by, str(author)):
        return Verdict("deleted_by_author", reason=f"deletion record signed by the author {by!r}")
    declared = PLATFORMS.get(platform)
    words = declared.words if declared is not None else ()
    said = {"signer": match_words(words, {TOMBSTONE_SCOPE: by}),
            "comment": match_words(words, {TOMBSTONE_SCOPE: comment}) if comment else None}
    hits = {part: hit for part, hit in said.items()
            if hit is not None and hit.rule.notice in _NOTICE_CAUSE}
    signer = hits.get("signer")
    if signer is not None and signer.rule.notice == "removed_by_moderator":
        part, hit = "signer", signer
    elif hits:
        part, hit = max(hits.items(), key=lambda kv: NOTICE_SPECIFICITY[kv[1].rule.notice or ""])
    else:
        if not author:
            return None
        return Verdict(remover(platform),
                       reason=f"deletion record signed by {by!r}, not the author {author!r}")
    cause, detail = _NOTICE_CAUSE[hit.rule.notice or ""]
    return Verdict(cause, detail, reason=f"deletion record signed by {by!r}: the {part}'s "
                   f"words {hit.text!r} match {hit.rule.name}")


def classify_hiding(context: Mapping[str, Any]) -> Verdict:
    """A post still served by permalink but no longer listed where it should be."""
    if context.get("account_state") == "limited":
        return Verdict(
            "hidden_from_feed",
            "account_limited",
            reason="the account is limited: its posts are hidden from non-followers",
        )
    return Verdict(
        "hidden_from_feed",
        reason="missing from the listing inside its window while the permalink still works",
    )


def _same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()
