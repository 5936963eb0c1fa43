"""spiders.links: the links libxml2 would report, without building the tree.

The reference is libxml2's answer, :func:`spiders.responses.html_links` as
``links.tree_links`` (so the comparison stays true once the spiders use the fast
one); every test compares the two on the same input: fixtures, the fuzz corpus,
generated tag soup and a table."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import fuzz
from bench.hostile import LINK_FRAGMENTS
from spiders import links, responses

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BASES = (None, "https://ex.org/a/")


def same(html: str) -> list[str]:
    """The fragments (with their base) on which the two disagree."""
    return [f"{html[:200]!r} base={base}" for base in BASES
            if links.html_links(html, base) != links.tree_links(html, base)]


@pytest.mark.parametrize(("html", "expected", "plain"), [
    ('<p>x <a href="/a">a</a> <A HREF=\'/b\'>b</A> <a href=/c/>c</a></p>', ["/a", "/b", "/c/"],
     True),
    ('<a title=t href="/d" HREF="/e">first href wins</a>', ["/d"], True),
    ('<a href="/p?a=1&amp;b=2&#47;&#x2F;&quot;">', ['/p?a=1&b=2//"'], True),
    ('<a href="a\r\nb\rc">', ["a\nb\nc"], True),  # HTML's newline normalisation
    ('<a\thref = " /ws " >', ["/ws"], True),
    ('<a href>none</a><a>none</a><a href="">x</a><a href="#f"><a href="javascript:x">', [],
     True),
    ('<img src=x alt="a>b"><a href="/话题">', ["/话题"], True),
    # libxml2 reads these: the answer is its own.
    ('<!-- <a href="/hidden"> --><a href="/shown">', ["/shown"], False),
    ('<script><a href="/in-script"></script><a href="/out">', ["/out"], False),
    ('<textarea><a href="/rc"></textarea>', [], False),
    ('<a href="&copy;&amp">', ["©&"], True),  # plain, but libxml2 decodes this href
    ("x < y <a href='/lt'>", ["/lt"], False),
    ('<a href="/nul\x00">', ["/nul\ufffd"], False),
])
def test_table(html: str, expected: list[str], plain: bool) -> None:
    assert links.html_links(html) == expected
    assert links.is_plain(html) is plain
    assert same(html) == []


def test_every_fixture_whole() -> None:
    paths = sorted(p for p in FIXTURES.rglob("*") if p.is_file())
    assert len(paths) > 20
    bad = [d for p in paths for d in same(p.read_text("utf-8", errors="replace"))]
    assert bad == []


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The spiders' html_links, answering from libxml2 and checking spiders.links."""
    import spiders.mastodon.spider as mastodon
    import spiders.rss.spider as rss

    seen: dict[str, Any] = {"calls": 0, "plain": 0, "bad": []}

    def check(html: str, base: str | None = None) -> list[str]:
        want = links.tree_links(html, base)
        seen["calls"] += 1
        seen["plain"] += links.is_plain(html[:responses.MAX_LINK_HTML])
        if links.html_links(html, base) != want:
            seen["bad"].append((html[:200], base))
        return want

    monkeypatch.setattr(rss, "html_links", check)
    monkeypatch.setattr(mastodon, "html_links", check)
    yield seen


def test_every_entry_of_every_fixture(compared: dict[str, Any]) -> None:
    """Each fuzz seed (the platforms' fixtures) through its spider, unmutated."""
    tally = fuzz.Tally()
    for seed in fuzz.SEEDS:
        body = fuzz.sr.fixture(seed.name)
        fuzz.run_case(fuzz.World(None), fuzz.Case(seed, "document:none", body, seed.headers),
                      tally)
    assert compared["calls"] > 10 and compared["plain"] > 10
    assert compared["bad"] == []


def test_the_fuzz_corpus(compared: dict[str, Any]) -> None:
    tally = fuzz.fuzz(fuzz.World(None), seed=4, n=900)
    assert tally.cases == 900
    assert compared["calls"] > 500 and compared["plain"] > 100, compared["calls"]
    assert compared["bad"] == []


PLAIN = ['<a href="/x">', "<a href='/y'>", "<a href=/z/>", '<A HREF="/u">', "<a>", "<a href>",
         '<a title=t href="/d" href="/e">', "</a>", "<b>", "</b>", '<p class="c">', "<br/>",
         "<br />", '<img src=x alt="a>b">', "text ", " ", "\n", "\r\n", "\r", "\t", "&amp;",
         "&", ">", '"', "'", "=", '<a href="/p?a=1&amp;b=2">', '<a href="&#47;n">',
         '<a href="a\r\nb">', '<a\nhref="/nl">', '<a href = "/sp" >', '<a href=" /ws ">',
         "\u00a0", "话题", '<a href="/话题">', "<a href=x\u00a0y>", '<a href="">',
         "<a href='a\"b'>", "<a href=\"a'b\">", '<a HREF=/v Href=/w>', '<div data-x="1">',
         "</div >", '<a href="http://[x">', '<a href="&quot;q&apos;">', '<a href="/self"/>']
ODD = ["<!-- c -->", "<script>", "</script>", "<style>", "<title>", "<textarea>", "<", "\x00",
       "\x0c", '<a href="&copy;">', '<a href="&amp">', "<a.b>", "<1>", "</ a>", "</a x>",
       "<a/>", '<a/href="/s">', '<a href="/u"title=x>', "<svg>", '<a xlink:href="/xl">',
       "<meta charset=latin1>", "<a href=`x`>", "<a href=x=y>", "<!DOCTYPE html>", "<?pi?>",
       "<![CDATA[x]]>", "&#0;", '<a href="&#128;">', "\ud800"]


@pytest.mark.parametrize(("pieces", "plain_share"), [(PLAIN, 0.99), (PLAIN + ODD, 0.05)],
                         ids=["plain", "with-odd"])
def test_generated_tag_soup(pieces: list[str], plain_share: float) -> None:
    rng = random.Random(7)
    soups = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
             for _ in range(3000)]
    assert sum(map(links.is_plain, soups)) >= plain_share * len(soups)
    assert [d for soup in soups for d in same(soup)] == []




@pytest.mark.parametrize("html", LINK_FRAGMENTS.values(), ids=LINK_FRAGMENTS.keys())
def test_hostile_fragments_give_libxml2s_links(html: str) -> None:
    # Their speed is measured by ``python -m bench.hostile``.
    assert links.html_links(html, "https://ex.org/") == links.tree_links(html, "https://ex.org/")
