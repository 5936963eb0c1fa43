"""The fetch policy: links in hostile content never become fetches of the monitor's host.

Pure tables for the address classifier and the per-target policy, then real
crawls against the local mock server (127.0.0.1 only): feed item links,
Mastodon pagination, redirects and DNS answers that point inside, each refused
with its rule and never sent; and the claim that hands spiders the bounds.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crawl_helpers import fixture
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from mockserver import Canned, MockServer
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IHostnameResolver
from zope.interface import implementer

from monitor.db import claims, tracking
from monitor.observation import Observation, Outcome, WorkItem
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist
from spiders import crawl_blocking, scrapy_settings
from spiders.addresses import host_class, parse_address
from spiders.urlpolicy import FetchPolicy, PolicyResolver, _origin, _parse_origin

# --- the address classifier (pure) ---------------------------------------------------

ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.0.0.2", "loopback"),
    ("0x7f.1", "loopback"),          # hex and short forms inet_aton reads
    ("0x7f000001", "loopback"),
    ("2130706433", "loopback"),      # one decimal number
    ("0177.0.0.1", "loopback"),      # octal
    ("127.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("100.64.0.1", "shared"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "private"),        # reserved 240/4 (Python files it under private)
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:a9fe:a9fe", "link-local"),
    ("::7f00:1", "loopback"),        # IPv4-compatible
    ("2002:7f00:1::", "loopback"),   # 6to4 of 127.0.0.1
    ("64:ff9b::a00:1", "private"),   # NAT64 of 10.0.0.1
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("localhost", "loopback"),
    ("LOCALHOST.", "loopback"),
    ("api.localhost", "loopback"),
    ("8.8.8.8", None),
    ("1.1.1.1", None),
    ("::ffff:8.8.8.8", None),
    ("2001:4860:4860::8888", None),
    ("example.org", None),           # a name: judged at resolution
    ("1.2.3.4.5", None),             # not an address in any spelling: a name
    ("08.1.1.1", None),
    ("0x", None),
]


@pytest.mark.parametrize(("host", "category"), ADDRESSES, ids=[a[0] for a in ADDRESSES])
def test_host_class(host: str, category: str | None) -> None:
    assert host_class(host) == category


def test_inet_aton_spellings_parse_to_the_address_a_resolver_connects_to() -> None:
    for spelling in ("0x7f.1", "0x7f000001", "2130706433", "0177.0.0.1", "127.1",
                     "0x7f.0.0.1"):
        assert parse_address(spelling) == ipaddress.IPv4Address("127.0.0.1"), spelling
        # the C library agrees, so this is what a connect() would reach
        assert socket.inet_aton(spelling) == socket.inet_aton("127.0.0.1")
    assert parse_address("256.1.1.1") is None and parse_address("1.2.65536") is None


# --- one target's policy (pure) -----------------------------------------------------

FEED = "https://news.example.org/feed.xml"


def feed_probe(url: str, *, target_url: str | None = FEED, base_url: str | None = None,
               allow: tuple[str, ...] = ()) -> WorkItem:
    return WorkItem(mode="probe", platform="rss", target_key="rss:feed:x", url=url,
                    post_key=url, target_url=target_url, base_url=base_url, allow_hosts=allow)


POLICY_CASES = [
    # (probe url, allow_hosts, refused rule or None)
    ("https://news.example.org/2024/a", (), None),
    ("http://NEWS.example.org./b", (), None),
    ("file:///etc/passwd", (), "scheme"),
    ("ftp://news.example.org/x", (), "scheme"),
    ("data:,hello", (), "scheme"),
    ("javascript:alert(1)", (), "scheme"),
    ("http://169.254.169.254/latest/meta-data/", (), "private_address"),
    ("http://10.0.0.1/", (), "private_address"),
    ("http://127.0.0.2/", (), "private_address"),
    ("http://0x7f.1/", (), "private_address"),
    ("http://[::ffff:127.0.0.1]/", (), "private_address"),
    ("http://localhost:8080/", (), "private_address"),
    ("http://10.0.0.1/", ("10.0.0.1",), "private_address"),  # allow_hosts opens no inside
    ("https://elsewhere.example/x", (), "host"),
    ("https://news.example.org.evil.example/", (), "host"),
    ("https://cdn.example.org/x", ("cdn.example.org",), None),
    ("https://a.b.example.org/x", ("*.example.org",), None),
    ("https://example.org/x", ("*.example.org",), "host"),  # the wildcard is subdomains only
    ("https://badexample.org/x", ("*.example.org",), "host"),
]


@pytest.mark.parametrize(("url", "allow", "rule"), POLICY_CASES,
                         ids=[f"{c[0]} {c[1]}" for c in POLICY_CASES])
def test_policy_table(url: str, allow: tuple[str, ...], rule: str | None) -> None:
    refusal = FetchPolicy.for_item(feed_probe(url, allow=allow)).check(url)
    assert (refusal.rule if refusal else None) == rule
    if refusal is not None and rule == "host":
        assert 'allow_hosts = ["' in refusal.detail  # says what to do


def test_a_target_on_a_private_address_keeps_its_own_origin_only() -> None:
    local = "http://127.0.0.1:8000/feed.xml"
    policy = FetchPolicy.for_item(feed_probe("x", target_url=local))
    assert policy.check("http://127.0.0.1:8000/post/1") is None
    assert policy.check("http://127.0.0.1:22/").rule == "private_address"  # type: ignore[union-attr]
    assert policy.check("http://10.0.0.1:8000/").rule == "private_address"  # type: ignore[union-attr]
    allowed = FetchPolicy.for_item(feed_probe("x", target_url=local, allow=("localhost",)))
    assert allowed.check("http://localhost:9000/x") is None


def test_a_mastodon_account_trusts_its_instance() -> None:
    item = WorkItem(mode="listing", platform="mastodon", target_key="m",
                    url="alice@social.example")
    policy = FetchPolicy.for_item(item)
    assert policy.check("https://social.example/api/v1/accounts/lookup?acct=alice") is None
    assert policy.check("https://other.example/api/v1/x").rule == "host"  # type: ignore[union-attr]


def test_a_probe_does_not_trust_its_own_url_when_the_target_is_known() -> None:
    item = feed_probe("https://attacker.example/x")
    assert FetchPolicy.for_item(item).check(item.url).rule == "host"  # type: ignore[union-attr]


# The origin of a trusted URL is cached by its ``scheme://authority``: it must read
# every URL exactly as urlsplit does, the odd spellings included.
ORIGIN_SPELLINGS = [
    "https://mastodon.social/@alice/1", "https://mastodon.social", "https://mastodon.social/",
    "http://127.0.0.1:8765/mirror/masto/@a/2", "http://127.0.0.1:8765?x#y", "HTTP://Example.ORG./a",
    "https://user:pw@host.example:8443/p", "https://[::1]:8080/x", "https://[fe80::1%25eth0]/",
    "https://host:notaport/x", "https://host:/x", "https://host:99999999/x", "https://:80/x",
    " https://lead.example/x", "https://tab.example\t.evil/x", "https://nl.example\n/x",
    "https://back.example\\@evil.example/x", "https://b\u00fccher.example/x",
    "https://sp ace.example/x", "https://host.example#frag", "https://host.example?q",
    "mailto:someone@example.org", "//no-scheme.example/x", "1http://digit.example/x",
    "https:/one-slash.example/x", "https://host.example:8080", "ftp://files.example/x",
    "https://a.example;b/x", "https://a.example&b=1/x", "", "https://", "https:///path",
]


def read_origin(reader: Any, url: str) -> Any:
    """``reader``'s origin of ``url``, or the type of the error it raises."""
    try:
        return reader(url)
    except ValueError as exc:
        return type(exc)


@pytest.mark.parametrize("url", ORIGIN_SPELLINGS)
def test_the_cached_origin_reads_a_url_as_urlsplit_does(url: str) -> None:
    assert read_origin(_origin, url) == read_origin(_parse_origin, url)
    assert read_origin(_origin, url) == read_origin(_origin, url)  # again, from the cache


@given(scheme=st.sampled_from(["http", "https", "HTTPS", "h2+x.y-z", "9x", ""]),
       rest=st.text(alphabet="/?#@:[]%.-_~!$&'()*+,;= \t\n\\a1Z\u00e9", max_size=30))
@hypothesis_settings(max_examples=400, deadline=None)
def test_the_cached_origin_reads_any_spelling_as_urlsplit_does(scheme: str, rest: str) -> None:
    url = f"{scheme}://{rest}"
    assert read_origin(_origin, url) == read_origin(_parse_origin, url)


# --- crawls against the mock server ---------------------------------------------------


def settings() -> Settings:
    return Settings.load(environ={}, file_values={"autothrottle": False, "retry_times": 1,
                                                  "download_timeout": 3})


def crawl(work: dict[str, list[WorkItem]]) -> dict[str, Observation]:
    got: dict[str, Observation] = {}
    crawl_blocking(work, lambda o: got.__setitem__(o.post_key or o.target_key, o), settings())
    return got


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


@pytest.fixture
def listener_127_0_0_2() -> Iterator[socket.socket]:
    """A socket on 127.0.0.2 that would see any connection a link there made."""
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def accepted(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def rss(links: list[str]) -> bytes:
    items = "".join(f"<item><title>{i}</title><link>{link.replace('&', '&amp;')}</link>"
                    f"<guid>g{i}</guid></item>" for i, link in enumerate(links))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}'
            "</channel></rss>").encode()


def test_feed_links_into_the_host_are_refused_and_never_fetched(
    server: MockServer, listener_127_0_0_2: socket.socket, tmp_path: Any,
) -> None:
    port = server.httpd.server_address[1]
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0")
    links = {
        f"file://{secret}": "scheme",
        "http://169.254.169.254/latest/meta-data/": "private_address",
        "http://10.0.0.1/": "private_address",
        f"http://127.0.0.2:{listener_127_0_0_2.getsockname()[1]}/leak": "private_address",
        f"http://0x7f.1:{port}/leak-hex": "private_address",
        f"http://[::ffff:127.0.0.1]:{port}/leak-mapped": "private_address",
        f"http://localhost:{port}/leak-localhost": "private_address",
        "http://elsewhere.example/post": "host",
        server.url("/post/1"): None,  # the target's own host still works
    }
    server.route("/feed.xml", Canned(200, rss(list(links)),
                                     {"Content-Type": "application/rss+xml"}))
    server.route("/post/1", Canned(200, b"<html><title>post</title></html>",
                                   {"Content-Type": "text/html"}))
    feed = server.url("/feed.xml")
    listing = crawl({"rss": [WorkItem(mode="listing", platform="rss", target_key="t", url=feed,
                                      target_url=feed)]})["t"]
    assert listing.outcome is Outcome.OK, listing.detail
    # Probes as the scheduler hands them out: the link, and the target's own URL.
    probes = [WorkItem(mode="probe", platform="rss", target_key="t", url=e.url or "",
                       post_key=e.url, target_url=feed, base_url=server.base)
              for e in listing.entries or []]
    assert {p.url for p in probes} == set(links)
    got = crawl({"rss": probes})
    for link, rule in links.items():
        obs = got[link]
        if rule is None:
            assert obs.outcome is Outcome.OK, obs.detail
            continue
        assert obs.outcome is Outcome.REFUSED, (link, obs.outcome, obs.detail)
        assert obs.signals["url_policy"] == rule, link
        assert obs.detail and obs.detail.startswith("refused "), obs.detail
        assert obs.http_status is None and obs.body_hash is None
    assert not any(path.startswith("/leak") for path, _ in server.requests), server.requests
    assert server.hits["/post/1"] == 1
    assert not accepted(listener_127_0_0_2)
    assert "allow_hosts" in (got["http://elsewhere.example/post"].detail or "")


def test_file_and_data_handlers_are_off_even_without_the_policy(tmp_path: Any) -> None:
    """Defence in depth: with the middleware removed, Scrapy still cannot read a file."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0")
    item = WorkItem(mode="probe", platform="rss", target_key="t", url=f"file://{secret}",
                    post_key="f")
    data = WorkItem(mode="probe", platform="rss", target_key="t", url="data:,hello",
                    post_key="d")
    got: dict[str, Observation] = {}
    overrides = dict(scrapy_settings(settings())["DOWNLOADER_MIDDLEWARES"])
    overrides["spiders.urlpolicy.UrlPolicyMiddleware"] = None
    crawl_blocking({"rss": [item, data]}, lambda o: got.__setitem__(o.post_key or "", o),
                   settings(), DOWNLOADER_MIDDLEWARES=overrides)
    for obs in got.values():
        assert obs.outcome is not Outcome.OK and obs.body_hash is None, obs
        assert "scheme" in (obs.detail or "").lower(), obs.detail
    assert got["f"].body_hash != hashlib.sha256(b"root:x:0:0").hexdigest()


def mastodon_server(server: MockServer, next_link: str) -> None:

    json_type = {"Content-Type": "application/json; charset=utf-8"}
    server.route("/api/v1/accounts/lookup",
                 Canned(200, fixture("mastodon/account_normal.json"), json_type))
    server.route("/api/v1/accounts/117020566092212359/statuses",
                 Canned(200, fixture("mastodon/statuses_page1.json"),
                        {**json_type, "Link": f'<{next_link}>; rel="next"'}))


@pytest.mark.parametrize(("next_link", "expect"), [
    ("file:///etc/passwd", "only http and https"),
    ("http://other.example/api/v1/accounts/1/statuses?max_id=1", "is not the target's host"),
    ("http://localhost:{port}/leak-next", "is a loopback address"),
])
def test_mastodon_next_link_is_refused_and_the_first_page_kept(
    server: MockServer, next_link: str, expect: str,
) -> None:
    next_link = next_link.format(port=server.httpd.server_address[1])
    mastodon_server(server, next_link)
    item = WorkItem(mode="listing", platform="mastodon", target_key="m", url="alice",
                    base_url=server.base, target_url=server.base)
    obs = crawl({"mastodon": [item]})["m"]
    assert obs.outcome is Outcome.OK
    assert len(obs.entries or []) == 2  # the first page is recorded
    assert obs.complete is False and obs.signals.get("listing_end") is not True
    assert obs.detail and "page 2" in obs.detail and expect in obs.detail, obs.detail
    assert not any(p.startswith("/leak") for p, _ in server.requests)


def test_redirect_from_the_target_into_the_host_is_refused(server: MockServer) -> None:
    port = server.httpd.server_address[1]
    server.route("/moved", Canned(302, b"", {"Location": f"http://localhost:{port}/leak-redir"}))
    server.route("/hop", Canned(302, b"", {"Location": "/post/2"}))
    server.route("/post/2", Canned(200, b"ok", {"Content-Type": "text/plain"}))
    feed = server.url("/feed.xml")
    items = [WorkItem(mode="probe", platform="rss", target_key="t", url=server.url(path),
                      post_key=path, target_url=feed) for path in ("/moved", "/hop")]
    got = crawl({"rss": items})
    assert got["/moved"].outcome is Outcome.REFUSED
    assert got["/moved"].signals["url_policy"] == "private_address"
    assert got["/hop"].outcome is Outcome.OK  # a redirect on the target's own host is fine
    assert server.hits["/moved"] == 1 and server.hits["/leak-redir"] == 0


@implementer(IHostnameResolver)
class FixedResolver:
    """Answers chosen names with chosen IPv4 addresses; asks ``fallback`` for the rest."""

    def __init__(self, fallback: Any, answers: dict[str, list[str]]) -> None:
        self.fallback = fallback
        self.answers = answers

    def resolveHostName(self, receiver: Any, hostName: str, portNumber: int = 0,  # noqa: N802,N803
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:  # noqa: N803
        if hostName not in self.answers:
            return self.fallback.resolveHostName(receiver, hostName, portNumber, addressTypes,
                                                 transportSemantics)
        receiver.resolutionBegan(object())
        for host in self.answers[hostName]:
            receiver.addressResolved(IPv4Address("TCP", host, portNumber))
        receiver.resolutionComplete()
        return receiver


def test_a_public_name_resolving_inside_is_refused_at_connection(
    server: MockServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the target's own (public) name answers with 127.0.0.1."""
    from spiders import event_loop

    event_loop()  # the reactor is installed
    resolver = PolicyResolver.install()
    port = server.httpd.server_address[1]
    monkeypatch.setattr(resolver, "original", FixedResolver(
        resolver.original, {"feed.rebind.test": ["127.0.0.1"]}))
    feed = f"http://feed.rebind.test:{port}/feed.xml"
    server.route("/feed.xml", Canned(200, rss([]), {"Content-Type": "application/rss+xml"}))
    obs = crawl({"rss": [WorkItem(mode="listing", platform="rss", target_key="t", url=feed,
                                  target_url=feed)]})["t"]
    assert obs.outcome is Outcome.REFUSED, obs.detail
    assert obs.signals["url_policy"] == "private_address"
    assert obs.detail and "127.0.0.1" in obs.detail and "resolves only" in obs.detail
    assert server.hits["/feed.xml"] == 0 and server.hits["/robots.txt"] == 0


def test_the_resolver_passes_public_addresses_and_drops_the_rest() -> None:
    got: list[str] = []

    class Receiver:
        def resolutionBegan(self, r: Any) -> None:  # noqa: N802
            pass

        def addressResolved(self, a: Any) -> None:  # noqa: N802
            got.append(a.host)

        def resolutionComplete(self) -> None:  # noqa: N802
            got.append("done")

    PolicyResolver.refused.pop("mixed.test", None)
    resolver = PolicyResolver(FixedResolver(None, {
        "mixed.test": ["10.0.0.1", "93.184.216.34", "169.254.169.254"],
        "inside.test": ["127.0.0.1"], "127.0.0.1": ["127.0.0.1"]}))
    resolver.resolveHostName(Receiver(), "mixed.test", 80)
    assert got == ["93.184.216.34", "done"]
    assert "mixed.test" not in PolicyResolver.refused
    got.clear()
    resolver.resolveHostName(Receiver(), "inside.test", 80)
    assert got == ["done"] and PolicyResolver.refused["inside.test"] == ("127.0.0.1",)
    got.clear()
    resolver.resolveHostName(Receiver(), "127.0.0.1", 80)  # a literal was judged already
    assert got == ["127.0.0.1", "done"]


def test_allow_hosts_lets_a_second_host_through(server: MockServer) -> None:
    port = server.httpd.server_address[1]
    server.route("/elsewhere", Canned(200, b"ok", {"Content-Type": "text/plain"}))
    feed = server.url("/feed.xml")
    link = f"http://localhost:{port}/elsewhere"

    def probe(allow: tuple[str, ...]) -> Observation:
        item = WorkItem(mode="probe", platform="rss", target_key="t", url=link, post_key="p",
                        target_url=feed, allow_hosts=allow)
        return crawl({"rss": [item]})["p"]

    assert probe(()).outcome is Outcome.REFUSED
    assert server.hits["/elsewhere"] == 0
    assert probe(("localhost",)).outcome is Outcome.OK
    assert server.hits["/elsewhere"] == 1


# --- the claim hands spiders the target's bounds ---------------------------------------


def test_claimed_work_carries_the_target_url_and_allow_hosts(db: Any) -> None:
    watchlist = parse_watchlist("""
[groups.g]
allow_hosts = ["*.example.org"]
[[groups.g.targets]]
platform = "rss"
feed = "https://feeds.example.net/news.xml"
allow_hosts = ["cdn.example.com"]
[[groups.g.targets]]
platform = "mastodon"
account = "alice@social.example"
""")
    now = datetime.now(UTC)
    with db.transaction() as conn:
        tracking.sync_targets(conn, watchlist.targets, 600)
        feed_id = conn.execute("SELECT id FROM targets WHERE platform = 'rss'").fetchone()["id"]
        conn.execute(
            "INSERT INTO posts (target_id, platform, post_key, url, first_seen, state, "
            "state_since, next_check) VALUES (%s, 'rss', 'k', 'http://10.0.0.1/x', now(), "
            "'visible', now(), now())", (feed_id,))
        items = claims.claim_due(conn, now + timedelta(seconds=1), 10, 600)
    by_mode = {(i.platform, i.mode): i for i in items}
    listing = by_mode["rss", "listing"]
    assert listing.target_url == "https://feeds.example.net/news.xml"
    assert listing.allow_hosts == ("*.example.org", "cdn.example.com")
    probe = by_mode["rss", "probe"]
    assert probe.url == "http://10.0.0.1/x"
    assert probe.target_url == "https://feeds.example.net/news.xml"
    assert probe.allow_hosts == listing.allow_hosts
    assert FetchPolicy.for_item(probe).check(probe.url).rule == "private_address"  # type: ignore[union-attr]
    assert by_mode["mastodon", "listing"].target_url == "https://social.example"


def test_requests_without_a_job_stay_off_internal_addresses() -> None:
    """robots.txt fetches (and their redirects) carry no job: scheme and address still hold."""
    from scrapy import Request
    from scrapy.utils.test import get_crawler

    from spiders.base import Job
    from spiders.urlpolicy import UrlPolicyMiddleware, UrlRefused

    mw = UrlPolicyMiddleware(get_crawler())
    # Before any job went there, an internal address is refused, a public one is not.
    with pytest.raises(UrlRefused) as info:
        mw.process_request(Request("http://127.0.0.1:8000/robots.txt"))
    assert info.value.rule == "private_address"
    mw.process_request(Request("https://www.example.org/robots.txt"))  # http→https hop
    with pytest.raises(UrlRefused, match="only http and https"):
        mw.process_request(Request("ftp://example.org/robots.txt"))
    # A job's request to its own local origin lets that origin's robots.txt through only.
    job = Job(WorkItem(mode="listing", platform="rss", target_key="t",
                       url="http://127.0.0.1:8000/feed.xml"))
    mw.process_request(Request("http://127.0.0.1:8000/feed.xml", meta={"job": job}))
    mw.process_request(Request("http://127.0.0.1:8000/robots.txt"))
    with pytest.raises(UrlRefused):
        mw.process_request(Request("http://127.0.0.1:6379/robots.txt"))
