"""SOCKS5 vantage points: Scrapy speaks no SOCKS, so requests go through the local
bridge (:class:`spiders.socksbridge.SocksBridge`) to a real SOCKS5 server.

The test SOCKS5 server cannot add a header, so the sandbox tells its country by
the source port of the connection (``sandbox.locate``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from proxies import Socks5Proxy
from vantage_helpers import probe, probe_item, webpage

from monitor.observation import Outcome
from monitor.vantage import Vantage
from spiders.crawl import event_loop
from spiders.sandbox import Sandbox
from spiders.socksbridge import SocksBridge, redact
from spiders.vantage import bridges, close_bridges


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox
    event_loop().run_until_complete(close_bridges())


def test_a_probe_through_a_socks5_vantage_is_seen_from_its_country(sb: Sandbox) -> None:
    post = webpage(sb)
    sb.withhold(post["url"], ["JP"])
    with Socks5Proxy("JP") as socks:
        sb.locate = socks.locate
        [withheld] = probe([probe_item(post, Vantage("jp", "JP", socks.url))])
        sb.withhold(post["url"], ["JP"], lift=True)
        [seen] = probe([probe_item(post, Vantage("jp", "JP", socks.url))])
        assert socks.forwarded == 2
    assert (withheld.outcome, withheld.http_status) == (Outcome.LEGAL, 451)
    assert withheld.vantage == "jp" and withheld.signals["country"] == "JP"
    assert seen.outcome is Outcome.OK, seen.detail
    # One bridge per SOCKS proxy, kept for the process's crawls.
    assert len(bridges()) == 1


def test_socks5_credentials_are_used_and_never_logged(
        sb: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    post = webpage(sb)
    with Socks5Proxy("BR", user="eye", password="pa55-word") as socks:
        good = Vantage("br", "BR", socks.url)
        wrong = Vantage("br2", "BR", socks.url.replace("pa55-word", "guess"))
        ok, refused = probe([probe_item(post, good), probe_item(post, wrong)])
        assert socks.refused_auth == 1
    assert ok.outcome is Outcome.OK, ok.detail
    assert refused.outcome is Outcome.CONNECTION_ERROR and refused.outcome.transient
    text = caplog.text + repr([ok, refused])
    assert "pa55-word" not in text and "guess" not in text


def test_a_socks5_proxy_that_is_down_is_a_transient_failure(sb: Sandbox) -> None:
    post = webpage(sb)
    socks = Socks5Proxy("KE").up()
    socks.down()
    [obs] = probe([probe_item(post, Vantage("ke", "KE", socks.url))])
    assert obs.outcome is Outcome.CONNECTION_ERROR, obs.detail
    assert obs.vantage == "ke" and obs.signals["country"] == "KE"
    assert sb.served == 0  # never fetched directly instead


def test_the_bridge_serves_only_the_crawl() -> None:
    """Another local process cannot use the bridge as an open relay: 407 without the
    token the crawl sends; a malformed request is refused too."""

    async def ask(bridge: SocksBridge, head: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", bridge.port)
        try:
            writer.write(head)
            await writer.drain()
            return await reader.read()
        except ConnectionResetError:  # hung up on: no answer
            return b""
        finally:
            writer.close()

    async def run() -> list[bytes]:
        bridge = SocksBridge("socks5://u:p@127.0.0.1:9")
        await bridge.start()
        try:
            return [
                await ask(bridge, b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\n\r\n"),
                await ask(bridge, b"GET http://127.0.0.1:9/ HTTP/1.1\r\n"
                                  b"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n"),
                await ask(bridge, b"\x16\x03\x01garbage\r\n\r\n"),
                # A head past MAX_HEAD is cut off: no answer, no crash.
                await ask(bridge, b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000),
            ]
        finally:
            await bridge.stop()

    no_token, wrong_token, garbage, huge = asyncio.run(run())
    assert no_token.startswith(b"HTTP/1.1 407")
    assert wrong_token.startswith(b"HTTP/1.1 407")
    assert garbage.startswith(b"HTTP/1.1 4")
    assert huge == b""


@pytest.mark.parametrize(("url", "shown"), [
    ("socks5://user:secret@relay.example.net:1080", "socks5://***@relay.example.net:1080"),
    ("http://127.0.0.1:3128", "http://127.0.0.1:3128"),
    ("socks5://[::1]:1080", "socks5://[::1]:1080"),
    ("http://u:p@host:notaport", "***"),  # unparsable: hidden whole
])
def test_proxy_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redact(url) == shown
