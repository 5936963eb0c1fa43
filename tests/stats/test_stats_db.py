"""The statistics' data path: rows written by hand, the intervals, rates and texts that
come back from PostgreSQL, and the curves built on them."""

from __future__ import annotations

import pytest
from stats_rows import T0, Rows, at

from monitor.db import Database
from monitor.db import stats as store
from monitor.stats import StatsFilter, keywords, rates, survival
from monitor.stats.survival import GRID


def _intervals(db: Database, by: str = "all", f: StatsFilter | None = None) -> list[tuple]:
    with db.transaction() as conn:
        rows = store.survival_rows(conn, f or StatsFilter(), by, GRID)
    return sorted(((r["key"], r["cause"], r["l"], r["r"], r["skewed"], r["n"]) for r in rows),
                  key=lambda row: [str(v) for v in row])


def test_intervals_of_removed_and_censored_posts(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        t = rows.target()
        # Removed between 5 min and 10 min after publication: both on the grid.
        rows.event(rows.post(t), cause="removed_by_platform", last_visible=300,
                   first_gone=600)
        # Still up, last seen 1 h after publication: censored at 1 h.
        rows.post(t, last_visible=3600)
        # Never seen visible after its first sight: censored at 0.
        rows.post(t)
    assert _intervals(db) == [
        ("all", None, 0.0, None, False, 1),
        ("all", None, 3600.0, None, False, 1),
        ("all", "removed_by_platform", 300.0, 600.0, False, 1),
    ]


def test_intervals_widen_onto_the_grid(db: Database) -> None:
    """L rounds down, R rounds up: [7 min, 11 min] becomes [5 min, 15 min]."""
    with db.transaction() as conn:
        rows = Rows(conn)
        rows.event(rows.post(rows.target()), cause="deleted_by_author", last_visible=420,
                   first_gone=660)
    assert _intervals(db) == [("all", "deleted_by_author", 300.0, 900.0, False, 1)]


def test_start_is_first_sight_without_a_publication_time(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        post = rows.post(rows.target(), published=None, first_seen=at(600))
        rows.event(post, cause="deleted_by_author", last_visible=1200, first_gone=1200)
    # 1200 s after publication is 600 s after first sight: exactly known.
    assert _intervals(db) == [("all", "deleted_by_author", 600.0, 600.0, False, 1)]


def test_first_disappearance_counts_and_missing_times_fall_back(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        t = rows.target()
        twice = rows.post(t)
        rows.event(twice, cause="removed_by_moderator", last_visible=60, first_gone=120,
                   detected=130)
        rows.event(twice, "restored", detected=3000)
        rows.event(twice, cause="deleted_by_author", last_visible=4000, first_gone=5000,
                   detected=5100)
        # No times on the event: removed somewhere in [start, detection].
        rows.event(rows.post(t), cause="ambiguous", detected=1500)
    assert _intervals(db) == [
        ("all", "ambiguous", 0.0, 1800.0, False, 1),
        ("all", "removed_by_moderator", 60.0, 120.0, False, 1),
    ]


def test_clock_skew_is_flagged_and_clamped(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        t = rows.target()
        # Seen gone at 5 min but visible at 10 min: read as removed at 10 min.
        rows.event(rows.post(t), cause="deleted_by_author", last_visible=600,
                   first_gone=300)
        # Published after it was seen (a wrong published_at): times clamp at 0.
        rows.event(rows.post(t, published=at(9000)), cause="deleted_by_author",
                   last_visible=60, first_gone=120)
    assert _intervals(db) == [
        ("all", "deleted_by_author", 0.0, 0.0, False, 1),
        ("all", "deleted_by_author", 600.0, 600.0, True, 1),
    ]
    with db.transaction() as conn:
        answer = survival(conn, StatsFilter())
    assert answer["curves"][0]["skewed"] == 1


def test_filters_and_breakdowns(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        a = rows.target("alice", platform="mastodon", group="g1")
        b = rows.target("bob", platform="rss", group="g2")
        rows.event(rows.post(a), cause="deleted_by_author", last_visible=0, first_gone=10)
        rows.post(b, author="Robert", last_visible=60)
        rows.post(b, published=T0.replace(year=2025), last_visible=60)
    assert _intervals(db, "platform") == [
        ("mastodon", "deleted_by_author", 0.0, 10.0, False, 1),
        ("rss", None, 31536000.0, None, False, 1),  # published a year earlier
        ("rss", None, 60.0, None, False, 1)]
    assert {k for k, *_ in _intervals(db, "group")} == {"g1", "g2"}
    assert {k for k, *_ in _intervals(db, "account")} == {"alice", "Robert", "bob"}
    assert _intervals(db, f=StatsFilter(platforms=["rss"], since=at(-1))) == [
        ("all", None, 60.0, None, False, 1)]
    assert _intervals(db, f=StatsFilter(groups=["g1"], accounts=["alice"])) == [
        ("all", "deleted_by_author", 0.0, 10.0, False, 1)]
    assert _intervals(db, f=StatsFilter(until=T0.replace(year=2020))) == []


def test_unknown_breakdown_is_refused(db: Database) -> None:
    with db.transaction() as conn, pytest.raises(ValueError, match="unknown breakdown"):
        store.survival_rows(conn, StatsFilter(), "author; DROP TABLE posts", GRID)
    with db.transaction() as conn, pytest.raises(ValueError, match="unknown period"):
        store.event_counts(conn, StatsFilter(), "platform", "fortnight")


def test_survival_from_the_database_matches_the_hand_case(db: Database) -> None:
    """The KM case of test_stats_survival, on grid times: censored at 5 min, removed at
    exactly 10 and 20 min, censored at 30 min: S = 2/3 after 10 min, 1/3 after 20."""
    with db.transaction() as conn:
        rows = Rows(conn)
        t = rows.target()
        rows.post(t, last_visible=300)
        rows.event(rows.post(t), cause="deleted_by_author", last_visible=600, first_gone=600)
        rows.event(rows.post(t), cause="removed_by_platform", last_visible=1200,
                   first_gone=1200)
        rows.post(t, last_visible=1800)
        answer = survival(conn, StatsFilter())
    curve = answer["curves"][0]
    s = {p["t"]: p["survival"] for p in curve["points"]}
    assert s[300] == 1 and s[600] == pytest.approx(2 / 3, abs=1e-6)
    assert s[1200] == pytest.approx(1 / 3, abs=1e-6) and s[1800] == pytest.approx(1 / 3)
    assert (curve["posts"], curve["removed"], curve["censored"]) == (4, 2, 2)
    head = {h["label"]: h for h in curve["headline"]}
    assert head["10 min"]["estimate"] == pytest.approx(1 / 3, abs=1e-6)
    assert head["10 min"]["of_removed"] == 0.5 and head["30 min"]["of_removed"] == 1.0


def test_cause_curves_censor_the_other_causes(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        t = rows.target()
        rows.event(rows.post(t), cause="deleted_by_author", last_visible=600, first_gone=600)
        rows.event(rows.post(t), cause="removed_by_platform", last_visible=1200,
                   first_gone=1200)
        answer = survival(conn, StatsFilter(), "cause")
    curves = {c["key"]: c for c in answer["curves"]}
    assert set(curves) == {"deleted_by_author", "removed_by_platform"}
    # By the author: 1 of 2 at 10 min; the platform's removal is censored at 20 min.
    author = {p["t"]: p["survival"] for p in curves["deleted_by_author"]["points"]}
    assert author[600] == pytest.approx(0.5) and author[1200] == pytest.approx(0.5)
    platform = {p["t"]: p["survival"] for p in curves["removed_by_platform"]["points"]}
    # Censored at 10 min by the other cause: 1 at risk at 20 min, removed.
    assert platform[600] == 1 and platform[1200] == pytest.approx(0)
    assert curves["deleted_by_author"]["removed"] == 1


def test_empty_database_gives_empty_answers(db: Database) -> None:
    with db.transaction() as conn:
        assert survival(conn, StatsFilter())["curves"] == []
        assert rates(conn, StatsFilter()) == []
        assert keywords(conn, StatsFilter())["terms"] == []


def test_rates_by_account_and_month(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        a, b = rows.target("alice"), rows.target("bob", platform="rss")
        p1, p2, p3 = rows.post(a), rows.post(a), rows.post(a)
        rows.event(p1, cause="deleted_by_author", first_gone=60)
        rows.event(p1, "restored", detected=200)
        rows.event(p1, cause="deleted_by_author", first_gone=300, detected=400)
        rows.event(p2, "edited", detected=100)
        rows.event(p3, "hidden", cause="hidden_from_feed", detected=100)
        rows.post(b)
        table = {r["key"]: r for r in rates(conn, StatsFilter(), "account")}
        monthly = rates(conn, StatsFilter(), "platform", "month")
        causes = {r["key"]: r for r in rates(conn, StatsFilter(), "cause")}
    alice = table["alice"]
    assert (alice["posts"], alice["removed"], alice["disappeared"]) == (3, 1, 2)
    assert alice["deletion_rate"] == pytest.approx(1 / 3)
    assert (alice["hidden"], alice["edited"], alice["restored"]) == (1, 1, 1)
    assert table["bob"]["posts"] == 1 and table["bob"]["disappeared"] == 0
    assert table["bob"]["deletion_rate"] == 0
    assert {(r["key"], r["period"].month, r["disappeared"]) for r in monthly} == {
        ("mastodon", 3, 2), ("rss", 3, 0)}
    assert causes["deleted_by_author"]["disappeared"] == 2
    assert causes["hidden_from_feed"]["hidden"] == 1 and causes["hidden_from_feed"]["posts"] is None


def test_keyword_texts_compare_the_same_accounts(db: Database) -> None:
    with db.transaction() as conn:
        rows = Rows(conn)
        a, other = rows.target("alice"), rows.target("quiet")
        for i in range(3):
            rows.event(rows.post(a, text=f"<p>protest square {i}</p>"), first_gone=60,
                       cause="removed_by_platform")
            rows.post(a, text="weather lunch square")
        rows.post(other, text="protest protest protest")  # never removed: not compared
        texts = store.keyword_texts(conn, StatsFilter(), limit=100, max_chars=10)
        answer = keywords(conn, StatsFilter())
        capped = store.keyword_texts(conn, StatsFilter(), limit=2, max_chars=1000)
    assert len(texts) == 6 and all(len(r["text"]) <= 10 for r in texts)
    assert answer["posts"] == {"removed": 3, "surviving": 3}
    top = answer["terms"][0]
    assert (top["term"], top["removed"], top["surviving"]) == ("protest", 3, 0)
    square = next(t for t in answer["terms"] if t["term"] == "square")
    assert (square["removed"], square["surviving"]) == (3, 3) and square["z"] < top["z"]
    assert len(capped) == 2


def test_a_removal_a_decade_later_is_censored(db: Database) -> None:
    """Past the grid's last finite time (a year), a removal reads as censored there."""
    with db.transaction() as conn:
        rows = Rows(conn)
        rows.event(rows.post(rows.target(), published=T0.replace(year=2016)),
                   cause="deleted_by_author", last_visible=60, first_gone=120)
    assert _intervals(db) == [("all", "deleted_by_author", 31536000.0, None, False, 1)]
