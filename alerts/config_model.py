"""The models of the ``[alerts]`` table: pydantic, ``extra="forbid"``.

``AlertsTable`` ─ the options (each field has its default as written and its
help text), ``channels``: name → ``ChannelTable``, ``routes``: a list of
``RouteTable``. Checks that need more than one value (a route naming a channel,
the lease against the slowest channel's timeout) run in ``AlertsTable``'s own
validator, alongside the field checks, so every problem is reported at once.
Secrets are read from the environment or a file given in the validation context
(``{"environ": …, "groups": …}``) and never appear in a message.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails

from monitor.errors import PlatformLoadError, UnknownPlatform
from monitor.events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS
from monitor.platforms import get_platform
from monitor.settings import parse_duration
from monitor.validation import (
    fields_checked,
    line_error,
    message,
    raise_line_errors,
    unknown_key,
)

from .config import CHANNEL_TYPES, DIGESTS, FORMATS, HOST_SCHEMES, ROUTE_KEYS

# -- values ---------------------------------------------------------------------------------


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a duration; write it like 90s, 5m, 2h or 1d")
    return parse_duration(value)


def _positive(value: Any) -> float:
    seconds = _duration(value)
    if seconds <= 0:
        raise ValueError("must be a positive duration, like 30s")
    return seconds


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


def _at_least_one(value: Any) -> int:
    if _whole(value) < 1:
        raise ValueError("must be at least 1")
    return int(value)


def _threshold(value: Any) -> int:
    if _whole(value) == 1 or value < 0:
        raise ValueError("must be 0 (no bursts) or at least 2")
    return int(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a boolean; use true or false")
    return value


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name like UTC or "
                         "Europe/Berlin") from None
    return str(value)


def _one_of(choices: tuple[str, ...], what: str = "") -> BeforeValidator:
    def check(value: Any) -> str:
        if value not in choices:
            said = f"unknown {what} {value!r}" if what else f"{value!r}:"
            raise ValueError(f"{said}{';' if what else ''} use one of: " + ", ".join(choices))
        return str(value)
    return BeforeValidator(check)


def _names(value: Any) -> tuple[str, ...]:
    """A list of names (a lone string is a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("must be a list of names, like [\"…\"]")
    return tuple(dict.fromkeys(v.strip() for v in value))


def _vocabulary(known: tuple[str, ...], what: str) -> BeforeValidator:
    def check(value: Any) -> tuple[str, ...]:
        names = _names(value)
        for name in sorted(names):
            if name not in known:
                raise ValueError(f"unknown {what} {name!r}; use: " + ", ".join(known))
        return names
    return BeforeValidator(check)


def _platforms(value: Any) -> tuple[str, ...]:
    out = []
    for name in sorted(_names(value)):
        try:
            out.append(get_platform(name).name)
        except (UnknownPlatform, PlatformLoadError) as exc:
            raise ValueError(str(exc)) from None
    return tuple(dict.fromkeys(out))


Seconds = Annotated[float, BeforeValidator(_duration)]
Positive = Annotated[float, BeforeValidator(_positive)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Names = Annotated[tuple[str, ...] | None, BeforeValidator(_names)]


# -- channels -------------------------------------------------------------------------------


class ChannelTable(BaseModel):
    """``[alerts.channels.NAME]``; its URL and key are resolved into private attributes."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    type: Annotated[str, _one_of(CHANNEL_TYPES, "channel type")] = Field(
        "apprise", description="apprise (any Apprise URL) or webhook (signed JSON POST).")
    url: str | None = Field(None, description=(
        "The address; for Apprise any Apprise URL (slack://, mailto://, json://, …)."))
    url_env: str | None = Field(None, description="Read the URL from this environment "
                                "variable instead.")
    url_file: str | None = Field(None, description="Read the URL from this file instead "
                                 "(e.g. a container secret).")
    format: Annotated[str, _one_of(FORMATS)] = Field("markdown", description="markdown or text.")
    digest: Annotated[str, _one_of(DIGESTS)] = Field("none", description=(
        "none (each alert at once), hourly or daily (one summary a period)."))
    public: Flag = Field(False, description=(
        "true: a public channel; events of groups with review = true reach it only once "
        "a reviewer approves them (private channels get them at once)."))
    timeout: Positive = Field("10s", description="Seconds a send may take.")  # type: ignore[assignment]
    secret: str | None = Field(None, description=(
        "webhook: the HMAC-SHA256 key (prefer secret_env or secret_file)."))
    secret_env: str | None = Field(None, description="webhook: read the key from this "
                                   "environment variable.")
    secret_file: str | None = Field(None, description="webhook: read the key from this file.")

    _url: str = PrivateAttr("")
    _secret: str | None = PrivateAttr(None)

    @property
    def resolved_url(self) -> str:
        return self._url

    @property
    def resolved_secret(self) -> str | None:
        return self._secret

    @model_validator(mode="wrap")
    @classmethod
    def _resolve(cls, data: Any, handler: ValidatorFunctionWrapHandler,
                 info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        channel, errors = fields_checked(handler, data, lambda e: _reworded(e, ChannelTable))
        env = (info.context or {}).get("environ", {})
        url = _secret(data, "url", env, errors, required=True)
        secret = None
        if data.get("type", "apprise") == "webhook":
            secret = _secret(data, "secret", env, errors, required=True)
            if url is not None:
                _check_http_url(url, _given(data, "url"), errors)
        else:
            for key in ("secret", "secret_env", "secret_file"):
                if key in data:
                    errors.append(line_error((key,), "only webhook channels are signed; remove "
                                             "it or set type = \"webhook\""))
            if url is not None:
                _check_apprise_url(url, _given(data, "url"), errors)
        raise_line_errors(cls.__name__, errors)
        assert channel is not None and url is not None
        channel._url, channel._secret = url, secret
        return channel


def _given(raw: Mapping[str, Any], base: str) -> str:
    return next((k for k in (base, f"{base}_env", f"{base}_file") if k in raw), base)


def _secret(raw: Mapping[str, Any], base: str, env: Mapping[str, str],
            errors: list[InitErrorDetails], *, required: bool) -> str | None:
    """A value given inline, by environment variable or by file: exactly one of them."""
    given = [k for k in (base, f"{base}_env", f"{base}_file") if k in raw]
    if len(given) > 1:
        errors.append(line_error((given[1],), f"give only one of {', '.join(given)}"))
        return None
    if not given:
        if required:
            errors.append(line_error((), f"no {base}: set {base}, {base}_env or {base}_file"))
        return None
    key = given[0]
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        errors.append(line_error((key,), "must be a non-empty string"))
        return None
    if key == base:
        return value.strip()
    if key.endswith("_env"):
        found = env.get(value)
        if not found or not found.strip():
            errors.append(line_error((key,), f"environment variable {value} is not set or "
                                     "empty; export it before starting takedown"))
            return None
        return found.strip()
    try:
        text = Path(value).read_text(encoding="utf-8").strip()
    except OSError as exc:
        errors.append(line_error((key,), f"cannot read {value} ({exc.strerror}); check the "
                                 "path and its permissions"))
        return None
    if not text:
        errors.append(line_error((key,), f"{value} is empty"))
        return None
    return text


def _check_apprise_url(url: str, key: str, errors: list[InitErrorDetails]) -> None:
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
        errors.append(line_error((key,), f"not a URL Apprise can use ({what}; the URL itself "
                                 "is not shown, it may hold a token); check it against the "
                                 "Apprise docs for your service, e.g. slack://… or mailto://…"))


def _check_http_url(url: str, key: str, errors: list[InitErrorDetails]) -> None:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok or re.search(r"\s", url):
        errors.append(line_error((key,), "not an http(s) URL with a host; write it like "
                                 "https://receiver.example/hook"))


# -- routes ---------------------------------------------------------------------------------


class RouteTable(BaseModel):
    """``[[alerts.routes]]``: events matching every given filter go to ``channels``."""

    model_config = ConfigDict(extra="forbid")

    channels: Names = None
    groups: Names = None
    platforms: Annotated[tuple[str, ...] | None, BeforeValidator(_platforms)] = None
    kinds: Annotated[tuple[str, ...] | None,
                     _vocabulary(tuple(EVENT_KINDS), "event kind")] = None
    causes: Annotated[tuple[str, ...] | None,
                      _vocabulary((*CAUSES, *REMOVAL_DETAILS), "cause")] = None


# -- the table ------------------------------------------------------------------------------


class AlertsTable(BaseModel):
    """``[alerts]``: options, channels and routes. Durations take 90s / 5m / 2h / 1d."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    max_tries: Annotated[int, BeforeValidator(_at_least_one)] = Field(
        8, description="Send attempts per delivery before it becomes a dead letter.")
    retry_base: Positive = Field("30s", description=(  # type: ignore[assignment]
        "Wait after the first failed attempt; it doubles with each failure (with jitter)."))
    retry_max: Seconds = Field("1h", description=(  # type: ignore[assignment]
        "Longest wait between two attempts."))
    lease: Positive = Field("2m", description=(  # type: ignore[assignment]
        "How long a dispatcher may spend on one send before another dispatcher takes the "
        "delivery over (a killed dispatcher loses nothing)."))
    poll: Positive = Field("5s", description=(  # type: ignore[assignment]
        "How often the dispatcher looks for due deliveries."))
    burst_threshold: Annotated[int, BeforeValidator(_threshold)] = Field(5, description=(
        "K: this many disappearances from one account, or from one group, within "
        "burst_window make one mass-deletion alert (0: off)."))
    burst_window: Seconds = Field("30m", description=(  # type: ignore[assignment]
        "W: the window for burst_threshold."))
    burst_hold: Seconds = Field("2m", description=(  # type: ignore[assignment]
        "A mass-deletion alert waits this long to collect the rest of the wave before it "
        "is sent."))
    grouping_delay: Seconds = Field("0s", description=(  # type: ignore[assignment]
        "Hold each disappearance alert this long, so that the first posts of a burst fold "
        "into the mass-deletion alert too (0: send at once)."))
    flap_cooldown: Seconds = Field("6h", description=(  # type: ignore[assignment]
        "A post that disappears, comes back and disappears again with the same cause is "
        "not alerted again within this time."))
    alert_on_ambiguous: Flag = Field(True, description=(
        "Alert when the cause is ambiguous (the message lists the candidates)."))
    alert_on_edits: Flag = Field(False, description=(
        "Alert on edits (the message shows the word diff)."))
    alert_on_restorations: Flag = Field(True, description=(
        "Alert when a post that had gone is visible again."))
    digest_timezone: Annotated[str, BeforeValidator(_timezone)] = Field("UTC", description=(
        "Time zone whose hours and midnights close digest periods."))
    channels: dict[str, ChannelTable] = Field({}, description=(
        "The channels, as [alerts.channels.NAME] tables."))
    routes: list[RouteTable] = Field([], description=(
        "[[alerts.routes]]: which channels get which events. None: every channel gets "
        "every alert."))

    @model_validator(mode="wrap")
    @classmethod
    def _whole_table(cls, data: Any, handler: ValidatorFunctionWrapHandler,
                     info: ValidationInfo) -> Any:
        """Field checks, then what ties routes to channels and groups, reported together."""
        if not isinstance(data, dict):
            return handler(data)
        table, errors = fields_checked(handler, data, lambda e: _reworded(e, AlertsTable))
        channels = data.get("channels")
        names = sorted(channels) if isinstance(channels, dict) else []
        routes = data.get("routes")
        for index, route in enumerate(routes if isinstance(routes, list) else ()):
            if isinstance(route, dict):
                _check_route(route, index, names, (info.context or {}).get("groups"), errors)
        _check_lease(data, channels if isinstance(channels, dict) else {}, errors)
        raise_line_errors(cls.__name__, errors)
        return table


def _check_route(route: dict[str, Any], index: int, channels: list[str],
                 groups: list[str] | None, errors: list[InitErrorDetails]) -> None:
    at = ("routes", index, "channels")
    wanted = route.get("channels")
    if "channels" not in route:
        errors.append(line_error(at, "missing: name the channels this route sends to"))
    elif wanted == []:
        errors.append(line_error(at, "name at least one channel"))
    for name in (wanted if isinstance(wanted, list) else [wanted]):
        if isinstance(name, str) and name.strip() and name.strip() not in channels:
            close = difflib.get_close_matches(name.strip(), channels, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            errors.append(line_error(at, f"unknown channel {name.strip()!r}; {hint}channels "
                                     "defined: " + (", ".join(channels) or
                                                    "none; add [alerts.channels.NAME]")))
    wanted_groups = route.get("groups")
    if groups is None or not isinstance(wanted_groups, list | str):
        return
    for group in sorted({wanted_groups} if isinstance(wanted_groups, str) else
                        {g for g in wanted_groups if isinstance(g, str)}):
        if group.strip() and group.strip() not in groups:
            errors.append(line_error(("routes", index, "groups"), f"no group {group!r} in the "
                                     "watchlist, so this route would never fire; groups: "
                                     + ", ".join(sorted(groups))))


def _check_lease(data: dict[str, Any], channels: dict[str, Any],
                 errors: list[InitErrorDetails]) -> None:
    """A send may take a connect and a read timeout; past the lease another dispatcher
    would take the delivery over and send it twice."""
    try:
        lease = _positive(data.get("lease", "2m"))
        timeouts = [_positive(c.get("timeout", "10s")) for c in channels.values()
                    if isinstance(c, dict)]
    except ValueError:
        return  # reported where the value is
    slowest = max(timeouts, default=0.0)
    if timeouts and math.isfinite(lease) and lease <= 2 * slowest:
        errors.append(line_error(("lease",), f"{lease:g} s must be longer than twice the "
                                 f"slowest channel's timeout (2 × {slowest:g} s); raise it or "
                                 "lower the timeout"))


def _reworded(exc: ValidationError, model: type[BaseModel]) -> list[InitErrorDetails]:
    """``exc``'s errors in our words; an unknown key of ``model`` gets a did-you-mean."""
    def text(error: ErrorDetails) -> str:
        loc = error["loc"]
        if error["type"] == "extra_forbidden" and len(loc) == 1:
            return unknown_key(str(loc[0]), model.model_fields)
        if error["type"] == "extra_forbidden" and len(loc) == 3 and loc[0] == "routes":
            return unknown_key(str(loc[2]), ROUTE_KEYS)
        if loc == ("channels",) and error["type"] == "dict_type":
            return "must be a table; write [alerts.channels.NAME]"
        if len(loc) == 2 and loc[0] == "channels" and error["type"] == "model_type":
            return f"must be a table; write it as [alerts.channels.{loc[1]}]"
        if loc == ("routes",) and error["type"] == "list_type":
            return "write routes as [[alerts.routes]] tables"
        if len(loc) == 2 and loc[0] == "routes" and error["type"] == "model_type":
            return "must be a table; write it as [[alerts.routes]]"
        return message(error)
    return [line_error(e["loc"], text(e), e.get("input")) for e in exc.errors()]


__all__ = ["CHANNEL_TYPES", "DIGESTS", "FORMATS", "HOST_SCHEMES", "ROUTE_KEYS", "AlertsTable",
           "ChannelTable", "RouteTable"]
