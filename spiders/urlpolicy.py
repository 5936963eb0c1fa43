"""The fetch policy: content never turns the monitor against its host.

Everything a spider fetches beyond a target's own listing URL comes from
content written by the people being watched: feed item links, ``Link:
rel="next"`` headers, redirects. So every request a monitor spider makes — the
first of a job, pagination, probes, follow-ups and every redirect hop (a
redirected request passes through ``process_request`` again) — must pass
:class:`UrlPolicyMiddleware`, which refuses it unless:

1. ``scheme``: it is ``http`` or ``https`` (``file``, ``ftp``, ``s3`` and
   ``data`` handlers are also switched off in :mod:`spiders.settings`);
2. ``private_address``: its host is not a loopback, private, link-local,
   shared, multicast, unspecified or reserved address (IPv4 or IPv6,
   IPv4-mapped and -embedded IPv6, and the decimal/octal/hex IPv4 spellings
   ``inet_aton`` accepts, such as ``0x7f.1``; the names ``localhost`` and
   ``*.localhost`` count as loopback) — unless the target itself is on such an
   address: then its own address and port, and the hosts its ``allow_hosts``
   names, may be fetched (the sandbox and test servers live on 127.0.0.1);
3. ``host``: its host is the target's own host (of its feed/post URL, its
   ``base_url``, or a Mastodon account's ``@host``) or matches the target's
   ``allow_hosts`` from the watchlist.

A refused request is never sent: the middleware raises :class:`UrlRefused`
(an ``IgnoreRequest``), which reaches the spider's errback and becomes an
observation with outcome ``refused``, ``signals["url_policy"]`` naming the rule
and a ``detail`` saying what to do.

**Resolved addresses (DNS rebinding).** A host name is checked again at the
resolution Scrapy actually connects with: :class:`PolicyResolver` wraps the
reactor's name resolver (Twisted's ``HostnameEndpoint`` asks it for every
connection) and drops every non-public address a name resolves to, unless
the name is a ``localhost`` name the middleware let through (rule 2). An IP
literal passes: the middleware judged it already. The connection can only use
the addresses that survive, so there is no gap between check and use; we chose
this over resolving in the middleware and pinning the IP into the URL, which
breaks TLS SNI and virtual hosts and doubles the lookups. Nothing is cached
here (a moved host is followed at once). When nothing survives, the
connection fails as a DNS error; :class:`RefusedAddressMiddleware`, placed
below the retry middleware, turns that into :class:`UrlRefused` before it
could be retried. A target on a private network name (``mastodon.lan``) must
therefore be written with its IP address.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer

from .addresses import address_class, host_class, normalise_host, parse_address

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from twisted.internet.interfaces import IAddress, IHostResolution

    from monitor.observation import WorkItem

logger = logging.getLogger(__name__)


SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

#: The rules, as recorded in ``signals["url_policy"]``.
SCHEME, HOST, PRIVATE_ADDRESS = "scheme", "host", "private_address"



class UrlRefused(IgnoreRequest):
    """The fetch policy refused a URL; ``rule`` is ``scheme``, ``host`` or ``private_address``."""

    def __init__(self, rule: str, url: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.url = url
        self.detail = detail
        #: Read by :func:`spiders.responses.outcome_for_failure` (outcome refused).
        self.url_policy = rule


# --- the policy of one target --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """What one target's spider may fetch: its own hosts, allowed hosts, local origins."""

    #: The target's own hosts (normalised).
    hosts: frozenset[str]
    #: ``allow_hosts`` from the watchlist: names, or ``*.example.org`` for its subdomains.
    allow: tuple[str, ...] = ()
    #: (host, port) of the target's own URLs that sit on a non-public address.
    local: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def for_item(cls, item: WorkItem) -> FetchPolicy:
        """The policy of ``item``'s target.

        Trusted: ``target_url`` and ``base_url``; a listing's own ``url`` (the
        watchlist value, a Mastodon ``user@host`` included); and, only for a
        hand-built item that names neither, its ``url``.
        """
        trusted = [u for u in (item.target_url, item.base_url) if u]
        value = item.url.strip().lstrip("@")
        account_host = None
        if item.mode == "listing" and "/" not in value and "@" in value:
            account_host = value.split("@", 1)[1]
        elif item.mode == "listing" or not trusted:
            trusted.append(value)
        origins = dict.fromkeys(o for o in map(_origin, trusted) if o is not None)
        return _policy(tuple(origins), account_host, tuple(item.allow_hosts))

    def check(self, url: str) -> Refusal | None:
        """None when ``url`` may be fetched, else the rule it breaks and what to do."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            return Refusal(SCHEME, f"refused {_short(url)}: only http and https URLs are "
                           f"fetched, not {scheme or 'a relative'}: URLs; the link came from "
                           "the content and is not followed")
        host = normalise_host(parts.hostname or "")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            return Refusal(HOST, f"refused {_short(url)}: its port is not a number")
        if not host:
            return Refusal(HOST, f"refused {_short(url)}: it names no host")
        category = host_class(host)
        if category is not None and (host, port) not in self.local and not (
                self.local and self.allowed(host)):
            return Refusal(PRIVATE_ADDRESS, f"refused {_short(url)}: {host} is a {category} "
                           "address, and only a target that is itself on one may fetch "
                           "there (its own address, or hosts its allow_hosts names); a link "
                           "in the content may not reach the monitor's network")
        if not self.allows(host):
            own = ", ".join(sorted(self.hosts)) or "none known"
            return Refusal(HOST, f"refused {_short(url)}: {host} is not the target's host "
                           f"({own}); if the target serves its posts there, add "
                           f'allow_hosts = ["{host}"] to the target or its group')
        return None

    def allows(self, host: str) -> bool:
        return host in self.hosts or self.allowed(host)

    def allowed(self, host: str) -> bool:
        """True when ``allow_hosts`` names ``host`` (``*.example.org``: its subdomains)."""
        return any(host == p or (p.startswith("*.") and host.endswith(p[1:]))
                   for p in self.allow)


#: ``scheme://authority`` spelled in plain ASCII, with nothing ``urlsplit`` strips
#: or rewrites: no space, tab, newline, backslash or non-ASCII character. When the
#: URL goes on with ``/``, ``?``, ``#`` or ends there, this prefix alone decides
#: the scheme and the network location, as ``urlsplit`` reads them.
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[!$%&'()*+,\-.0-9:;=@A-Z\[\]_a-z~]*")


def _origin(url: str) -> tuple[str, int | None] | None:
    """The normalised host and port of a trusted URL (port None: not a number);
    None when it names no host.

    Asked for every work item, whose target URLs are each a post's own: the answer
    is cached by the URL's ``scheme://authority`` (every post of an instance shares
    it), so each post costs a regular-expression match rather than a ``urlsplit``
    of a URL never seen before. Any other spelling is read whole, uncached."""
    match = _AUTHORITY.match(url)
    if match is not None and url[match.end():match.end() + 1] in ("", "/", "?", "#"):
        return _authority_origin(match.group())
    return _parse_origin(url)


@lru_cache(maxsize=1024)
def _authority_origin(prefix: str) -> tuple[str, int | None] | None:
    return _parse_origin(prefix)


def _parse_origin(url: str) -> tuple[str, int | None] | None:
    parts = urlsplit(url)
    host = normalise_host(parts.hostname or "")
    if not host:
        return None
    try:
        return host, parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return host, None


# Keyed by origins, not URLs: every single-post target of one instance shares its
# policy (keyed by URL, each post built and cached a policy of its own).
@lru_cache(maxsize=4096)
def _policy(origins: tuple[tuple[str, int | None], ...], account_host: str | None,
            allow: tuple[str, ...]) -> FetchPolicy:
    hosts: set[str] = set()
    local: set[tuple[str, int]] = set()
    for host, port in origins:
        hosts.add(host)
        if port is not None and host_class(host) is not None:
            local.add((host, port))
    if account_host:
        host, _, port_text = account_host.partition(":")
        host = normalise_host(host)
        hosts.add(host)
        if host_class(host) is not None:
            local.add((host, int(port_text) if port_text.isdigit() else 443))
    return FetchPolicy(frozenset(hosts), tuple(normalise_host(a) for a in allow),
                       frozenset(local))


def _port(parsed: Any) -> int:
    try:
        port = parsed.port
    except ValueError:  # not a number: matches no origin
        return -1
    return int(port or DEFAULT_PORTS.get(parsed.scheme.lower(), 0))


def _short(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[:limit] + "…"


# --- resolution ----------------------------------------------------------------------


@implementer(IHostnameResolver)
class PolicyResolver:
    """The reactor's name resolver, minus the non-public addresses a name resolves to.

    An IP literal passes unchanged (:class:`UrlPolicyMiddleware` judged it
    before any connection), and so do names in :attr:`permitted` (a target's
    own ``localhost`` names). For any other name, loopback, private,
    link-local… addresses are dropped and recorded in :attr:`refused`.
    """

    #: Names allowed to resolve to non-public addresses (shared by the process).
    permitted: ClassVar[set[str]] = set()
    #: Name -> the non-public addresses it last resolved to, when none was left.
    refused: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, original: Any) -> None:
        #: The resolver it wraps (an IHostnameResolver; zope interfaces do not type-check).
        self.original = original

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> Self:
        """For ``TWISTED_DNS_RESOLVER`` (``CrawlerProcess`` installs it this way)."""
        return cls(reactor.nameResolver)

    def install_on_reactor(self) -> None:
        from twisted.internet import reactor

        reactor.installNameResolver(self)  # type: ignore[attr-defined]

    @classmethod
    def install(cls) -> PolicyResolver:
        """Wrap the running reactor's resolver, once; returns the installed one."""
        from twisted.internet import reactor

        current = reactor.nameResolver  # type: ignore[attr-defined]
        if isinstance(current, cls):
            return current
        resolver = cls(current)
        resolver.install_on_reactor()
        return resolver

    def resolveHostName(  # noqa: N802 (Twisted's interface)
        self,
        resolutionReceiver: Any,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        host = normalise_host(hostName)
        receiver: Any
        if parse_address(host) is not None or host in self.permitted:
            receiver = resolutionReceiver
        else:
            receiver = _FilteringReceiver(resolutionReceiver, host)
        return self.original.resolveHostName(receiver, hostName, portNumber, addressTypes,
                                             transportSemantics)


@implementer(IResolutionReceiver)
class _FilteringReceiver:
    """Passes on the public addresses of a resolution; remembers what it dropped."""

    def __init__(self, receiver: Any, host: str) -> None:
        self.receiver = receiver
        self.host = host
        self.passed = 0
        self.dropped: list[str] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        text = str(getattr(address, "host", ""))
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            self.dropped.append(text)
            return
        if address_class(ip) is not None:
            self.dropped.append(text)
            return
        self.passed += 1
        self.receiver.addressResolved(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        if self.dropped:
            logger.info("%s resolved to non-public address(es) %s; not connecting to them",
                        self.host, ", ".join(self.dropped))
        if self.passed:
            PolicyResolver.refused.pop(self.host, None)
        elif self.dropped:
            PolicyResolver.refused[self.host] = tuple(self.dropped)
        self.receiver.resolutionComplete()


# --- the middlewares -----------------------------------------------------------------


class UrlPolicyMiddleware:
    """Refuse every request that breaks its target's :class:`FetchPolicy`.

    Place it before everything that may fetch on a request's behalf (robots.txt
    at 100). A request without a job (a robots.txt fetch, or its redirect, say
    from http to https) must be http(s), and may go to a non-public address
    only if a job's request went to that host:port in this crawl.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._local_passed: set[tuple[str, int]] = set()
        PolicyResolver.install()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        job = request.meta.get("job")
        if job is None:
            self._check_jobless(request)
            return
        parsed = urlparse_cached(request)
        policy = FetchPolicy.for_item(job.item)
        refusal = policy.check(request.url)
        if refusal is not None:
            logger.info("Fetch policy (%s) for %s: %s", refusal.rule, job.item.target_key,
                        refusal.detail)
            raise UrlRefused(refusal.rule, request.url, refusal.detail)
        host = normalise_host(parsed.hostname or "")
        if host_class(host) is not None:  # let through for a target on such an address
            self._local_passed.add((host, _port(parsed)))
            if parse_address(host) is None:  # a localhost name: the resolver may answer it
                PolicyResolver.permitted.add(host)

    def _check_jobless(self, request: Request) -> None:
        parsed = urlparse_cached(request)
        scheme = parsed.scheme.lower()
        if scheme not in SCHEMES:
            raise UrlRefused(SCHEME, request.url, f"refused {_short(request.url)}: only http "
                             "and https URLs are fetched")
        host = normalise_host(parsed.hostname or "")
        category = host_class(host)
        if category is not None and (host, _port(parsed)) not in self._local_passed:
            raise UrlRefused(PRIVATE_ADDRESS, request.url, f"refused {_short(request.url)}: "
                             f"{host} is a {category} address no target of this crawl is on")


class RefusedAddressMiddleware:
    """Turn a connection refused by :class:`PolicyResolver` into :class:`UrlRefused`.

    Place it below the retry middleware (a higher number than 550), so that the
    refusal is not retried as a DNS failure.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls()

    def process_exception(self, request: Request, exception: Exception) -> None:
        names = {type(e).__name__ for e in _chain(exception)}
        if not names & {"DNSLookupError", "CannotResolveHostError"}:
            return
        host = normalise_host(urlparse_cached(request).hostname or "")
        addresses = PolicyResolver.refused.get(host)
        if addresses is None:
            return
        detail = (f"refused {_short(request.url)}: {host} resolves only to non-public "
                  f"address(es) {', '.join(addresses)}; a public name pointing into the "
                  "monitor's network is not connected to (if the target really lives "
                  "there, write its address as an IP in the watchlist)")
        logger.info("Fetch policy (%s): %s", PRIVATE_ADDRESS, detail)
        raise UrlRefused(PRIVATE_ADDRESS, request.url, detail)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(out) < 10:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out
