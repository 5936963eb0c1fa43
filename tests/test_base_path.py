"""A ``base_url`` with a path prefix works for every platform (issue 9).

Mirrors and test servers are often mounted under a path
(``http://127.0.0.1:8765/mirror/masto``). Every URL a platform builds from its
base goes through :func:`monitor.platform.join_base`, which keeps the prefix;
the sandbox can be mounted under one (``Sandbox(prefix=…)``), and the end-to-end
run below holds every registered platform to it: through the real worker,
spiders and PostgreSQL, every target's first listing or probe is ``ok``, and no
request leaves the prefix.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

import pytest

from monitor.clock import ManualClock
from monitor.db import Database
from monitor.errors import WatchlistError
from monitor.observation import Outcome, WorkItem
from monitor.platform import base_path, check_base_url, join_base
from monitor.platforms import post_ref, registry
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist, target_key
from spiders.sandbox import Sandbox
from spiders.sandbox import fake as fake_module

BASE = "http://127.0.0.1:8765/mirror/masto"
#: The fakes the sandbox tests below serve (each platform's own run is further down).
STABLE = {"mastodon", "rss", "webpage"}
PREFIX = "/mirror/sandbox"


# --- (a) join_base and base_path --------------------------------------------------------


@pytest.mark.parametrize(("base", "path", "url"), [
    (BASE, "/api/v1/statuses/1", f"{BASE}/api/v1/statuses/1"),
    (BASE, "api/v1/statuses/1", f"{BASE}/api/v1/statuses/1"),
    (BASE + "/", "/api/v1/statuses/1", f"{BASE}/api/v1/statuses/1"),
    (BASE + "///", "//api//v1/", f"{BASE}/api/v1/"),
    (BASE, "", f"{BASE}/"),
    ("http://127.0.0.1:8765", "/@alice", "http://127.0.0.1:8765/@alice"),
    # The query is kept as written; the fragment is never sent.
    (BASE, "api/v1/accounts/lookup?acct=a%40b&x=/y",
     f"{BASE}/api/v1/accounts/lookup?acct=a%40b&x=/y"),
    (BASE, "feeds/x.xml#top", f"{BASE}/feeds/x.xml"),
    # Dot segments resolve, never above the prefix.
    (BASE, "a/./b/../c", f"{BASE}/a/c"),
    (BASE, "../../../etc/passwd", f"{BASE}/etc/passwd"),
    (BASE, "/..", f"{BASE}/"),
    (BASE, "a/%2e%2e/%2E%2E/%2e%2e/b", f"{BASE}/b"),
    (BASE, "a/..", f"{BASE}/"),
    (BASE, "a/b/..", f"{BASE}/a/"),
    # A segment quoted whole stays one segment.
    (BASE, "api/v1/statuses/..%2F..%2Fadmin", f"{BASE}/api/v1/statuses/..%2F..%2Fadmin"),
    # Whatever the path says, the host stays the base's.
    (BASE, "//evil.example/x", f"{BASE}/evil.example/x"),
    (BASE, "http://evil.example/x", f"{BASE}/http:/evil.example/x"),
    (BASE, "@evil.example/x", f"{BASE}/@evil.example/x"),
])
def test_join_base_keeps_the_prefix(base: str, path: str, url: str) -> None:
    joined = join_base(base, path)
    assert joined == url
    assert base_path(joined, base) is not None  # always under the base


def test_urljoin_would_have_dropped_the_prefix() -> None:
    """The mechanism of the bug, for the record: urljoin resolves an absolute path
    against the host, so a mirror's prefix is lost."""
    from urllib.parse import urljoin

    assert urljoin(BASE, "/api/v1/statuses/1") == "http://127.0.0.1:8765/api/v1/statuses/1"
    assert join_base(BASE, "/api/v1/statuses/1") == f"{BASE}/api/v1/statuses/1"


@pytest.mark.parametrize("base", ["http://h/m?x=1", "http://h/m#frag", "/just/a/path", "h/m"])
def test_join_base_refuses_what_is_not_a_base(base: str) -> None:
    with pytest.raises(ValueError, match="is not a base URL"):
        join_base(base, "x")


@pytest.mark.parametrize(("url", "path"), [
    (f"{BASE}/api/v1/statuses/1", "/api/v1/statuses/1"),
    (BASE, "/"),
    (f"{BASE}/", "/"),
    ("HTTP://127.0.0.1:8765/mirror/masto/x", "/x"),
    ("http://127.0.0.1:8765/mirror/mastodon/x", None),  # a sibling, not under it
    ("http://127.0.0.1:8765/mirror/x", None),
    ("http://127.0.0.1:8766/mirror/masto/x", None),  # another port
    ("https://127.0.0.1:8765/mirror/masto/x", None),  # another scheme
])
def test_base_path(url: str, path: str | None) -> None:
    assert base_path(url, BASE) == path


def test_base_path_of_a_base_without_prefix() -> None:
    assert base_path("http://h/a/b?q", "http://h") == "/a/b"
    assert base_path("http://h", "http://h/") == "/"


@pytest.mark.parametrize(("value", "kept"), [
    ("http://127.0.0.1:8765/mirror/masto/", BASE),
    (f"  {BASE}  ", BASE),
    ("https://example.social", "https://example.social"),
])
def test_check_base_url_keeps_the_prefix(value: str, kept: str) -> None:
    assert check_base_url(value) == kept


@pytest.mark.parametrize(("value", "says"), [
    ("https://example.org/mirror?token=1", "has a query or fragment"),
    ("https://example.org/mirror#top", "has a query or fragment"),
    ("https://example.org/mirror?", "has a query or fragment"),
    ("https://user:pw@example.org/mirror", "user name or password"),
    ("https://example.org/mirror/../admin", "'.' or '..' segment"),
    ("ftp://example.org/mirror", r"not an http\(s\) URL"),
])
def test_check_base_url_refuses(value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_base_url(value)


# --- the watchlist ------------------------------------------------------------------------


def _watchlist(base_url: str, account: str = "alice") -> str:
    return ('[groups.g]\n[[groups.g.targets]]\nplatform = "mastodon"\n'
            f'account = "{account}"\nbase_url = "{base_url}"\n')


def test_a_base_url_with_a_path_is_kept_at_watchlist_load() -> None:
    (target,) = parse_watchlist(_watchlist(BASE + "/")).targets
    assert target.base_url == BASE
    assert target.key == f"mastodon:account:alice@{BASE}"


@pytest.mark.parametrize("base_url", [f"{BASE}?x=1", f"{BASE}#top"])
def test_a_base_url_with_a_query_or_fragment_is_refused_at_watchlist_load(base_url: str) -> None:
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(_watchlist(base_url))
    message = str(caught.value)
    assert "groups.g.targets[0].base_url" in message
    assert "has a query or fragment" in message and "https://example.org/mirror" in message


def test_mirrors_under_two_prefixes_are_two_targets() -> None:
    one = target_key("mastodon", "account", "alice", "http://h/mirror/a")
    two = target_key("mastodon", "account", "alice", "http://h/mirror/b")
    assert one != two


# --- Mastodon under a prefix (the reported bug) -------------------------------------------


def test_a_mastodon_status_url_under_a_prefix_is_probed_under_it() -> None:
    url = f"{BASE}/@alice/117020586180926938"
    assert post_ref("mastodon", url, None) == (
        "117020586180926938", f"{BASE}/api/v1/statuses/117020586180926938")
    assert post_ref("mastodon", url, BASE) == (
        "117020586180926938", f"{BASE}/api/v1/statuses/117020586180926938")
    # A status of the real instance, read through a mirror: the mirror's prefix.
    assert post_ref("mastodon", "https://example.social/@alice/5", BASE)[1] == (
        f"{BASE}/api/v1/statuses/5")
    # Other spellings that end in the id still work (their prefix is unknown).
    assert post_ref("mastodon", "https://example.social/web/statuses/5", None)[1] == (
        "https://example.social/api/v1/statuses/5")


def _first_request(spider_cls: Any, item: WorkItem) -> Any:
    from spiders.base import Job

    spider = spider_cls(work=[])
    return list(spider.start_job(Job(item)))


def test_a_mastodon_probe_under_a_prefix_is_not_malformed() -> None:
    """Before the fix, ``_STATUS_PATH`` was matched against the whole URL path, so a
    probe URL under ``/mirror/masto`` ended MALFORMED without a request."""
    from scrapy import Request

    from spiders.mastodon.spider import MastodonSpider

    item = WorkItem(mode="probe", platform="mastodon", target_key="mastodon:alice",
                    url=f"{BASE}/api/v1/statuses/42", base_url=BASE, post_key="42", row_id=1)
    (out,) = _first_request(MastodonSpider, item)
    assert isinstance(out, Request), out
    assert out.url == f"{BASE}/api/v1/statuses/42"
    # Without base_url, the base is read from the URL, prefix kept.
    item.base_url = None
    (out,) = _first_request(MastodonSpider, item)
    assert isinstance(out, Request) and out.url == f"{BASE}/api/v1/statuses/42"


def test_a_mastodon_listing_under_a_prefix_asks_under_it() -> None:
    from scrapy import Request

    from spiders.mastodon.spider import MastodonSpider

    item = WorkItem(mode="listing", platform="mastodon", target_key="mastodon:alice",
                    url="alice", base_url=BASE + "/", row_id=1)
    (out,) = _first_request(MastodonSpider, item)
    assert isinstance(out, Request)
    assert out.url == f"{BASE}/api/v1/accounts/lookup?acct=alice"


def test_a_probe_url_that_is_not_a_status_is_still_malformed() -> None:
    from spiders.mastodon.spider import MastodonSpider

    item = WorkItem(mode="probe", platform="mastodon", target_key="mastodon:alice",
                    url=f"{BASE}/api/v1/statuses/x", base_url=BASE, post_key="x", row_id=1)
    (obs,) = _first_request(MastodonSpider, item)
    assert obs.outcome is Outcome.MALFORMED


def test_the_fetch_policy_lets_a_target_fetch_under_its_prefixed_base() -> None:
    """The policy trusts the base's host and port, prefix or not (a sandbox or mirror
    on 127.0.0.1 under a path), and still refuses the host's other ports."""
    from spiders.urlpolicy import PRIVATE_ADDRESS, FetchPolicy

    item = WorkItem(mode="listing", platform="mastodon", target_key="mastodon:alice",
                    url="alice", base_url=BASE, target_url=BASE, row_id=1)
    policy = FetchPolicy.for_item(item)
    assert policy.check(join_base(BASE, "api/v1/accounts/lookup?acct=alice")) is None
    assert policy.check(join_base(BASE, "@alice")) is None
    refused = policy.check("http://127.0.0.1:8766/mirror/masto/api/v1/statuses/1")
    assert refused is not None and refused.rule == PRIVATE_ADDRESS


# --- the sandbox under a prefix -------------------------------------------------------------


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (127.0.0.1)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def only_loadable_fakes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The sandbox with the fakes of Mastodon, RSS and the web page platform only: the
    sandbox's own behaviour is under test here, not the platforms being built."""
    found = {name: fake for name, fake in _loadable_fakes().items() if name in STABLE}
    assert set(found) == STABLE
    monkeypatch.setattr(fake_module, "_fakes", found)
    return found


def test_the_sandbox_serves_under_a_prefix(only_loadable_fakes: dict[str, Any]) -> None:
    with Sandbox(prefix=PREFIX + "/") as sb:
        assert sb.prefix == PREFIX and sb.base_url.endswith(PREFIX)
        root = sb.base_url[: -len(PREFIX)]
        truth = _get(f"{sb.base_url}/_sandbox/truth")
        assert truth[0] == 200
        urls = re.findall(r"https?://[^\s\"]+", sb.watchlist_toml())
        assert urls and all(u == sb.base_url or u.startswith(sb.base_url + "/") for u in urls)
        assert sb.outside == []
        # Outside the prefix: not found, and counted.
        assert _get(f"{sb.base_url}/api/v1/accounts/lookup?acct=nobody")[0] == 404
        status, _ = _get(f"{root}/api/v1/accounts/lookup?acct=alice")
        assert status == 404
        assert _get(f"{sb.base_url}/api/v1/accounts/lookup?acct=alice")[0] == 200
        assert _get(f"{root}/_sandbox/truth")[0] == 404
        assert _get(f"{root}/mirror/sandboxed/x")[0] == 404
        assert _get(f"{sb.base_url}/../../_sandbox/truth")[0] == 404
        assert _get(f"{root}/robots.txt")[0] == 200  # the host's, not the mount's
        assert sb.outside == ["/api/v1/accounts/lookup", "/_sandbox/truth",
                              "/mirror/sandboxed/x", f"{PREFIX}/../../_sandbox/truth"]


def test_the_sandbox_is_controlled_under_its_prefix(
        only_loadable_fakes: dict[str, Any]) -> None:
    with Sandbox(prefix=PREFIX) as sb:
        request = urllib.request.Request(f"{sb.base_url}/_sandbox/step?n=2", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert json.loads(response.read())["tick"] == 2
        status, body = _get(f"{sb.base_url}/_sandbox/watchlist.toml")
        assert status == 200 and f'base_url = "{sb.base_url}"' in body.decode()
        assert sb.tick == 2 and sb.outside == []


def test_every_url_the_fakes_render_is_under_the_prefix(
        only_loadable_fakes: dict[str, Any]) -> None:
    with Sandbox(prefix=PREFIX) as sb:
        for post in sb.truth()["posts"]:
            assert post["url"].startswith(sb.base_url + "/"), post
            assert "://" not in post["target"] or post["target"].startswith(
                sb.base_url + "/"), post


@pytest.mark.parametrize("prefix", ["/a/../b", "/a b", "/a?x", "/./a", "/a/%2e%2e"])
def test_a_bad_prefix_is_refused(prefix: str, only_loadable_fakes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="is not a path prefix"):
        Sandbox(prefix=prefix)


def test_without_a_prefix_the_sandbox_is_unchanged(only_loadable_fakes: dict[str, Any]) -> None:
    with Sandbox() as sb:
        assert sb.prefix == "" and sb.base_url.count("/") == 2
        assert _get(f"{sb.base_url}/_sandbox/truth")[0] == 200
        assert sb.outside == []


# --- (b) every platform, end to end, under a prefix ----------------------------------------

#: The platforms that exist today; the run must cover at least these.
EXISTING = {"mastodon", "rss", "rednote", "webpage"}

FAST = {
    "default_interval": "1s",
    "recheck_schedule": "1s,2s,4s",
    "download_timeout": "2s",
    "retry_times": 0,
    "autothrottle": False,
    "concurrent_requests_per_host": 16,
    "lease": "5s",
}


def _registered() -> list[str]:
    reg = registry()
    return sorted({*reg.platforms, *reg.broken})


def _loadable_fakes() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in _registered():
        fake = _fake_of(name)
        if not isinstance(fake, str) and fake is not None:
            found[name] = fake
    return found


def _fake_of(name: str) -> Any:
    """The platform's sandbox fake; None when it has none; a string saying why it
    cannot be loaded yet."""
    reg = registry()
    if name in reg.broken:
        return f"platform {name!r} does not load yet: {reg.broken[name]}"
    platform = reg.platforms[name]
    if not platform.fake:
        return None
    module, _, attr = platform.fake.rpartition(".")
    try:
        import_module(platform.spider.rpartition(".")[0])
        fake = getattr(import_module(module), attr)
    except Exception as exc:  # a package being built may raise anything
        return f"platform {name!r}: its spider or fake does not import yet ({exc!r})"
    if not isinstance(fake, fake_module.Fake) or fake.name != name:
        return f"platform {name!r}: {platform.fake} is not its sandbox Fake yet"
    return fake


def test_the_run_covers_the_existing_platforms() -> None:
    """Not vacuous: the platforms that exist today are among those the run below is
    parametrised over, and their fakes load (only a platform being built may skip)."""
    assert EXISTING <= set(_registered())
    assert EXISTING <= set(_loadable_fakes())


@pytest.fixture
def platform_fake(request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    name = request.param
    fake = _fake_of(name)
    if isinstance(fake, str) or fake is None:
        why = fake or f"platform {name!r} has no sandbox fake"
        if name in EXISTING:
            pytest.fail(why)  # these exist today: never skipped
        pytest.skip(why)
    monkeypatch.setattr(fake_module, "_fakes", {name: fake})
    yield name, fake


def _observations(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return conn.execute(
            "SELECT t.key, t.platform, o.mode, o.outcome, o.detail, o.url, o.post_id "
            "FROM observations o JOIN targets t ON t.id = o.target_id ORDER BY o.id").fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("platform_fake", _registered(), indirect=True)
def test_every_platform_works_under_a_path_prefix(platform_fake: tuple[str, Any],
                                                  db_url: str) -> None:
    from spiders.crawl import crawl, event_loop, install_reactor

    name, fake = platform_fake
    install_reactor()
    settings = Settings.load(FAST, environ={"TAKEDOWN_DATABASE_URL": db_url})
    clock = ManualClock()
    with Sandbox(scenario="demo", clock=clock, prefix=PREFIX) as sb:
        targets = parse_watchlist(sb.watchlist_toml(interval="1s")).targets
        if not targets:
            pytest.skip(f"platform {name!r}: its fake names no watch_targets")
        # What the fake needs a monitor to have (Reddit: its API client), under the prefix.
        settings = settings.replace(**sb.settings())
        assert {t.platform for t in targets} == {name}
        from monitor.worker import Worker

        with Database.open(settings) as db:
            worker = Worker(db, settings, partial(crawl, MONITOR_CLOCK=clock), clock=clock)
            try:
                worker.sync(targets)
                for _ in range(4):  # the listings, then the first re-checks of their posts
                    event_loop().run_until_complete(worker.cycle())
                    clock.advance(2)
                rows = _observations(db)
            finally:
                worker.close()
        served, outside = sb.served, list(sb.outside)
    assert outside == [], f"{name}: requests outside {PREFIX}: {outside[:5]}"
    assert served > 0
    keys = {t.key for t in targets}
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        first.setdefault((row["key"], row["mode"]), row)
    # Every target was checked (a listing target by a listing), posts were re-checked
    # by probes, and the first check of each target in each mode went through.
    assert {key for key, _ in first} == keys
    assert {(t.key, "listing") for t in targets if not t.single_post} <= set(first)
    assert any(mode == "probe" for _, mode in first), f"{name}: no probe ran"
    bad = {k: (r["outcome"], r["detail"], r["url"]) for k, r in first.items()
           if r["outcome"] != "ok"}
    assert bad == {}, f"{name} under a prefix: {bad}"
    # Every URL on the sandbox's host that an observation records is under the prefix
    # (nothing built from the host alone); values that are not URLs (an account,
    # ``r/sub``) and links to another host, never fetched (Bluesky's bsky.app
    # permalinks: ``outside`` above is empty), are left aside.
    host = urlsplit(sb.base_url).netloc
    recorded = [r["url"] for r in rows if r["url"] and "://" in r["url"]]
    urls = [u for u in recorded if urlsplit(u).netloc == host]
    assert urls or (recorded and outside == []), name  # the check has something to check
    assert all(u.startswith(sb.base_url + "/") for u in urls), urls
