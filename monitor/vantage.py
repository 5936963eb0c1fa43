"""Vantage points: the networks a request can leave from.

A vantage point is a proxy (HTTP or SOCKS5) with a country code, named in the
watchlist's ``[vantages.<name>]`` table. Work items carry the one they are
fetched through; ``None`` is this machine (named by the ``VANTAGE`` setting).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Vantage:
    """One named vantage point."""

    name: str
    #: ISO 3166-1 alpha-2 country code of the exit, upper case ("DE").
    country: str | None = None
    #: ``http://host:port`` or ``socks5://host:port``; None: a direct connection.
    proxy: str | None = None
    label: str | None = None
