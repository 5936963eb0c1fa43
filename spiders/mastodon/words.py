"""Mastodon's words: what its follow-up answers say about the author's account.

A status probe is decided by its HTTP status alone (never by the message,
whose wording changed between versions); when it is 404, the account and the
web profile are asked, and their statuses say what became of the account.
Scopes: ``account_status`` (``/api/v1/accounts/:id``) and ``profile_status``
(the web profile ``/@user``). The outcome is the probe's, which they qualify.
Each rule's name (``mastodon.…``) is recorded as ``signals["fingerprint"]``.
"""

from __future__ import annotations

from monitor.platform import Rule

#: Where these were seen.
NOTES = "platform notes: mastodon.md (Mastodon 2.4-4.x account and profile answers)"

WORDS: tuple[Rule, ...] = (
    # The account record itself is gone from this instance.
    Rule("account_status", "404", "not_found", account_state="deleted",
         name="mastodon.account.gone", source=NOTES),
    # Mastodon 2.4–3.2 answered a suspended account with 410.
    Rule("account_status", "410", "not_found", account_state="suspended",
         name="mastodon.account.suspended_410", source=NOTES),
    # A suspended account's web profile: 403 while the deletion window is open,
    # 410 once the data is gone.
    Rule("profile_status", "403", "not_found", account_state="suspended_temporary",
         name="mastodon.profile.suspended_403", source=NOTES),
    Rule("profile_status", "410", "not_found", account_state="suspended_permanent",
         name="mastodon.profile.gone_410", source=NOTES),
)
