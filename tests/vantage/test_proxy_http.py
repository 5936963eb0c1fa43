"""Requests really leave through a vantage point's HTTP proxy (part D2).

The sandbox answers per country (``X-Sandbox-Country``, added by the test
proxies); the real spiders crawl it through :class:`proxies.CountryProxy`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from proxies import CountryProxy
from vantage_helpers import probe, probe_item, webpage

from monitor.observation import Outcome
from monitor.vantage import Vantage
from spiders.politeness import HostRegistry
from spiders.sandbox import Sandbox


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def de() -> Iterator[CountryProxy]:
    with CountryProxy("DE") as proxy:
        yield proxy


@pytest.fixture
def us() -> Iterator[CountryProxy]:
    with CountryProxy("US") as proxy:
        yield proxy


def test_a_probe_goes_through_its_vantage_proxy_and_records_it(
        sb: Sandbox, de: CountryProxy) -> None:
    post = webpage(sb)
    [obs] = probe([probe_item(post, Vantage("de", "DE", de.url))])
    assert obs.outcome is Outcome.OK, obs.detail
    assert de.forwarded == 1  # the page; robots.txt is read from this machine
    assert obs.vantage == "de"
    assert obs.signals["country"] == "DE"


def test_the_sandbox_withholds_per_country_through_the_proxies(
        sb: Sandbox, de: CountryProxy, us: CountryProxy) -> None:
    post = webpage(sb)
    sb.withhold(post["url"], ["DE"])
    items = [probe_item(post, Vantage("de", "DE", de.url)),
             probe_item(post, Vantage("us", "US", us.url)),
             probe_item(post, None)]
    from_de, from_us, direct = probe(items)
    assert (from_de.outcome, from_de.http_status) == (Outcome.LEGAL, 451)
    assert from_de.vantage == "de" and from_de.signals["country"] == "DE"
    assert (from_us.outcome, from_us.http_status) == (Outcome.OK, 200)
    assert from_us.vantage == "us" and from_us.signals["country"] == "US"
    # No vantage point: this machine, no country, served as everywhere.
    assert direct.outcome is Outcome.OK and "country" not in direct.signals
    assert (de.forwarded, us.forwarded) == (1, 1)


def test_a_proxy_that_is_down_is_a_transient_failure_of_that_vantage_only(
        sb: Sandbox, de: CountryProxy, us: CountryProxy) -> None:
    post = webpage(sb)
    sb.withhold(post["url"], ["US"])
    de.down()
    hosts = HostRegistry()
    from_de, from_us = probe([probe_item(post, Vantage("de", "DE", de.url)),
                              probe_item(post, Vantage("us", "US", us.url))], hosts)
    assert from_de.outcome is Outcome.CONNECTION_ERROR, from_de.detail
    assert from_de.outcome.transient and not from_de.outcome.absent
    assert from_de.vantage == "de" and from_de.signals["country"] == "DE"
    assert from_us.outcome is Outcome.LEGAL  # the other vantage point still answers
    # Politeness is per host and vantage point: only the dead exit backs off.
    netloc = urlsplit(post["url"]).netloc
    assert hosts.state(f"{netloc} via de").failures == 1
    assert hosts.state(f"{netloc} via us").failures == 0
    assert hosts.remaining(f"{netloc} via us") == 0
    de.up()  # back on the same port: the vantage point works again
    [again] = probe([probe_item(post, Vantage("de", "DE", de.url))])
    assert again.outcome is Outcome.OK and de.forwarded == 1


def test_proxy_credentials_are_sent_and_never_logged(
        sb: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    post = webpage(sb)
    with CountryProxy("FR", user="watch", password="s3cret-pw") as proxy:
        good = Vantage("fr", "FR", proxy.url)
        wrong = Vantage("fr2", "FR", proxy.url.replace("s3cret-pw", "not-it"))
        ok, refused = probe([probe_item(post, good), probe_item(post, wrong)])
        assert ok.outcome is Outcome.OK and ok.signals["country"] == "FR"
        # The proxy's own 407 is the vantage point failing, not the page's answer.
        assert refused.outcome is Outcome.CONNECTION_ERROR
        assert "407" in (refused.detail or "") and "fr2" in (refused.detail or "")
        assert proxy.forwarded == 1 and proxy.rejected == 1
    text = caplog.text + repr([ok, refused])
    assert "s3cret-pw" not in text and "not-it" not in text
    # Nor in the evidence: the capture's request went to the platform, not the proxy.
    assert ok.capture is not None
    assert "proxy-authorization" not in {n.lower() for n, _ in ok.capture.request_headers}
    assert base64.b64encode(b"watch:s3cret-pw").decode() not in text


def test_an_unusable_proxy_url_refuses_the_fetch(sb: Sandbox) -> None:
    post = webpage(sb)
    [obs] = probe([probe_item(post, Vantage("odd", "DE", "ftp://user:pw@127.0.0.1:21"))])
    assert obs.outcome is Outcome.REFUSED
    assert "odd" in (obs.detail or "") and "ftp" in (obs.detail or "")
    assert "pw@" not in (obs.detail or "")
    assert sb.served == 0  # nothing left this machine directly instead


def test_a_jobs_requests_carry_their_vantage_slot_from_the_start() -> None:
    """The scheduler holds a paused exit's requests only if it can tell them apart
    before the downloader: a spider's requests, single and batched, are stamped with
    the (host, vantage point) slot when they are made."""
    from scrapy import Request
    from scrapy.utils.test import get_crawler

    from monitor.observation import WorkItem
    from spiders.base import Job
    from spiders.batch import Batch
    from spiders.settings import scrapy_settings
    from spiders.vantage import stamp_slot
    from spiders.webpage.spider import WebpageSpider

    def job(vantage: Vantage | None) -> Job:
        return Job(WorkItem(mode="probe", platform="webpage", target_key="k",
                            url="http://127.0.0.1:9/p", vantage=vantage))

    crawler = get_crawler(WebpageSpider, settings_dict=dict(scrapy_settings({})))
    spider = WebpageSpider.from_crawler(crawler, work=[])
    via_de = job(Vantage("de", "DE", "http://127.0.0.1:1"))
    made = spider.request(via_de, "http://127.0.0.1:9/p", spider.parse_page)
    assert made.meta["download_slot"] == "127.0.0.1:9 via de"
    batched = spider.batch_request(Batch([via_de], ["k"]), "http://127.0.0.1:9/api?ids=k",
                                   spider.parse_page)  # type: ignore[arg-type]
    assert batched.meta["download_slot"] == "127.0.0.1:9 via de"
    # No proxy, or no vantage point: this machine's slot, as before.
    for other in (job(Vantage("here")), job(None)):
        assert "download_slot" not in spider.request(other, "http://127.0.0.1:9/p",
                                                     spider.parse_page).meta
    # A request of no job (robots.txt) is left alone.
    assert "download_slot" not in stamp_slot(Request("http://127.0.0.1:9/robots.txt")).meta
