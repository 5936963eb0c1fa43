"""The watchlist: a TOML file of grouped targets that the scheduler checks.

::

    [settings]                          # optional; lower-case names from monitor.settings
    confirm_spacing = "10s"
    [groups.journalists]                # description, interval and tags are optional;
    interval = "10m"                    # a group's interval and tags apply to its targets
    [[groups.journalists.targets]]
    platform = "mastodon"               # a name or alias from monitor.platforms
    account = "alice@example.social"    # exactly one of: account, feed, post
    base_url = "https://example.social" # optional: instance, mirror or test server
    interval = "5m"                     # optional: seconds, or 90s / 5m / 2h / 1d
    tags = ["urgent"]
    allow_hosts = ["media.example.social"]  # optional, also on a group: other hosts
                                        # its spider may fetch (``*.example.org`` too)

Reading uses :mod:`tomllib` and checks the whole file, reporting every problem in
one :class:`~monitor.errors.WatchlistError`, each under its dotted key
(``groups.journalists.targets[0].account``; indexes count from 0). Editing goes
through :mod:`tomlkit` so comments and layout survive; the edited text is checked
with the same rules before it replaces the file atomically
(:mod:`monitor.watchlist_edit`).
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import PlatformLoadError, UnknownPlatform, WatchlistError
from .platforms import PLATFORMS, Platform, get_platform
from .settings import SETTINGS, Settings, parse_duration

#: The built-in target kinds; platforms may declare more (see :func:`all_kinds`).
KINDS = ("account", "feed", "post")
_TARGET_FIELDS = ("base_url", "interval", "tags", "allow_hosts")
_GROUP_KEYS = ("description", "interval", "tags", "allow_hosts", "targets")
_TOP_KEYS = ("settings", "groups", "alerts")


Problems = list[tuple[str, str]]  # (dotted key, what is wrong and what to do)


def all_kinds() -> tuple[str, ...]:
    """Every target kind a watchlist may use: the built-ins, then those platforms add."""
    extra = {k for p in PLATFORMS.values() for k in p.kinds if k not in KINDS}
    return (*KINDS, *sorted(extra))


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to watch, as resolved from the file.

    ``value`` is the account, feed URL or post URL. ``base_url`` is the server
    requests go to: the one the file gives, else the one the value implies (the
    URL's scheme and host, the account's instance, the platform's default).
    ``interval`` falls back to the group's; ``tags`` are the group's then the target's.
    """

    group: str
    platform: str
    kind: str
    value: str
    base_url: str | None
    interval: float | None
    tags: tuple[str, ...]
    #: Hosts besides the target's own that its spider may fetch from (the
    #: group's, then the target's): names, or ``*.example.org`` for subdomains.
    allow_hosts: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Stable identity, unique in a watchlist: ``platform:kind:value[@base_url]``.

        ``@base_url`` is appended when base_url is not the one the value implies,
        so a mirror or a test server is a different target from the real one.
        Two kinds of value are put in canonical form, so that one thing has one key:

        - a Mastodon account is ``user@host`` (``alice`` with base_url
          ``https://example.social`` is ``mastodon:account:alice@example.social``);
        - a RedNote post is its note id, not its URL, whose ``xsec_token`` expires
          and gets replaced; it carries ``@base_url`` unless RedNote itself serves it.
        """
        ident, implied = _identity(self.platform, self.kind, self.value, self.base_url)
        suffix = f"@{self.base_url}" if self.base_url and self.base_url != implied else ""
        return f"{self.platform}:{self.kind}:{ident}{suffix}"


@dataclass
class Watchlist:
    path: Path | None
    targets: list[Target] = field(default_factory=list)
    #: Group name -> {"description": str | None, "interval": float | None, "tags": tuple}.
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The raw ``[settings]`` table (already checked against monitor.settings.SETTINGS).
    settings_values: dict[str, Any] = field(default_factory=dict)
    #: The raw ``[alerts]`` table; ``alerts.config`` validates it.
    alerts: dict[str, Any] = field(default_factory=dict)

    def settings(self, environ: Mapping[str, str] | None = None) -> Settings:
        source = str(self.path) if self.path else "<watchlist>"
        return Settings.load(self.settings_values, environ, source=source)


def load_watchlist(path: str | Path) -> Watchlist:
    return read_watchlist(Path(path))[1]


def parse_watchlist(text: str, source: str = "<watchlist>") -> Watchlist:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WatchlistError(source, None, f"not valid TOML: {exc}; fix the syntax there") from None
    problems: Problems = []
    _check_keys(data, "", _TOP_KEYS, problems)
    watchlist = Watchlist(None, settings_values=_check_settings(data.get("settings", {}), problems))
    raw_alerts = data.get("alerts", {})
    if isinstance(raw_alerts, dict):
        watchlist.alerts = raw_alerts
    else:
        problems.append(("alerts", "must be a table, like [alerts]"))
    raw_groups = data.get("groups", {})
    if not isinstance(raw_groups, dict):
        problems.append(("groups", "must be a table of groups, like [groups.journalists]"))
        raw_groups = {}
    first_seen: dict[str, str] = {}
    for name, raw in raw_groups.items():
        where = f"groups.{_dotted(name)}"
        if not isinstance(raw, dict):
            problems.append((where, f"must be a table; write it as [{where}]"))
            continue
        _check_keys(raw, where, _GROUP_KEYS, problems)
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            problems.append((f"{where}.description", "must be a string"))
        watchlist.groups[name] = defaults = {
            "description": description if isinstance(description, str) else None,
            "interval": _check_interval(raw.get("interval"), f"{where}.interval", problems),
            "tags": _check_tags(raw.get("tags"), f"{where}.tags", problems),
        }
        group_hosts = _check_hosts(raw.get("allow_hosts"), f"{where}.allow_hosts", problems)
        entries = raw.get("targets", [])
        if not isinstance(entries, list):
            problems.append((f"{where}.targets", f"add targets as [[{where}.targets]]"))
            entries = []
        for index, entry in enumerate(entries):
            at = f"{where}.targets[{index}]"
            if (target := _check_target(name, entry, at, {**defaults, "allow_hosts": group_hosts},
                                        problems)) is None:
                continue
            if target.key in first_seen:
                problems.append((at, f"duplicate target {target.key}: already listed at "
                                 f"{first_seen[target.key]}; remove one of them"))
            first_seen.setdefault(target.key, at)
            watchlist.targets.append(target)
    if len(problems) == 1:
        raise WatchlistError(source, *problems[0])
    if problems:
        lines = "".join(f"\n  {key}: {problem}" for key, problem in problems)
        raise WatchlistError(source, None, f"{len(problems)} problems:{lines}")
    return watchlist


# -- checking -----------------------------------------------------------------------


def _check_target(
    group: str, raw: Any, where: str, defaults: dict[str, Any], problems: Problems
) -> Target | None:
    if not isinstance(raw, dict):
        problems.append((where, f"must be a table; write it as [[{where.rsplit('[', 1)[0]}]]"))
        return None
    before = len(problems)
    known_kinds = all_kinds()
    _check_keys(raw, where, ("platform", *known_kinds, *_TARGET_FIELDS), problems)
    platform: Platform | None = None
    if not isinstance(name := raw.get("platform"), str):
        problems.append((f"{where}.platform", "missing or not a string; name the platform, one "
                         "of: " + ", ".join(sorted(PLATFORMS))))
    else:
        try:
            platform = get_platform(name)
        except (UnknownPlatform, PlatformLoadError) as exc:
            problems.append((f"{where}.platform", str(exc)))
    kinds = [k for k in known_kinds if k in raw]
    kind, value = (kinds[0], raw[kinds[0]]) if len(kinds) == 1 else (None, None)
    if kind is None:
        given = f"not both {' and '.join(kinds)}" if kinds else "none is given"
        names = ", ".join(known_kinds[:-1]) + f" or {known_kinds[-1]}"
        problems.append((where, f"give exactly one of {names}; {given}"))
    elif not isinstance(value, str) or not value.strip():
        problems.append((f"{where}.{kind}", "must be a non-empty string"))
        kind = None
    base_url = None
    if "base_url" in raw:
        base_url = _check_url(raw["base_url"], f"{where}.base_url", problems)
        base_url = base_url.rstrip("/") if base_url else None
    interval = _check_interval(raw.get("interval"), f"{where}.interval", problems)
    tags = _check_tags(raw.get("tags"), f"{where}.tags", problems)
    allow_hosts = _check_hosts(raw.get("allow_hosts"), f"{where}.allow_hosts", problems)
    if kind is None or not isinstance(value, str):
        return None
    if platform is None:
        if kind != "account":  # still say whether the URL is usable
            _check_url(value, f"{where}.{kind}", problems)
        return None
    if kind not in platform.kinds:
        problems.append((f"{where}.{kind}", f"{platform.name} has no {kind} targets; use one "
                         "of: " + ", ".join(sorted(platform.kinds))))
        return None
    value, implied = _check_value(platform, kind, value.strip(), "base_url" in raw,
                                  f"{where}.{kind}", problems)
    if len(problems) > before:
        return None
    interval = defaults["interval"] if interval is None else interval
    return Target(group, platform.name, kind, value, base_url or implied, interval,
                  tuple(dict.fromkeys((*defaults["tags"], *tags))),
                  tuple(dict.fromkeys((*defaults.get("allow_hosts", ()), *allow_hosts))))


def _check_value(
    platform: Platform, kind: str, value: str, has_base_url: bool, where: str, problems: Problems
) -> tuple[str, str | None]:
    """Check a value with its platform's kind; return it and the base_url it implies."""
    try:
        value, implied = platform.kinds[kind].check(value, has_base_url)
    except ValueError as exc:
        problems.append((where, str(exc)))
        return value, None
    return value, implied or platform.default_base_url


def _identity(platform: str, kind: str, value: str, base_url: str | None) -> tuple[str, str | None]:
    """The identifying part of a key, and the base_url that identity implies."""
    known = PLATFORMS.get(platform)
    if known is None or kind not in known.kinds:
        return value, None
    ident, implied = known.kinds[kind].identity(value, base_url)
    return ident, implied or known.default_base_url


def _check_url(raw: Any, where: str, problems: Problems) -> str | None:
    url = raw.strip() if isinstance(raw, str) else ""
    with contextlib.suppress(ValueError):  # .port raises it for a bad port
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname and parts.port != 0:
            if not re.search(r"\s", url):
                return url
    problems.append((where, f"{raw!r} is not an http(s) URL with a host; write it like "
                     "https://example.org/path"))
    return None


def _check_interval(raw: Any, where: str, problems: Problems) -> float | None:
    if raw is None:
        return None
    try:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError('write it as a duration like "5m" or a number of seconds')
        seconds = parse_duration(raw)
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"{raw!r} is not a usable interval; give a positive duration like "
                             "5m, or leave it out for the default")
    except ValueError as exc:
        problems.append((where, str(exc)))
        return None
    return seconds


def _check_tags(raw: Any, where: str, problems: Problems) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        problems.append((where, 'must be a list of non-empty strings, like tags = ["hk"]'))
        return ()
    return tuple(dict.fromkeys(t.strip() for t in raw))


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _check_hosts(raw: Any, where: str, problems: Problems) -> tuple[str, ...]:
    """``allow_hosts``: host names (or IP addresses), ``*.example.org`` for subdomains."""
    if raw is None:
        return ()
    example = 'like allow_hosts = ["cdn.example.org", "*.example.org"]'
    if not isinstance(raw, list):
        problems.append((where, f"must be a list of host names, {example}"))
        return ()
    hosts: list[str] = []
    for index, entry in enumerate(raw):
        host = _host_entry(entry)
        if host is None:
            problems.append((f"{where}[{index}]", f"{entry!r} is not a host name; write the "
                             f"host alone (no scheme, path or port), {example}"))
        else:
            hosts.append(host)
    return tuple(dict.fromkeys(hosts))


def _host_entry(entry: Any) -> str | None:
    if not isinstance(entry, str):
        return None
    host = entry.strip().rstrip(".").lower()
    name = host.removeprefix("*.")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name.strip("[]"))
        return None if name != host else name.strip("[]")
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(labels) < (2 if host.startswith("*.") else 1) or not all(
            _HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return ("*." if host.startswith("*.") else "") + name


def _check_settings(raw: Any, problems: Problems) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append(("settings", "must be a table; write it as [settings]"))
        return {}
    _check_keys(raw, "settings", [name.lower() for name in SETTINGS], problems, what="setting")
    for name, value in raw.items():
        if name.islower() and (setting := SETTINGS.get(name.upper())):
            try:
                setting.parse(value)
            except (TypeError, ValueError) as exc:
                problems.append((f"settings.{_dotted(name)}", f"bad value {value!r}: {exc}"))
    return dict(raw)


def _check_keys(
    raw: dict[str, Any], where: str, allowed: Iterable[str], problems: Problems,
    what: str = "key",
) -> None:
    """Report unknown keys, with a guess at the intended one (catches typos like acount)."""
    allowed = list(allowed)
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(key.lower(), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listed = "known settings" if what == "setting" else "allowed keys"
            problems.append((f"{where}.{_dotted(key)}".lstrip("."), f"unknown {what} {key!r}; "
                             f"{hint}{listed}: " + ", ".join(allowed)))


def _dotted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


# -- files --------------------------------------------------------------------------


def read_watchlist(path: Path, *, missing_ok: bool = False) -> tuple[str, Watchlist]:
    """The file's text and the watchlist it holds (empty if missing and ``missing_ok``)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:  # newline="": keep CRLF as is
            text = fh.read()
    except FileNotFoundError:
        if not missing_ok:
            raise WatchlistError(str(path), None, "no such watchlist file; create it with "
                                 "`takedown watch add …` or write it by hand") from None
        text = ""
    except UnicodeDecodeError:
        raise WatchlistError(str(path), None, "not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise WatchlistError(str(path), None, f"cannot read it ({exc.strerror}); check the "
                             "path names a file you may read") from None
    watchlist = parse_watchlist(text, str(path))
    watchlist.path = path
    return text, watchlist
