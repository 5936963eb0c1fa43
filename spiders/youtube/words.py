"""YouTube's words: what its feed, oEmbed, watch and channel pages say, and what it means.

One row per fact, an OONI-style fingerprint (:class:`monitor.platform.Rule`) named
``youtube.<scope>.<what>`` and recorded as ``signals["fingerprint"]`` when it decides
an outcome. The first matching row wins, across scopes, so the order is the
precedence: every block first, then the most specific notice. Scopes:

- ``header.location``, ``final_url``: the consent wall (a redirect to
  ``consent.youtube.com``): about the collector.
- ``page_text``: the visible texts of a page (the bot check, the outage page), and
  the watch page's ``playabilityStatus`` reason and subreason texts.
- ``error_code``: the watch page's ``playabilityStatus.status`` and the names of its
  ``errorScreen`` renderers (the captcha view model).

Wordings are matched on text folded by :func:`monitor.platform.normalise_words`,
which makes ``’`` a ``'``: "This content isn’t available." (a session or rate
limit) is told from the content notices by its *words* ("content", not "video"),
never by its apostrophe. Both spellings are fixtures.
"""

from __future__ import annotations

from monitor.platform import Rule

BLOCKED, GONE, MISSING, OK = "collector_blocked", "unavailable", "not_found", "ok"
NOTES = "platform notes: youtube.md §3 (watch page playabilityStatus texts)"
FEED = "platform notes: youtube.md §1 (feed outages: Google's generic error page)"
CHANNEL = "platform notes: youtube.md §3 (channel page; DevYouTubeList#255)"
YTDLP = "platform notes: youtube.md §3 (yt-dlp _video.py, yt-dlp#14095, #13583, #17497)"


def _reason(name: str, pattern: str, notice: str | None, outcome: str = GONE,
            source: str = NOTES, account_state: str | None = None) -> Rule:
    return Rule("page_text", pattern, outcome, notice, match="contains",
                account_state=account_state, name=f"youtube.text.{name}", source=source)


WORDS: tuple[Rule, ...] = (
    # --- the collector, never the content ---------------------------------------------
    Rule("header.location", "consent.youtube.com", BLOCKED, match="contains",
         name="youtube.redirect.consent_wall", source=YTDLP),
    Rule("final_url", "consent.youtube.com", BLOCKED, match="contains",
         name="youtube.url.consent_wall", source=YTDLP),
    Rule("error_code", "playerCaptchaViewModel", BLOCKED,
         name="youtube.code.captcha", source=YTDLP),
    _reason("bot_check", "Sign in to confirm you're not a bot", None, BLOCKED, YTDLP),
    # "This content isn't available, try again later" and "Video unavailable. This
    # content isn’t available.": a session or rate limit, not a removal.
    _reason("session_limit", "This content isn't available", None, BLOCKED, YTDLP),
    _reason("unusual_traffic", "Our systems have detected unusual traffic", None, BLOCKED,
            YTDLP),
    # --- the channel page (the second signal after a feed 404) -------------------------
    _reason("channel_terminated", "This account has been terminated", "account_suspended",
            source=CHANNEL, account_state="suspended"),
    # --- a video's watch page, most specific first -------------------------------------
    _reason("account_terminated", "account associated with this video has been terminated",
            "account_suspended"),
    _reason("account_closed", "account associated with this video has been closed",
            "account_deleted"),
    # Geo blocks before copyright: "blocked it in your country on copyright grounds".
    _reason("geo_copyright", "who has blocked it in your country", "geo_blocked"),
    _reason("geo_uploader", "has not made this video available in your country",
            "geo_blocked", source=YTDLP),
    _reason("geo_government", "not available on this country domain due to a legal "
            "complaint from the government", "geo_blocked"),
    _reason("copyright_claim", "due to a copyright claim by", "removed_copyright"),
    _reason("copyright_block", "who has blocked it on copyright grounds", "removed_copyright"),
    _reason("policy", "for violating YouTube's policy on", "removed_violation", source=YTDLP),
    _reason("terms", "for violating YouTube's Terms of Service", "removed_violation"),
    _reason("guidelines", "because it violates YouTube's Community Guidelines",
            "removed_violation"),
    _reason("removed_by_uploader", "has been removed by the uploader", "deleted_by_author"),
    _reason("private", "This video is private", "private", source=YTDLP),
    _reason("private_short", "Private video", "private", source=YTDLP),
    _reason("age_confirm", "Sign in to confirm your age", "age_restricted", source=YTDLP),
    _reason("age_inappropriate", "may be inappropriate for some users", "age_restricted",
            source=YTDLP),
    _reason("does_not_exist", "This video does not exist", "not_found", MISSING, YTDLP),
    # The 2024- wording for a video gone without a reason: gone, by whom unknown.
    _reason("not_available_anymore", "This video isn't available anymore", "deleted"),
    # An owner's embed setting: the video is there.
    _reason("embed_disabled", "Playback on other websites has been disabled", None, OK,
            YTDLP),
    Rule("error_code", "AGE_CHECK_REQUIRED", GONE, "age_restricted",
         name="youtube.code.age_check", source=YTDLP),
    Rule("error_code", "AGE_VERIFICATION_REQUIRED", GONE, "age_restricted",
         name="youtube.code.age_verification", source=YTDLP),
    Rule("error_code", "CONTENT_CHECK_REQUIRED", GONE, "age_restricted",
         name="youtube.code.content_check", source=YTDLP),
    # A scheduled or ended live stream: the video exists.
    Rule("error_code", "LIVE_STREAM_OFFLINE", OK, name="youtube.code.live_offline",
         source=YTDLP),
    # --- the feed endpoint's outage page (a feed 404/500): nothing about the channel ---
    _reason("google_error_page", "That's an error.", None, MISSING, FEED),
)

#: Blocks that mean "slow down": the host backs off (up to YOUTUBE_BLOCK_PAUSE).
SLOW_DOWN = frozenset({"youtube.text.session_limit", "youtube.text.unusual_traffic",
                       "youtube.code.captcha", "youtube.text.bot_check"})
#: The watch-page ``playabilityStatus.status`` of a playable video.
PLAYABLE = "OK"
