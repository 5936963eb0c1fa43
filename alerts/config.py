"""The ``[alerts]`` table of the watchlist: channels, routes and the alerting rules.

::

    [alerts]
    max_tries = 8                 # then the delivery is a dead letter
    burst_threshold = 5           # K disappearances from one account or group ...
    burst_window = "30m"          # ... within W make one mass-deletion alert
    flap_cooldown = "6h"
    [alerts.channels.newsroom]
    url_env = "NEWSROOM_URL"      # or url = "…" or url_file = "/run/secrets/newsroom"
    [alerts.channels.hook]
    type = "webhook"
    url = "https://receiver.example/hook"
    secret_env = "HOOK_SECRET"
    [[alerts.routes]]
    channels = ["newsroom"]
    groups = ["journalists"]

Every key is listed in :data:`OPTIONS` and :data:`CHANNEL_OPTIONS` with its default
and help text (``alerts/README.md`` documents each). :func:`load_config` checks the
whole table and reports every problem in one :class:`~monitor.errors.WatchlistError`
under its dotted key. Secrets (URLs with tokens, HMAC keys) are read from the
environment or a file when asked to, and never appear in messages or logs.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import UnknownPlatform, WatchlistError
from monitor.events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from monitor.platforms import get_platform
from monitor.settings import parse_duration

from . import redact

__all__ = ["AlertConfig", "Channel", "Route", "OPTIONS", "CHANNEL_OPTIONS", "load_config",
           "from_watchlist"]

FORMATS = ("markdown", "text")
DIGESTS = ("none", "hourly", "daily")
CHANNEL_TYPES = ("apprise", "webhook")

#: ``[alerts]`` keys: name -> (default, help). Durations take 90s / 5m / 2h / 1d.
OPTIONS: dict[str, tuple[Any, str]] = {
    "max_tries": (8, "Send attempts per delivery before it becomes a dead letter."),
    "retry_base": ("30s", "Wait after the first failed attempt; it doubles with each "
                   "failure (with jitter)."),
    "retry_max": ("1h", "Longest wait between two attempts."),
    "lease": ("2m", "How long a dispatcher may spend on one send before another dispatcher "
              "takes the delivery over (a killed dispatcher loses nothing)."),
    "poll": ("5s", "How often the dispatcher looks for due deliveries."),
    "burst_threshold": (5, "K: this many disappearances from one account, or from one group, "
                        "within burst_window make one mass-deletion alert (0: off)."),
    "burst_window": ("30m", "W: the window for burst_threshold."),
    "burst_hold": ("2m", "A mass-deletion alert waits this long to collect the rest of the "
                   "wave before it is sent."),
    "grouping_delay": ("0s", "Hold each disappearance alert this long, so that the first "
                       "posts of a burst fold into the mass-deletion alert too (0: send at "
                       "once)."),
    "flap_cooldown": ("6h", "A post that disappears, comes back and disappears again with "
                      "the same cause is not alerted again within this time."),
    "alert_on_ambiguous": (True, "Alert when the cause is ambiguous (the message lists the "
                           "candidates)."),
    "alert_on_edits": (False, "Alert on edits (the message shows the word diff)."),
    "alert_on_restorations": (True, "Alert when a post that had gone is visible again."),
    "digest_timezone": ("UTC", "Time zone whose hours and midnights close digest periods."),
    "channels": ({}, "The channels, as [alerts.channels.NAME] tables."),
    "routes": ([], "[[alerts.routes]]: which channels get which events. None: every channel "
               "gets every alert."),
}

#: ``[alerts.channels.NAME]`` keys: name -> (default, help).
CHANNEL_OPTIONS: dict[str, tuple[Any, str]] = {
    "type": ("apprise", "apprise (any Apprise URL) or webhook (signed JSON POST)."),
    "url": (None, "The address; for Apprise any Apprise URL (slack://, mailto://, json://, …)."),
    "url_env": (None, "Read the URL from this environment variable instead."),
    "url_file": (None, "Read the URL from this file instead (e.g. a container secret)."),
    "format": ("markdown", "markdown or text."),
    "digest": ("none", "none (each alert at once), hourly or daily (one summary a period)."),
    "timeout": ("10s", "Seconds a send may take."),
    "secret": (None, "webhook: the HMAC-SHA256 key (prefer secret_env or secret_file)."),
    "secret_env": (None, "webhook: read the key from this environment variable."),
    "secret_file": (None, "webhook: read the key from this file."),
}

#: Apprise schemes whose URL names a real host (they POST to it over HTTP(S)).
_HOST_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})

ROUTE_KEYS = ("channels", "groups", "platforms", "kinds", "causes")

Problems = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Channel:
    """One place alerts go. ``url`` and ``secret`` are secrets: never log them."""

    name: str
    type: str
    url: str = field(repr=False)
    format: str = "markdown"
    digest: str = "none"
    timeout: float = 10.0
    secret: str | None = field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        """The URL's scheme only (``slack``, ``mailto``, ``https``): safe to log."""
        return self.url.split("://", 1)[0].lower() if "://" in self.url else "?"

    def secrets(self) -> list[str]:
        """The strings to scrub from error messages and log records (:mod:`alerts.redact`).

        Besides the URL and key: the user, password and query, and the tokens of the
        path. Apprise URLs keep tokens in the "host" and path, and the request Apprise
        makes carries them joined (``slack://A/B/C`` posts to ``/services/A/B/C``), so
        the joined form is a secret too. Apprise's json://, xml:// and form:// name a
        real host, which is harmless, and a path of the user's choosing, which is a
        secret. Of a web hook's (http/https) path, only the token-like segments (16
        characters or more) are: the HMAC key protects it.
        """
        found = [s for s in (self.url, self.secret) if s]
        if "://" in self.url:
            parts = urlsplit(self.url)
            found += [p for p in (parts.username, parts.password, parts.query) if p]
            web = parts.scheme in ("http", "https")
            host = parts.scheme in _HOST_SCHEMES or web
            where = parts.path if host else parts.netloc.rpartition("@")[2] + parts.path
            found += [seg for seg in re.split(r"[/@:?&=]", where)
                      if len(seg) >= (16 if web else 6)]
            joined = where.strip("/")
            if not web and len(joined) >= 6:
                found.append(joined)
        return sorted(set(found), key=len, reverse=True)


@dataclass(frozen=True, slots=True)
class Route:
    """Events matching every given filter go to ``channels``; None means any."""

    channels: tuple[str, ...]
    groups: frozenset[str] | None = None
    platforms: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    causes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class AlertConfig:
    channels: dict[str, Channel] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    max_tries: int = 8
    retry_base: float = 30.0
    retry_max: float = 3600.0
    lease: float = 120.0
    poll: float = 5.0
    burst_threshold: int = 5
    burst_window: float = 1800.0
    burst_hold: float = 120.0
    grouping_delay: float = 0.0
    flap_cooldown: float = 21600.0
    alert_on_ambiguous: bool = True
    alert_on_edits: bool = False
    alert_on_restorations: bool = True
    digest_timezone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.digest_timezone)


def from_watchlist(watchlist: Any, environ: Mapping[str, str] | None = None) -> AlertConfig:
    """The alert config of a loaded :class:`monitor.watchlist.Watchlist`."""
    source = str(watchlist.path) if getattr(watchlist, "path", None) else "<watchlist>"
    config = load_config(watchlist.alerts, source, environ, groups=list(watchlist.groups))
    # From now on no log record, whichever library writes it, shows these secrets.
    redact.protect(s for channel in config.channels.values() for s in channel.secrets())
    return config


def load_config(raw: Mapping[str, Any] | None, source: str = "<watchlist>",
                environ: Mapping[str, str] | None = None,
                groups: Iterable[str] | None = None) -> AlertConfig:
    """Check the raw ``[alerts]`` table and resolve its secrets.

    ``groups``: the watchlist's group names; a route naming another group is an
    error (it would never fire). Raises WatchlistError naming each bad key.
    """
    env = os.environ if environ is None else environ
    raw = dict(raw or {})
    problems: Problems = []
    _check_keys(raw, "alerts", OPTIONS, problems)
    values: dict[str, Any] = {}
    for name in ("max_tries", "burst_threshold"):
        values[name] = _int(raw, name, problems)
    for name in ("retry_base", "retry_max", "lease", "poll", "burst_window", "burst_hold",
                 "grouping_delay", "flap_cooldown"):
        values[name] = _duration(raw, name, problems)
    for name in ("alert_on_ambiguous", "alert_on_edits", "alert_on_restorations"):
        value = raw.get(name, OPTIONS[name][0])
        if not isinstance(value, bool):
            problems.append((f"alerts.{name}", f"{value!r} is not a boolean; use true or false"))
            value = OPTIONS[name][0]
        values[name] = value
    if values["max_tries"] < 1:
        problems.append(("alerts.max_tries", "must be at least 1"))
    if values["burst_threshold"] == 1 or values["burst_threshold"] < 0:
        problems.append(("alerts.burst_threshold", "must be 0 (no bursts) or at least 2"))
    for name in ("lease", "poll", "retry_base"):
        if values[name] <= 0:
            problems.append((f"alerts.{name}", "must be a positive duration, like 30s"))
    tz = raw.get("digest_timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(("alerts.digest_timezone", f"unknown time zone {tz!r}; use an IANA "
                         "name like UTC or Europe/Berlin"))
        tz = "UTC"
    values["digest_timezone"] = str(tz)

    channels: dict[str, Channel] = {}
    raw_channels = raw.get("channels", {})
    if not isinstance(raw_channels, dict):
        problems.append(("alerts.channels", "must be a table; write [alerts.channels.NAME]"))
        raw_channels = {}
    for name, entry in raw_channels.items():
        channel = _channel(str(name), entry, env, problems)
        if channel is not None:
            channels[name] = channel
    routes = _routes(raw.get("routes", []), set(raw_channels), groups, problems)
    slowest = max((ch.timeout for ch in channels.values()), default=0.0)
    if channels and values["lease"] <= 2 * slowest:
        # A send may take a connect and a read timeout; past the lease another
        # dispatcher would take the delivery over and send it twice.
        problems.append(("alerts.lease", f"{values['lease']:g} s must be longer than twice the "
                         f"slowest channel's timeout (2 × {slowest:g} s); raise it or lower "
                         "the timeout"))
    if len(problems) == 1:
        raise WatchlistError(source, *problems[0])
    if problems:
        lines = "".join(f"\n  {key}: {problem}" for key, problem in problems)
        raise WatchlistError(source, None, f"{len(problems)} problems:{lines}")
    return AlertConfig(channels=channels, routes=tuple(routes), **values)


# -- channels -------------------------------------------------------------------------


def _channel(name: str, raw: Any, env: Mapping[str, str], problems: Problems) -> Channel | None:
    where = f"alerts.channels.{_dotted(name)}"
    if not isinstance(raw, dict):
        problems.append((where, f"must be a table; write it as [{where}]"))
        return None
    before = len(problems)
    _check_keys(raw, where, CHANNEL_OPTIONS, problems)
    kind = raw.get("type", "apprise")
    if kind not in CHANNEL_TYPES:
        problems.append((f"{where}.type", f"unknown channel type {kind!r}; use one of: "
                         + ", ".join(CHANNEL_TYPES)))
    fmt = raw.get("format", "markdown")
    if fmt not in FORMATS:
        problems.append((f"{where}.format", f"{fmt!r}: use one of: " + ", ".join(FORMATS)))
    digest = raw.get("digest", "none")
    if digest not in DIGESTS:
        problems.append((f"{where}.digest", f"{digest!r}: use one of: " + ", ".join(DIGESTS)))
    timeout = _duration(raw, "timeout", problems, where, CHANNEL_OPTIONS)
    if timeout <= 0:
        problems.append((f"{where}.timeout", "must be a positive duration, like 10s"))
    url = _secret(raw, "url", where, env, problems, required=True)
    secret = None
    if kind == "webhook":
        secret = _secret(raw, "secret", where, env, problems, required=True)
        if url is not None:
            _check_http_url(url, f"{where}.{_given(raw, 'url')}", problems)
    else:
        for key in ("secret", "secret_env", "secret_file"):
            if key in raw:
                problems.append((f"{where}.{key}", "only webhook channels are signed; remove "
                                 "it or set type = \"webhook\""))
        if url is not None:
            _check_apprise_url(url, f"{where}.{_given(raw, 'url')}", problems)
    if len(problems) > before or url is None:
        return None
    return Channel(name=name, type=kind, url=url, format=fmt, digest=digest, timeout=timeout,
                   secret=secret)


def _given(raw: dict[str, Any], base: str) -> str:
    return next((k for k in (base, f"{base}_env", f"{base}_file") if k in raw), base)


def _secret(raw: dict[str, Any], base: str, where: str, env: Mapping[str, str],
            problems: Problems, *, required: bool) -> str | None:
    """A value given inline, by environment variable or by file: exactly one of them."""
    given = [k for k in (base, f"{base}_env", f"{base}_file") if k in raw]
    if len(given) > 1:
        problems.append((f"{where}.{given[1]}", f"give only one of {', '.join(given)}"))
        return None
    if not given:
        if required:
            problems.append((where, f"no {base}: set {base}, {base}_env or {base}_file"))
        return None
    key = given[0]
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        problems.append((f"{where}.{key}", "must be a non-empty string"))
        return None
    if key == base:
        return value.strip()
    if key.endswith("_env"):
        found = env.get(value)
        if not found or not found.strip():
            problems.append((f"{where}.{key}", f"environment variable {value} is not set or "
                             "empty; export it before starting takedown"))
            return None
        return found.strip()
    try:
        text = Path(value).read_text(encoding="utf-8").strip()
    except OSError as exc:
        problems.append((f"{where}.{key}", f"cannot read {value} ({exc.strerror}); check the "
                         "path and its permissions"))
        return None
    if not text:
        problems.append((f"{where}.{key}", f"{value} is empty"))
        return None
    return text


def _check_apprise_url(url: str, where: str, problems: Problems) -> None:
    import apprise

    scheme = url.split("://", 1)[0] if "://" in url else ""
    # Apprise logs why it refuses a URL, with the URL in it: keep that out of our logs.
    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(100)
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    finally:
        logger.setLevel(level)
    if plugin is None:
        what = f"scheme {scheme + '://'!r}" if scheme else "no scheme"
        problems.append((where, f"not a URL Apprise can use ({what}; the URL itself is not "
                         "shown, it may hold a token); check it against the Apprise docs "
                         "for your service, e.g. slack://… or mailto://…"))


def _check_http_url(url: str, where: str, problems: Problems) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok or re.search(r"\s", url):
        problems.append((where, "not an http(s) URL with a host; write it like "
                         "https://receiver.example/hook"))


# -- routes ---------------------------------------------------------------------------


def _routes(raw: Any, channels: set[str], groups: Iterable[str] | None,
            problems: Problems) -> list[Route]:
    if not isinstance(raw, list):
        problems.append(("alerts.routes", "write routes as [[alerts.routes]] tables"))
        return []
    known_groups = set(groups) if groups is not None else None
    out = []
    for i, entry in enumerate(raw):
        where = f"alerts.routes[{i}]"
        if not isinstance(entry, dict):
            problems.append((where, "must be a table; write it as [[alerts.routes]]"))
            continue
        _check_keys(entry, where, ROUTE_KEYS, problems)
        names = _strings(entry, "channels", where, problems)
        if not names:
            if "channels" in entry and names is not None:
                problems.append((f"{where}.channels", "name at least one channel"))
            elif "channels" not in entry:
                problems.append((f"{where}.channels", "missing: name the channels this route "
                                 "sends to"))
            continue
        for name in names:
            if name not in channels:
                close = difflib.get_close_matches(name, sorted(channels), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                problems.append((f"{where}.channels", f"unknown channel {name!r}; {hint}"
                                 "channels defined: " + (", ".join(sorted(channels)) or
                                                         "none; add [alerts.channels.NAME]")))
        filters: dict[str, frozenset[str] | None] = {}
        for key in ("groups", "platforms", "kinds", "causes"):
            values = _strings(entry, key, where, problems)
            filters[key] = frozenset(values) if values else None
        for g in sorted(filters["groups"] or ()):
            if known_groups is not None and g not in known_groups:
                problems.append((f"{where}.groups", f"no group {g!r} in the watchlist, so this "
                                 "route would never fire; groups: "
                                 + ", ".join(sorted(known_groups))))
        platforms = set()
        for p in sorted(filters["platforms"] or ()):
            try:
                platforms.add(get_platform(p).name)
            except UnknownPlatform as exc:
                problems.append((f"{where}.platforms", str(exc)))
        if filters["platforms"]:
            filters["platforms"] = frozenset(platforms)
        for k in sorted(filters["kinds"] or ()):
            if k not in EVENT_KINDS:
                problems.append((f"{where}.kinds", f"unknown event kind {k!r}; use: "
                                 + ", ".join(EVENT_KINDS)))
        for c in sorted(filters["causes"] or ()):
            if c not in CAUSES and c not in REMOVAL_DETAILS:
                problems.append((f"{where}.causes", f"unknown cause {c!r}; use: "
                                 + ", ".join([*CAUSES, *REMOVAL_DETAILS])))
        out.append(Route(channels=tuple(dict.fromkeys(names)), **filters))
    return out


# -- values ---------------------------------------------------------------------------


def _strings(entry: dict[str, Any], key: str, where: str, problems: Problems) -> list[str] | None:
    if key not in entry:
        return None
    value = entry[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append((f"{where}.{key}", f'must be a list of names, like {key} = ["…"]'))
        return []
    return [v.strip() for v in value]


def _int(raw: dict[str, Any], name: str, problems: Problems) -> int:
    value = raw.get(name, OPTIONS[name][0])
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append((f"alerts.{name}", f"{value!r} is not a whole number"))
        return int(OPTIONS[name][0])
    return value


def _duration(raw: dict[str, Any], name: str, problems: Problems, where: str = "alerts",
              table: dict[str, tuple[Any, str]] = OPTIONS) -> float:
    value = raw.get(name, table[name][0])
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError(f"{value!r} is not a duration; write it like 90s, 5m, 2h or 1d")
        seconds = parse_duration(value)
        if not math.isfinite(seconds):
            raise ValueError(f"{value!r} is not a finite duration")
    except ValueError as exc:
        problems.append((f"{where}.{name}", str(exc)))
        return parse_duration(table[name][0])
    return seconds


def _check_keys(raw: dict[str, Any], where: str, allowed: Iterable[str],
                problems: Problems) -> None:
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append((f"{where}.{_dotted(str(key))}", f"unknown key {key!r}; {hint}"
                             "allowed keys: " + ", ".join(allowed)))


def _dotted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'
