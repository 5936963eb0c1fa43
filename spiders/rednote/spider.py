"""RedNote / Xiaohongshu note pages and account listings.

Probe work (and the listing of a watchlist ``post`` target): ``url`` is the
note page ``{base}/explore/{note_id}?xsec_token=…&xsec_source=pc_feed``; a
``known["xsec_token"]`` replaces the URL's token. Listing work for an
``account`` target (a user id or profile URL): the profile page
``{base}/user/profile/{user_id}``, then ``user_posted`` API pages while the
listing says there are more (see :mod:`.listing` for the order and why). Every
URL is ``base`` joined with a path: a base with a path prefix keeps it.
A profile page's words may give the account's state (``account_state``:
``deleted``, ``suspended``); a login wall or anti-bot page never does.

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
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from scrapy.http import Request, Response

from monitor.errors import ParseError
from monitor.observation import Observation, Outcome, PostContent
from monitor.platform import join_base, match_words

from .. import fields as f
from ..base import Job, MonitorSpider, Output
from ..responses import (
    MAX_ENTRIES,
    header,
    is_challenge,
    outcome_for_failure,
    outcome_for_status,
    text_of,
)
from .listing import (
    MAX_API_PAGES,
    Listing,
    api_listing,
    note_url,
    profile_listing,
    user_posted_url,
)
from .notices import Notice, page_texts, read_notice, url_error_code
from .platform import BASE_URL, NOTE_ID
from .platform import note_id as note_id_of
from .state import initial_state
from .words import WORDS

logger = logging.getLogger(__name__)

_PROFILE_PATH = re.compile(r"/user/profile/([0-9a-zA-Z]{16,32})")


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
        url=note_url(base, key),
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


# --- API envelopes -----------------------------------------------------------


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
            found = _PROFILE_PATH.search(parts.path)
            user_id = found.group(1) if found else url
            if not NOTE_ID.fullmatch(user_id):
                yield self.conclude(job, Outcome.MALFORMED,
                                    detail=f"not a RedNote user id or profile URL: {url!r}")
                return
            job.state.update(user_id=user_id, listing=Listing(), pages=0)
            yield self.request(job, join_base(base, f"/user/profile/{user_id}"),
                               self.parse_profile)
            return
        the_id = path_id or item.post_key
        if the_id is None and NOTE_ID.fullmatch(url):
            the_id = url
        if not parts.netloc:
            if not the_id:
                yield self.conclude(job, Outcome.MALFORMED,
                                    detail=f"not a RedNote note URL: {url!r}")
                return
            url = note_url(base, the_id)
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

    # --- account listings (see .listing for why the profile page comes first) ---

    def parse_profile(self, response: Response, job: Job) -> Output:
        early = self._transport_outcome(response)
        if early is not None:
            yield from self._profile_failed(job, response, early)
            return
        text = text_of(response)
        # The words first: an account's page says its state whatever its state literal.
        notice = read_notice(page_texts(text), url_error_code(response.url), profile=True)
        if notice is not None:
            if notice.outcome.blocked:
                yield from self._profile_failed(job, response, notice)
                return
            if "account_state" not in notice.extra_signals:
                # A note's notice (the generic 300031 page…) on a profile says nothing
                # about the account: logged-out visitors get it too. Never an absence.
                yield from self._profile_failed(job, response, Notice(
                    Outcome.MALFORMED, message=notice.message,
                    detail=f"the profile page answered a note notice ({notice.notice}), "
                    "not the account's state", extra_signals=notice.extra_signals))
                return
            yield self.conclude(job, notice.outcome, response, message=notice.message,
                                signals=notice.signals(), detail=notice.detail)
            return
        try:
            page_state = initial_state(text)
        except ParseError as exc:
            yield from self._profile_failed(job, response,
                                            Notice(Outcome.MALFORMED, detail=str(exc)))
            return
        listing = (profile_listing(page_state, job.state["base"], self._clock().now())
                   if page_state else None)
        if listing is None:
            yield from self._profile_failed(job, response, Notice(
                Outcome.MALFORMED, detail="profile page has no user.notes"))
            return
        job.state["listing"].extend(listing)
        job.state["primary"] = response
        yield from self._next_page(job)

    def _profile_failed(self, job: Job, response: Response, notice: Notice) -> Output:
        """A blocked or unreadable profile page: ask the API for the first page
        instead; if it fails too, the profile's own answer is the observation."""
        if notice.outcome.blocked or notice.outcome is Outcome.MALFORMED:
            job.state["profile_failed"] = (response, notice)
            yield self._posted_request(job, "")
            return
        yield self._conclude_result(job, response, notice)

    def _posted_request(self, job: Job, cursor: str) -> Request:
        job.state["pages"] += 1
        url = user_posted_url(job.state["base"], job.state["user_id"], cursor)
        return self.request(job, url, self.parse_posted, on_error=self.posted_lost,
                            headers={"Accept": "application/json, text/plain, */*"})

    def parse_posted(self, response: Response, job: Job) -> Output:
        """One ``user_posted`` page; any answer but a listing ends the walk."""
        problem = self._transport_outcome(response)
        if problem is not None:
            problem.detail = f"user_posted answered HTTP {response.status}"
        text = text_of(response)
        if problem is None and not _looks_like_json(response, text):
            problem = Notice(Outcome.MALFORMED, detail="user_posted answered HTML, not JSON")
        data: Any = None
        if problem is None:
            try:
                data = _json(text)
            except (ValueError, ParseError) as exc:
                problem = Notice(Outcome.MALFORMED, detail=f"user_posted: {exc}")
        if problem is None:
            code = str(f.obj(data).get("code"))
            if code != "0":
                # Even -510000 is no account state here: logged out, the API's
                # codes are as often about the request as about the account.
                msg = f.text(f.obj(data).get("msg"))
                found = read_notice([], error_code=code, error_msg=msg)
                outcome = found.outcome if found and found.outcome.blocked else \
                    Outcome.MALFORMED
                problem = Notice(outcome, error_code=code, message=msg,
                                 detail=f"user_posted answered code {code}")
        if problem is None:
            try:
                page = api_listing(data, job.state["base"], self._clock().now())
            except ParseError as exc:
                problem = Notice(Outcome.MALFORMED, detail=str(exc))
            else:
                job.state["listing"].extend(page)
                job.state.setdefault("primary", response)
                yield from self._next_page(job)
                return
        yield self._walk_ended(job, response, problem)

    def posted_lost(self, exc: BaseException, job: Job, request: Request) -> Output:
        outcome, detail = outcome_for_failure(exc)
        return [self._walk_ended(job, None, Notice(outcome, detail=f"user_posted: {detail}"))]

    def _walk_ended(self, job: Job, response: Response | None, problem: Notice) -> Observation:
        """A ``user_posted`` page that is not a listing: the pages so far are the
        listing (no ``listing_end``); with none, the first failure is the answer."""
        if "primary" in job.state:
            return self._conclude_listing(job, complete=False, detail=problem.detail)
        failed = job.state.get("profile_failed")
        if failed is not None:
            first, notice = failed
            tried = f"then {problem.detail or problem.outcome.value}"
            if problem.error_code and problem.error_code not in tried:
                tried += f" (code {problem.error_code})"
            detail = f"{notice.detail}; {tried}" if notice.detail else tried
            return self.conclude(job, notice.outcome, first, message=notice.message,
                                 signals=notice.signals(), detail=detail)
        return self._conclude_result(job, response, problem) if response is not None else \
            self.conclude(job, problem.outcome, detail=problem.detail)

    def _next_page(self, job: Job) -> Output:
        listing: Listing = job.state["listing"]
        if listing.has_more and listing.cursor and job.state["pages"] < MAX_API_PAGES \
                and len(listing.entries) < MAX_ENTRIES:
            yield self._posted_request(job, listing.cursor)
            return
        yield self._conclude_listing(job, complete=not listing.has_more)

    def _conclude_listing(self, job: Job, complete: bool, detail: str | None = None
                          ) -> Observation:
        listing: Listing = job.state["listing"]
        signals: dict[str, Any] = {}
        if complete:
            signals["listing_end"] = True
        if listing.skipped:
            signals.update(skipped_entries=listing.skipped, skipped_keys=listing.skipped_keys)
        return self.conclude(job, Outcome.OK, entries=listing.entries, signals=signals,
                             detail=detail)

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
