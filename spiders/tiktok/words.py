"""TikTok's words: what its oEmbed answers, web pages and hydration data say, and
what each means.

One row per fact, an OONI-style fingerprint (:class:`monitor.platform.Rule`) named
``tiktok.<scope>.<what>``, recorded as ``signals["fingerprint"]`` when it decides an
outcome. The first matching row wins across scopes, so the order is the precedence:
the collector's blocks first (they say nothing about the video or the account),
then the most specific notice. Scopes:

- ``status``, ``final_url``, ``title``, ``body``: the web page itself. A 403, a
  login wall, a captcha / verify page are blocks.
- ``match_count``: how many hydration scopes (``webapp.video-detail`` or
  ``webapp.user-detail`` in ``__UNIVERSAL_DATA_FOR_REHYDRATION__``) the page
  carried. ``0`` is a bot check's empty shell: a block, never a content signal.
- ``json:__DEFAULT_SCOPE__[...]``: the hydration's ``statusCode``,
  ``isContentClassified`` and ``privateAccount``. **10204 is a block** (datacenter
  IP or client fingerprint), never geo-blocking.
- ``page_text``: the hydration's ``statusMsg`` and the page's visible text.
"""

from __future__ import annotations

from monitor.platform import Rule

BLOCKED, GONE, MISSING = "collector_blocked", "unavailable", "not_found"
NOTES = "platform notes: tiktok.md §3-§4 (2025-2026)"
YTDLP = "platform notes: tiktok.md §3 (statusCode table from yt-dlp extractor/tiktok.py)"
UNVERIFIED = ("platform notes: tiktok.md §3-§4; wording not recorded from a live answer "
              "(fixture written from the notes)")
VIDEO = 'json:__DEFAULT_SCOPE__["webapp.video-detail"]'
USER = 'json:__DEFAULT_SCOPE__["webapp.user-detail"]'

WORDS: tuple[Rule, ...] = (
    # --- the collector, never the content -------------------------------------------
    Rule("status", "403", BLOCKED, name="tiktok.status.forbidden_403", source=NOTES),
    Rule("final_url", "/login", BLOCKED, match="contains", name="tiktok.url.login_wall",
         source=NOTES),
    Rule("title", "Security Check", BLOCKED, match="contains",
         name="tiktok.title.security_check", source=UNVERIFIED),
    Rule("body", "captcha-verify", BLOCKED, match="contains", name="tiktok.body.captcha",
         source=UNVERIFIED),
    Rule("body", "secsdk-captcha", BLOCKED, match="contains", name="tiktok.body.secsdk_captcha",
         source=UNVERIFIED),
    Rule("match_count", "0", BLOCKED, name="tiktok.page.no_hydration", source=NOTES),
    Rule(f"{VIDEO}.statusCode", "10204", BLOCKED, name="tiktok.code.ip_blocked_10204",
         source=NOTES),
    Rule(f"{USER}.statusCode", "10204", BLOCKED, name="tiktok.user_code.ip_blocked_10204",
         source=NOTES),
    # --- the account (profile hydration) ----------------------------------------------
    Rule(f"{USER}.statusCode", "10222", GONE, "private", name="tiktok.user_code.private_10222",
         source=YTDLP),
    Rule(f"{USER}.userInfo.user.privateAccount", "true", GONE, "private",
         name="tiktok.user.private_account", source=NOTES),
    # Any other error on a known account's profile: deleted or banned, not separable.
    Rule(f"{USER}.statusCode", "^-?[1-9][0-9]*$", MISSING, "not_found", match="regex",
         account_state="suspended", name="tiktok.user_code.account_gone", source=NOTES),
    # --- a video (hydration codes and the page's words), most specific first ---------
    Rule(f"{VIDEO}.itemInfo.itemStruct.isContentClassified", "true", GONE, "age_restricted",
         name="tiktok.item.content_classified", source=NOTES),
    Rule(f"{VIDEO}.statusCode", "10216", GONE, "private", name="tiktok.code.private_post_10216",
         source=YTDLP),
    Rule(f"{VIDEO}.statusCode", "10222", GONE, "private",
         name="tiktok.code.private_account_10222", source=YTDLP),
    Rule("page_text", "violating our Community Guidelines", GONE, "removed_violation",
         match="contains", name="tiktok.text.removed_violation", source=UNVERIFIED),
    Rule("page_text", "not available in your region", GONE, "geo_blocked", match="contains",
         name="tiktok.text.region", source=UNVERIFIED),
    Rule("page_text", "not available in your country", GONE, "geo_blocked", match="contains",
         name="tiktok.text.country", source=UNVERIFIED),
    Rule("page_text", "Video unavailable because it was deleted", GONE, "deleted",
         match="contains", name="tiktok.text.video_unavailable_deleted",
         source="platform notes: tiktok.md §3 (ProxiTok#196, i18n video_unavailable_deleted)"),
    # 100004: a new code whose meaning is not established (yt-dlp#12992).
    Rule(f"{VIDEO}.statusCode", "100004", GONE, "content_unavailable",
         name="tiktok.code.unknown_100004", source=YTDLP),
    Rule("page_text", "Video currently unavailable", MISSING, "not_found", match="contains",
         name="tiktok.text.video_currently_unavailable",
         source="platform notes: tiktok.md §3 (tiktok-scraper#189)"),
    # Any other non-zero code: "Video not available" (deleted or removed: not separable).
    Rule(f"{VIDEO}.statusCode", "^-?[1-9][0-9]*$", MISSING, "not_found", match="regex",
         name="tiktok.code.not_available", source=YTDLP),
)
