"""RedNote's words: what its pages, error codes and statuses say, and what each means.

One row per fact, an OONI-style fingerprint (:class:`monitor.platform.Rule`) with
a stable name (``rednote.<scope>.<what>``), recorded as ``signals["fingerprint"]``
when it decides an outcome. The first matching row wins, so the most specific
comes first. Scopes: ``status`` (HTTP status), ``error_code`` (the
``error_code`` of a redirect or the API's ``code``), ``page_text`` (the
page's title and visible texts, or the API's message) and ``profile_status``
(the same texts of a profile page: the account's own state, sent as
``signals["account_state"]``). A profile page is matched on both: the anti-bot
and login-wall rows come first, so a blocked profile is a collector block,
never an account state.

Blocks are about the collector, never the note: HTTP 461/471 (captcha,
``Verifytype`` header) and the API codes 300012 (IP blocked) and 300011
(account security) are ``collector_blocked``; challenge pages are ``anti_bot``.
"当前笔记暂时无法浏览" (error_code 300031) is *ambiguous*: an expired token and
an anti-bot block serve the same page, so it is recorded as
``unavailable_generic`` and never as a deletion.
"""

from __future__ import annotations

from monitor.platform import Rule

BLOCKED, ANTI_BOT, TOKEN, AUTH, GONE = ("collector_blocked", "anti_bot", "token_expired",
                                        "auth_required", "unavailable")
#: Where these were seen: the project's platform notes, from recorded pages and API answers.
NOTES = "platform notes: xiaohongshu.md"
#: Wordings no recorded page or public scraper confirmed: a banned account's profile.
GUESS = ("guess: a banned account's profile wording, not seen in the platform notes or "
         "the public scrapers (MediaCrawler, ReaJason/xhs); confirm on a real page")


def _texts(outcome: str, notice: str | None, *named: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule("page_text", pattern, outcome, notice, match="contains",
                      name=f"rednote.text.{name}", source=NOTES) for name, pattern in named)


def _codes(outcome: str, notice: str | None, *named: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule("error_code", code, outcome, notice, name=f"rednote.code.{name}",
                      source=NOTES) for name, code in named)


def _profile(state: str, notice: str, source: str,
             *named: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule("profile_status", pattern, GONE, notice, match="contains",
                      account_state=state, name=f"rednote.profile.{name}", source=source)
                 for name, pattern in named)


def _statuses(outcome: str, *named: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule("status", status, outcome, name=f"rednote.status.{name}", source=NOTES)
                 for name, status in named)


WORDS: tuple[Rule, ...] = (
    # Answers to the request, not about the note: captcha statuses block the
    # collector; a bare 403 is how RedNote turns blocked clients away.
    *_statuses(BLOCKED, ("captcha_461", "461"), ("captcha_471", "471")),
    *_statuses(ANTI_BOT, ("forbidden", "403")),
    # Blocks of our IP or session, before the texts their envelopes carry
    # (300012 comes with "网络连接异常").
    *_codes(BLOCKED, None, ("ip_block", "300012"), ("account_security", "300011")),
    # Anti-bot walls: the request was judged, not the content.
    *_texts(ANTI_BOT, None, ("security_check", "安全验证"), ("too_frequent", "访问频繁"),
            ("ip_risk", "IP存在风险"), ("network_risk", "网络环境存在风险"),
            ("network_error", "网络连接异常"), ("browser_error", "浏览器异常")),
    *_codes(ANTI_BOT, None, ("browser_check", "300015")),
    *_texts(TOKEN, None, ("login_expired", "登录已过期")),
    *_codes(TOKEN, None, ("login_expired", "-100")),
    # The web refuses and sends readers to the app: says nothing about the note.
    *_texts(AUTH, None, ("open_app", "请打开小红书App扫码查看"),
            ("page_unavailable", "页面无法浏览")),
    # The account's own state, on its profile page only (after the walls above).
    *_profile("deleted", "account_deleted", NOTES, ("account_closed", "该用户已注销"),
              ("no_such_user", "用户不存在")),
    *_profile("suspended", "account_suspended", GUESS, ("banned", "账号已被封禁"),
              ("banned_short", "账号已封禁"), ("violation", "账号违规"),
              ("abnormal", "账号异常")),
    # Notices, most specific first: the generic 404 title "你访问的页面不见了"
    # often frames a more specific sentence.
    *_texts(GONE, "removed_violation", ("removed_violation", "因违规")),
    *_texts(GONE, "deleted", ("deleted", "该笔记已被删除"), ("deleted_short", "笔记已删除")),
    *_texts(GONE, "private", ("private", "私密笔记"), ("author_only", "仅作者可见"),
            ("self_only", "仅自己可见"), ("user_setting", "因用户设置")),
    *_texts(GONE, "under_review", ("abnormal_state", "笔记状态异常")),
    *_texts(GONE, "content_unavailable", ("cannot_show", "当前内容无法展示")),
    *_texts(GONE, "account_deleted", ("account_closed", "该用户已注销"),
            ("no_such_user", "用户不存在")),
    *_texts(GONE, "not_found", ("no_such_note", "笔记不存在"), ("no_such_content", "内容不存在"),
            ("expired", "已失效")),
    *_texts(GONE, "unavailable_generic", ("cannot_view", "当前笔记暂时无法浏览"),
            ("page_gone", "你访问的页面不见了"), ("note_gone", "笔记不见了")),
    # Error codes that say something about the content.
    *_codes(GONE, "unavailable_generic", ("cannot_view", "300031")),
    *_codes(GONE, "not_found", ("no_such_note", "-510000")),
    *_codes(GONE, "under_review", ("abnormal_state", "-510001")),
)
