"""Reading an entry's article page: the extractor, the ``article_selector`` option and
the article as a content source of its own in the diff.

The spider's probe outcomes are in ``tests/crawling/test_spider_rss.py``; the
sandbox runs in ``tests/test_article_probe_e2e.py``.
"""

from __future__ import annotations

import time

import pytest

from monitor import diff
from monitor.errors import WatchlistError
from monitor.observation import PostContent
from monitor.watchlist import parse_watchlist
from spiders.rss.article import MAX_ARTICLE_HTML, read_article

PAGE = """<!DOCTYPE html><html><head><title>Harbour plan shelved – The News</title>
<script>var tracking = "not text";</script></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<main><article><h1>Harbour plan shelved</h1>
<p class="byline">By Ann Writer</p>
<div class="body">
<p>The city council shelved the harbour plan on Tuesday, citing costs, delays and the
objections of residents, who had collected thousands of signatures.</p>
<p>Officials said the plan could return next year, although several members of the council
said, privately, that it was unlikely to come back in any form.</p>
<p>A spokesperson for the residents' group welcomed the decision, and said the group would
keep watching the council's agenda closely, week after week.</p>
</div></article></main>
<aside>Most read: <a href="/x">Something else entirely</a></aside>
<footer>© The News. All rights reserved. Contact, privacy, terms.</footer></body></html>"""


def test_main_text_is_found_without_a_selector() -> None:
    found = read_article(PAGE, None, "https://news.example.org/a")
    assert found.found and found.method == "readability"
    text = diff.normalise(PostContent(key="k", text=found.html)).text
    assert "shelved the harbour plan" in text and "residents' group" in text
    for chrome in ("Most read", "All rights reserved", "tracking", "World"):
        assert chrome not in text
    assert found.title == "Harbour plan shelved – The News"


def test_a_selector_reads_only_its_part() -> None:
    found = read_article(PAGE, "article .body p", None)
    assert found.found and found.method == "selector"
    text = diff.normalise(PostContent(key="k", text=found.html)).text
    assert text.startswith("The city council") and "By Ann Writer" not in text


@pytest.mark.parametrize(("page", "selector", "problem"), [
    ("", None, "empty"),
    ("   \n ", "p", "empty"),
    (PAGE, "#no-such-part", "matches no text"),
    ("<html><body><div class='body'>  </div></body></html>", ".body", "matches no text"),
    ("<html><body><img src=x></body></html>", None, "no main text"),
])
def test_a_served_page_without_text_is_no_content(page: str, selector: str | None,
                                                  problem: str) -> None:
    found = read_article(page, selector, "https://news.example.org/a")
    assert not found.found and found.html == ""
    assert found.problem is not None and problem in found.problem


def test_a_redaction_of_the_article_is_a_text_removed_edit() -> None:
    def read(page: str) -> diff.Normalised:
        found = read_article(page, None, None)
        return diff.normalise(PostContent(key="k", title=found.title, text=found.html,
                                          extra={diff.SOURCE_FIELD: "article"}), "rss")

    cut = PAGE.replace("<p>Officials said the plan could return next year, although several "
                       "members of the council\nsaid, privately, that it was unlikely to come "
                       "back in any form.</p>", "<p>[removed]</p>")
    assert cut != PAGE
    before, after = read(PAGE), read(cut)
    assert before.source == after.source == "article"
    edit = diff.compare(before, after)
    assert "text_removed" in edit.classes


@pytest.mark.parametrize("shape", [
    "<p>a, b</p>" * 200_000,  # many tiny paragraphs: readability scores each
    "<div>" * 100_000 + "deep" + "</div>" * 100_000,
    "<p class='" + "c" * 2_000_000 + "'>x</p>",
    "<p>" + "word, " * 400_000 + "</p>",
    "\x00\xff<p>\ud800 binary</p>" * 20_000,
])
def test_hostile_pages_are_read_in_bounded_time_and_never_raise(shape: str) -> None:
    started = time.perf_counter()
    read_article(shape, None, None)
    read_article(shape, "div p, article", None)
    # Only MAX_ARTICLE_HTML characters are read: a bigger page costs no more.
    assert time.perf_counter() - started < 3.0
    assert len(shape) > MAX_ARTICLE_HTML


# --- the diff: another source never hashes or compares like the post itself ---------


def test_a_source_is_part_of_the_hash_only_when_set() -> None:
    post = PostContent(key="k", title="T", text="Same words.")
    own = diff.normalise(post, "rss")
    article = diff.normalise(PostContent(key="k", title="T", text="Same words.",
                                         extra={diff.SOURCE_FIELD: "article"}), "rss")
    assert own.source == "" and article.source == "article"
    assert own.content_hash != article.content_hash
    assert not diff.same_source(own, article)
    # Hashes stored before sources existed still hold for the post's own content.
    assert own.to_json() == {"title": "T", "text": "Same words.", "media": [], "links": [],
                             "warning": ""}
    assert diff.Normalised.from_json(article.to_json()) == article


# --- the watchlist option --------------------------------------------------------------


def watchlist(target: str) -> str:
    return f'[groups.g]\n[[groups.g.targets]]\n{target}\n'


def test_article_selector_is_an_option_of_rss_feeds_and_posts() -> None:
    wl = parse_watchlist(watchlist('platform = "rss"\nfeed = "https://n.example.org/f.xml"\n'
                                   'article_selector = "  main article .body "'))
    (target,) = wl.targets
    assert target.kind == "feed"
    from monitor.watchlist_model import file_model, target_kinds

    model = file_model(target_kinds())
    data = {"groups": {"g": {"targets": [{"platform": "rss", "post": "https://n.example.org/a",
                                          "article_selector": "main p"}]}}}
    (entry,) = model.model_validate(data).groups["g"].targets
    assert entry.options == {"article_selector": "main p"}
    bare = {"groups": {"g": {"targets": [{"platform": "rss", "post": "https://n.example.org/a"}]}}}
    assert model.model_validate(bare).groups["g"].targets[0].options == {}


@pytest.mark.parametrize(("target", "message"), [
    ('platform = "mastodon"\naccount = "a@example.social"\narticle_selector = "main"',
     "mastodon account targets take no article_selector; only rss feed, rss post targets do"),
    ('platform = "rss"\nfeed = "https://n.example.org/f.xml"\narticle_selector = "main[["',
     "is not a CSS selector"),
    ('platform = "rss"\nfeed = "https://n.example.org/f.xml"\narticle_selector = ""',
     "write the CSS selector"),
    ('platform = "rss"\nfeed = "https://n.example.org/f.xml"\narticle_selector = 3',
     "write the CSS selector"),
    ('platform = "rss"\nfeed = "https://n.example.org/f.xml"\narticle_selectr = "main"',
     "did you mean 'article_selector'"),
])
def test_a_bad_article_selector_is_an_error_that_says_what_to_write(target: str,
                                                                     message: str) -> None:
    with pytest.raises(WatchlistError) as exc:
        parse_watchlist(watchlist(target))
    assert message in str(exc.value)
