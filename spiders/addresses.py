"""Addresses: what kind of address a host names, read as a connection would.

Pure functions for the fetch policy (:mod:`spiders.urlpolicy`) and the vantage
points' proxies (:mod:`spiders.vantage`): the class of an IP address (loopback,
private, link-local, shared, multicast, unspecified, reserved; IPv4-mapped and
-embedded IPv6 read as their IPv4 address), the IPv4 spellings ``inet_aton``
accepts (``0x7f.1``), the ``localhost`` names, and a host name normalised for
comparison.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPAT = ipaddress.ip_network("::/96")
_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def address_class(ip: IPAddress) -> str | None:
    """Why ``ip`` is no place to send a request (``"loopback"``, …); None when it is public.

    IPv6 addresses that carry an IPv4 address (mapped, compatible, 6to4, Teredo
    client, NAT64) are judged by that IPv4 address too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the socket connects to the IPv4 address itself
            return address_class(ip.ipv4_mapped)
        embedded = _embedded_ipv4(ip)
        if embedded is not None and (category := address_class(embedded)) is not None:
            return category
    for category, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("shared", isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
    ):
        if test:
            return category
    return None if ip.is_global else "reserved"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (ip in _V4_COMPAT and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@lru_cache(maxsize=4096)
def parse_address(host: str) -> IPAddress | None:
    """``host`` as an IP address, in every spelling a resolver accepts; None for a name.
    Cached by host: a pure function of the string (addresses are immutable), asked for
    each request to a target on a local address.

    Besides dotted decimal and IPv6, this reads what ``inet_aton`` reads: one to
    four parts, each decimal, octal (leading 0) or hex (0x), the last filling
    the remaining bytes (``0x7f.1``, ``2130706433``, ``0177.0.0.1``).
    """
    host = normalise_host(host)
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(p) for p in parts):
        return None
    try:
        values = [int(p, 0) if not (len(p) > 1 and p[0] == "0" and p[1] not in "xX")
                  else int(p, 8) for p in parts]
    except ValueError:  # "0x" alone
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, part in enumerate(head):
        value |= part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


@lru_cache(maxsize=4096)
def host_class(host: str) -> str | None:
    """Like :func:`address_class` for a URL's host: an address, or a ``localhost`` name.
    Cached by host: a pure function of the string, asked for every request."""
    host = normalise_host(host)
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    ip = parse_address(host)
    return None if ip is None else address_class(ip)


def normalise_host(host: str) -> str:
    """Lower case, no trailing dot, no IPv6 brackets, IDNA (punycode) for non-ASCII names."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # left as is: it then matches no allowed host
    return host
