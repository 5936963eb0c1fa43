"""What a spider saw: the contract between ``spiders/`` and the core.

A spider turns one HTTP exchange (or one failed attempt at one) into an
:class:`Observation`. It records *what happened* — the outcome, the HTTP status,
the platform's own words, a hash of the body, and parsed content when there was
some. It never decides what a disappearance *means*; that is
:mod:`monitor.classify`'s job, which reads ``outcome`` and ``signals``.

Work flows the other way as :class:`WorkItem`: the scheduler tells a spider to
walk a listing (an account timeline, a feed) or to probe one post's permalink.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from .pickled import as_tuples

if TYPE_CHECKING:
    from .vantage import Vantage

Mode = Literal["listing", "probe"]


class Outcome(StrEnum):
    """How one fetch ended. Spiders pick exactly one."""

    #: Content was served and parsed.
    OK = "ok"
    #: HTTP 404, or the platform's own "not found" answer for the item.
    NOT_FOUND = "not_found"
    #: HTTP 410 Gone.
    GONE = "gone"
    #: HTTP 451 Unavailable For Legal Reasons (RFC 7725).
    LEGAL = "legal"
    #: A notice served instead of the content; ``signals["notice"]`` says which (NOTICES).
    UNAVAILABLE = "unavailable"
    #: An explicit deletion record, such as an RFC 6721 ``at:deleted-entry``.
    TOMBSTONE = "tombstone"
    #: HTTP 403 without an anti-bot marker (may be geo-blocking: one vantage
    #: point cannot tell).
    FORBIDDEN = "forbidden"

    # --- transient: recorded, never classified -------------------------------
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    CONNECTION_ERROR = "connection_error"
    TRUNCATED = "truncated"
    TOO_LARGE = "too_large"
    ANTI_BOT = "anti_bot"
    TOKEN_EXPIRED = "token_expired"
    AUTH_REQUIRED = "auth_required"
    MALFORMED = "malformed"
    #: We chose not to fetch: robots.txt disallows it, or the URL broke the
    #: fetch policy (not http(s), another host than the target's, a private
    #: address). ``detail`` names the rule and what to do.
    REFUSED = "refused"
    #: The platform blocks the collector (its IP, session or fingerprint), as its
    #: words table names it: HTTP 432 or 461/471, TikTok 10204, Reddit's "whoa
    #: there, pardner" page. About us, never about the item (see :data:`BLOCKED`).
    COLLECTOR_BLOCKED = "collector_blocked"

    @property
    def transient(self) -> bool:
        return self in TRANSIENT

    @property
    def blocked(self) -> bool:
        """True when the outcome says the collector was kept out (:data:`BLOCKED`)."""
        return self in BLOCKED

    @property
    def absent(self) -> bool:
        """True when the outcome says the content is not being served to us."""
        return self in ABSENT


TRANSIENT = frozenset(
    {
        Outcome.TIMEOUT,
        Outcome.SERVER_ERROR,
        Outcome.RATE_LIMITED,
        Outcome.CONNECTION_ERROR,
        Outcome.TRUNCATED,
        Outcome.TOO_LARGE,
        Outcome.ANTI_BOT,
        Outcome.TOKEN_EXPIRED,
        Outcome.AUTH_REQUIRED,
        Outcome.MALFORMED,
        Outcome.REFUSED,
        Outcome.COLLECTOR_BLOCKED,
    }
)
#: Outcomes that say something about the collector, not the item: a challenge or
#: captcha page, a login wall, an expired token, a platform's block of our IP or
#: session. Transient (never absent, never classified, never an event); they feed
#: the per-platform collector health metrics (``takedown_collector_block_ratio``).
BLOCKED = frozenset(
    {
        Outcome.ANTI_BOT,
        Outcome.AUTH_REQUIRED,
        Outcome.TOKEN_EXPIRED,
        Outcome.COLLECTOR_BLOCKED,
    }
)
ABSENT = frozenset(
    {
        Outcome.NOT_FOUND,
        Outcome.GONE,
        Outcome.LEGAL,
        Outcome.UNAVAILABLE,
        Outcome.TOMBSTONE,
        Outcome.FORBIDDEN,
    }
)

#: Normalised notice codes a spider may put in ``signals["notice"]`` when the
#: platform serves a page or error *about* the content instead of the content.
NOTICES: dict[str, str] = {
    "deleted": "the platform says the item was deleted, without saying by whom",
    "deleted_by_author": "the platform says the author deleted it",
    "removed_by_moderator": "the platform says a community or instance moderator removed it "
    "(Reddit removed_by_category: moderator)",
    "removed_by_platform": "the platform says its staff or automation removed it, without a "
    "reason (Reddit removed_by_category: reddit)",
    "removed_violation": "the platform says it was removed for breaking its rules",
    "removed_legal": "the platform says it was withheld for legal reasons",
    "removed_copyright": "the platform says it was removed after a copyright claim",
    "removed_spam": "the platform says it was removed as spam",
    "under_review": "the platform says the item is in an abnormal state / under review",
    "age_restricted": "the platform shows it only to signed-in adults (an age or content "
    "gate: YouTube, TikTok)",
    "private": "the author made it private (not censorship)",
    "content_unavailable": "the platform says the content cannot be shown, no reason given",
    "unavailable_generic": "a generic 'cannot view' page that also appears for expired "
    "tokens and anti-bot blocks (RedNote error_code 300031)",
    "geo_blocked": "the platform says it is not available in this country",
    "account_deleted": "the author's account was deleted",
    "account_deactivated": "the author deactivated their account (Bluesky: reversible; "
    "the author's choice, not the platform's)",
    "account_suspended": "the author's account was suspended",
    "not_found": "the platform says no such item",
}

#: Keys a spider may set in ``Observation.signals``; anything else is kept as
#: evidence but ignored by the classifier.
SIGNALS: dict[str, str] = {
    "notice": "one of NOTICES",
    "error_code": "the platform's own error code, as a string",
    "fingerprint": "the name of the words-table rule (monitor.platform.Rule.name) that "
    "decided the outcome",
    "account_state": "normal | suspended | suspended_temporary | suspended_permanent | "
    "limited | deleted",
    "tombstone_by": "RFC 6721 at:by name",
    "tombstone_when": "RFC 6721 when attribute",
    "tombstone_comment": "RFC 6721 at:comment text: why the entry was withdrawn, read with "
    "tombstone_by against the platform's words to decide the cause",
    "author": "the post's author as the platform names them",
    "retry_after": "seconds the server asked us to wait (int)",
    "country": "ISO 3166-1 alpha-2 country of the vantage point the request left from "
    "(its watchlist entry, or VANTAGE_COUNTRY for this machine)",
    "collector_paused": "why this absence decides nothing: the platform blocked the "
    "collector or was out at this vantage point (monitor.collector)",
    "editor_is_author": "bool: the last edit was made by the author (Mastodon history)",
    "sensitive": "bool: media hidden behind a content warning",
    "followup_failed": "bool: a secondary request of this probe (account, profile, history) "
    "failed transiently, so the signals are incomplete",
    "followups": "list[dict]: the probe's second-signal requests, each with its name, url, "
    "status or outcome, and whether it failed (spiders.base.MonitorSpider.follow_up)",
    "batch_size": "int: how many posts the batched request that carried this one answered "
    "(its status, URL and body hash are that request's)",
    "item_hash": "SHA-256 of this post's own item inside a batch answer",
    "listing_end": "bool: the listing walk reached the oldest item (no further page), so "
    "every tracked post of the target lies inside its window",
    "skipped_entries": "int: listing entries that could not be parsed and were skipped; "
    "the rest of the listing is recorded",
    "skipped_keys": "list[str]: the post keys of skipped entries, where they could be read; "
    "a skipped entry's absence never makes its post suspect",
    "robots_txt": "'disallowed' when robots.txt refused the fetch (outcome refused)",
    "url_policy": "the fetch-policy rule that refused the URL (outcome refused)",
    "sanitised": "list[str]: kinds of value changed so PostgreSQL could store them "
    "(unsafe_text, out_of_range, naive_datetime, not_datetime, not_text, not_json)",
    "detail_text": "the words of a second-signal page that decided the cause (Weibo's "
    "/detail/ page after an errno)",
    "stub_state": "int | None: the state code of a repost's stub for a gone original "
    "(Weibo: 7 deleted by the author, 8 removed after complaints)",
    "stub_deleted": "bool: the stub says deleted (Weibo's deleted: \"1\")",
    "removed_in_listing": "list[str]: items a listing served as removed or deleted "
    "(Reddit's [removed]/[deleted] with removed_by_category), at most 100",
    "forwarded_in": "list[dict]: forwards of this post in watched channels, whose copies of "
    "its text survive its deletion (Telegram)",
    "id_gaps": "int: message ids missing between the listed ones: deleted, service or album "
    "messages; evidence only, never probed (Telegram)",
    "item_list": "'absent' when an account page carried no list of posts, so the listing "
    "vouches for no absence (TikTok logged out)",
    "labelers_failed": "list[str]: labelers that could not be asked this reading: a label "
    "missing from it is no retraction (Bluesky)",
    "oembed": "'served' or 'absent': what the oEmbed endpoint said when asked as the second "
    "path (X)",
    "oembed_status": "HTTP status (or exception name) of the oEmbed check made before the "
    "page (TikTok, YouTube)",
    "pds": "the author's PDS, found in their DID document (Bluesky)",
    "pds_cid": "the CID of the record the PDS still serves: taken down on the AppView, not "
    "deleted (Bluesky)",
    "repo_status": "the PDS's getRepoStatus: active, takendown, suspended, deactivated or "
    "deleted (Bluesky)",
    "resolved_did": "the DID a handle in the post's URL resolved to for this probe (Bluesky)",
    "unconfirmed_keys": "list[str]: listed posts the uncached host no longer serves, left out "
    "of the listing for their probes to decide (Bluesky)",
    "unconfirmed_notice": "the first path's absence notice that the second path contradicted: "
    "kept as evidence, decides nothing (X)",
    "withheld_in_countries": "list[str]: countries the platform says a post is withheld in (X)",
    "capture": "dict: an imported browser capture's provenance (takedown import "
    "captures): file, line, sha256, captured_at, source_platform, source_platform_url, "
    "source_url, user_agent, nav_index, item_id, shape",
    "file": "capture: the NDJSON file's name",
    "line": "capture: the line number in that file",
    "sha256": "capture: SHA-256 of the line (makes a re-import a no-op)",
    "captured_at": "capture: when the researcher's browser saw it (ISO 8601)",
    "source_platform": "capture: the platform the capture tool names (xiaohongshu.com)",
    "source_platform_url": "capture: the page the browser was on",
    "source_url": "capture: the URL of the response the item was read from",
    "user_agent": "capture: the browser's User-Agent",
    "nav_index": "capture: the capture tool's navigation index",
    "item_id": "capture: the capture tool's id of the item",
    "shape": "capture: zeeschuimer (an envelope around data) or 4cat (__import_meta)",
}


@as_tuples
@dataclass(slots=True)
class PostContent:
    """One post as parsed from a listing entry or a permalink page."""

    key: str  # platform-native id: Mastodon status id, Atom id / RSS guid, RedNote note id
    url: str | None = None  # the human-facing permalink
    probe_url: str | None = None  # where to probe it (an API URL); None means ``url``
    title: str | None = None
    text: str = ""  # body as served (HTML allowed; the diff step normalises it)
    author: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None  # the platform's own edit marker
    media: list[str] = field(default_factory=list)  # stable media ids, not signed URLs
    links: list[str] = field(default_factory=list)
    counters: dict[str, int | str] = field(default_factory=dict)  # likes etc.: not edits
    extra: dict[str, Any] = field(default_factory=dict)  # xsec_token, spoiler_text, labels…


@as_tuples
@dataclass(frozen=True, slots=True)
class RawCapture:
    """The raw HTTP exchange behind an observation, kept as evidence (WARC records:
    :mod:`monitor.archive`). Headers are kept as sent and received, in order."""

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    status: int
    response_headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: datetime
    #: The vantage point (name) the request left from, and the proxy's country.
    vantage: str = "local"


@dataclass(slots=True)
class WorkItem:
    """One unit of due work handed to a spider."""

    mode: Mode
    platform: str
    target_key: str
    #: For listings: the target's value (account name, feed URL, post URL).
    #: For probes: the post's permalink or probe URL.
    url: str
    base_url: str | None = None
    post_key: str | None = None
    #: Row id of the target (listing) or post (probe) this work was claimed for.
    row_id: int = 0
    #: What the core already knows and a spider may need: an xsec_token, the
    #: last seen ``edited_at``, a Mastodon account id.
    known: dict[str, Any] = field(default_factory=dict)
    #: The fetch policy's bounds (:mod:`spiders.urlpolicy`): the target's own
    #: URL (its feed or post URL, else its base_url), whose host a spider may
    #: fetch from, and the other hosts the watchlist allows (``*.`` wildcards).
    target_url: str | None = None
    allow_hosts: tuple[str, ...] = ()
    #: Where the request leaves from (a proxy with a country): None is this machine,
    #: the ``VANTAGE`` setting (:mod:`monitor.vantage`).
    vantage: Vantage | None = None
    #: The worker seat (``workers.id``) this work was claimed under, or a seatless
    #: worker's negative token; None: claimed for nobody (``claim_due``'s ``worker``).
    seat: int | None = None


@as_tuples
@dataclass(slots=True)
class Observation:
    """The record of one fetch attempt, successful or not."""

    mode: Mode
    platform: str
    target_key: str
    url: str
    outcome: Outcome
    row_id: int = 0
    post_key: str | None = None
    http_status: int | None = None
    final_url: str | None = None
    body_hash: str | None = None
    #: The platform's own words (error message, notice text, tombstone comment).
    message: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)
    #: Probe: the post as served (outcome OK only).
    post: PostContent | None = None
    #: Listing: the entries served, newest first (outcome OK only).
    entries: list[PostContent] | None = None
    #: Listing: explicit deletion records found in it, as (post key, signals, message).
    tombstones: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    #: Listing: the walk covered every page it meant to.
    complete: bool = True
    #: Why a transient or malformed outcome happened (exception text, parser error).
    detail: str | None = None
    vantage: str = "local"
    #: The raw exchange (request, response headers, body) for the evidence archive;
    #: the recorder keeps it only where an event may rest on it (:mod:`monitor.archive`).
    capture: RawCapture | None = None
    observed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    elapsed_ms: float | None = None
    #: The seat of the claim this answers (:attr:`WorkItem.seat`, set by the worker):
    #: recorded only while that seat is a worker's. None or a token: no seat to check.
    seat: int | None = None

    def reported(self) -> Observation:
        """This observation as a recorder process reports it back to its worker: what
        was checked, when, from where and with what outcome, without the raw exchange
        (``capture``) nor the parsed content (``post``, ``entries``, ``tombstones``),
        which the worker's receivers (metrics, the event lines) never read and which
        would be pickled twice more for nothing."""
        return replace(self, capture=None, post=None, entries=None, tombstones=[])


def body_hash(body: bytes) -> str:
    """The evidence hash of a response body: SHA-256, hex."""
    return hashlib.sha256(body).hexdigest()


# --- sanitising: what PostgreSQL cannot store never reaches it ----------------

#: Characters PostgreSQL's text and jsonb refuse (NUL) or UTF-8 cannot encode
#: (lone surrogates, e.g. from a JSON ``"\ud800"`` escape).
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")
_BIGINT = (-(2**63), 2**63 - 1)
_SMALLINT = (-(2**15), 2**15 - 1)


class _Cleaner:
    """Cleans values for storage and remembers what kind of fix each needed."""

    def __init__(self) -> None:
        self.fixes: set[str] = set()

    def text(self, value: str) -> str:
        if _UNSAFE_TEXT.search(value) is None:
            return value
        self.fixes.add("unsafe_text")
        return _UNSAFE_TEXT.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)

    def opt_text(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return None if value is None else self.text(value)
        self.fixes.add("not_text")
        return self.text(_int_text(value) if isinstance(value, int) else _safe_str(value))

    def when(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            self.fixes.add("not_datetime")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.fixes.add("naive_datetime")
            return value.replace(tzinfo=UTC)
        return value

    def int_in(self, value: Any, bounds: tuple[int, int]) -> int | None:
        if value is None or (type(value) is int and bounds[0] <= value <= bounds[1]):
            return value  # type: ignore[no-any-return]
        self.fixes.add("out_of_range")
        return None

    def finite(self, value: Any) -> float | None:
        if value is None or (isinstance(value, int | float) and math.isfinite(value)):
            return value  # type: ignore[no-any-return]
        self.fixes.add("out_of_range")
        return None

    def json(self, value: Any) -> Any:
        """A JSON value PostgreSQL accepts: clean strings and keys, bigint-sized
        integers, finite numbers; anything else becomes its (clean) string."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if _BIGINT[0] <= value <= _BIGINT[1]:
                return value
            self.fixes.add("out_of_range")
            return _int_text(value)
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            self.fixes.add("out_of_range")
            return str(value)
        if isinstance(value, dict):
            return {self._key(k): self.json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.json(v) for v in value]
        if isinstance(value, datetime):
            value = self.when(value)
            return value.isoformat() if value is not None else None
        self.fixes.add("not_json")
        return self.text(_safe_str(value))

    def _key(self, key: Any) -> str:
        return self.opt_text(key) or ""

    def strings(self, values: Any) -> list[str]:
        return [self.opt_text(v) or "" for v in values or ()]

    def post(self, p: PostContent) -> PostContent:
        return PostContent(
            key=self.opt_text(p.key) or "",
            url=self.opt_text(p.url), probe_url=self.opt_text(p.probe_url),
            title=self.opt_text(p.title), text=self.opt_text(p.text) or "",
            author=self.opt_text(p.author), published_at=self.when(p.published_at),
            updated_at=self.when(p.updated_at), media=self.strings(p.media),
            links=self.strings(p.links),
            counters={self._key(k): self.json(v) for k, v in (p.counters or {}).items()},
            extra={self._key(k): self.json(v) for k, v in (p.extra or {}).items()},
        )


def _int_text(value: int) -> str:
    """The decimal text of ``value``, even beyond Python's 4300-digit limit."""
    try:
        return str(value)
    except ValueError:
        return f"{value:x}" if value >= 0 else f"-{-value:x}"


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a hostile __str__ is still only a value to record
        return f"<unprintable {type(value).__name__}>"


def sanitise(obs: Observation) -> Observation:
    """``obs`` with every value made storable by PostgreSQL, or ``obs`` itself when
    nothing needed a fix.

    Strings lose NUL and lone surrogates (replaced by U+FFFD), recursively through
    signals, tombstones, counters and extra values, dict keys included; integers
    beyond bigint, non-finite floats and values JSON cannot hold become strings;
    naive datetimes are taken as UTC; an HTTP status outside smallint is dropped.
    ``signals["sanitised"]`` lists the kinds of fix, so the evidence says so. The
    recorder applies this to every observation on its way in.
    """
    c = _Cleaner()
    signals = {c._key(k): c.json(v) for k, v in (obs.signals or {}).items()}
    clean = Observation(
        mode=obs.mode, platform=c.text(obs.platform), target_key=c.text(obs.target_key),
        url=c.opt_text(obs.url) or "", outcome=obs.outcome, row_id=obs.row_id,
        post_key=c.opt_text(obs.post_key), http_status=c.int_in(obs.http_status, _SMALLINT),
        final_url=c.opt_text(obs.final_url), body_hash=c.opt_text(obs.body_hash),
        message=c.opt_text(obs.message), signals=signals,
        post=c.post(obs.post) if obs.post is not None else None,
        entries=[c.post(e) for e in obs.entries] if obs.entries is not None else None,
        tombstones=[(c.opt_text(k) or "", {c._key(sk): c.json(sv) for sk, sv in
                                           (s or {}).items()}, c.opt_text(m))
                    for k, s, m in obs.tombstones],
        complete=bool(obs.complete), detail=c.opt_text(obs.detail),
        vantage=c.opt_text(obs.vantage) or "local",
        capture=obs.capture,
        observed_at=c.when(obs.observed_at) or datetime.now(UTC),
        elapsed_ms=c.finite(obs.elapsed_ms), seat=obs.seat,
    )
    if not c.fixes:
        return obs
    before = signals.get("sanitised")
    clean.signals["sanitised"] = sorted(c.fixes | set(before if isinstance(before, list) else ()))
    return clean
