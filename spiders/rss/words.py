"""RSS/Atom's words: what a deletion record (RFC 6721 ``at:deleted-entry``) says.

A feed says what became of an entry through HTTP statuses (404, 410, 451: read
by ``spiders.responses`` for every platform) and through tombstones. The spider
records what a tombstone says (``tombstone_by``: the ``at:by`` name;
``tombstone_comment``: the ``at:comment``); these rows say what those words
mean. ``monitor.classify`` reads the signer and the comment apart against this
table (scope :data:`monitor.classify.TOMBSTONE_SCOPE`, ``tombstone``: the
feed's own words about the withdrawn entry, never a page's), first matching row wins:

- a signer named as a moderator stays a moderator, whatever the comment says;
- otherwise the more specific of the two matches decides: a legal complaint,
  a court order, a copyright (DMCA) claim, spam or a policy violation is a
  platform removal with that detail; a trust-and-safety, legal or staff signer
  a platform removal;
- nothing matched: the platform's default remover (a moderator, for feeds).

Matching is case-insensitive (``(?i)``) on whole words. No spider matches pages
against these rows: they read tombstones only, so their outcome is ``tombstone``.
"""

from __future__ import annotations

from monitor.platform import Rule

#: Where these wordings come from: tombstones seen on news sites and forums, and
#: the categories of removal the issue tracker asked for (issue 8, item 1).
NOTES = "RFC 6721 at:by / at:comment; takedown-monitor issue 8"
TOMBSTONE = "tombstone"
SCOPE = "tombstone"


def _rule(name: str, notice: str, pattern: str) -> Rule:
    return Rule(SCOPE, rf"(?i)\b(?:{pattern})\b", TOMBSTONE, notice, match="regex",
                name=f"rss.tombstone.{name}", source=NOTES)


WORDS: tuple[Rule, ...] = (
    # Who: a named moderator stays a moderator (checked on the signer first).
    _rule("moderator", "removed_by_moderator", r"moderat(?:or|ors|ion)|mods?"),
    # Why, most specific first: copyright before the wider legal wording.
    _rule("copyright", "removed_copyright",
          r"copyright\w*|dmca|takedown notice|intellectual property|infring\w*"),
    _rule("legal", "removed_legal",
          r"legal (?:complaints?|demands?|requests?|notices?|reasons?|orders?)|injunction"
          r"|courts?|law enforcement|government request|defamation|libel\w*"),
    _rule("spam", "removed_spam", r"spam"),
    _rule("policy", "removed_violation",
          r"(?:violat\w*|breach\w*|against) (?:of )?(?:our |the )?(?:terms|polic\w+|"
          r"guidelines|rules|standards)|content policy|community (?:guidelines|standards)"
          r"|terms of (?:service|use)"),
    # Who, again: platform staff without a stated reason.
    _rule("trust_safety", "removed_by_platform",
          r"trust (?:&|and) safety|legal (?:team|department)|compliance"
          r"|staff|administrators?|admins?"),
    # The author's own request, carried out by someone else.
    _rule("author_request", "deleted_by_author",
          r"(?:at|on) the author'?s (?:own )?request|withdrawn by (?:the|its) author"),
)
