"""The one HTML-to-text walk (monitor/text.py) and its four readers.

``tests/golden/html_text.json`` was written by the four copies this module
replaced (the diff's extractor, ``page_message``, ``visible_text`` and RedNote's
``page_texts``), over every fixture: the content hash of every post the spiders
parse from them, and the words read from every HTML page. A change in either is
a false "edited" event for every tracked post, or a notice no longer recognised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from bench import fuzz
from monitor import diff
from monitor.observation import PostContent
from monitor.text import html_text, html_texts
from spiders.rednote.spider import page_texts
from spiders.responses import page_message, visible_text

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "html_text.json").read_text("utf-8"))


def _outputs() -> dict[str, object]:
    out: dict[str, object] = {}
    world = fuzz.World(None)
    for seed in fuzz.SEEDS:
        observed = world.observe(seed, fuzz.sr.fixture(seed.name), seed.headers)
        posts = [p for obs in observed
                 for p in ([obs.post] if obs.post else []) + list(obs.entries or [])]
        for i, post in enumerate(posts):
            normalised = diff.normalise(post, seed.platform)
            out[f"hash {seed.name}#{i}:{post.key}"] = normalised.content_hash
    pages = {str(p.relative_to(FIXTURES)): p.read_bytes()
             for p in sorted(FIXTURES.glob("*/*.html"))}
    pages.update({f"snippet{i}": s.encode() for i, s in enumerate(GOLDEN["snippets"])})
    for name, body in pages.items():
        out[f"page_texts {name}"] = page_texts(body.decode("utf-8", errors="replace"))
        response = HtmlResponse("https://x.test/", body=body, encoding="utf-8")
        out[f"page_message {name}"] = page_message(response)
    for i, s in enumerate(GOLDEN["snippets"]):
        post = PostContent(key="k", url="u", title=s, text=s)
        out[f"hash snippet{i}"] = diff.normalise(post, "mastodon").content_hash
    return out


def test_hashes_and_page_words_of_every_fixture_are_unchanged() -> None:
    out = _outputs()
    assert sum(k.startswith("hash ") for k in out) >= 20  # the fixtures were read
    assert out == GOLDEN["golden"]


@pytest.mark.parametrize(("raw", "kwargs", "text"), [
    ("<p>a</p><p>b<br>c</p>", {}, "\n\na\n\n\n\nb\nc\n\n"),
    ("<title>T</title><p>x</p>", {"part": "title", "layout": False}, "T"),
    ("<head><title>T</title><meta>h</head><body><p>x</p></body>", {"part": "body",
                                                                    "layout": False}, "x"),
    ("<p>a <script>s()</script><noscript>n</noscript>b</p>", {"layout": False}, "a b"),
    ("<p>a<noscript>n</noscript></p>", {"layout": False, "skip": frozenset({"script"})}, "a n"),
    ("a &amp; b &lt;c&gt; &#x4e2d;", {}, "a & b <c> 中"),
    ("<div><p>un<b>closed", {"layout": False}, "un closed"),
    ("</p></div>stray</b>", {}, "\n\n\n\nstray"),
    ("", {}, ""),
])
def test_html_text(raw: str, kwargs: dict[str, object], text: str) -> None:
    assert html_text(raw, **kwargs) == text  # type: ignore[arg-type]


def test_html_texts_are_squashed_nodes_of_the_parts_asked_for() -> None:
    page = "<html><head><title> a\n b </title></head><body><p>c \t d</p> <p> </p>e</body></html>"
    assert html_texts(page) == ["a b", "c d", "e"]
    assert html_texts(page, part="body") == ["c d", "e"]
    assert html_texts(page, part="title") == ["a b"]


def test_a_page_message_is_its_title_else_its_visible_body_cut_short() -> None:
    def message(body: str) -> str | None:
        return page_message(HtmlResponse("https://x.test/", body=body.encode(), encoding="utf-8"))

    assert message("<title> Gone </title><p>body</p>") == "Gone"
    assert message("<p>body <script>x()</script>text</p>") == "body text"
    assert message("<p>" + "w " * 500 + "</p>") == "w " * 100  # cut after squashing, as before
    assert message("  ") is None
    assert visible_text("<title>t</title><style>s</style><p>v</p>") == "t v"


@pytest.mark.parametrize(("raw", "text"), [
    # Past 32 unclosed "<" after the last ">", they are escaped: the same words.
    ("<p>x</p>" + "<a &amp; " * 40, "\n\nx\n\n" + "<a & " * 40),
    ("a<p>x</p>" + "</b &lt;" * 50, "a\n\nx\n\n" + "</b <" * 50),
    ("<p>x</p>" + "<b c<d e<!-- " * 40, "\n\nx\n\n" + "<b c<d e<!-- " * 40),
    ("x &amp" + "<br" * 40 + "&amp", "x &" + "<br" * 40 + "&"),
    ("<p>x</p>" + "<a " * 20_000, "\n\nx\n\n" + "<a " * 20_000),  # was 45 s of parsing
])
def test_unclosed_tags_read_as_served_text(raw: str, text: str) -> None:
    assert html_text(raw) == text
