"""The contract with the classifier: which event each sandbox action must produce.

Keys are (platform, action); values use the vocabulary of :mod:`monitor.events`
(``kind``, ``cause``, and ``detail`` / ``candidates`` when they apply). An
account-level action expects its event once for every status it affects.
"""

from __future__ import annotations

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
