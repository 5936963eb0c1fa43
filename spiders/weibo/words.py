"""Weibo's words: what its answers, pages and placeholders say, and what each means.

One row per fact, an OONI-style fingerprint (:class:`monitor.platform.Rule`) named
``weibo.<scope>.<what>`` and recorded as ``signals["fingerprint"]`` when it
decides an outcome. The first matching row wins, across scopes, so the order is
the precedence. Scopes:

- ``status``, ``final_url``, ``title``, ``json:ok``, ``json:url``, ``json:msg``:
  the answer itself. HTTP 432/418, the "Sina Visitor System" redirect, ``ok:-100``
  (login), an envelope with a verification ``url``, and the empty timeline body
  ``这里还没有内容`` are about the collector, never the post or the account: a
  blocked session gets that same body (weibo-crawler#578).
- ``page_text``: the ``msg`` of an error envelope, the ``/detail/`` page's visible
  text, the texts of a timeline or profile answer that carries an account stub.
- ``error_code``: the envelope's ``errno``. Precedence with ``page_text`` matters:
  20101 is read *before* the generic detail text 微博不存在或暂无查看权限, so a
  20101 stays "not found, by whom unknown", while a 20112 whose detail page says
  it is a platform removal; a privacy or deletion wording on the detail page
  beats either code.
- ``tombstone``: a repost's ``retweeted_status`` stub, its signer (``state:<n>``)
  and its text, read by the classifier (:func:`monitor.classify._tombstone_verdict`).
"""

from __future__ import annotations

from monitor.platform import Rule

BLOCKED, GONE, MISSING = "collector_blocked", "unavailable", "not_found"
NOTES = "platform notes: weibo.md (2025-2026: HTTP 432, visitor cookies, placeholders)"
STABLOG = ("platform notes: weibo.md §3, YaoZeyuan/stablog src/type/namespace/weibo.d.ts "
           "(retweeted_status stubs, state codes)")


def _texts(scope: str, notice: str | None, *named: tuple[str, str],
           outcome: str = GONE, source: str = NOTES,
           account_state: str | None = None) -> tuple[Rule, ...]:
    label = "text" if scope == "page_text" else scope
    return tuple(Rule(scope, pattern, outcome, notice, match="contains",
                      account_state=account_state, name=f"weibo.{label}.{name}",
                      source=source) for name, pattern in named)


#: Account placeholders, the same on a profile, a detail page and inside a repost.
_ACCOUNT_SUSPENDED = (("banned_legal", "该账号因被投诉违反法律法规"),
                      ("banned_convention", "该账号因被投诉违反《微博社区公约》"))
_ACCOUNT_CLOSED = (("closed_by_user", "该账号因用户自行申请关闭"),)
_ACCOUNT_FROZEN = (("frozen", "该账号行为异常，存在安全风险"),)
#: The author's own visibility settings: not censorship.
_PRIVATE = (("author_setting", "由于博主设置"), ("author_setting_2", "根据博主设置"),
            ("author_setting_3", "由于作者设置"), ("half_year", "仅展示半年内"))
_BY_AUTHOR = (("deleted_by_author", "已被作者删除"),)
_BY_PLATFORM = (("convention", "根据《微博社区公约》"),)
_DELETED = (("deleted", "此微博已被删除"), ("deleted_2", "该微博已被删除"))
_MARKETING = (("marketing", "营销推广"),)


WORDS: tuple[Rule, ...] = (
    # --- the collector, never the content --------------------------------------------
    Rule("status", "432", BLOCKED, name="weibo.status.no_cookie_432", source=NOTES),
    Rule("status", "418", BLOCKED, name="weibo.status.teapot_418", source=NOTES),
    Rule("final_url", "/visitor/visitor", BLOCKED, match="contains",
         name="weibo.url.visitor_system", source=NOTES),
    Rule("title", "Sina Visitor System", BLOCKED, match="contains",
         name="weibo.title.visitor_system", source=NOTES),
    Rule("json:ok", "-100", BLOCKED, name="weibo.api.login_required", source=NOTES),
    # An envelope that sends us to a URL (captcha, verification) instead of data.
    Rule("json:url", "^https?://", BLOCKED, match="regex", name="weibo.api.verify_url",
         source=NOTES),
    # --- the account (timeline stubs, profile answers, detail pages) -----------------
    *_texts("page_text", "account_suspended", *_ACCOUNT_SUSPENDED, account_state="suspended"),
    *_texts("page_text", "account_deleted", *_ACCOUNT_CLOSED, account_state="deleted"),
    *_texts("page_text", "under_review", *_ACCOUNT_FROZEN),
    # The empty-timeline body: an account gone *or* a blocked session. Only an
    # account stub (above) makes it about the account.
    Rule("json:msg", "这里还没有内容", BLOCKED, name="weibo.timeline.empty", source=NOTES),
    # --- a post (detail page texts, envelope messages), most specific first ----------
    *_texts("page_text", "private", *_PRIVATE),
    *_texts("page_text", "deleted_by_author", *_BY_AUTHOR),
    *_texts("page_text", "removed_violation", *_BY_PLATFORM),
    *_texts("page_text", "removed_by_platform", *_DELETED),
    *_texts("page_text", "under_review", *_MARKETING),
    # 20101: gone, by whom unknown (author or platform: ambiguous unless a stub says).
    Rule("error_code", "20101", MISSING, "not_found", name="weibo.code.no_such_post",
         source=NOTES),
    # The generic gone page, after 20101: with 20112 it is a platform removal.
    *_texts("page_text", "removed_by_platform", ("no_such_post_or_no_permission",
                                                 "微博不存在或暂无查看权限")),
    Rule("error_code", "20112", GONE, "content_unavailable", name="weibo.code.no_permission",
         source=NOTES),
    # --- repost stubs (retweeted_status), read as tombstones by the classifier -------
    Rule("tombstone", "state:7", GONE, "deleted_by_author",
         name="weibo.tombstone.state_7_author", source=STABLOG),
    *_texts("tombstone", "account_suspended", *_ACCOUNT_SUSPENDED, source=STABLOG),
    *_texts("tombstone", "account_deleted", *_ACCOUNT_CLOSED, source=STABLOG),
    *_texts("tombstone", "under_review", *_ACCOUNT_FROZEN, source=STABLOG),
    *_texts("tombstone", "private", *_PRIVATE, ("no_view_permission", "暂时没有这条微博的查看权限"),
            source=STABLOG),
    *_texts("tombstone", "deleted_by_author", *_BY_AUTHOR, source=STABLOG),
    *_texts("tombstone", "removed_violation", *_BY_PLATFORM, source=STABLOG),
    *_texts("tombstone", "removed_by_platform", *_DELETED, source=STABLOG),
    *_texts("tombstone", "under_review", *_MARKETING, source=STABLOG),
)


#: The blocks that say our session itself is refused (no, or an expired, visitor
#: cookie): the spider drops its cookie. A rate limit or a captcha keeps it.
SESSION_REFUSED = frozenset({"weibo.status.no_cookie_432", "weibo.url.visitor_system",
                             "weibo.title.visitor_system", "weibo.api.login_required"})
