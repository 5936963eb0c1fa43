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
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

#: A value check: ``(value, has_base_url) -> (value, implied base_url)``; it
#: raises ValueError with a message that says what to write instead.
Check = Callable[[str, bool], tuple[str, str | None]]
#: ``(value, base_url) -> (identifying part of the key, implied base_url)``.
Identity = Callable[[str, str | None], tuple[str, str | None]]
#: ``(post url, base_url) -> (post key, probe URL)``; ValueError for a non-post URL.
PostRef = Callable[[str, str | None], tuple[str, str]]

MatchType = Literal["equal", "contains", "prefix", "regex"]
MATCH_TYPES: tuple[str, ...] = ("equal", "contains", "prefix", "regex")


def check_url(value: str) -> str:
    """``value`` stripped if it is an http(s) URL with a host; else ValueError."""
    url = value.strip()
    with contextlib.suppress(ValueError):  # .port raises it for a bad port
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname and parts.port != 0:
            if not re.search(r"\s", url):
                return url
    raise ValueError(f"{value!r} is not an http(s) URL with a host; write it like "
                     "https://example.org/path")


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, or None."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def url_check(value: str, has_base_url: bool) -> tuple[str, str | None]:
    """The check of a kind whose value is any http(s) URL (a feed, a page)."""
    url = check_url(value)
    return url, origin(url)


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


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a platform's words: when ``scope`` says ``pattern``, it means ``outcome``.

    ``scope`` names what is matched (``status``, ``error_code``, ``page_text``,
    ``title``, a JSON field…); ``match`` is how (``equal``, ``contains``,
    ``prefix`` or ``regex``). ``notice`` is the notice code recorded with the
    outcome (``monitor.classify`` maps notices to causes); ``account_state``
    the state of the author's account the words reveal (e.g. Mastodon's
    ``suspended_temporary``), sent as the ``account_state`` signal.
    """

    scope: str
    pattern: str
    outcome: str
    notice: str | None = None
    match: MatchType = "equal"
    account_state: str | None = None

    def matches(self, value: str) -> bool:
        if self.match == "equal":
            return value == self.pattern
        if self.match == "contains":
            return self.pattern in value
        if self.match == "prefix":
            return value.startswith(self.pattern)
        if self.match == "regex":
            return re.search(self.pattern, value) is not None
        raise ValueError(f"rule {self.pattern!r} has match type {self.match!r}; use one of "
                         + ", ".join(MATCH_TYPES))


@dataclass(frozen=True, slots=True)
class WordMatch:
    """The rule that matched, and the text it matched in."""

    rule: Rule
    text: str


def match_words(rules: Iterable[Rule],
                said: Mapping[str, str | int | Iterable[str] | None]) -> WordMatch | None:
    """The first rule, in table order, whose scope in ``said`` it matches.

    ``said`` maps a scope to what the platform said there: one value or several
    (e.g. every text of a page). Table order is precedence across scopes.
    """
    seen: dict[str, list[str]] = {}
    for scope, values in said.items():
        if values is None:
            continue
        seen[scope] = [str(values)] if isinstance(values, str | int) else list(values)
    for rule in rules:
        for text in seen.get(rule.scope, ()):
            if rule.matches(text):
                return WordMatch(rule, text)
    return None


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

    def kind(self, name: str) -> Kind:
        try:
            return self.kinds[name]
        except KeyError:
            raise ValueError(f"{self.name} has no {name} targets; use one of: "
                             + ", ".join(sorted(self.kinds))) from None


__all__ = ["MATCH_TYPES", "Kind", "Platform", "Rule", "WordMatch", "check_url", "match_words",
           "origin", "url_check", "url_identity", "url_post_ref"]
