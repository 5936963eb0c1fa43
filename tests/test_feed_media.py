"""Media in feed entries: enclosures, Atom enclosure links and Media RSS, as stable ids.

Removing one enclosure from an entry is an edit whose class is ``media_removed``;
a CDN re-signing a media URL is no edit at all. (End to end through the sandbox:
``tests/test_feed_media_e2e.py``.)
"""

from __future__ import annotations

import pytest

from monitor import diff
from spiders.rss.spider import MAX_MEDIA, MAX_MEDIA_URL, parse_feed, stable_media_id

FEED = "https://news.example.org/feed.xml"
MRSS = "http://search.yahoo.com/mrss/"


def rss(item_body: str) -> bytes:
    return (f'<rss version="2.0" xmlns:media="{MRSS}"><channel><title>News</title>'
            f"<item><guid>g1</guid><title>Headline</title><link>/2026/a</link>"
            f"<description>Text.</description>{item_body}</item></channel></rss>").encode()


def atom(entry_body: str) -> bytes:
    return ('<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xmlns:media="{MRSS}"><title>News</title>'
            "<entry><id>tag:1</id><title>Headline</title>"
            '<link rel="alternate" href="https://news.example.org/2026/a"/>'
            f'<content type="html">Text.</content>{entry_body}</entry></feed>').encode()


def media_of(body: bytes) -> list[str]:
    feed = parse_feed(body, FEED)
    assert feed.skipped == 0
    (entry,) = feed.entries
    return entry.media


def test_rss_enclosure_and_media_rss_in_order_without_duplicates() -> None:
    assert media_of(rss(
        '<enclosure url="https://cdn.example.org/a.mp3" length="1" type="audio/mpeg"/>'
        '<media:content url="https://cdn.example.org/b.jpg" medium="image"/>'
        '<media:group><media:content url="https://cdn.example.org/c.mp4"/>'
        '<media:thumbnail url="https://cdn.example.org/c.jpg"/></media:group>'
        '<media:content url="https://cdn.example.org/b.jpg"/>'
    )) == ["https://cdn.example.org/a.mp3", "https://cdn.example.org/b.jpg",
           "https://cdn.example.org/c.mp4", "https://cdn.example.org/c.jpg"]


def test_atom_enclosure_links_and_relative_urls() -> None:
    assert media_of(atom(
        '<link rel="enclosure" type="image/png" href="/media/1.png"/>'
        '<link rel="related" href="https://other.example.org/x"/>'
        '<media:thumbnail url="thumbs/1.jpg"/>'
    )) == ["https://news.example.org/media/1.png", "https://news.example.org/2026/thumbs/1.jpg"]


@pytest.mark.parametrize(("url", "stable"), [
    # signed or expiring: one object, a new query every render
    ("https://b.s3.amazonaws.com/k.jpg?X-Amz-Algorithm=AWS4&X-Amz-Signature=ab12",
     "https://b.s3.amazonaws.com/k.jpg"),
    ("https://d1.cloudfront.net/v.mp4?Expires=1790000000&Signature=xyz&Key-Pair-Id=K1",
     "https://d1.cloudfront.net/v.mp4"),
    ("https://media.example.org/m/1.png?exp=1790000000&sig=0f0f", "https://media.example.org/m/1.png"),
    ("https://acct.blob.core.windows.net/c/f.png?sv=2024&se=2026&sp=r&sig=abc",
     "https://acct.blob.core.windows.net/c/f.png"),
    # a query that names a rendition stays; case of scheme and host folds; no fragment
    ("HTTPS://CDN.Example.org/Img.JPG?w=800#top", "https://cdn.example.org/Img.JPG?w=800"),
    # not a fetchable URL: absent
    ("javascript:alert(1)", None), ("data:image/png;base64,AAAA", None), ("mailto:a@b", None),
    ("http://[::1", None), ("https://", None),
])
def test_stable_media_id(url: str, stable: str | None) -> None:
    assert stable_media_id(url) == stable


def test_a_re_signed_url_is_the_same_medium_and_no_edit() -> None:
    before = parse_feed(rss('<media:content url="https://m.example.org/1.png?exp=1&amp;sig=a"/>'),
                        FEED).entries[0]
    after = parse_feed(rss('<media:content url="https://m.example.org/1.png?exp=2&amp;sig=b"/>'),
                       FEED).entries[0]
    assert diff.normalise(before, "rss").content_hash == diff.normalise(after, "rss").content_hash


def test_removing_one_enclosure_is_a_media_removed_edit() -> None:
    two = ('<enclosure url="https://m.example.org/1.png"/>'
           '<media:content url="https://m.example.org/2.png"/>')
    old = diff.normalise(parse_feed(rss(two), FEED).entries[0], "rss")
    new = diff.normalise(parse_feed(rss('<enclosure url="https://m.example.org/1.png"/>'),
                                    FEED).entries[0], "rss")
    assert old.content_hash != new.content_hash
    edit = diff.compare(old, new)
    assert edit.classes == ("media_removed",)
    assert edit.removed_media == ("https://m.example.org/2.png",)
    assert "media removed: https://m.example.org/2.png" in edit.render()


@pytest.mark.parametrize("odd", [
    "<enclosure/>", '<enclosure url=""/>', '<enclosure url="   "/>',
    f'<enclosure url="https://m.example.org/{"x" * MAX_MEDIA_URL}"/>',
    '<media:content url="javascript:alert(1)"/>', '<media:content url="http://[::1/x"/>',
    '<media:group><media:group><media:content url="https://m.example.org/deep.png"/>'
    "</media:group></media:group>",  # only one level of group is read
    "<media:content>https://m.example.org/text-not-attribute.png</media:content>",
])
def test_odd_media_elements_are_absent_and_the_entry_is_kept(odd: str) -> None:
    assert media_of(rss(odd + '<enclosure url="https://m.example.org/ok.png"/>')) == [
        "https://m.example.org/ok.png"]


def test_media_per_entry_are_capped_and_the_rest_never_read() -> None:
    many = "".join(f'<enclosure url="https://m.example.org/{i}.png"/>' for i in range(100_000))
    body = rss(many)
    media = media_of(body)
    assert media == [f"https://m.example.org/{i}.png" for i in range(MAX_MEDIA)]
    # What it costs per megabyte is bench.parsers' business, not a unit test's.


def test_a_cap_counts_elements_not_ids() -> None:
    # Thousands of unusable or repeated elements cannot make the walk read on forever.
    junk = '<enclosure url=""/>' * (MAX_MEDIA + 5)
    assert media_of(rss(junk + '<enclosure url="https://m.example.org/late.png"/>')) == []
