"""Why did a post disappear? Pure functions from observed signals to a cause.

Input is what the probes saw (outcome, signals, the platform's words) plus what
the listing said earlier (tombstones, account state). Output is a
:class:`~monitor.events.Verdict`. Where the public signals cannot decide, the
verdict is ``ambiguous`` with the candidate causes — never a guess.
Transient outcomes never reach this module: the lifecycle does not count them
as absence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .events import Verdict
from .observation import Outcome
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
    "account_deleted": ("account_deleted", None),
    "account_suspended": ("account_suspended", None),
}

#: Every notice code a platform's words may record: those above, those read
#: below, and ``not_found`` (the platform says only that it is not there).
NOTICES = frozenset({*_NOTICE_CAUSE, "deleted", "content_unavailable", "unavailable_generic",
                     "not_found"})


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

    Each probe is a mapping with ``outcome``, ``signals`` and ``message``.
    ``context`` holds signals gathered before the probes: ``tombstone_by``,
    ``author``, ``account_state`` from the listing.
    """
    if not probes:
        raise ValueError("a disappearance needs at least one probe")
    ctx = _signals(probes, context)
    last = probes[-1]
    outcome = Outcome(last["outcome"])
    author_or_remover = ["deleted_by_author", remover(platform)]

    if (verdict := _account_verdict(ctx.get("account_state"))) is not None:
        return verdict
    notice = ctx.get("notice") if outcome is Outcome.UNAVAILABLE else None
    if (verdict := _notice_verdict(notice, author_or_remover)) is not None:
        return verdict

    if outcome is Outcome.LEGAL:
        return Verdict("removed_by_platform", "legal", reason="HTTP 451 Unavailable For Legal "
                       "Reasons")

    by = ctx.get("tombstone_by")
    if by:
        author = ctx.get("author")
        if author and _same_name(by, author):
            return Verdict(
                "deleted_by_author", reason=f"deletion record signed by the author {by!r}"
            )
        if author:
            return Verdict(
                remover(platform),
                reason=f"deletion record signed by {by!r}, not the author {author!r}",
            )
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
    unless their account state is less specific."""
    ctx: dict[str, Any] = dict(context or {})
    for probe in probes:
        for key, value in (probe.get("signals") or {}).items():
            if value is None:
                continue
            if key == "account_state" and _ACCOUNT_SPECIFICITY.get(value, 0) < \
                    _ACCOUNT_SPECIFICITY.get(str(ctx.get(key)), 0):
                continue
            ctx[key] = value
    return ctx


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
