"""Settings: one table of name, default and help text.

Values come, highest priority first, from ``TAKEDOWN_<NAME>`` environment
variables, the ``[settings]`` table of the watchlist file, and the defaults
below. ``tests/test_docs.py`` fails if the README leaves a setting out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

SETTINGS_ENV_PREFIX = "TAKEDOWN_"


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        if text and text[-1] in units:
            seconds = float(text[:-1]) * units[text[-1]]
        else:
            seconds = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a duration; write it like 90s, 5m, 2h or 1d") from None
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_durations(value: str | list[Any]) -> list[float]:
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [parse_duration(item) for item in items if str(item).strip()]
    if not out:
        raise ValueError("give at least one duration")
    return out


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{value!r} is not a boolean; use true or false")


def parse_int(value: str | int) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    return int(value)


_DEFAULT_SCHEDULE = "2m,5m,10m,30m,1h,2h,6h,12h,24h"

SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "DATABASE_URL",
            "",
            "PostgreSQL URL (postgresql://user@host/db). Empty: start the embedded "
            "PostgreSQL under DATA_DIR.",
        ),
        Setting(
            "DATA_DIR",
            "",
            "Where the embedded database and state live. Empty: the user data directory "
            "(platformdirs), e.g. ~/.local/share/takedown-monitor.",
        ),
        Setting(
            "USER_AGENT",
            "TakedownMonitor/0.1 (+https://github.com/takedown-monitor/takedown-monitor)",
            "User-Agent sent with every request; keep a contact URL in it.",
        ),
        Setting("ROBOTSTXT_OBEY", True, "Honour robots.txt.", parse_bool),
        Setting(
            "CONCURRENT_REQUESTS_PER_HOST",
            4,
            "Parallel requests to any one host.",
            parse_int,
        ),
        Setting("CONCURRENT_REQUESTS", 32, "Parallel requests in all.", parse_int),
        Setting(
            "AUTOTHROTTLE", True, "Adapt the per-host delay to the server's latency.", parse_bool
        ),
        Setting("DOWNLOAD_DELAY", 0.0, "Minimum seconds between requests to one host.", float),
        Setting("DOWNLOAD_TIMEOUT", 20.0, "Seconds before a request times out.", parse_duration),
        Setting("MAX_BODY_BYTES", 5_000_000, "Responses larger than this are refused.", parse_int),
        Setting("RETRY_TIMES", 2, "Retries for timeouts, resets, 5xx and 429.", parse_int),
        Setting(
            "RETRY_AFTER_MAX",
            120.0,
            "Longest Retry-After honoured in place; longer waits postpone the check instead.",
            parse_duration,
        ),
        Setting(
            "RETRY_BACKOFF_BASE",
            2.0,
            "A host that answers 5xx or 429, times out or refuses connections is paused "
            "this long, doubling with each such failure in a row (plus up to 50% jitter); "
            "every request to it waits, other hosts go on.",
            parse_duration,
        ),
        Setting(
            "RETRY_BACKOFF_MAX",
            600.0,
            "Longest such pause of a failing host.",
            parse_duration,
        ),
        Setting(
            "ROBOTSTXT_CACHE",
            86400.0,
            "How long a host's robots.txt is reused by later checks; its Cache-Control "
            "or Expires may shorten it.",
            parse_duration,
        ),
        Setting(
            "DEFAULT_INTERVAL",
            600.0,
            "How often a target's listing is checked unless the target says otherwise.",
            parse_duration,
        ),
        Setting(
            "RECHECK_SCHEDULE",
            _DEFAULT_SCHEDULE,
            "Delays after first sight at which each post is probed again; after the last, "
            "daily until RECHECK_HORIZON.",
            parse_durations,
        ),
        Setting(
            "RECHECK_HORIZON",
            30 * 86400.0,
            "Stop re-probing a post this long after it was first seen.",
            parse_duration,
        ),
        Setting(
            "CONFIRM_PROBES",
            2,
            "Consistent probes needed before a disappearance or hiding becomes an event.",
            parse_int,
        ),
        Setting(
            "CONFIRM_SPACING",
            300.0,
            "Minimum time between the first and the last confirming probe.",
            parse_duration,
        ),
        Setting(
            "CONFIRM_RETRY",
            120.0,
            "How soon a suspect post is probed again while its disappearance is unconfirmed.",
            parse_duration,
        ),
        Setting(
            "FLAP_VERSIONS",
            5,
            "Content matching one of the post's last N versions is not a new edit.",
            parse_int,
        ),
        Setting(
            "VANTAGE",
            "local",
            "Name of this vantage point, recorded in every observation.",
        ),
        Setting("TICK", 5.0, "Seconds between scheduler passes over due work.", parse_duration),
        Setting("BATCH_SIZE", 500, "Due items claimed per database round trip.", parse_int),
        Setting(
            "LEASE",
            600.0,
            "How long a claimed item stays with a worker before another may take it.",
            parse_duration,
        ),
        Setting(
            "METRICS_ADDRESS",
            "127.0.0.1:9464",
            "Where `takedown run` serves Prometheus /metrics (host:port); empty: no endpoint.",
        ),
        Setting(
            "ERROR_BACKOFF_MAX",
            3600.0,
            "Longest delay between retries of a failing target.",
            parse_duration,
        ),
    )
}


class Settings(dict[str, Any]):
    """Resolved settings; read them as ``settings["DATABASE_URL"]``."""

    @classmethod
    def load(
        cls,
        file_values: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        source: str = "settings",
    ) -> Settings:
        environ = os.environ if environ is None else environ
        resolved = cls()
        for name, setting in SETTINGS.items():
            resolved[name] = (
                setting.parse(setting.default) if isinstance(setting.default, str) and
                setting.parse is not str else setting.default
            )
        for raw_name, value in (file_values or {}).items():
            name = raw_name.upper()
            if name not in SETTINGS:
                raise ConfigError(
                    f"{source}: unknown setting {raw_name!r}; known settings: "
                    + ", ".join(n.lower() for n in SETTINGS)
                )
            resolved[name] = _parse(SETTINGS[name], value, f"{source}: {raw_name}")
        for name, setting in SETTINGS.items():
            env_name = SETTINGS_ENV_PREFIX + name
            if env_name in environ:
                resolved[name] = _parse(setting, environ[env_name], env_name)
        return resolved


def _parse(setting: Setting, value: Any, where: str) -> Any:
    try:
        return setting.parse(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
