"""The forum's words: OONI-style fingerprints, the only place its patterns live.

A post the forum removed is still served with HTTP 200: ``selftext`` becomes
``[removed]`` and ``removed_by_category`` says who (Reddit's ``/api/info``
shape). Blocks of the collector come first: they say nothing about the post.
"""

from __future__ import annotations

from monitor.platform import Rule

NOTES = "platform notes: reddit.md"
CATEGORY = "json:data.children[].data.removed_by_category"

WORDS: tuple[Rule, ...] = (
    Rule("body", "whoa there, pardner!", "collector_blocked", match="contains",
         name="forum.block.pardner", source=NOTES),
    Rule("body", "You've been blocked by network security", "collector_blocked",
         match="contains", name="forum.block.network_security", source=NOTES),
    Rule("status", "432", "collector_blocked", name="forum.block.http432", source=NOTES),
    Rule(CATEGORY, "moderator", "unavailable", "removed_by_moderator",
         name="forum.removed.moderator", source=NOTES),
    Rule(CATEGORY, "deleted", "unavailable", "deleted_by_author", name="forum.removed.author",
         source=NOTES),
    Rule(CATEGORY, "reddit", "unavailable", "removed_by_platform",
         name="forum.removed.platform", source=NOTES),
    Rule(CATEGORY, "copyright_takedown", "unavailable", "removed_copyright",
         name="forum.removed.copyright", source=NOTES),
    Rule("json:data.children[].data.selftext", "[deleted]", "unavailable", "deleted_by_author",
         name="forum.text.deleted", source=NOTES),
)
