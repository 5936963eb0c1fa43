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

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from . import redact

if TYPE_CHECKING:
    from monitor.validation import Problems

# The checking of a table (:mod:`alerts.config_model`, pydantic) is loaded by the
# functions that check one. The classes below are all a recorder process needs: it
# unpickles the Outbox's config and never loads pydantic (about 9 MiB a process).

# OPTIONS and CHANNEL_OPTIONS are read through __getattr__ below.
__all__ = ["AlertConfig", "Channel", "Route", "load_config", "check_config", "from_watchlist",
           "load_file", "CHANNEL_TYPES", "DIGESTS", "FORMATS", "ROUTE_KEYS"]

FORMATS = ("markdown", "text")
DIGESTS = ("none", "hourly", "daily")
CHANNEL_TYPES = ("apprise", "webhook")
ROUTE_KEYS = ("channels", "groups", "platforms", "kinds", "causes")
#: Apprise schemes whose URL names a real host (they POST to it over HTTP(S)).
HOST_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})


def __getattr__(name: str) -> dict[str, tuple[Any, str]]:
    """``OPTIONS`` (the ``[alerts]`` keys) and ``CHANNEL_OPTIONS`` (the
    ``[alerts.channels.NAME]`` keys): name -> (default as written, help), read from
    the model when first asked for."""
    if name not in ("OPTIONS", "CHANNEL_OPTIONS"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .config_model import AlertsTable, ChannelTable

    model = AlertsTable if name == "OPTIONS" else ChannelTable
    found = {key: (f.default, f.description or "") for key, f in model.model_fields.items()}
    globals()[name] = found
    return found


@dataclass(frozen=True, slots=True)
class Channel:
    """One place alerts go. ``url`` and ``secret`` are secrets: never log them."""

    name: str
    type: str
    url: str = field(repr=False)
    format: str = "markdown"
    digest: str = "none"
    timeout: float = 10.0
    #: A public channel: a reviewed group's events wait for approval (``held`` rows).
    public: bool = False
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
            host = parts.scheme in HOST_SCHEMES or web
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
    from monitor.validation import raise_problems

    config, problems = check_config(raw, environ, groups)
    raise_problems(source, problems)
    assert config is not None
    return config


def check_config(raw: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None,
                 groups: Iterable[str] | None = None) -> tuple[AlertConfig | None, Problems]:
    """The config of ``raw`` and every problem with it, each under its dotted key."""
    from pydantic import ValidationError

    from monitor.validation import problems_of

    from .config_model import AlertsTable

    context = {"environ": os.environ if environ is None else environ,
               "groups": list(groups) if groups is not None else None}
    raw = dict(raw or {})
    try:
        table = AlertsTable.model_validate(raw, context=context)
    except ValidationError as exc:
        return None, problems_of(exc, prefix=("alerts",), data=raw)
    channels = {name: Channel(name=name, type=ch.type, url=ch.resolved_url, format=ch.format,
                              digest=ch.digest, timeout=ch.timeout, secret=ch.resolved_secret,
                              public=ch.public)
                for name, ch in table.channels.items()}
    routes = tuple(Route(channels=route.channels or (),
                         groups=_set(route.groups), platforms=_set(route.platforms),
                         kinds=_set(route.kinds), causes=_set(route.causes))
                   for route in table.routes)
    options = table.model_dump(exclude={"channels", "routes"})
    return AlertConfig(channels=channels, routes=routes, **options), []


def _set(values: tuple[str, ...] | None) -> frozenset[str] | None:
    return frozenset(values) if values else None


def load_file(path: str | Path, environ: Mapping[str, str] | None = None
              ) -> tuple[Any, AlertConfig]:
    """The watchlist file at ``path`` and its alert config, every problem of both at once.

    The settings, the groups and targets, and ``[alerts]`` are checked together, so
    one run of ``takedown`` reports everything wrong with the file.
    """
    from monitor.validation import raise_problems
    from monitor.watchlist import check_watchlist, read_text

    path = Path(path)
    watchlist, problems = check_watchlist(read_text(path), str(path))
    if watchlist is not None:
        watchlist.path = path
        config, more = check_config(watchlist.alerts, environ, list(watchlist.groups))
    else:
        raw = _raw_alerts(path)
        config, more = check_config(raw, environ) if raw is not None else (None, [])
    raise_problems(str(path), problems + more)
    assert watchlist is not None and config is not None
    redact.protect(s for channel in config.channels.values() for s in channel.secrets())
    return watchlist, config


def _raw_alerts(path: Path) -> dict[str, Any] | None:
    """``[alerts]`` of a file whose other parts have problems (None if it has none)."""
    import tomllib

    from monitor.watchlist import read_text

    raw = tomllib.loads(read_text(path)).get("alerts")
    return raw if isinstance(raw, dict) else None
