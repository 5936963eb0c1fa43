"""Send each request of a job through its work item's vantage point.

A work item fetched from a vantage point (``WorkItem.vantage``, a
:class:`monitor.vantage.Vantage` with a proxy URL) has every request it makes —
the first, its next pages, its follow-ups, each redirect hop — sent through
that proxy:

- ``http://`` and ``https://`` proxies by Scrapy's own ``HttpProxyMiddleware``
  (``request.meta["proxy"]``; credentials in the URL become a
  ``Proxy-Authorization`` header and never reach a log line);
- ``socks5://`` proxies through a :class:`spiders.socksbridge.SocksBridge`, a
  local HTTP proxy on the crawl's loop (one per SOCKS proxy, kept for the
  process's life).

Politeness is per host *and* vantage point (the downloader slot is
``"<host:port> via <vantage>"``): a proxy that is down backs off its own slot, not
the host for every other vantage, and each exit's throttle is its own.

A proxy that refuses or drops the connection fails the request like any network
failure (``connection_error``, transient: never an absence). So does a proxy
that answers for itself: HTTP 407 (its credentials are wrong) or an answer
carrying a proxy error header (Squid's ``X-Squid-Error``), which would otherwise
read as the platform's 403 or 5xx. The fetch policy still checks every target
URL (:mod:`spiders.urlpolicy`); the proxy itself is the operator's choice and is
allowed whatever address it has. robots.txt is still fetched from this machine
(its request belongs to no job).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached

from monitor.observation import Outcome
from monitor.vantage import Vantage, redact

from .addresses import normalise_host, parse_address
from .urlpolicy import PolicyResolver

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from .socksbridge import SocksBridge

logger = logging.getLogger(__name__)

__all__ = ["VantageFailed", "VantageMiddleware", "VantageMisconfigured",
           "bridges", "close_bridges", "proxy_kind", "slot_for", "stamp_slot", "vantage_of"]

HTTP_SCHEMES = frozenset({"http", "https"})
SOCKS_SCHEMES = frozenset({"socks5", "socks5h"})
#: Response headers only a proxy's own error page carries.
PROXY_ERROR_HEADERS = (b"X-Squid-Error",)

#: SOCKS proxy URL -> its bridge, for the process's life (one loop runs every crawl).
_BRIDGES: dict[str, SocksBridge] = {}
_BRIDGE_LOOPS: dict[str, asyncio.AbstractEventLoop] = {}


class VantageFailed(Exception):
    """The vantage point's proxy failed the request (not the platform): transient."""

    outcome = Outcome.CONNECTION_ERROR


class VantageMisconfigured(IgnoreRequest):
    """The vantage point's proxy URL cannot be used; nothing was fetched."""

    outcome = Outcome.REFUSED


def proxy_kind(proxy: str) -> str:
    """``"http"`` or ``"socks5"`` for a usable proxy URL; ValueError otherwise."""
    try:
        parts = urlsplit(proxy)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{redact(proxy)}: {exc}") from None
    scheme = parts.scheme.lower()
    if not parts.hostname or port is None:
        raise ValueError(f"{redact(proxy)} must name a host and a port, "
                         "e.g. http://proxy.example.net:3128 or socks5://127.0.0.1:1080")
    if scheme in HTTP_SCHEMES:
        return "http"
    if scheme in SOCKS_SCHEMES:
        return "socks5"
    raise ValueError(f"{redact(proxy)}: proxy scheme {scheme!r} is not supported; "
                     "use http://, https:// or socks5://")


def vantage_of(request: Request) -> Vantage | None:
    """The vantage point a request leaves from: its job's, if it has one."""
    job = request.meta.get("job")
    vantage = getattr(getattr(job, "item", None), "vantage", None)
    return vantage if isinstance(vantage, Vantage) else None


class VantageMiddleware:
    """Route a job's requests through its vantage point's proxy.

    Place it after the retry middlewares and before ``HostPolitenessMiddleware``
    (590), which keys pauses by the slot this sets, and Scrapy's
    ``HttpProxyMiddleware`` (750), which applies the proxy.
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.proxies_enabled = settings.getbool("HTTPPROXY_ENABLED", True)
        self.connect_timeout = settings.getfloat("DOWNLOAD_TIMEOUT", 30.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        vantage = vantage_of(request)
        if vantage is None or not vantage.proxy:
            return
        try:
            kind = proxy_kind(vantage.proxy)
        except ValueError as exc:
            raise VantageMisconfigured(f"vantage point {vantage.name}: {exc}") from None
        if not self.proxies_enabled:
            # Never fall back to this machine's network: the answer would be filed
            # under the vantage's country.
            raise VantageMisconfigured(f"vantage point {vantage.name}: HTTPPROXY_ENABLED "
                                       "is off, so its proxy cannot be used")
        request.meta["download_slot"] = slot_for(request, vantage)
        request.meta["vantage"] = vantage.name
        if kind == "socks5":
            bridge = await _bridge(vantage.proxy, self.connect_timeout)
            request.meta["proxy"] = bridge.proxy_url
        else:
            _permit(vantage.proxy)
            request.meta["proxy"] = vantage.proxy

    def process_response(self, request: Request, response: Response) -> Response:
        vantage = vantage_of(request)
        if vantage is None or not vantage.proxy:
            return response
        # The proxy's credentials (or the bridge's token) were for the proxy alone:
        # the request kept as evidence (its capture) must not carry them. A retry or
        # redirect passes process_request again, which puts them back.
        request.headers.pop(b"Proxy-Authorization", None)
        if response.status == 407 or any(h in response.headers for h in PROXY_ERROR_HEADERS):
            what = ("its credentials were refused" if response.status == 407
                    else "a proxy error page")
            raise VantageFailed(
                f"the proxy of vantage point {vantage.name} answered HTTP {response.status} "
                f"itself ({what}); check the [vantages] table of the watchlist")
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        vantage = vantage_of(request)
        if vantage is not None and vantage.proxy:
            logger.debug("Request %s through vantage point %s (%s) failed: %s", request.url,
                         vantage.name, redact(vantage.proxy), type(exception).__name__)


def slot_for(request: Request, vantage: Vantage) -> str:
    """The downloader slot, and unit of politeness, of a request from ``vantage``."""
    return f"{urlparse_cached(request).netloc} via {vantage.name}"


def stamp_slot(request: Request) -> Request:
    """Give a job's request its (host, vantage point) slot as it is made, and return it.

    ``PoliteScheduler`` holds a paused exit's requests only if it can tell them apart
    before the downloader, so every request a spider makes for a job is stamped here
    (``MonitorSpider.request``, ``BatchProbes.batch_request``): a dead proxy's requests
    wait in the scheduler, taking no share of ``CONCURRENT_REQUESTS`` from the other
    vantage points. :class:`VantageMiddleware` sets the same slot again for every hop.
    A request from this machine keeps Scrapy's own slot. (A spider middleware did this
    before, at the cost of one more asynchronous generator around every response's
    output.)"""
    vantage = vantage_of(request)
    if vantage is not None and vantage.proxy:
        request.meta["download_slot"] = slot_for(request, vantage)
    return request


def _permit(proxy: str) -> None:
    """Let the proxy's own name resolve to an internal address (operator-configured)."""
    host = normalise_host(urlsplit(proxy).hostname or "")
    if host and parse_address(host) is None:
        PolicyResolver.permitted.add(host)


async def _bridge(socks_url: str, connect_timeout: float) -> SocksBridge:
    loop = asyncio.get_running_loop()
    bridge = _BRIDGES.get(socks_url)
    if bridge is None or _BRIDGE_LOOPS.get(socks_url) is not loop or not bridge.running:
        from .socksbridge import SocksBridge  # python_socks, only where a vantage needs it

        bridge = SocksBridge(socks_url, connect_timeout=connect_timeout)
        await bridge.start()
        _BRIDGES[socks_url] = bridge
        _BRIDGE_LOOPS[socks_url] = loop
        logger.info("SOCKS5 vantage proxy %s bridged at 127.0.0.1:%d", bridge.name, bridge.port)
    return bridge


async def close_bridges() -> None:
    """Stop every SOCKS bridge of this loop (tests; a process's bridges otherwise live on)."""
    loop = asyncio.get_running_loop()
    for url, bridge in list(_BRIDGES.items()):
        if _BRIDGE_LOOPS.get(url) is loop:
            await bridge.stop()
        _BRIDGES.pop(url, None)
        _BRIDGE_LOOPS.pop(url, None)


def bridges() -> dict[str, Any]:
    """The running bridges by redacted proxy URL (for tests and diagnostics)."""
    return {bridge.name: bridge for bridge in _BRIDGES.values()}
