"""Vantage points: the networks a request can leave from.

A vantage point is a proxy (HTTP or SOCKS5) with a country code, named in the
watchlist's ``[vantages.<name>]`` table. Work items carry the one they are
fetched through; ``None`` is this machine (named by the ``VANTAGE`` setting).

The database stores only a target's vantage *names* (``targets.vantages``); a
claim hands out work items whose vantage is a bare name (:func:`placeholder`), and
the worker puts the watchlist's :class:`Vantage` in its place (:func:`resolve`).
A proxy URL may hold credentials: it is left out of ``repr`` and shown only
through :func:`redact`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .observation import WorkItem

#: Proxy schemes a vantage point may use (``socks5h``: names resolved by the proxy).
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
#: A vantage point's name: it is an observation's ``vantage`` and a metric label.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class Vantage:
    """One named vantage point."""

    name: str
    #: ISO 3166-1 alpha-2 country code of the exit, upper case ("DE").
    country: str | None = None
    #: ``http://host:port`` or ``socks5://host:port``; None: a direct connection.
    #: Never in ``repr`` (it may hold a user and password): see :func:`redact`.
    proxy: str | None = field(default=None, repr=False)
    label: str | None = None

    @property
    def shown_proxy(self) -> str | None:
        """The proxy as logs and messages may show it."""
        return redact(self.proxy) if self.proxy else None


def redact(url: str) -> str:
    """``socks5://user:secret@host:1080`` → ``socks5://***@host:1080``; anything that
    does not parse as a URL is hidden whole."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    where = f"[{host}]" if ":" in host else host
    where += f":{port}" if port is not None else ""
    creds = "***@" if "@" in parts.netloc else ""
    return f"{parts.scheme}://{creds}{where}"


def check_proxy(raw: object) -> str:
    """A vantage point's ``proxy``: ``scheme://[user:password@]host:port``. The
    ValueError never repeats the value (it may hold a password)."""
    example = 'like proxy = "socks5://127.0.0.1:1080" or "http://proxy.example.org:3128"'
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"missing or not a string; give the proxy URL, {example}")
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"not a proxy URL (bad host or port); write it {example}") from None
    if parts.scheme.lower() not in PROXY_SCHEMES:
        raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not one of "
                         f"{', '.join(PROXY_SCHEMES)}; write it {example}")
    if not parts.hostname or port is None:
        raise ValueError(f"{redact(text)} lacks a host or port; write it {example}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{redact(text)} has a path or query; a proxy URL is only "
                         f"scheme://host:port, {example}")
    return text


def check_country(raw: object) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased."""
    if not isinstance(raw, str) or not _COUNTRY.fullmatch(raw.strip().upper()):
        raise ValueError(f"{raw!r} is not a two-letter ISO 3166-1 country code; write it "
                         'like country = "DE"')
    return raw.strip().upper()


def check_name(raw: str) -> str:
    if not NAME.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a usable vantage point name: letters, digits, "
                         "'_', '.', '-', starting with a letter or digit, at most 40")
    return raw


def placeholder(name: str) -> Vantage:
    """The vantage of a claimed work item before the worker resolves it: a name only."""
    return Vantage(name)


def resolve(items: Iterable[WorkItem], known: Mapping[str, Vantage]
            ) -> tuple[list[WorkItem], list[WorkItem]]:
    """Put the watchlist's vantage point in place of each claimed item's name.
    Returns (items to fetch, items whose vantage this worker does not know): those
    must not be fetched from here, which would record this network under its name."""
    kept: list[WorkItem] = []
    unknown: list[WorkItem] = []
    for item in items:
        if item.vantage is None:
            kept.append(item)
        elif (vantage := known.get(item.vantage.name)) is not None:
            kept.append(dataclasses.replace(item, vantage=vantage))
        else:
            unknown.append(item)
    return kept, unknown


def unknown_vantages(items: Sequence[WorkItem]) -> str:
    """What to say of claimed items whose vantage point the worker does not know."""
    names = sorted({i.vantage.name for i in items if i.vantage is not None})
    return (f"{len(items)} claimed item(s) name vantage point(s) {', '.join(names)} that "
            "this worker's watchlist does not define")


__all__ = ["NAME", "PROXY_SCHEMES", "Vantage", "check_country", "check_name", "check_proxy",
           "placeholder", "redact", "resolve", "unknown_vantages"]
