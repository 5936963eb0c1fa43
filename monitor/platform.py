"""The platform plug-in contract: what a platform declares, in one Scrapy-free value.

A platform is a :class:`Platform` object registered under the entry point group
``takedown.platforms`` (see :mod:`monitor.platforms`). It says what can be
watched on it (its :class:`Kind` objects: how a value is checked, how two
spellings of one target become one key, how a post URL becomes a post key and
a probe URL), who removes posts when the platform will not say, how its
content is normalised before diffing, which spider fetches it (a dotted path,
so the core never imports Scrapy), and its *words*: a table of :class:`Rule`
rows from what the platform says to an outcome and a notice, matched by
:func:`match_words`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

#: A value check: ``(value, has_base_url) -> (value, implied base_url)``; it
#: raises ValueError with a message that says what to write instead.
Check = Callable[[str, bool], tuple[str, str | None]]
#: ``(value, base_url) -> (identifying part of the key, implied base_url)``.
Identity = Callable[[str, str | None], tuple[str, str | None]]
#: ``(post url, base_url) -> (post key, probe URL)``; ValueError for a non-post URL.
PostRef = Callable[[str, str | None], tuple[str, str]]
#: A target option's check: the raw watchlist value -> the value kept; it raises
#: ValueError with a message that says what to write instead.
OptionCheck = Callable[[Any], Any]

MatchType = Literal["equal", "contains", "prefix", "regex"]
MATCH_TYPES: tuple[str, ...] = ("equal", "contains", "prefix", "regex")


def check_url(value: str) -> str:
    """``value`` stripped if it is an http(s) URL with a host; else ValueError."""
    return _split_url(value)[0]


#: ``PostContent.extra`` key naming a content source other than the post itself,
#: e.g. ``"article"``: a feed entry's article page, read by its probe. Content of
#: another source is a reading of something else, to be compared only with
#: earlier readings of the same source (:attr:`monitor.diff.Normalised.source`).
SOURCE_FIELD = "content_source"

_SPACE = re.compile(r"\s")


def _split_url(value: str) -> tuple[str, SplitResult]:
    """:func:`check_url`'s URL and its parts (split once: a watchlist checks each of
    its targets' URLs, tens of thousands of them, at every start)."""
    url = value.strip()
    with contextlib.suppress(ValueError):  # .port raises it for a bad port
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname and parts.port != 0:
            if not _SPACE.search(url):
                return url, parts
    raise ValueError(f"{value!r} is not an http(s) URL with a host; write it like "
                     "https://example.org/path")


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, or None."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def check_base_url(value: str) -> str:
    """A target's ``base_url``: an http(s) URL with a host and, optionally, a path
    prefix (a mirror or test server mounted at ``/mirror/masto``), without its
    trailing ``/``. A query, a fragment or a user name in it is a ValueError: every
    request of the target is built by :func:`join_base` from it, and none of those
    can carry them."""
    url = check_url(value)
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(f"{value!r} has a query or fragment; a base_url is where the "
                         "platform's paths start, so write only the scheme, host and "
                         "path prefix, like https://example.org/mirror")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{value!r} carries a user name or password; write the base_url "
                         "without them, like https://example.org/mirror")
    if any(_dot_segment(s) for s in parts.path.split("/")):
        raise ValueError(f"{value!r} has a '.' or '..' segment; write the path prefix "
                         "as the server serves it, like https://example.org/mirror")
    return url.rstrip("/")


def _dot_segment(segment: str) -> bool:
    return segment.lower().replace("%2e", ".") in (".", "..")


def join_base(base: str, path: str) -> str:
    """The URL of ``path`` on the server at ``base``, keeping base's path prefix.

    ``join_base("http://127.0.0.1:8765/mirror/masto", "/api/v1/statuses/1")`` is
    ``http://127.0.0.1:8765/mirror/masto/api/v1/statuses/1`` (where ``urljoin``
    would drop ``/mirror/masto``). ``path`` may start with ``/`` or not and may
    carry a query; its fragment is dropped (it is never sent). ``.`` and ``..``
    segments are resolved as a browser would, but never above base's path: the
    URL is always under base (``%2E%2E`` counts as ``..``; a segment quoted whole,
    ``..%2F..%2Fadmin``, stays one segment). Raises ValueError only for a base that
    is not a base URL (see :func:`check_base_url`); any ``path`` is joined.
    """
    parts = urlsplit(base)
    if not (parts.scheme and parts.netloc) or parts.query or parts.fragment:
        raise ValueError(f"{base!r} is not a base URL (scheme, host, optional path prefix; "
                         "no query or fragment)")
    path = path.partition("#")[0]
    rel, mark, query = path.partition("?")
    segments: list[str] = []
    raw = rel.split("/")
    for segment in raw:
        if _dot_segment(segment):
            if segment.lower().replace("%2e", ".") == ".." and segments:
                segments.pop()
        elif segment:
            segments.append(segment)
    # A trailing "/" (or a trailing dot segment, as RFC 3986 reads it) names a folder.
    folder = bool(segments) and (raw[-1] == "" or _dot_segment(raw[-1]))
    joined = "/".join(segments) + ("/" if folder else "")
    prefix = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{prefix}/{joined}" + (f"?{query}" if mark else "")


def base_path(url: str, base: str) -> str | None:
    """The path of ``url`` below ``base`` (``"/api/v1/statuses/1"``; ``"/"`` for base
    itself), or None when ``url`` is not under base: another scheme, host or port,
    or a path outside base's prefix (``/mirror/mastodon`` is not under ``/mirror/masto``)."""
    u, b = urlsplit(url), urlsplit(base)
    if (u.scheme.lower(), u.netloc.lower()) != (b.scheme.lower(), b.netloc.lower()):
        return None
    prefix = b.path.rstrip("/")
    path = u.path or "/"
    if prefix and path != prefix and not path.startswith(prefix + "/"):
        return None
    return path[len(prefix):] or "/"


def url_check(value: str, has_base_url: bool) -> tuple[str, str | None]:
    """The check of a kind whose value is any http(s) URL (a feed, a page)."""
    url, parts = _split_url(value)
    return url, f"{parts.scheme}://{parts.netloc}"  # its origin: both parts are set


def url_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """A URL is its own identity; it implies its origin."""
    return value, origin(value)


def url_post_ref(url: str, base_url: str | None) -> tuple[str, str]:
    """The post key and probe URL of a post known only by its URL: the URL itself."""
    return url, url


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of target (account, feed, post, …) and how its values are read."""

    name: str
    check: Check = url_check
    identity: Identity = url_identity
    #: Set for post kinds: how a single-post target becomes a post key and probe URL.
    post_ref: PostRef | None = None
    #: One line for ``takedown platforms`` and error messages: what a value looks like.
    example: str = ""
    #: Whether a value is itself a URL the spider may fetch (a feed, a post, a page),
    #: rather than a name on the platform (an account, whose server is the
    #: base_url). Left None, it is read from the declaration: a kind checked by
    #: :func:`url_check`, or one with a ``post_ref`` (it reads a post URL).
    value_is_url: bool | None = None
    #: Options a target of this kind may set besides the common ones, as option
    #: name → check (the raw watchlist value → the value kept; ValueError says what
    #: to write instead), e.g. RSS's ``article_selector``. A target of another kind
    #: that sets one is an error.
    options: Mapping[str, OptionCheck] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.value_is_url is None:
            object.__setattr__(self, "value_is_url",
                               self.check is url_check or self.post_ref is not None)


#: Where a fingerprint looks in an HTTP answer (OONI's ``location_found``): the
#: status code, the body text, the URL after redirects; ``header.<name>`` (any
#: case) and ``json:<path>`` (see :func:`json_values`) name one header or field.
LOCATIONS: tuple[str, ...] = ("status", "body", "final_url")
LOCATION_PREFIXES: tuple[str, ...] = ("header.", "json:")
#: What the built-in spiders read besides the locations: an error code, a page's
#: visible texts or title, a follow-up request's status, a selector's match count.
PLATFORM_SCOPES: tuple[str, ...] = ("error_code", "page_text", "title", "account_status",
                                    "profile_status", "match_count", "tombstone")

#: Quotes folded to ``'`` before text is matched: platforms write both (rule 7 of
#: the platform notes: Telegram, X and YouTube notices use ``'`` and ``’``).
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def normalise_words(text: str) -> str:
    """``text`` as words are matched: curly quotes made ``'``, whitespace runs one
    space, no leading or trailing space. Linear in ``text``."""
    return " ".join(text.translate(_QUOTES).split())


def scope_problem(scope: str) -> str | None:
    """Why ``scope`` is not a place a rule can look, or None when it is."""
    if scope in LOCATIONS or scope in PLATFORM_SCOPES:
        return None
    for prefix in LOCATION_PREFIXES:
        if scope.startswith(prefix):
            rest = scope[len(prefix):]
            if prefix == "json:":
                try:
                    json_path(rest)
                except ValueError as exc:
                    return str(exc)
                return None
            return None if rest else f"{scope!r} names no header; write header.<name>"
    return (f"unknown scope {scope!r}; use one of " + ", ".join(LOCATIONS + PLATFORM_SCOPES)
            + ", header.<name> or json:<path>")


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a platform's words, an OONI-style fingerprint: when ``scope`` says
    ``pattern``, it means ``outcome``.

    ``scope`` names what is matched: a location of the answer (``status``,
    ``header.<name>``, ``body``, ``json:<path>``, ``final_url``) or what a spider
    read (``error_code``, ``page_text``, ``account_status``…; see
    :func:`scope_problem`); ``match`` is how (``equal``, ``contains``, ``prefix``
    or ``regex``), on text normalised by :func:`normalise_words` (curly quotes,
    whitespace). ``notice`` is the notice code recorded with the outcome
    (``monitor.classify`` maps notices to causes); ``account_state`` the state of
    the author's account the words reveal (e.g. Mastodon's ``suspended_temporary``),
    sent as the ``account_state`` signal. ``name`` is the rule's stable id, recorded
    as ``signals["fingerprint"]`` when it decides an outcome (default: built from
    scope, match and pattern; built-in tables name every rule, e.g.
    ``rednote.code.ip_block``); ``source`` where the pattern was seen (URL or note).
    """

    scope: str
    pattern: str
    outcome: str
    notice: str | None = None
    match: MatchType = "equal"
    account_state: str | None = None
    name: str = ""
    source: str | None = None
    _text: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"{self.scope}.{self.match}.{self.pattern}")
        object.__setattr__(self, "_text", normalise_words(self.pattern)
                           if self.match != "regex" else self.pattern)

    def matches(self, value: str) -> bool:
        return self.matches_normalised(normalise_words(value))

    def matches_normalised(self, value: str) -> bool:
        """:meth:`matches` for a value :func:`normalise_words` has already seen."""
        if self.match == "equal":
            return value == self._text
        if self.match == "contains":
            return self._text in value
        if self.match == "prefix":
            return value.startswith(self._text)
        if self.match == "regex":
            return re.search(self._text, value) is not None
        raise ValueError(f"rule {self.pattern!r} has match type {self.match!r}; use one of "
                         + ", ".join(MATCH_TYPES))


@dataclass(frozen=True, slots=True)
class WordMatch:
    """The rule that matched, and the text it matched in (as said, not normalised)."""

    rule: Rule
    text: str


Said = Mapping[str, "str | int | Iterable[str] | None"]


def match_words(rules: Iterable[Rule], said: Said) -> WordMatch | None:
    """The first rule, in table order, whose scope in ``said`` it matches.

    ``said`` maps a scope to what the platform said there: one value or several
    (e.g. every text of a page, every value a ``json:`` path reached). Table
    order is precedence across scopes. Each value is normalised once.
    """
    seen: dict[str, list[tuple[str, str]]] = {}
    for scope, values in said.items():
        if values is None:
            continue
        texts = [str(values)] if isinstance(values, str | int) else [str(v) for v in values]
        seen[scope] = [(t, normalise_words(t)) for t in texts]
    for rule in rules:
        for text, norm in seen.get(rule.scope, ()):
            if rule.matches_normalised(norm):
                return WordMatch(rule, text)
    return None


# --- json: locations --------------------------------------------------------------

#: Values one ``json:`` path may reach (``[]`` fans out over lists): enough for a
#: batch answer of 100 posts; a hostile list of a million items costs no more.
MAX_JSON_VALUES = 1000
_EACH = object()
JsonStep = str | int | object


@functools.lru_cache(maxsize=256)
def json_path(path: str) -> tuple[JsonStep, ...]:
    """The steps of a ``json:`` path: ``data.children[].data.removed_by_category``,
    ``items[0].id``, ``__DEFAULT_SCOPE__["webapp.video-detail"].statusCode``. ``[]``
    is every item of a list; ``[N]`` one item; ``["key"]`` a key with dots in it.
    Raises ValueError for a path it cannot read."""
    steps: list[JsonStep] = []
    i, n = 0, len(path)
    expect_key = True
    while i < n:
        ch = path[i]
        if ch == "[":
            end = path.find("]", i)
            if path.startswith(('["', "['"), i):
                quote = path[i + 1]
                close = path.find(quote + "]", i + 2)
                if close < 0:
                    raise ValueError(f"json path {path!r}: unterminated [{quote}…{quote}]")
                steps.append(path[i + 2:close])
                i = close + 2
            elif end < 0:
                raise ValueError(f"json path {path!r}: unterminated [")
            else:
                inner = path[i + 1:end]
                if inner and not inner.isdigit():
                    raise ValueError(f"json path {path!r}: [{inner}] is not [], [N] or "
                                     '["key"]')
                steps.append(int(inner) if inner else _EACH)
                i = end + 1
            expect_key = False
        elif ch == ".":
            if expect_key:
                raise ValueError(f"json path {path!r}: empty key before '.'")
            expect_key = True
            i += 1
        else:
            j = i
            while j < n and path[j] not in ".[":
                j += 1
            steps.append(path[i:j])
            i, expect_key = j, False
    if not steps or expect_key:
        raise ValueError(f"json path {path!r} is empty or ends in '.'")
    return tuple(steps)


def json_values(data: Any, path: str, limit: int = MAX_JSON_VALUES) -> list[str]:
    """The scalar values ``path`` reaches in parsed JSON, as text (``true``,
    ``false``, numbers as JSON writes them; nulls, objects and lists left out).

    Only the path is walked, so deep nesting elsewhere costs nothing; each step
    keeps at most ``limit`` values. Never raises on odd data (a missing key, a
    string where an object was expected): that branch yields nothing.
    """
    nodes: list[Any] = [data]
    for step in json_path(path):
        found: list[Any] = []
        for node in nodes:
            if step is _EACH:
                if isinstance(node, list):
                    found.extend(node[: limit - len(found)])
            elif isinstance(step, int):
                if isinstance(node, list) and step < len(node):
                    found.append(node[step])
            elif isinstance(node, dict) and step in node:
                found.append(node[step])
            if len(found) >= limit:
                break
        nodes = found
    return [text for text in map(_json_text, nodes) if text is not None]


def _json_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def json_said(data: Any, rules: Iterable[Rule]) -> dict[str, list[str]]:
    """The ``json:`` part of a ``said`` mapping: for every ``json:<path>`` scope the
    rules use, the values the path reaches in ``data``."""
    return {r.scope: json_values(data, r.scope[5:]) for r in rules
            if r.scope.startswith("json:")}


def answer_said(rules: Iterable[Rule], *, status: int | None = None,
                headers: Mapping[str, str] | None = None, body: str | None = None,
                final_url: str | None = None, data: Any = None) -> dict[str, Any]:
    """A ``said`` mapping for the locations the rules look at in one HTTP answer:
    ``status``, ``header.<name>`` (case-insensitive), ``body``, ``final_url`` and,
    when ``data`` (parsed JSON) is given, every ``json:`` path. A spider adds its own
    scopes (``error_code``, ``page_text``…) to it."""
    rules = tuple(rules)
    lower = {k.lower(): v for k, v in (headers or {}).items()}
    said: dict[str, Any] = {"status": status, "body": body, "final_url": final_url}
    for rule in rules:
        if rule.scope.startswith("header."):
            said[rule.scope] = lower.get(rule.scope[7:].lower())
    if data is not None:
        said.update(json_said(data, rules))
    return said


def _no_change(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Platform:
    """Everything the core knows about one platform."""

    name: str
    title: str
    kinds: Mapping[str, Kind]
    #: The spider class as a dotted path (``package.module.Class``), loaded by spiders.crawl.
    spider: str
    #: The sandbox fake as a dotted path (``package.module.OBJECT``), loaded by spiders.sandbox.
    fake: str | None = None
    aliases: tuple[str, ...] = ()
    #: Where requests go when a target names no base_url.
    default_base_url: str | None = None
    #: The platform publishes listings (timelines, feeds) a post can fall out of.
    has_listing: bool = True
    #: Who, besides the author, removes posts when the platform will not say.
    remover: str = "removed_by_platform"
    #: Diff hook: the platform's markup folded away before comparing text
    #: (e.g. RedNote's ``#话题[话题]#`` hashtags). Runs on plain text.
    normalise_text: Callable[[str], str] = _no_change
    #: The ``PostContent.extra`` field holding the content warning, if any.
    warning_field: str | None = None
    #: The platform's words (see :class:`Rule`), most specific first.
    words: tuple[Rule, ...] = field(default=())
    #: The ``PostContent.extra`` field holding a per-item access token that listings
    #: hand out and probes must use (RedNote: ``xsec_token``). The core keeps the
    #: latest listing's value in the post's ``known``; a probe that ends
    #: ``token_expired`` waits for the target's next listing to refresh it.
    probe_token: str | None = None
    #: Notices (``signals["notice"]`` codes) this platform also serves when the probe's
    #: access token is expired or missing (RedNote: ``unavailable_generic``). Such an
    #: answer counts as absence only when the target's listing says the post is gone
    #: and the probe used the listing's latest token; otherwise it is a token problem,
    #: handled like ``token_expired`` (:mod:`monitor.tokens`).
    token_notices: frozenset[str] = frozenset()

    def kind(self, name: str) -> Kind:
        try:
            return self.kinds[name]
        except KeyError:
            raise ValueError(f"{self.name} has no {name} targets; use one of: "
                             + ", ".join(sorted(self.kinds))) from None


__all__ = ["LOCATIONS", "LOCATION_PREFIXES", "MATCH_TYPES", "MAX_JSON_VALUES", "PLATFORM_SCOPES",
           "Kind", "OptionCheck", "Platform", "Rule", "Said", "WordMatch", "answer_said",
           "base_path", "check_base_url", "check_url", "join_base", "json_path", "json_said",
           "json_values", "match_words", "normalise_words", "origin", "scope_problem",
           "url_check", "url_identity", "url_post_ref"]
