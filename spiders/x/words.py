"""X's words: what the logged-out syndication and oEmbed endpoints say, and what it means.

One row per fact (:class:`monitor.platform.Rule`), named ``x.<scope>.<what>``. The
first matching row wins, so the order is the precedence. Scopes:

- ``status``, ``final_url``, ``title``, ``json:errors[].code``,
  ``json:errors[].message``: the answer itself. A login wall, a guest-token
  failure, an ``{"errors": …}`` envelope (a bad ``token``), 429: about the
  collector, never the post.
- ``json:__typename`` and ``json:reason``: the syndication answer's type
  (``TweetTombstone``, ``TweetUnavailable``) and an unavailable post's reason.
- ``tombstone``: the text of a ``TweetTombstone`` (both "Tweet"/"Twitter" and
  "Post"/"X" wordings: stems are matched, case folded by the spider).
- ``json:error``: the oEmbed endpoint's error text.
"""

from __future__ import annotations

from monitor.platform import Rule

BLOCKED, GONE = "collector_blocked", "unavailable"
NOTES = "platform notes: x-twitter.md §2 (tombstone texts)"
TYPES = "platform notes: x-twitter.md §1 (GraphQL/syndication typenames)"
ISSUE = "issue 12 (X part): login walls, guest tokens, 429, syndication errors for a bad token"
#: The TweetUnavailable reasons are not listed in the notes (§1 says "no details
#: given"); these are the values snscrape's reader names, unverified here.
REASONS = "snscrape/modules/twitter.py TweetUnavailable reason (unverified; not in the notes)"


def _tomb(what: str, pattern: str, notice: str | None, outcome: str = GONE) -> Rule:
    return Rule("tombstone", pattern, outcome, notice, match="contains",
                name=f"x.tombstone.{what}", source=NOTES)


#: Typenames the spider reads by rule name (never by their text).
TOMBSTONE_TYPE = "x.typename.tombstone"
UNAVAILABLE_TYPE = "x.typename.unavailable"
#: The public-interest interstitial: a rules violation that stays visible.
INTERSTITIAL = "x.tombstone.public_interest"

WORDS: tuple[Rule, ...] = (
    # --- the collector, never the content --------------------------------------------
    Rule("status", "429", "rate_limited", name="x.status.rate_limited", source=ISSUE),
    Rule("final_url", "/i/flow/login", BLOCKED, match="contains", name="x.url.login_wall",
         source=ISSUE),
    Rule("final_url", "/login", BLOCKED, match="contains", name="x.url.login_redirect",
         source=ISSUE),
    Rule("title", "log in to x", BLOCKED, match="contains", name="x.title.login_wall",
         source=ISSUE),
    Rule("json:errors[].message", "guest token", BLOCKED, match="contains",
         name="x.api.guest_token", source=ISSUE),
    Rule("json:errors[].code", "239", BLOCKED, name="x.api.bad_guest_token_code", source=ISSUE),
    # Any other error envelope (a wrong or missing token parameter): not about the post.
    Rule("json:errors[].message", r"\S", BLOCKED, match="regex", name="x.api.errors_envelope",
         source=ISSUE),
    Rule("json:errors[].code", "^[0-9]+$", BLOCKED, match="regex", name="x.api.errors_code",
         source=ISSUE),
    # oEmbed's error text (the second path) for a protected account's post: a 403
    # that is about the post, so it is read before a bare 403 (a block).
    Rule("json:error", "not authorized to see this status", GONE, "private", match="contains",
         name="x.oembed.not_authorized", source=NOTES),
    Rule("status", "403", BLOCKED, name="x.status.forbidden", source=ISSUE),
    # --- what a syndication answer is ------------------------------------------------
    Rule("json:__typename", "TweetTombstone", GONE, "content_unavailable",
         name=TOMBSTONE_TYPE, source=TYPES),
    Rule("json:reason", "Suspended", GONE, "account_suspended",
         name="x.reason.suspended", source=REASONS),
    Rule("json:reason", "Protected", GONE, "private", name="x.reason.protected",
         source=REASONS),
    Rule("json:reason", "NsfwLoggedOut", GONE, "age_restricted", name="x.reason.nsfw",
         source=REASONS),
    Rule("json:__typename", "TweetUnavailable", GONE, "content_unavailable",
         name=UNAVAILABLE_TYPE, source=TYPES),
    # --- tombstone texts, most specific first (case folded) --------------------------
    # "violated the X Rules. However, … in the public's interest … to remain accessible":
    # still visible, so it is no absence.
    _tomb("public_interest", "public's interest", None, outcome="ok"),
    _tomb("deleted_by_author", "deleted by the", "deleted_by_author"),
    _tomb("suspended_account", "from a suspended account", "account_suspended"),
    _tomb("account_gone", "account that no longer exists", "account_deleted"),
    _tomb("withheld_legal_demand", "in response to a legal demand", "geo_blocked"),
    _tomb("withheld_local_law", "based on local law", "geo_blocked"),
    _tomb("withheld", "has been withheld in", "geo_blocked"),
    _tomb("violated_rules", "violated the", "removed_violation"),
    _tomb("protected", "limits who can view", "private"),
    _tomb("account_restricted", "account is temporarily restricted", "under_review"),
    _tomb("age_restricted", "age-restricted adult content", "age_restricted"),
    _tomb("page_missing", "this page doesn't exist", "not_found", outcome="not_found"),
    _tomb("account_missing", "this account doesn't exist", "not_found", outcome="not_found"),
    _tomb("something_wrong", "something went wrong", None, outcome="server_error"),
    _tomb("unavailable", "is unavailable", "content_unavailable"),
)

#: The country in a legal withholding text sits between these words (split, no regex).
WITHHELD_BEFORE = "withheld in "
WITHHELD_AFTERS = (" in response to", " based on local law")
