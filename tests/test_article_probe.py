"""Reading an entry's article page: the extractor, the ``article_selector`` option and
the article as a content source of its own in the diff.

The spider's probe outcomes are in ``tests/crawling/test_spider_rss.py``; the
sandbox runs in ``tests/test_article_probe_e2e.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from monitor import diff
from monitor.db import Database, claims
from monitor.db import tracking as store
from monitor.errors import WatchlistError
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target, parse_watchlist
from spiders.rss.article import MAX_ARTICLE_HTML, MAX_ARTICLE_TAGS, read_article

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
    ("<html><title>Only a title</title></html>", None, "no main text"),  # the head is no text
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
    "<div>x, y</div>" * 100_000,  # tiny elements: cut at MAX_ARTICLE_TAGS
    "<script>" * 200_000,  # unclosed: the first drops the rest
    "<script>x</script><!--" * 100_000,
])
def test_hostile_pages_are_read_in_bounded_time_and_never_raise(shape: str) -> None:
    """Only the page's head is read (MAX_ARTICLE_HTML characters, MAX_ARTICLE_TAGS
    tags): a page twice as big reads exactly the same, so it costs no more. The time
    per megabyte is a target of ``bench.parsers``, not of a unit test."""
    assert len(shape) > MAX_ARTICLE_HTML
    for selector in (None, "div p, article"):
        assert read_article(shape, selector, None) == read_article(shape * 2, selector, None)


def test_scripts_styles_and_comments_do_not_use_up_the_page_budget() -> None:
    bulky = ("<script>" + "var x = '<p>not text</p>';" * 20_000 + "</script>"
             + "<style>p { color: red }</style><!-- " + "c" * 300_000 + " -->")
    assert len(bulky) > MAX_ARTICLE_HTML
    found = read_article(PAGE.replace("</head>", bulky + "</head>"), None, None)
    text = diff.normalise(PostContent(key="k", text=found.html)).text
    assert "shelved the harbour plan" in text and "not text" not in text
    scripted = read_article(PAGE.replace("<main>", "<SCRIPT type=x>a < b</Script >" * 50
                                         + "<main>"), "article .body p", None)
    assert scripted.html == read_article(PAGE, "article .body p", None).html


def test_an_unclosed_script_hides_the_rest_of_the_page() -> None:
    """As in a browser: everything after an unclosed ``<script>`` is its code."""
    found = read_article(PAGE.replace("<main>", "<script>var x;<main>"), None, None)
    assert "shelved" not in found.html and "Home" in found.html
    assert not read_article(PAGE.replace("<main>", "<script>"), "article .body p", None).found


def test_a_page_is_read_up_to_its_tag_budget() -> None:
    paragraphs = "".join(f"<p>Paragraph {i}, with words.</p>" for i in range(MAX_ARTICLE_TAGS))
    found = read_article(f"<html><body><div class='body'>{paragraphs}</div></body></html>",
                         ".body p", None)
    text = diff.normalise(PostContent(key="k", text=found.html)).text
    assert "Paragraph 100," in text
    assert f"Paragraph {MAX_ARTICLE_TAGS // 2}," not in text  # two tags a paragraph


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
    assert target.options == {"article_selector": "main article .body"}  # for sync_targets
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


# --- the store: readings as versions, options to the spider (real PostgreSQL) ---------

FEED_URL = "https://news.example.org/feed.xml"
T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


class FeedWorld:
    """One RSS feed target with an ``article_selector``, its recorder and its rows."""

    def __init__(self, db: Database, flap_versions: int = 3) -> None:
        self.db = db
        settings = Settings.load({"flap_versions": flap_versions}, environ={})
        self.recorder = Recorder(db, settings)
        self.target = Target(group="g", platform="rss", kind="feed", value=FEED_URL,
                             base_url=None, interval=60.0, tags=(),
                             options={"article_selector": "main p"})
        with db.transaction() as conn:
            store.sync_targets(conn, [self.target], 600)
            self.target_id = conn.execute("SELECT id FROM targets").fetchone()["id"]
        self.recorder.record([Observation(
            mode="listing", platform="rss", target_key=self.target.key, url=FEED_URL,
            outcome=Outcome.OK, row_id=self.target_id, observed_at=T0, http_status=200,
            entries=[PostContent(key="e1", url="https://news.example.org/a", text="Summary.",
                                 published_at=T0)])])
        self.post_id = self.one("SELECT id FROM posts")["id"]

    def read(self, minute: int, text: str) -> list[Any]:
        post = PostContent(key="e1", url="https://news.example.org/a", title="A", text=text,
                           extra={diff.SOURCE_FIELD: "article"})
        return self.recorder.record([Observation(
            mode="probe", platform="rss", target_key=self.target.key,
            url="https://news.example.org/a", outcome=Outcome.OK, row_id=self.post_id,
            post_key="e1", post=post, http_status=200,
            observed_at=T0 + timedelta(minutes=minute))])

    def one(self, query: str, *args: Any) -> dict[str, Any]:
        with self.db.transaction() as conn:
            row = conn.execute(query, args).fetchone()
        assert row is not None
        return dict(row)

    def version_of(self, text: str) -> int:
        return int(self.one("SELECT id FROM versions WHERE content ->> 'text' = %s", text)["id"])


LONG = " ".join(["The article, in full: every word of it, as its page served it on the day."] * 3)
CUT = LONG.rsplit("every", 1)[0] + "[removed]"


def test_article_readings_are_versions_and_an_edit_carries_both(db: Database) -> None:
    world = FeedWorld(db)
    entry_version = world.one("SELECT current_version_id FROM posts")["current_version_id"]
    assert world.read(1, LONG) == []  # the baseline
    [event] = world.read(2, CUT)
    old, new = world.version_of(LONG), world.version_of(CUT)
    assert (event.kind, event.version_id) == ("edited", new)
    assert event.edit is not None
    assert (event.edit["source"], event.edit["previous_version"]) == ("article", old)
    row = world.one("SELECT current_version_id, known FROM posts")
    assert row["current_version_id"] == entry_version  # the entry's stays the post's own
    # known holds (hash, version id) pairs, newest first: never the article's text
    assert list(row["known"]["sources"]) == ["article"]
    assert list(row["known"]["sources"]["article"]) == ["recent"]
    recent = row["known"]["sources"]["article"]["recent"]
    assert [v for _, v in recent] == [new, old]
    assert recent[0][0] == world.one("SELECT content_hash FROM versions WHERE id = %s",
                                     new)["content_hash"]
    last = world.one("SELECT version_id FROM observations WHERE mode = 'probe' "
                     "ORDER BY id DESC LIMIT 1")
    assert last["version_id"] == new
    stored = world.one("SELECT edit FROM events")["edit"]
    assert stored["previous_version"] == old and stored["source"] == "article"


def test_an_article_back_after_its_flap_window_points_at_its_stored_version(
        db: Database) -> None:
    world = FeedWorld(db, flap_versions=1)  # no flaps: every change is an edit
    world.read(1, LONG)
    world.read(2, CUT)
    [back] = world.read(3, LONG)  # an edit back, to a version already stored
    old, cut = world.version_of(LONG), world.version_of(CUT)
    assert back.version_id == old and back.edit is not None
    assert back.edit["previous_version"] == cut
    known = world.one("SELECT known FROM posts")["known"]
    assert [v for _, v in known["sources"]["article"]["recent"]] == [old]
    assert world.one("SELECT count(*) AS n FROM versions")["n"] == 3  # entry, LONG, CUT
    [again] = world.read(4, CUT)  # its content is found through the stored id
    assert again.edit is not None and "text_removed" in again.edit["classes"]


def test_target_options_reach_every_work_item_and_sources_stay_home(db: Database) -> None:
    world = FeedWorld(db)
    world.read(1, LONG)
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET known = known || %s, next_check = %s",
                     (Jsonb({"article_selector": "stale", "token": "t"}), T0))
        conn.execute("UPDATE targets SET next_due = %s", (T0,))
        items = claims.claim_due(conn, T0 + timedelta(minutes=5), 10, 60)
    by_mode = {i.mode: i for i in items}
    assert by_mode["listing"].known == {"article_selector": "main p"}
    assert by_mode["probe"].known == {"article_selector": "main p", "token": "t"}
    changed = Target(**{**{f: getattr(world.target, f) for f in (
        "group", "platform", "kind", "value", "base_url", "interval", "tags")},
        "options": {}})
    with db.transaction() as conn:
        store.sync_targets(conn, [changed], 600)  # the selector taken out of the watchlist
        assert conn.execute("SELECT options FROM targets").fetchone()["options"] == {}
