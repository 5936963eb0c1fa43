"""Geo-blocking in the sandbox: which country a request comes from, and withholding.

A request names its country in :data:`COUNTRY_HEADER` (the test proxies of a
vantage point add it), or the sandbox's ``locate`` maps its client address (a
SOCKS5 proxy cannot add a header, so its connections' source ports are told
apart). A request that says nothing usable is served as everywhere. What a
withheld post looks like is its fake's to say (:meth:`Fake.withheld`,
:meth:`Fake.post_for`); the world keeps the state (:meth:`World.withhold`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._world import Post, World

#: The header a vantage point's test proxy names its country in.
COUNTRY_HEADER = "X-Sandbox-Country"
_COUNTRY = re.compile(r"^[A-Z]{2}$")

Locate = Callable[[tuple[str, int]], str | None]


def country_of(headers: Mapping[str, str], client: tuple[str, int] | Any, header: str,
               locate: Locate | None) -> str | None:
    """The requesting country: ``header`` in the (lower-cased) ``headers``, else what
    ``locate`` says of the client's address; None: unknown."""
    named = headers.get(header.lower(), "").strip().upper()
    if _COUNTRY.match(named):
        return named
    if locate is not None and isinstance(client, tuple):
        found = locate(client)
        return found.upper() if found else None
    return None


def country_codes(countries: Iterable[str]) -> set[str]:
    """Upper-case ISO 3166-1 alpha-2 codes; ValueError naming the ones that are not."""
    codes = {c.strip().upper() for c in countries}
    bad = sorted(c for c in codes if not _COUNTRY.match(c))
    if bad:
        raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")
    return codes


def withhold(world: World, post: Post, countries: Iterable[str], lift: bool) -> list[str]:
    """Withhold ``post`` in ``countries`` (``lift``: lift it there; no countries and
    ``lift``: everywhere); the countries it is withheld in afterwards."""
    codes = country_codes(countries)
    with world.lock:
        if lift:
            world.unwithhold(post, codes or None)
        else:
            world.withhold(post, codes)
        return sorted(world.withheld_in(post))
