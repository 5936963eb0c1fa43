"""Reddit's words: what its answers say, as OONI-style fingerprints.

Two tables, read in order (the first matching rule decides):

- :data:`BLOCKS`, on a whole HTTP answer (``status``, ``body``, ``final_url``,
  ``header.*``): the collector blocks of the notes' §0. They say nothing about
  any post and never change one's state.
- :data:`ITEM_WORDS`, on one item of a listing or an ``/api/info`` answer (a
  ``t3`` submission's or ``t1`` comment's ``data``): ``json:<field>`` of the item,
  ``title``, and ``page_text``, which the spider writes as ``"<body> <author>"``
  (``selftext`` for a submission) so that Reveddit's two-field markers
  (``[removed]`` + ``[deleted]``) are one pattern. Most specific first:
  ``removed_by_category``, the legal ``removal_reason``, Reddit's own
  replacement texts, the markers, and last the bare "not indexable" flag.

Each rule's name (``reddit.…``) is recorded as ``signals["fingerprint"]``.
"""

from __future__ import annotations

from monitor.platform import Rule

#: Where these were seen.
NOTES = "platform notes: reddit.md"
S0 = f"{NOTES} §0 (collector blocks, 2026)"
S3 = f"{NOTES} §3 (removed_by_category; PRAW cassettes, Reveddit source)"
S4 = f"{NOTES} §4 (text markers, Reveddit's rules)"
S6 = f"{NOTES} §6 (about.json)"

CATEGORY = "json:removed_by_category"

BLOCKS: tuple[Rule, ...] = (
    # The 429 page also says "whoa there, pardner!": its own words come first.
    Rule("body", "far too many requests come from your IP address", "rate_limited",
         match="contains", name="reddit.block.too_many_requests", source=S0),
    Rule("body", "whoa there, pardner!", "collector_blocked", match="contains",
         name="reddit.block.pardner", source=S0),
    Rule("body", "blocked by network security", "collector_blocked", match="contains",
         name="reddit.block.network_security", source=S0),
    Rule("final_url", "/login/?reason=", "collector_blocked", match="contains",
         name="reddit.block.login_redirect", source=S0),
    # Where JSON or Atom was asked for, an HTML page is the app shell (the 403 on
    # logged-out .json since May 2026) or another wall: never content.
    Rule("header.Content-Type", "text/html", "collector_blocked", match="prefix",
         name="reddit.block.html_answer", source=S0),
)

ITEM_WORDS: tuple[Rule, ...] = (
    Rule(CATEGORY, "deleted", "unavailable", "deleted_by_author",
         name="reddit.category.deleted", source=S3),
    Rule(CATEGORY, "author", "unavailable", "deleted_by_author",
         name="reddit.category.author", source=S3),
    Rule(CATEGORY, "user", "unavailable", "deleted_by_author",
         name="reddit.category.user", source=S3),
    Rule(CATEGORY, "moderator", "unavailable", "removed_by_moderator",
         name="reddit.category.moderator", source=S3),
    Rule(CATEGORY, "automod_filtered", "unavailable", "removed_by_moderator",
         name="reddit.category.automod_filtered", source=S3),
    # Reddit's spam and safety filters.
    Rule(CATEGORY, "reddit", "unavailable", "removed_spam",
         name="reddit.category.reddit", source=S3),
    # Admins enforcing the content policy.
    Rule(CATEGORY, "anti_evil_ops", "unavailable", "removed_violation",
         name="reddit.category.anti_evil_ops", source=S3),
    Rule(CATEGORY, "community_ops", "unavailable", "removed_violation",
         name="reddit.category.community_ops", source=S3),
    Rule(CATEGORY, "content_takedown", "unavailable", "removed_violation",
         name="reddit.category.content_takedown", source=S3),
    Rule(CATEGORY, "legal_operations", "unavailable", "removed_legal",
         name="reddit.category.legal_operations", source=S3),
    Rule(CATEGORY, "copyright_takedown", "unavailable", "removed_copyright",
         name="reddit.category.copyright_takedown", source=S3),
    # Any other category: removed, by whom unknown.
    Rule(CATEGORY, r"^\w{1,64}$", "unavailable", "deleted", match="regex",
         name="reddit.category.other", source=S3),
    Rule("json:removal_reason", "legal", "unavailable", "removed_legal",
         name="reddit.reason.legal", source=f"{NOTES} §2 (2015 r/redditdev announcement)"),
    Rule("title", "[ Removed by Reddit ]", "unavailable", "removed_violation",
         name="reddit.title.removed_by_reddit", source=S4),
    Rule("page_text", "[ Removed by reddit in response to a copyright notice. ]",
         "unavailable", "removed_copyright", match="prefix",
         name="reddit.text.copyright_notice", source=S4),
    Rule("page_text", "[ Removed by Reddit", "unavailable", "removed_violation",
         match="prefix", name="reddit.text.removed_by_reddit", source=S4),
    # Reveddit: deleted = body and author both [deleted]; removed = body [removed]
    # (a comment's author then reads [deleted] too; a submission keeps its author).
    Rule("page_text", "[deleted] [deleted]", "unavailable", "deleted_by_author",
         name="reddit.text.deleted", source=S4),
    Rule("page_text", r"^\[removed\] [^ ]+$", "unavailable", "removed_by_moderator",
         match="regex", name="reddit.text.removed", source=S4),
    # Gone from search engines, no other word: removed or deleted, by whom unknown.
    Rule("json:is_robot_indexable", "false", "unavailable", "deleted",
         name="reddit.flag.not_indexable", source=f"{NOTES} §2"),
)

ACCOUNT_WORDS: tuple[Rule, ...] = (
    Rule("json:data.is_suspended", "true", "ok", account_state="suspended",
         name="reddit.account.suspended", source=S6),
)

WORDS: tuple[Rule, ...] = BLOCKS + ITEM_WORDS + ACCOUNT_WORDS


#: What a feed entry's whole text reads when Reddit replaced a removed or deleted
#: item, and the title of an admin removal: the feed path's markers (it has no
#: ``removed_by_category``), read by ``feeds.is_marker``.
FEED_MARKERS = ("[removed]", "[deleted]")
REMOVED_TITLE = "[ Removed by Reddit ]"
