"""The contract with the classifier: which event each sandbox action must produce.

Keys are (platform, action); values use the vocabulary of :mod:`monitor.events`
(``kind``, ``cause``, and ``detail`` / ``candidates`` when they apply). An
account-level action expects its event once for every status it affects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_EDITED = {"kind": "edited", "cause": None}
_RESTORED = {"kind": "restored", "cause": None}


def _gone(cause: str, *, detail: str | None = None, candidates: list[str] | None = None) -> dict:
    out: dict[str, Any] = {"kind": "disappeared", "cause": cause}
    if detail:
        out["detail"] = detail
    if candidates:
        out["candidates"] = candidates
    return out


_HIDDEN = {"kind": "hidden", "cause": "hidden_from_feed"}
_AMBIGUOUS_DELETE = ["deleted_by_author", "removed_by_moderator"]

#: (platform, action) → the event a correct monitor reports. The classifier's contract.
EXPECT: dict[tuple[str, str], dict[str, Any]] = {
    ("mastodon", "edit"): _EDITED,
    ("mastodon", "delete_by_author"): _gone("ambiguous", candidates=_AMBIGUOUS_DELETE),
    ("mastodon", "remove_by_moderator"): _gone("ambiguous", candidates=_AMBIGUOUS_DELETE),
    ("mastodon", "suspend_account"): _gone("account_suspended"),
    ("mastodon", "delete_account"): _gone(
        "ambiguous", candidates=["account_deleted", "account_suspended"]
    ),
    ("mastodon", "limit_account"): _HIDDEN,
    ("mastodon", "hide_from_feed"): _HIDDEN,
    ("mastodon", "restore"): _RESTORED,
    ("rss", "edit"): _EDITED,
    ("rss", "delete_by_author"): _gone("deleted_by_author"),
    ("rss", "remove_by_moderator"): _gone("removed_by_moderator"),
    ("rss", "withhold_legal"): _gone("removed_by_platform", detail="legal"),
    ("rss", "delete_silently"): _gone("ambiguous", candidates=_AMBIGUOUS_DELETE),
    ("rss", "hide_from_feed"): _HIDDEN,
    ("rss", "restore"): _RESTORED,
    ("rednote", "edit"): _EDITED,
    ("rednote", "delete_by_author"): _gone(
        "ambiguous", candidates=["deleted_by_author", "removed_by_platform", "hidden_by_author"]
    ),
    ("rednote", "remove_by_platform"): _gone("removed_by_platform", detail="policy"),
    ("rednote", "make_private"): _gone("hidden_by_author"),
    ("rednote", "put_under_review"): _gone("restricted"),
    ("rednote", "restore"): _RESTORED,
}


def expect(platform: str, action: str) -> dict[str, Any]:
    """A fresh copy of the expected event for ``action`` on ``platform``."""
    found = EXPECT[(platform, action)]
    return {k: (list(v) if isinstance(v, list) else v) for k, v in found.items()}


def detection_window(settings: Mapping[str, Any], interval: float) -> float:
    """The shortest state a monitor with ``settings`` is sure to record, in seconds, when
    its listings and post targets are checked every ``interval`` seconds and no fault
    intervenes: the check that notices the change comes within one interval, then the
    confirming probes span CONFIRM_SPACING, CONFIRM_RETRY apart (at least one retry
    per further probe), and the last may come up to one CONFIRM_RETRY late.

    Give it to :class:`~._sandbox.Sandbox` as ``resolution``: a scripted state that
    lasts less is not expected to be seen. Faults only add delay, so a script meant to
    be seen in full under faults keeps its states several windows long.
    """
    probes = max(1, int(settings["CONFIRM_PROBES"]))
    spacing = float(settings["CONFIRM_SPACING"])
    retry = float(settings["CONFIRM_RETRY"])
    confirm = max(spacing, (probes - 1) * retry) if probes > 1 else 0.0
    return float(interval) + confirm + retry
