"""RedNote / Xiaohongshu note pages (and, optionally, user profile pages).

Probe work (and the listing of a watchlist ``post`` target): ``url`` is the
note page ``{base}/explore/{note_id}?xsec_token=…&xsec_source=pc_feed``; a
``known["xsec_token"]`` replaces the URL's token. Listing work for an
``account`` target: ``url`` is ``{base}/user/profile/{user_id}``.

The page's ``window.__INITIAL_STATE__`` carries the note. When it does not,
the page's own words say why, and :func:`read_notice` turns them into an
outcome and a notice code. "当前笔记暂时无法浏览" (error_code 300031) is
*ambiguous*: an expired token and an anti-bot block serve the same page, so it
is recorded as ``unavailable_generic`` and never as a deletion.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scrapy.http import Response

from monitor.errors import ParseError
from monitor.observation import Observation, Outcome, PostContent
from monitor.platform import match_words
from monitor.text import html_texts

from .. import fields as f
from ..base import Job, MonitorSpider, Output
from ..responses import first_entries, header, is_challenge, outcome_for_status, text_of
from .platform import BASE_URL, NOTE_ID
from .platform import note_id as note_id_of
from .state import initial_state
from .words import WORDS

logger = logging.getLogger(__name__)

_PROFILE_PATH = re.compile(r"/user/profile/([0-9a-zA-Z]{16,32})")
_MESSAGE_CHARS = 200


@dataclass(slots=True)
class Notice:
    """What an unavailable page or error envelope says."""

    outcome: Outcome
    notice: str | None = None
    error_code: str | None = None
    message: str | None = None
    detail: str | None = None
    extra_signals: dict[str, Any] = field(default_factory=dict)

    def signals(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra_signals)
        if self.notice:
            out["notice"] = self.notice
        if self.error_code:
            out["error_code"] = self.error_code
        return out


def note_from_state(state: dict[str, Any], note_id: str | None, base: str,
                    token: str | None = None) -> PostContent | None:
    """The note in ``note.noteDetailMap``; None when the state does not hold it."""
    detail_map = f.obj(f.obj(state.get("note")).get("noteDetailMap"))
    entry = detail_map.get(note_id) if note_id else None
    if entry is None and len(detail_map) == 1 and not note_id:
        entry = next(iter(detail_map.values()))
    note = (entry or {}).get("note") if isinstance(entry, dict) else None
    if not isinstance(note, dict) or not (note.get("noteId") or note.get("title")
                                          or note.get("desc")):
        return None
    return parse_note(note, base, note_id, token)


def parse_note(note: dict[str, Any], base: str, note_id: str | None = None,
               token: str | None = None) -> PostContent:
    """A note object (camelCase page shape or snake_case API shape) as PostContent."""
    def get(camel: str, snake: str) -> Any:
        return note.get(camel, note.get(snake))

    key = f.key(get("noteId", "note_id")) or note_id or ""
    if not key:
        raise ParseError("note object without a noteId")
    user = f.obj(note.get("user"))
    interact = f.obj(get("interactInfo", "interact_info"))
    last_update = get("lastUpdateTime", "last_update_time")
    media = [m for m in (_image_id(img) for img in f.items(get("imageList", "image_list"))) if m]
    video = _video_id(note.get("video"))
    if video:
        media.append(video)
    return PostContent(
        key=key,
        url=f"{base}/explore/{key}",
        title=f.text(note.get("title")) or f.text(note.get("display_title")),
        text=f.text(note.get("desc")) or "",
        author=f.text(user.get("nickname")) or f.text(user.get("nick_name")),
        published_at=_ms(note.get("time")),
        updated_at=_ms(last_update),
        media=media,
        counters=_counts(interact),
        extra={
            "xsec_token": get("xsecToken", "xsec_token") or token,
            "user_id": user.get("userId") or user.get("user_id"),
            "last_update_time": last_update,
            "ip_location": get("ipLocation", "ip_location"),
            "type": note.get("type"),
            "tags": [t.get("name") for t in f.items(get("tagList", "tag_list"))
                     if isinstance(t, dict) and t.get("name")],
        },
    )


def profile_entries(state: dict[str, Any], base: str) -> tuple[list[PostContent], list[str],
                                                               int] | None:
    """Notes on a profile page (first tab: the user's own posts), the keys of the
    cards that could not be read and how many there were; None if absent."""
    tabs = f.obj(state.get("user")).get("notes")
    if not isinstance(tabs, list):
        return None
    # Cards past MAX_ENTRIES are counted as skipped, without keys: this listing
    # then vouches for no absence (nothing becomes suspect from it).
    cards, skipped = first_entries(tabs[0] if tabs and isinstance(tabs[0], list) else [])
    entries: list[PostContent] = []
    skipped_keys: list[str] = []
    for card in cards:
        try:
            entries.append(_profile_card(card, base))
        except ParseError as exc:
            # One odd card must not blind the listing: skip it, and say so.
            skipped += 1
            key = f.key(card.get("id")) if isinstance(card, dict) else None
            if key:
                skipped_keys.append(key)
            logger.info("Skipped a RedNote profile card (%s): %s", key or "no key", exc)
    return entries, skipped_keys, skipped


def _profile_card(card: Any, base: str) -> PostContent:
    if not isinstance(card, dict):
        raise ParseError(f"profile card is a {type(card).__name__}, not an object")
    note = f.obj(card.get("noteCard"))
    key = f.key(card.get("id")) or f.key(note.get("noteId"))
    if not key:
        raise ParseError("profile card without an id")
    user = f.obj(note.get("user"))
    return PostContent(
        key=key,
        url=f"{base}/explore/{key}",
        title=f.text(note.get("displayTitle")),
        author=f.text(user.get("nickname")) or f.text(user.get("nickName")),
        counters=_counts(f.obj(note.get("interactInfo"))),
        extra={"xsec_token": f.text(card.get("xsecToken")) or f.text(note.get("xsecToken")),
               "user_id": f.text(user.get("userId")), "type": f.text(note.get("type"))},
    )


def _counts(interact: dict[str, Any]) -> dict[str, int | str]:
    """The ``…Count`` fields, as served ("1.2万" stays a string); not liked/followed flags."""
    return {k: v for k, v in interact.items()
            if k.lower().endswith("count") and isinstance(v, int | str)
            and not isinstance(v, bool)}


def _image_id(image: Any) -> str | None:
    """A stable id for an image: never the signed, expiring CDN URL."""
    if not isinstance(image, dict):
        return None
    for key in ("fileId", "file_id", "traceId", "trace_id"):
        if image.get(key):
            return str(image[key])
    url = image.get("urlDefault") or image.get("url_default") or image.get("url")
    if not url:
        return None
    # CDN paths start with a date and a signature; the last segment (before
    # the "!style" suffix) is the file's trace id.
    try:
        path = urlsplit(str(url)).path
    except ValueError:  # e.g. "http://[x": not a URL, so no id either
        return None
    return path.rsplit("/", 1)[-1].split("!", 1)[0] or path


def _video_id(video: Any) -> str | None:
    if not isinstance(video, dict):
        return None
    return f.key(f.obj(video.get("media")).get("videoId")) or \
        f.key(f.obj(video.get("consumer")).get("originVideoKey"))


def _ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# --- notices -----------------------------------------------------------------


#: What a notice page's words leave out.
_UNSEEN = frozenset({"script", "style", "noscript"})


def page_texts(html: str) -> list[str]:
    """Title and visible text nodes, in order (scripts and styles left out)."""
    return html_texts(html, skip=_UNSEEN, part=("title", "body"))


def url_error_code(url: str) -> str | None:
    query = dict(parse_qsl(urlsplit(url).query))
    return query.get("error_code") or query.get("errorCode")


def read_notice(texts: list[str], error_code: str | None = None,
                error_msg: str | None = None) -> Notice | None:
    """Outcome and notice from a page's words and/or an error code; None if silent."""
    if error_msg:
        texts = [error_msg, *texts]
    hit = match_words(WORDS, {"page_text": texts, "error_code": error_code})
    if hit is None:
        return None
    rule = hit.rule
    message = hit.text[:_MESSAGE_CHARS] if rule.scope == "page_text" else error_msg
    return Notice(Outcome(rule.outcome), notice=rule.notice, error_code=error_code,
                  message=message, extra_signals={"fingerprint": rule.name})


def read_envelope(data: dict[str, Any], base: str, note_id: str | None) -> Notice | PostContent:
    """A JSON API answer: the note (code 0) or what its error code says."""
    code = str(data.get("code"))
    msg = data.get("msg") or data.get("message")
    msg = str(msg) if msg else None
    if code == "0" or (data.get("success") is True and "code" not in data):
        items = f.items(f.obj(data.get("data")).get("items"))
        for item in items:
            card = item.get("note_card") if isinstance(item, dict) else None
            if isinstance(card, dict):
                return parse_note(card, base, note_id or item.get("id"))
        # Clients report empty items while crawling fast: a throttle, not an answer.
        return Notice(Outcome.MALFORMED, error_code=code, message=msg,
                      detail="API answered success with no items (throttling suspected)")
    notice = read_notice([], error_code=code, error_msg=msg)
    if notice is not None:
        return notice
    return Notice(Outcome.MALFORMED, error_code=code, message=msg,
                  detail=f"unknown RedNote API code {code}")


# --- spider ------------------------------------------------------------------


def with_token(url: str, token: str | None) -> str:
    """``url`` with its xsec_token replaced by ``token`` (kept if None)."""
    if not token:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k != "xsec_token"]
    query.insert(0, ("xsec_token", token))
    if not any(k == "xsec_source" for k, _ in query):
        query.append(("xsec_source", "pc_feed"))
    return urlunsplit(parts._replace(query=urlencode(query)))


class RednoteSpider(MonitorSpider):
    """Note pages (probe, and ``post`` listings) and profile pages (``account`` listings)."""

    name = "rednote"
    platform = "rednote"
    default_base = BASE_URL

    def start_job(self, job: Job) -> Output:
        item = job.item
        url = item.url.strip()
        parts = urlsplit(url)
        base = (item.base_url or (f"{parts.scheme}://{parts.netloc}" if parts.netloc
                                  else self.default_base)).rstrip("/")
        job.state["base"] = base
        path_id = note_id_of(url)
        # Watchlist account targets are bare user ids; a note URL in a listing
        # (a ``post`` target) is walked as a probe.
        kind = item.known.get("kind") or ("post" if path_id else "account")
        if item.mode == "listing" and kind == "account":
            if _PROFILE_PATH.search(parts.path) is None:
                if not NOTE_ID.fullmatch(url):
                    yield self.conclude(job, Outcome.MALFORMED,
                                        detail=f"not a RedNote user id or profile URL: {url!r}")
                    return
                url = f"{base}/user/profile/{url}"
            yield self.request(job, url, self.parse_profile)
            return
        the_id = path_id or item.post_key
        if the_id is None and NOTE_ID.fullmatch(url):
            the_id = url
        if not parts.netloc:
            if not the_id:
                yield self.conclude(job, Outcome.MALFORMED,
                                    detail=f"not a RedNote note URL: {url!r}")
                return
            url = f"{base}/explore/{the_id}"
        job.state["note_id"] = the_id
        job.state["token"] = item.known.get("xsec_token") or dict(
            parse_qsl(parts.query)).get("xsec_token")
        yield self.request(job, with_token(url, item.known.get("xsec_token")), self.parse_note)

    def parse_note(self, response: Response, job: Job) -> Output:
        state = job.state
        early = self._early(job, response)
        if early is not None:
            yield early
            return
        text = text_of(response)
        result: Notice | PostContent
        if _looks_like_json(response, text):
            data = _json(text)  # ValueError → MALFORMED via the base class
            if not isinstance(data, dict):
                raise ParseError("JSON answer is not an object")
            result = read_envelope(data, state["base"], state["note_id"])
            yield self._conclude_result(job, response, result)
            return
        note: PostContent | None = None
        parse_error: str | None = None
        page_state: dict[str, Any] | None = None
        try:
            page_state = initial_state(text)
        except ParseError as exc:
            parse_error = str(exc)
        if page_state is not None:
            note = note_from_state(page_state, state["note_id"], state["base"], state["token"])
        if note is not None:
            result = note
        else:
            result = self._absent(response, text, page_state, parse_error)
        yield self._conclude_result(job, response, result)

    def parse_profile(self, response: Response, job: Job) -> Output:
        early = self._early(job, response)
        if early is not None:
            yield early
            return
        text = text_of(response)
        parse_error = None
        page_state = None
        try:
            page_state = initial_state(text)
        except ParseError as exc:
            parse_error = str(exc)
        notice = read_notice(page_texts(text), url_error_code(response.url))
        if notice is not None:
            yield self.conclude(job, notice.outcome, response, message=notice.message,
                                signals=notice.signals(), detail=notice.detail)
            return
        found = profile_entries(page_state, job.state["base"]) if page_state else None
        if found is None:
            yield self.conclude(job, Outcome.MALFORMED, response,
                                detail=parse_error or "profile page has no user.notes")
            return
        entries, skipped_keys, skipped = found
        signals: dict[str, Any] = {}
        if skipped:
            signals = {"skipped_entries": skipped, "skipped_keys": skipped_keys}
        yield self.conclude(job, Outcome.OK, response, entries=entries, signals=signals)

    def _early(self, job: Job, response: Response) -> Observation | None:
        """The job's observation when the status decides before the body is read."""
        early = self._transport_outcome(response)
        if early is None:
            return None
        return self.conclude(job, early.outcome, response, message=early.message,
                             signals=early.signals())

    def _transport_outcome(self, response: Response) -> Notice | None:
        """Statuses that decide before the body is read."""
        said = match_words(WORDS, {"status": response.status})
        if said is not None:  # 461/471 captcha (a block), 403: about us, not the note
            extra = {k: v for k, v in (("verify_type", header(response, "Verifytype")),
                                       ("verify_uuid", header(response, "Verifyuuid"))) if v}
            return Notice(Outcome(said.rule.outcome), message=f"HTTP {response.status}",
                          extra_signals={**extra, "fingerprint": said.rule.name})
        if is_challenge(response):
            return Notice(Outcome.ANTI_BOT, message=f"HTTP {response.status}")
        if response.status in (200, 404, 410):
            return None  # the body says more than the status
        outcome = outcome_for_status(response.status)
        return Notice(outcome or Outcome.MALFORMED)

    def _absent(self, response: Response, text: str, page_state: dict[str, Any] | None,
                parse_error: str | None) -> Notice:
        code = url_error_code(response.url)
        notice = read_notice(page_texts(text), code)
        if notice is not None:
            return notice
        path = urlsplit(response.url).path
        query = dict(parse_qsl(urlsplit(response.url).query))
        if path.rstrip("/").endswith("/404") or query.get("source") == "404":
            return Notice(Outcome.UNAVAILABLE, notice="unavailable_generic", error_code=code,
                          detail="redirected to the 404 page without a notice text")
        if response.status in (404, 410):
            return Notice(outcome_for_status(response.status) or Outcome.NOT_FOUND)
        if parse_error:
            return Notice(Outcome.MALFORMED, detail=parse_error)
        if page_state is None:
            return Notice(Outcome.MALFORMED, detail="no __INITIAL_STATE__ and no known notice")
        return Notice(Outcome.UNAVAILABLE, notice="unavailable_generic",
                      detail="page state holds no entry for this note")

    def _conclude_result(self, job: Job, response: Response,
                         result: Notice | PostContent) -> Any:
        if isinstance(result, PostContent):
            fields: dict[str, Any] = {"post": result}
            if job.item.mode == "listing":
                fields["entries"] = [result]
            return self.conclude(job, Outcome.OK, response, **fields)
        return self.conclude(job, result.outcome, response, message=result.message,
                             signals=result.signals(), detail=result.detail)


def _looks_like_json(response: Response, text: str) -> bool:
    ctype = (header(response, "Content-Type") or "").lower()
    return "json" in ctype or text.lstrip().startswith("{")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:  # hostile nesting: malformed like any other bad JSON
        raise ParseError("JSON answer nested too deeply to parse") from None
