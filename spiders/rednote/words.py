"""RedNote's words: what its pages, error codes and statuses say, and what each means.

One row per fact (:class:`monitor.platform.Rule`); the first matching row wins,
so the most specific comes first. Scopes: ``status`` (HTTP status),
``error_code`` (the ``error_code`` of a redirect or the API's ``code``) and
``page_text`` (the page's title and visible texts, or the API's message).

"当前笔记暂时无法浏览" (error_code 300031) is *ambiguous*: an expired token
and an anti-bot block serve the same page, so it is recorded as
``unavailable_generic`` and never as a deletion.
"""

from __future__ import annotations

from monitor.platform import Rule

ANTI_BOT, TOKEN, AUTH, GONE = "anti_bot", "token_expired", "auth_required", "unavailable"


def _texts(outcome: str, notice: str | None, *patterns: str) -> tuple[Rule, ...]:
    return tuple(Rule("page_text", p, outcome, notice, match="contains") for p in patterns)


def _codes(outcome: str, notice: str | None, *codes: str) -> tuple[Rule, ...]:
    return tuple(Rule("error_code", c, outcome, notice) for c in codes)


WORDS: tuple[Rule, ...] = (
    # Answers to the request, not about the note: captcha statuses and 403.
    *(Rule("status", s, ANTI_BOT) for s in ("461", "471", "403")),
    # Anti-bot walls: the request was judged, not the content.
    *_texts(ANTI_BOT, None, "安全验证", "访问频繁", "IP存在风险", "网络环境存在风险",
            "网络连接异常", "浏览器异常"),
    *_codes(ANTI_BOT, None, "300011", "300012", "300015"),
    *_texts(TOKEN, None, "登录已过期"),
    *_codes(TOKEN, None, "-100"),
    # The web refuses and sends readers to the app: says nothing about the note.
    *_texts(AUTH, None, "请打开小红书App扫码查看", "页面无法浏览"),
    # Notices, most specific first: the generic 404 title "你访问的页面不见了"
    # often frames a more specific sentence.
    *_texts(GONE, "removed_violation", "因违规"),
    *_texts(GONE, "deleted", "该笔记已被删除", "笔记已删除"),
    *_texts(GONE, "private", "私密笔记", "仅作者可见", "仅自己可见", "因用户设置"),
    *_texts(GONE, "under_review", "笔记状态异常"),
    *_texts(GONE, "content_unavailable", "当前内容无法展示"),
    *_texts(GONE, "account_deleted", "该用户已注销", "用户不存在"),
    *_texts(GONE, "not_found", "笔记不存在", "内容不存在", "已失效"),
    *_texts(GONE, "unavailable_generic", "当前笔记暂时无法浏览", "你访问的页面不见了",
            "笔记不见了"),
    # Error codes that say something about the content.
    *_codes(GONE, "unavailable_generic", "300031"),
    *_codes(GONE, "not_found", "-510000"),
    *_codes(GONE, "under_review", "-510001"),
)
