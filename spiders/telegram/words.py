"""Telegram's words: what the web preview and the embed widget say, and what it means.

One row per fact (:class:`monitor.platform.Rule`), named ``telegram.<scope>.<what>``;
the first matching row wins, so order is precedence. Scopes:

- ``status``, ``body``, ``title``: the answer itself. A 429, a flood-wait page or
  "Too Many Requests" is about the collector, never the channel or the message.
- ``final_url``: the path below the base_url after redirects. ``/s/<channel>``
  answered by the plain ``/<channel>`` page means no public preview: the owner's
  setting, a private channel, a released username or Telegram's sensitive-content
  flag (platform notes §3). The preview cannot tell which: ``content_unavailable``.
- ``page_text``: a channel page's description, the embed's error text, and a
  message's "not supported" label. Channel notices say a policy, legal or
  copyright block; message labels say a copyright or legal block of one message.
  "Please open Telegram to view this post" is the preview's own limit: no row.
"""

from __future__ import annotations

from monitor.platform import Rule

NOTES = "platform notes: telegram.md §4 (restriction and block notices)"
DELETION = "platform notes: telegram.md §2-3 (embed 'Post not found')"
LIMITS = "platform notes: telegram.md §4a-5 (429, flood wait: transient)"
PREVIEW = "platform notes: telegram.md §3 (the /s/ redirect: preview off or flagged)"

#: The text node a message's meta starts with when it was edited (platform notes §1).
EDITED_MARK = "edited"
#: What a flood-wait page says before the seconds it asks us to wait.
RETRY_AFTER_MARK = "retry after"
BLOCKED = "collector_blocked"
GONE = "unavailable"


def _texts(notice: str, *named: tuple[str, str], source: str = NOTES) -> tuple[Rule, ...]:
    return tuple(Rule("page_text", pattern, GONE, notice, match="contains",
                      name=f"telegram.text.{name}", source=source) for name, pattern in named)


WORDS: tuple[Rule, ...] = (
    # --- the collector, never the content -------------------------------------------
    Rule("status", "429", "rate_limited", name="telegram.status.too_many_requests",
         source=LIMITS),
    Rule("body", "FLOOD_WAIT", BLOCKED, match="contains", name="telegram.body.flood_wait",
         source=LIMITS),
    Rule("title", "Too Many Requests", BLOCKED, match="contains",
         name="telegram.title.too_many_requests", source=LIMITS),
    Rule("page_text", "Too Many Requests: retry after", BLOCKED, match="contains",
         name="telegram.text.flood_retry_after", source=LIMITS),
    # --- a country's block, before the copyright wording it may carry -----------------
    *_texts("geo_blocked", ("not_in_your_country", "isn't available in your country"),
            ("violated_local_laws", "because it violated local laws")),
    *_texts("removed_legal", ("local_legal_regulations", "blocked due to local legal "
                                                         "regulations")),
    # --- copyright (channel or message) ------------------------------------------------
    *_texts("removed_copyright", ("copyright_infringement", "due to copyright infringement"),
            ("copyright_infringement_2", "because of copyright infringement")),
    # --- the channel blocked by Telegram for its rules ----------------------------------
    *_texts("removed_violation", ("terms_of_service", "violated Telegram's Terms of Service"),
            ("pornographic", "used to spread pornographic content"),
            ("calls_to_violence", "used to spread calls to violence")),
    *_texts("under_review", ("group_suspended", "has been temporarily suspended to give its "
                                                "moderators time to clean up")),
    # --- a single message: the embed says only that it is not there ---------------------
    Rule("page_text", "Post not found", "not_found", "not_found", match="contains",
         name="telegram.text.post_not_found", source=DELETION),
    # --- no public preview: the plain channel page (below the base_url) ---------------
    Rule("final_url", r"^/[A-Za-z][A-Za-z0-9_]{3,31}/?$", GONE, "content_unavailable",
         match="regex", name="telegram.url.no_preview", source=PREVIEW),
)
