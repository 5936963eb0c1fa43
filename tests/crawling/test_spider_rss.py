"""RSS/Atom: feed parsing (pure) and the spider's outcomes (in-memory responses)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crawl_helpers import fixture, make_spider, routes

from monitor.errors import ParseError
from monitor.observation import Outcome, WorkItem, body_hash
from spiders import RssSpider, parse_feed

FEED = "https://news.example.org/feed.xml"


def listing(url: str = FEED) -> WorkItem:
    return WorkItem(mode="listing", platform="rss", target_key="feed:news", url=url, row_id=7)


def probe(url: str = "https://news.example.org/2026/08/01/headline") -> WorkItem:
    return WorkItem(mode="probe", platform="rss", target_key="feed:news", url=url,
                    post_key="tag:1", row_id=99)


# --- parsing -------------------------------------------------------------------


def test_rss2_entries_keys_dates_links():
    feed = parse_feed(fixture("rss/rss2.xml"), FEED)
    assert feed.kind == "rss"
    first, second, third = feed.entries
    # guid, then link, then a hash of title+date
    assert first.key == "https://news.example.org/2026/08/01/headline"
    assert second.key == "https://news.example.org/2026/07/31/second"
    assert third.key.startswith("sha256:") and third.url is None
    assert first.published_at == datetime(2026, 8, 1, 9, 0, tzinfo=UTC)
    assert second.published_at == datetime(2026, 7, 31, 16, 30, tzinfo=UTC)
    assert first.updated_at is None
    assert first.author == "Jane Reporter"
    assert "<a href=" in first.text  # HTML kept as served
    assert first.links == ["https://source.example.net/doc",
                           "https://news.example.org/2026/07/31/background"]
    # content:encoded wins over the short description
    assert "Full text" in second.text
    assert second.links == ["https://other.example.com/x"]
    assert feed.tombstones == []


def test_rss_hash_key_is_stable():
    a = parse_feed(fixture("rss/rss2.xml"), FEED).entries[2].key
    b = parse_feed(fixture("rss/rss2.xml"), FEED).entries[2].key
    assert a == b


def test_atom_entries_and_tombstones():
    feed = parse_feed(fixture("rss/atom_tombstones.xml"), "https://news.example.org/feed.atom")
    assert feed.kind == "atom"
    keys = [e.key for e in feed.entries]
    assert keys == ["tag:news.example.org,2026:article-12346",
                    "tag:news.example.org,2026:article-12344",
                    "tag:news.example.org,2026:brief-7"]  # newest first, as served
    follow, headline, brief = feed.entries
    assert follow.url == "https://news.example.org/2026/08/02/follow-up"  # alternate, not edit
    assert follow.published_at == datetime(2026, 8, 2, 7, 0, tzinfo=UTC)
    assert follow.updated_at == datetime(2026, 8, 2, 7, 45, tzinfo=UTC)
    assert follow.author == "Sam Writer"
    assert follow.title == "Follow-up <em>headline</em>"
    assert follow.links == ["https://court.example.gov/ruling.pdf"]
    assert headline.url == "https://news.example.org/2026/08/01/headline"  # link without rel
    assert headline.author == "Example Newsroom"  # feed-level author
    assert '<a href="https://source.example.net/doc">' in headline.text  # xhtml serialised
    assert headline.links == ["https://source.example.net/doc"]
    assert brief.url == "https://news.example.org/briefs/7"  # relative link resolved
    assert brief.text == "Only a summary."
    assert brief.published_at is None
    assert feed.tombstones == [
        ("tag:news.example.org,2026:article-12345",
         {"tombstone_by": "Editor", "tombstone_when": "2026-08-02T08:00:00Z",
          "tombstone_comment": "Removed at the request of the subject."},
         "Removed at the request of the subject."),
        ("tag:news.example.org,2026:article-12300",
         {"tombstone_when": "2026-08-01T20:15:00+02:00"}, None),
    ]


def test_rss1_rdf():
    feed = parse_feed(fixture("rss/rss1.rdf"))
    assert feed.kind == "rdf"
    (entry,) = feed.entries
    assert entry.key == "https://blog.example.org/posts/1"
    assert entry.published_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("rss/malformed.xml", "not well-formed XML"),
        ("rss/not_a_feed.html", "not"),
        ("rss/invalid_utf8.xml", "not well-formed XML"),
    ],
)
def test_parse_errors(name, message):
    with pytest.raises(ParseError, match=message):
        parse_feed(fixture(name))


def test_entities_are_not_expanded():
    body = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<rss version="2.0"><channel><item><title>&x;</title><guid>g</guid></item>'
            b'</channel></rss>')
    entries = parse_feed(body).entries
    assert "root:" not in (entries[0].title or "")


# --- spider outcomes -------------------------------------------------------------

XML = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


def test_listing_ok_copies_work_identity(driver_for):
    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: (200, "rss/rss2.xml", XML)}))
    assert obs.outcome is Outcome.OK
    assert (obs.mode, obs.platform, obs.target_key, obs.row_id, obs.url) == (
        "listing", "rss", "feed:news", 7, FEED)
    assert obs.http_status == 200
    assert obs.body_hash == body_hash(fixture("rss/rss2.xml"))
    assert [e.key for e in obs.entries or []][:2] == [
        "https://news.example.org/2026/08/01/headline",
        "https://news.example.org/2026/07/31/second"]
    assert obs.entries and obs.entries[0].probe_url is None
    assert obs.elapsed_ms is not None


def test_listing_with_tombstones(driver_for):
    (obs,) = driver_for(RssSpider).run(
        listing(), routes({FEED: (200, "rss/atom_tombstones.xml",
                                  {"Content-Type": "application/atom+xml"})}))
    assert obs.outcome is Outcome.OK
    assert obs.tombstones[0][0] == "tag:news.example.org,2026:article-12345"
    assert obs.tombstones[0][1]["tombstone_by"] == "Editor"
    # What the tombstone says is recorded as signals: the words decide the cause.
    assert obs.tombstones[0][1]["tombstone_comment"] == "Removed at the request of the subject."
    assert "tombstone_comment" not in obs.tombstones[1][1]  # no at:comment, no signal


def test_tombstone_signer_and_comment_as_person_construct_and_text() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"
        xmlns:at="http://purl.org/atompub/tombstones/1.0"><title>t</title>
      <at:deleted-entry ref="tag:x,2026:1" when="2026-08-02T08:00:00Z">
        <at:by><name>  Trust &amp; Safety  </name><email>ts@example.org</email></at:by>
        <at:comment>  Removed following a
           legal complaint.  </at:comment>
      </at:deleted-entry>
      <at:deleted-entry ref="tag:x,2026:2"><at:by>Moderator Jane</at:by>
        <at:comment>   </at:comment></at:deleted-entry>
    </feed>"""
    feed = parse_feed(body, FEED)
    (ref1, sig1, comment1), (ref2, sig2, comment2) = feed.tombstones
    assert (ref1, sig1["tombstone_by"]) == ("tag:x,2026:1", "Trust & Safety")
    assert sig1["tombstone_comment"] == comment1
    assert comment1 is not None and comment1.startswith("Removed following a")
    assert (ref2, sig2["tombstone_by"], comment2) == ("tag:x,2026:2", "Moderator Jane", None)
    assert "tombstone_comment" not in sig2  # a blank comment says nothing


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome"),
    [
        (404, "rss/not_a_feed.html", HTML, Outcome.NOT_FOUND),
        (410, "gone", {}, Outcome.GONE),
        (451, "rss/legal_451.html", HTML, Outcome.LEGAL),
        (403, "no", {}, Outcome.FORBIDDEN),
        (403, "rss/challenge_403.html", HTML, Outcome.ANTI_BOT),
        (503, "rss/challenge_403.html", {**HTML, "cf-mitigated": "challenge"}, Outcome.ANTI_BOT),
        (500, "oops", {}, Outcome.SERVER_ERROR),
        (429, "slow", {"Retry-After": "600"}, Outcome.RATE_LIMITED),
        (200, "rss/malformed.xml", XML, Outcome.MALFORMED),
        (200, "rss/not_a_feed.html", HTML, Outcome.MALFORMED),
        (200, "rss/invalid_utf8.xml", XML, Outcome.MALFORMED),
        (200, "", XML, Outcome.MALFORMED),
    ],
)
def test_listing_outcomes(driver_for, status, body, headers, outcome):
    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: (status, body, headers)}))
    assert obs.outcome is outcome
    assert obs.http_status == status
    assert obs.entries is None
    if outcome is Outcome.MALFORMED:
        assert obs.detail
    if outcome is Outcome.RATE_LIMITED:
        assert obs.signals["retry_after"] == 600


def test_legal_message_is_the_page_title(driver_for):
    (obs,) = driver_for(RssSpider).run(probe(), routes({"headline": (451, "rss/legal_451.html",
                                                                     HTML)}))
    assert obs.outcome is Outcome.LEGAL
    assert obs.message == "Unavailable For Legal Reasons"


@pytest.mark.parametrize(
    ("status", "body", "headers", "outcome"),
    [
        (200, "<html><title>Headline</title></html>", HTML, Outcome.OK),
        (404, "<html><title>Page not found</title></html>", HTML, Outcome.NOT_FOUND),
        (410, "", {}, Outcome.GONE),
        (451, "rss/legal_451.html", HTML, Outcome.LEGAL),
        (403, "<html><title>Forbidden</title></html>", HTML, Outcome.FORBIDDEN),
        (403, "rss/challenge_403.html", HTML, Outcome.ANTI_BOT),
        (502, "", {}, Outcome.SERVER_ERROR),
        (400, "", {}, Outcome.MALFORMED),
    ],
)
def test_probe_outcomes(driver_for, status, body, headers, outcome):
    (obs,) = driver_for(RssSpider).run(probe(), routes({"headline": (status, body, headers)}))
    assert obs.outcome is outcome
    assert obs.post is None  # reachability only
    assert (obs.mode, obs.post_key, obs.row_id) == ("probe", "tag:1", 99)


def test_probe_of_invalid_utf8_page_does_not_crash(driver_for):
    (obs,) = driver_for(RssSpider).run(probe(), routes({"headline": (
        404, b"<html><title>Nicht gefunden \xff\xfe</title></html>", HTML)}))
    assert obs.outcome is Outcome.NOT_FOUND
    assert obs.message and "Nicht gefunden" in obs.message


def test_post_target_listing_is_a_probe(driver_for):
    item = listing("https://news.example.org/2026/08/01/headline")
    item.known["kind"] = "post"
    (obs,) = driver_for(RssSpider).run(item, routes({"headline": (200, "<html/>", HTML)}))
    assert obs.outcome is Outcome.OK and obs.entries is None


def test_download_failure_becomes_an_observation(driver_for):
    from scrapy.exceptions import DownloadTimeoutError

    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: DownloadTimeoutError("slow")}))
    assert obs.outcome is Outcome.TIMEOUT
    assert obs.http_status is None and obs.detail and "slow" in obs.detail
    assert obs.final_url == FEED


def test_idle_spider_answers_orphaned_work():
    """A request Scrapy drops without calling back still ends in an observation."""
    import asyncio
    from types import SimpleNamespace
    from typing import Any

    from scrapy.exceptions import DontCloseSpider

    from spiders import event_loop
    from spiders.base import Job

    spider = make_spider(RssSpider)
    piped: list[Any] = []

    async def start_itemproc_async(item: Any, *, response: Any) -> None:
        piped.append(item)

    # No request (and so no download handler): straight to the item pipelines.
    scraper = SimpleNamespace(start_itemproc_async=start_itemproc_async)
    spider.crawler = SimpleNamespace(engine=SimpleNamespace(scraper=scraper),
                                     settings=spider.crawler.settings)
    job = Job(listing())
    spider._open.add(job)

    async def idle() -> None:
        with pytest.raises(DontCloseSpider):
            spider._on_idle()
        await asyncio.sleep(0)

    event_loop().run_until_complete(idle())
    (obs,) = piped
    assert obs.outcome is Outcome.CONNECTION_ERROR and obs.target_key == "feed:news"
    spider._on_idle()  # nothing left: the spider may close


# --- hostile entries: one bad entry never blinds the feed ----------------------------


def _rss_with_bad_description() -> bytes:
    body = fixture("rss/rss2.xml")
    # One description with a link that is not a URL (urljoin raises on it).
    return body.replace(b'href="https://source.example.net/doc"', b'href="http://[x"')


def test_unparseable_link_in_one_description_keeps_the_feed(driver_for):
    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: (
        200, _rss_with_bad_description(), XML)}))
    assert obs.outcome is Outcome.OK
    assert len(obs.entries or []) == 3
    assert "skipped_entries" not in obs.signals
    # A link that is not a URL is kept as served (a later fix shows as a link edit).
    assert (obs.entries or [])[0].links == [
        "http://[x", "https://news.example.org/2026/07/31/background"]


def test_unparseable_item_and_atom_links_are_absent():
    body = fixture("rss/rss2.xml").replace(
        b"<link>https://news.example.org/2026/07/31/second</link>", b"<link>http://[x</link>")
    second = parse_feed(body, FEED).entries[1]
    assert second.url is None and second.key.startswith("sha256:")
    atom = fixture("rss/atom_tombstones.xml").replace(
        b'href="/briefs/7"', b'href="http://[x/briefs/7"')
    brief = parse_feed(atom, "https://news.example.org/feed.atom").entries[2]
    assert brief.key == "tag:news.example.org,2026:brief-7" and brief.url is None


@pytest.mark.parametrize("name", ["rss/rss2.xml", "rss/atom_tombstones.xml", "rss/rss1.rdf"])
def test_an_entry_that_fails_for_any_reason_is_skipped_with_its_key(
        driver_for, monkeypatch, name):
    import spiders.rss.spider as rss

    clean = parse_feed(fixture(name), FEED).entries
    calls = {"n": 0}
    real = rss.html_links

    def links(html: str, base: str | None = None) -> list[str]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a parser bug")
        return real(html, base)

    monkeypatch.setattr(rss, "html_links", links)
    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: (200, name, XML)}))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == [e.key for e in clean[1:]]
    assert obs.signals["skipped_entries"] == 1
    assert obs.signals["skipped_keys"] == [clean[0].key]


# --- long feeds: at most MAX_ENTRIES entries are parsed -------------------------------

_LONG_FEEDS = {
    "rss": (b'<rss version="2.0"><channel><title>t</title>', b"</channel></rss>",
            b"<item><guid>g%d</guid><title>T</title></item>"),
    "atom": (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>', b"</feed>",
             b"<entry><id>g%d</id><title>T</title></entry>"),
    "rdf": (b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            b'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>t</title>'
            b"</channel>", b"</rdf:RDF>", b'<item rdf:about="g%d"><title>T</title></item>'),
}


@pytest.mark.parametrize("kind", _LONG_FEEDS)
def test_entries_past_the_cap_are_counted_as_skipped_without_keys(driver_for, kind):
    from spiders.responses import MAX_ENTRIES

    assert MAX_ENTRIES == 500
    head, tail, entry = _LONG_FEEDS[kind]
    body = head + b"".join(entry % i for i in range(600)) + tail
    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: (200, body, XML)}))
    assert obs.outcome is Outcome.OK
    assert [e.key for e in obs.entries or []] == [f"g{i}" for i in range(500)]
    # No keys: by the lifecycle's rule this feed then vouches for no absence.
    assert obs.signals == {"skipped_entries": 100, "skipped_keys": []}


def test_entries_past_the_cap_are_never_parsed(monkeypatch):
    import spiders.rss.spider as rss

    parsed: list[str] = []
    real = rss._rss_item

    def item(el, ns, base_url):
        parsed.append(el.findtext("guid"))
        return real(el, ns, base_url)

    monkeypatch.setattr(rss, "_rss_item", item)
    head, tail, entry = _LONG_FEEDS["rss"]
    feed = parse_feed(head + b"".join(entry % i for i in range(2_000)) + tail, FEED)
    assert parsed == [f"g{i}" for i in range(500)]
    assert (len(feed.entries), feed.skipped) == (500, 1_500)


def test_a_bad_entry_under_the_cap_keeps_its_key_beside_the_overflow(driver_for, monkeypatch):
    import spiders.rss.spider as rss

    real = rss._rss_item

    def item(el, ns, base_url):
        if el.findtext("guid") == "g3":
            raise RuntimeError("a parser bug")
        return real(el, ns, base_url)

    monkeypatch.setattr(rss, "_rss_item", item)
    head, tail, entry = _LONG_FEEDS["rss"]
    body = head + b"".join(entry % i for i in range(600)) + tail
    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: (200, body, XML)}))
    assert len(obs.entries or []) == 499
    assert obs.signals == {"skipped_entries": 101, "skipped_keys": ["g3"]}


# --- media and the article page (issue 8, items 5 and 6) ------------------------------

ARTICLE = "https://news.example.org/2026/08/01/headline"
ARTICLE_PAGE = ("<html><head><title>Headline</title></head><body><nav>Home World</nav>"
                "<article><p class='body'>The council shelved the harbour plan, citing costs, "
                "delays and objections.</p><p class='body'>Read the "
                "<a href='https://source.example.net/doc'>report</a>, officials said.</p>"
                "</article><footer>Contact, privacy, terms</footer></body></html>")


def post_target_probe(**known: object) -> WorkItem:
    """A watchlist ``post`` target's probe: its URL is the target's own."""
    item = probe(ARTICLE)
    item.target_url = ARTICLE
    item.known.update(known)
    return item


def test_listing_entries_carry_their_media(driver_for):
    body = (b'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            b"<title>t</title><item><guid>g1</guid><link>/a</link>"
            b'<enclosure url="/m/1.png?sig=x&amp;exp=1"/>'
            b'<media:content url="https://cdn.example.org/2.mp4"/></item></channel></rss>')
    (obs,) = driver_for(RssSpider).run(listing(), routes({FEED: (200, body, XML)}))
    assert obs.outcome is Outcome.OK
    assert obs.entries[0].media == ["https://news.example.org/m/1.png",
                                    "https://cdn.example.org/2.mp4"]


def test_a_post_targets_probe_reads_its_article_as_the_post(driver_for):
    (obs,) = driver_for(RssSpider).run(post_target_probe(),
                                       routes({"headline": (200, ARTICLE_PAGE, HTML)}))
    assert obs.outcome is Outcome.OK and obs.post is not None
    assert obs.post.key == "tag:1" and obs.post.title == "Headline"
    assert "shelved the harbour plan" in obs.post.text and "privacy" not in obs.post.text
    assert obs.post.links == ["https://source.example.net/doc"]
    assert obs.post.extra == {"content_source": "article", "article_method": "readability"}


def test_the_article_selector_names_the_part_read(driver_for):
    (obs,) = driver_for(RssSpider).run(post_target_probe(article_selector="p.body"),
                                       routes({"headline": (200, ARTICLE_PAGE, HTML)}))
    assert obs.post is not None and obs.post.extra["article_method"] == "selector"
    assert obs.post.text.count("<p") == 2 and "Home World" not in obs.post.text


@pytest.mark.parametrize(("body", "headers", "selector", "detail"), [
    (ARTICLE_PAGE, HTML, "#gone", "matches no text"),
    ("<html><body><img src=x></body></html>", HTML, None, "no main text"),
    ("", HTML, None, "empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), {"Content-Type": "image/png"}, None, "not text"),
])
def test_a_served_page_without_text_is_visible_with_no_content_never_absent(
        driver_for, body, headers, selector, detail):
    known = {"article_selector": selector} if selector else {}
    (obs,) = driver_for(RssSpider).run(post_target_probe(**known),
                                       routes({"headline": (200, body, headers)}))
    assert obs.outcome is Outcome.OK  # served: the post is there, not suspect
    assert obs.post is None and detail in (obs.detail or "")


@pytest.mark.parametrize(("status", "outcome"), [(404, Outcome.NOT_FOUND), (410, Outcome.GONE),
                                                 (451, Outcome.LEGAL)])
def test_a_post_targets_absent_article_is_as_before(driver_for, status, outcome):
    (obs,) = driver_for(RssSpider).run(post_target_probe(),
                                       routes({"headline": (status, ARTICLE_PAGE, HTML)}))
    assert obs.outcome is outcome and obs.post is None


def test_a_feed_entrys_probe_reads_its_article_only_with_feed_articles_on(driver_for,
                                                                          monkeypatch):
    import spiders.rss.article as articles

    answer = routes({"headline": (200, ARTICLE_PAGE, HTML)})
    monkeypatch.setattr(articles, "FEED_ARTICLES", False)
    entry_probe = probe(ARTICLE)
    entry_probe.target_url = FEED
    (off,) = driver_for(RssSpider).run(entry_probe, answer)
    assert off.outcome is Outcome.OK and off.post is None
    monkeypatch.setattr(articles, "FEED_ARTICLES", True)
    entry_probe = probe(ARTICLE)
    entry_probe.target_url = FEED
    (on,) = driver_for(RssSpider).run(entry_probe, answer)
    assert on.post is not None and on.post.extra["content_source"] == "article"
