"""The plain-markup reading of monitor.text equals the HTMLParser walk (issue 13).

``html_text`` reads plain markup with regex scans instead of the walker; every
stored content hash was computed from the walker's answer, so the two must agree
to the character: on a table of tricky cases, on every string in every fixture,
and on generated tag soup. The recorder's reading of a Mastodon post never starts
the walker.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import diff, text
from monitor.observation import PostContent

FIXTURES = Path(__file__).parent / "fixtures"


def walked(raw: str) -> str:
    """The walker's reading, as html_text gave it before the plain path."""
    return "".join(d for w, d in text._walk(raw, text.HIDDEN) if not w or text._wanted(w, "all"))


CASES = [
    "", "plain words", "<p>one</p><p>two</p>", "<p/>x<br/>y</br>z", "<P>Upper</P><BR>",
    '<p class="a>b">q</p>', "<a href=x/>t</a>", "<a href='y' data-x>t</a>", "<p a=b />",
    "<span  >s</span  >", '</p foo="x">', "&amp; &lt;b&gt; &notit; &#x41;&#65; &#0; a &b",
    "ends with &", "ends with &amp", "<p>caf\u00e9 \u4f60\u597d \U0001f600</p>",
    "<ul><li>a<li>b</ul>", "<blockquote><p>q</p></blockquote><hr>",
    "<h1>t</h1>\n  <div>\t<b>bold</b>  </div>", "<br><br />x", "<p>line<br>\nnext</p>",
    '<a href="https://ex.social/@a" class="u-url mention">@<span>a</span></a>',
    "<p>a < b</p>", "<!-- c --><p>x</p>", "<script>x</script>y", "<p>\x01</p>",
    "<title>t</title>x", "<p\u00a0class=x>y</p>", "<a b=>c</a>", "<p>unclosed",
    "<a href=\"x\"'y'>z</a>", "<noscript>n</noscript>", "<p>&nbsp;&NotANamedRef;</p>",
]


@pytest.mark.parametrize("raw", CASES)
def test_tricky_cases_read_as_the_walker_reads_them(raw: str) -> None:
    assert text.html_text(raw) == walked(raw)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def fixture_strings() -> Iterator[str]:
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_text("utf-8", "replace")
        yield raw
        if path.suffix == ".json":
            try:
                yield from (s for s in _strings(json.loads(raw)) if "<" in s or "&" in s)
            except ValueError:
                pass


def test_every_fixture_string_reads_as_the_walker_reads_it() -> None:
    checked = plain = 0
    for raw in fixture_strings():
        checked += 1
        plain += text._plain_layout(raw) is not None
        assert text.html_text(raw) == walked(raw), raw[:200]
    assert checked > 100 and plain > 20  # the fast path is really exercised


PIECES = ["<p>", "</p>", "<br>", "<br/>", "<br />", "</br>", "<div>", "</div>", "<li>",
          "<a href=\"https://x.example/?a=1&amp;b=2\">", "</a>", "<span class='h'>", "</span>",
          "<b>", "</b>", "<P CLASS=x>", "<hr/>", "<p />", "<em\n>", "</em >", "<a href=u/>",
          "<a rel=nofollow target='_blank' href=\"h\">", "<h2>", "</h2>", "<pre>", "</pre>",
          "text", " ", "  ", "\n", "\t", "\r\n", "&amp;", "&lt;", "&#169;", "&#x1F600;", "&",
          "&copy", "&nbsp;", "caf\u00e9", "\u4e2d\u6587", "\u200b", "&#0;", "&bogus;", ";",
          "<", ">", "<!-- x -->", "=", "\"", "'", "<script>", "<title>", "\x0c", "\x00"]


def test_generated_tag_soup_reads_as_the_walker_reads_it() -> None:
    rng = random.Random(13)
    plain = 0
    for _ in range(4000):
        raw = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        plain += text._plain_layout(raw) is not None
        assert text.html_text(raw) == walked(raw), repr(raw)
    assert plain > 400


def test_a_plain_mastodon_post_is_read_without_the_walker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("the HTMLParser walker ran for plain markup")

    monkeypatch.setattr(text, "_walk", refuse)
    post = PostContent(key="1", url="u", text='<p>Hello <a href="https://ex.social/tags/x" '
                       'class="mention hashtag" rel="tag">#<span>x</span></a><br>bye &amp; '
                       "thanks</p><p>second</p>")
    assert diff.normalise(post, "mastodon").text == "Hello #x\nbye & thanks\n\nsecond"


def test_markup_that_is_not_plain_still_goes_to_the_walker() -> None:
    for raw in ("<p>x<!-- c --></p>", "<p>a < b</p>", "<script>s</script><p>x</p>"):
        assert text._plain_layout(raw) is None
        assert text.html_text(raw) == walked(raw)


def test_the_plain_scan_is_linear_on_hostile_runs() -> None:
    # No timing (see bench.hostile): these only must finish and agree.
    for raw in ("<b>" * 50_000, "<a href=x " * 10_000, "&" * 100_000, " " * 200_000,
                "<p " + "a=b " * 20_000 + ">"):
        assert text.html_text(raw) == walked(raw)
