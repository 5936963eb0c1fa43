"""Importing researchers' browser captures (Zeeschuimer / 4CAT NDJSON) as seen-visible
observations: a capture proves that a note existed at its capture time, nothing more.

The fixture ``tests/fixtures/captures/zeeschuimer-rednote.ndjson`` is synthetic, in the
shapes assumed from Zeeschuimer's ``rednote.js`` / ``zs-background.js`` and 4CAT's
``search_rednote.py`` (see its README). Its lines, by number:

 1 search item A (snake_case card, author U1)   2 note page B (camelCase, U2)
 3 blank                                         4 Douyin item (no platform here)
 5 truncated JSON   6 a JSON list   7 no capture time
 8 user page card C (U1)   9 4CAT item D (U2)   10 HTML card E (no author id)
11 a comment, not a note   12 a hostile note id   13 F with NUL, a lone surrogate,
   a 5,000-character token and an object for a user id
14 captured in 2100   15 not UTF-8   16 note A again, later, from its page
17 neither shape
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.captures import (
    MODE,
    VANTAGE,
    Importer,
    LineProblem,
    import_captures,
    parse_line,
    read_lines,
)
from monitor.clock import ManualClock
from monitor.db import Database, claims
from monitor.db import tracking as store
from monitor.errors import ConfigError, ParseError
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target, load_watchlist
from spiders.cli import cli
from spiders.cli.imports import READERS, rednote_item

FIXTURE = Path(__file__).parent / "fixtures" / "captures" / "zeeschuimer-rednote.ndjson"
U1, U2 = "5c315a550000000006031475", "5f0000000000000000000002"
A, B, C, D = ("66a1b2c3000000000d00e1f2", "66b000000000000000000b0b",
              "66c000000000000000000c0c", "66d000000000000000000d0d")
E, F, G = "66e000000000000000000e0e", "66f000000000000000000f0f", "6700000000000000000a0a0a"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
BAD_LINES = [5, 6, 7, 11, 12, 14, 15, 17]
ON = Settings.load({"import_captures": True, "confirm_probes": 2, "confirm_spacing": "5m"},
                   environ={})
WATCHED = f"""[groups.journalists]
[[groups.journalists.targets]]
platform = "rednote"
account = "{U1}"
"""


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


@pytest.fixture
def watchlist(tmp_path: Path, db: Database) -> Path:
    """A watchlist that watches U1's account, synced into the database."""
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHED, encoding="utf-8")
    with db.transaction() as conn:
        store.sync_targets(conn, load_watchlist(path).targets, 600)
    return path


def run(db: Database, path: Path = FIXTURE, watchlist: Path | None = None,
        **options: Any) -> Any:
    return import_captures(db, ON, path, READERS, watchlist=watchlist,
                           clock=ManualClock(NOW), **options)


def rows(db: Database, query: str, *args: Any) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return [dict(r) for r in conn.execute(query, args).fetchall()]


def posts(db: Database) -> dict[str, dict[str, Any]]:
    return {r["post_key"]: r for r in rows(
        db, "SELECT p.*, t.key AS target_key, t.group_name FROM posts p "
            "JOIN targets t ON t.id = p.target_id")}


def line_of(number: int) -> bytes:
    return FIXTURE.read_bytes().split(b"\n")[number - 1]


# --- the setting --------------------------------------------------------------------


def test_with_the_setting_off_the_import_refuses_and_names_the_setting(db: Database) -> None:
    off = Settings.load({}, environ={})
    assert off["IMPORT_CAPTURES"] is False
    with pytest.raises(ConfigError, match="IMPORT_CAPTURES") as refused:
        import_captures(db, off, FIXTURE, READERS)
    assert "import_captures = true" in str(refused.value)
    assert rows(db, "SELECT count(*) AS n FROM observations") == [{"n": 0}]


def test_the_command_refuses_before_touching_the_database(tmp_path: Path) -> None:
    env: dict[str, str | None] = {
        "TAKEDOWN_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "TAKEDOWN_WATCHLIST": str(tmp_path / "none.toml"), "TAKEDOWN_IMPORT_CAPTURES": None}
    result = CliRunner().invoke(cli, ["import", "captures", str(FIXTURE)], env=env)
    assert result.exit_code == 2
    assert "IMPORT_CAPTURES" in result.output and "cannot connect" not in result.output


# --- one import -----------------------------------------------------------------------


def test_every_usable_line_is_recorded_and_every_bad_one_reported(
        db: Database, watchlist: Path) -> None:
    report = run(db, watchlist=watchlist)
    assert report.lines == 16  # the blank line is not one
    assert report.recorded == 7 and report.already == 0
    assert [line for line, _ in report.problems] == BAD_LINES
    problems = dict(report.problems)
    assert "not JSON" in problems[5] and "not UTF-8" in problems[15]
    assert "in the future" in problems[14] and "capture time" in problems[7]
    assert "not a RedNote note" in problems[11] and "24 hex" in problems[12]
    assert report.skipped == {"douyin.com: no platform to track its items": 1}


def test_each_observation_is_marked_as_an_import_with_its_evidence(
        db: Database, watchlist: Path) -> None:
    run(db, watchlist=watchlist)
    found = rows(db, "SELECT o.*, p.post_key FROM observations o JOIN posts p "
                     "ON p.id = o.post_id ORDER BY o.first_at")
    assert len(found) == 7
    assert {o["mode"] for o in found} == {MODE} and {o["vantage"] for o in found} == {VANTAGE}
    assert {o["outcome"] for o in found} == {"ok"}
    first = found[0]  # line 1, note A
    capture = first["signals"]["capture"]
    assert first["post_key"] == A and first["first_at"] == at("2026-02-01T10:00:00")
    assert capture["file"] == FIXTURE.name and capture["line"] == 1
    assert capture["sha256"] == hashlib.sha256(line_of(1)).hexdigest() == first["body_hash"]
    assert capture["source_url"].endswith("/api/sns/web/v1/search/notes")
    assert capture["user_agent"].startswith("Mozilla/5.0")
    assert capture["captured_at"] == "2026-02-01T10:00:00+00:00"
    assert "logged-in view" in first["detail"]
    four_cat = next(o for o in found if o["post_key"] == D)["signals"]["capture"]
    assert four_cat["shape"] == "4cat" and four_cat["source_url"].endswith("/homefeed")


def test_the_post_is_tracked_with_its_capture_time_as_first_seen_and_no_event(
        db: Database, watchlist: Path) -> None:
    report = run(db, watchlist=watchlist)
    tracked = posts(db)
    assert set(tracked) == {A, B, C, D, E, F}
    # A and C: their author's account is watched, so they join its target.
    for key in (A, C):
        assert tracked[key]["target_key"] == f"rednote:account:{U1}"
        assert tracked[key]["state"] == "visible" and tracked[key]["next_check"] == NOW
    assert report.new_posts == 2
    assert tracked[A]["first_seen"] == at("2026-02-01T10:00:00")  # the earlier capture
    assert tracked[A]["last_visible_at"] == at("2026-02-07T10:00:00")  # the later one
    assert tracked[A]["known"]["xsec_token"] == "ABsearchTokA1="
    assert tracked[A]["probe_url"].startswith(f"https://www.xiaohongshu.com/explore/{A}?"
                                              "xsec_token=ABsearchTokA1")
    # B, D, E, F: nothing watches them, so each becomes a single-post target in the
    # import's group, in the watchlist (where the next sync keeps it) and the database.
    added = {f"rednote:post:{k}" for k in (B, D, E, F)}
    assert set(report.added_targets) == added
    assert {t.key for t in load_watchlist(watchlist).targets if t.group == "captures"} == added
    for key in (B, D, E, F):
        assert tracked[key]["group_name"] == "captures" and tracked[key]["state"] == "visible"
    assert tracked[B]["first_seen"] == tracked[B]["state_since"] == at("2026-02-02T08:30:00")
    assert tracked[B]["url"].endswith("xsec_token=ABpageTokB2%3D&xsec_source=pc_feed")
    assert rows(db, "SELECT count(*) AS n FROM events") == [{"n": 0}]
    # The capture's content is a version the observation points at, never the current one.
    assert {p["current_version_id"] for p in tracked.values()} == {None}
    assert rows(db, "SELECT count(*) AS n FROM versions") == [{"n": 7}]


def test_hostile_values_are_stored_clean(db: Database, watchlist: Path) -> None:
    run(db, watchlist=watchlist)
    f = posts(db)[F]
    assert "xsec_token" not in f["known"] and "user_id" not in f["known"]  # dropped
    assert f["url"] == f"https://www.xiaohongshu.com/explore/{F}"  # no 5,000-char token
    (version,) = rows(db, "SELECT v.* FROM versions v WHERE post_id = %s", f["id"])
    assert "\x00" not in version["raw_text"] and "\ufffd" in version["raw_text"]
    (obs,) = rows(db, "SELECT signals FROM observations WHERE post_id = %s", f["id"])
    assert "\x00" not in obs["signals"]["capture"]["source_url"]


def test_re_importing_the_same_file_records_nothing_twice(db: Database, watchlist: Path) -> None:
    run(db, watchlist=watchlist)
    before = (watchlist.read_bytes(), posts(db),
              rows(db, "SELECT * FROM observations ORDER BY id"))
    again = run(db, watchlist=watchlist)
    assert again.recorded == 0 and again.already == 7 and again.new_posts == 0
    assert again.added_targets == []
    assert (watchlist.read_bytes(), posts(db),
            rows(db, "SELECT * FROM observations ORDER BY id")) == before


def test_the_same_capture_under_another_file_name_is_the_same_capture(
        db: Database, watchlist: Path, tmp_path: Path) -> None:
    run(db, watchlist=watchlist)
    renamed = tmp_path / "renamed.ndjson"
    shutil.copy(FIXTURE, renamed)
    assert run(db, renamed, watchlist=watchlist).recorded == 0


def test_without_a_watchlist_only_watched_authors_notes_are_tracked(
        db: Database, watchlist: Path) -> None:
    report = run(db)
    assert set(posts(db)) == {A, C}
    assert report.skipped["not tracked: no target watches it or its author, and it was "
                          "not added to a watchlist"] == 4
    assert report.added_targets == []


# --- the monitor's own checks, on top --------------------------------------------------


def probe(db: Database, key: str, when: datetime, outcome: Outcome,
          post: PostContent | None = None, signals: dict[str, Any] | None = None) -> None:
    (row,) = rows(db, "SELECT p.id, t.key FROM posts p JOIN targets t ON t.id = p.target_id "
                      "WHERE post_key = %s", key)
    Recorder(db, ON).record([Observation(
        mode="probe", platform="rednote", target_key=row["key"], row_id=row["id"],
        url=f"https://www.xiaohongshu.com/explore/{key}", outcome=outcome, post_key=key,
        post=post, http_status=200, signals=dict(signals or {}), observed_at=when)])


def test_the_monitor_probes_an_imported_note_and_reads_it_from_there(
        db: Database, watchlist: Path) -> None:
    run(db, watchlist=watchlist)
    with db.transaction() as conn:
        items = {i.post_key: i for i in claims.claim_due(conn, NOW, 50, 60) if i.post_key}
    assert {A, C} <= set(items)  # due at once, with the capture's token
    assert items[A].known["xsec_token"] == "ABsearchTokA1="
    assert "xsec_token=ABsearchTokA1" in items[A].url
    note = PostContent(key=A, url=f"https://www.xiaohongshu.com/explore/{A}",
                       title="周末去哪儿", text="去了西湖", author="daisy")
    probe(db, A, NOW, Outcome.OK, note)
    a = posts(db)[A]
    assert a["state"] == "visible" and a["current_version_id"] is not None
    assert a["first_seen"] == at("2026-02-01T10:00:00")
    modes = [o["mode"] for o in rows(db, "SELECT mode FROM observations WHERE post_id = %s "
                                         "ORDER BY first_at", a["id"])]
    assert modes == [MODE, MODE, "probe"]
    # The probe read what the later capture saw: the same version, and no edit event.
    assert rows(db, "SELECT count(*) AS n FROM events") == [{"n": 0}]


def test_a_note_removed_after_its_capture_is_found_by_the_monitors_own_probes(
        db: Database, watchlist: Path) -> None:
    run(db, watchlist=watchlist)
    gone = {"notice": "deleted"}
    probe(db, B, NOW, Outcome.UNAVAILABLE, signals=gone)
    assert posts(db)[B]["state"] == "suspect"
    probe(db, B, NOW + timedelta(minutes=6), Outcome.UNAVAILABLE, signals=gone)
    (event,) = rows(db, "SELECT * FROM events")
    assert event["kind"] == "disappeared" and event["post_key"] == B
    assert event["last_seen_visible"] == at("2026-02-02T08:30:00")  # the capture


def capture_line(key: str, when: datetime, title: str = "被删的笔记") -> str:
    return json.dumps({
        "nav_index": "1:1:0", "item_id": key, "timestamp_collected":
        int(when.timestamp() * 1000), "source_platform": "xiaohongshu.com",
        "source_platform_url": "https://www.xiaohongshu.com/explore",
        "source_url": "https://edith.xiaohongshu.com/api/sns/web/v1/homefeed",
        "user_agent": "Mozilla/5.0", "data": {"id": key, "model_type": "note", "note_card": {
            "display_title": title, "user": {"user_id": U2, "nickname": "lin"}}}},
        ensure_ascii=False)


def test_a_capture_never_moves_a_post_backwards(db: Database, tmp_path: Path) -> None:
    """An old capture of a note confirmed gone leaves it gone, with its cause and its
    one event; its existence time is still recorded (first_seen moves back)."""
    url = f"https://www.xiaohongshu.com/explore/{G}"
    with db.transaction() as conn:
        store.sync_targets(conn, [Target("g", "rednote", "post", url, None, 600.0, ())], 600)
    seen = NOW - timedelta(days=2)
    probe(db, G, seen, Outcome.OK, PostContent(key=G, url=url, title="被删的笔记"))
    deleted = {"notice": "deleted"}
    probe(db, G, seen + timedelta(hours=1), Outcome.UNAVAILABLE, signals=deleted)
    probe(db, G, seen + timedelta(hours=2), Outcome.UNAVAILABLE, signals=deleted)
    before = posts(db)[G]
    assert before["state"] == "gone"
    older, newer = seen - timedelta(days=3), seen + timedelta(days=1)
    path = tmp_path / "old.ndjson"
    path.write_text(capture_line(G, older) + "\n" + capture_line(G, newer, "另一个标题") + "\n",
                    encoding="utf-8")
    report = run(db, path)
    assert report.recorded == 2
    after = posts(db)[G]
    assert after["first_seen"] == older
    for column in ("state", "state_since", "gone_cause", "last_visible_at", "first_gone_at",
                   "current_version_id", "current_hash", "next_check", "last_obs_id"):
        assert after[column] == before[column], column
    assert [e["kind"] for e in rows(db, "SELECT kind FROM events")] == ["disappeared"]


def test_a_capture_does_not_lift_a_suspicion(db: Database, tmp_path: Path) -> None:
    url = f"https://www.xiaohongshu.com/explore/{G}"
    with db.transaction() as conn:
        store.sync_targets(conn, [Target("g", "rednote", "post", url, None, 600.0, ())], 600)
    probe(db, G, NOW - timedelta(hours=2), Outcome.OK, PostContent(key=G, url=url, title="t"))
    probe(db, G, NOW - timedelta(hours=1), Outcome.UNAVAILABLE, signals={"notice": "deleted"})
    before = posts(db)[G]
    path = tmp_path / "newer.ndjson"
    path.write_text(capture_line(G, NOW - timedelta(minutes=30)) + "\n", encoding="utf-8")
    assert run(db, path).recorded == 1
    after = posts(db)[G]
    assert after["state"] == "suspect" and after["suspicion"] == before["suspicion"]
    assert after["last_visible_at"] == before["last_visible_at"]
    assert rows(db, "SELECT count(*) AS n FROM events") == [{"n": 0}]


# --- hostile files ----------------------------------------------------------------------


def test_a_huge_line_is_skipped_unread_and_the_rest_recorded(
        db: Database, watchlist: Path, tmp_path: Path) -> None:
    path = tmp_path / "huge.ndjson"
    with open(path, "wb") as fh:
        fh.write(line_of(1) + b"\n")
        fh.write(b'{"data": "' + b"x" * 3_000_000 + b'"}\n')  # 3 MB, over the 1 MB limit
        fh.write(b"[" * 200_000 + b"]" * 200_000 + b"\n")  # nested past any parser
        fh.write(line_of(8) + b"\n")
    report = run(db, path, watchlist=watchlist, max_line_bytes=1_000_000)
    assert report.recorded == 2 and set(posts(db)) == {A, C}
    problems = dict(report.problems)
    assert sorted(problems) == [2, 3]
    assert "longer than 1000000 bytes" in problems[2]
    assert "nested too deeply" in problems[3]


def test_lines_are_read_streaming_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "lines.ndjson"
    path.write_bytes(b"12345\r\n\n" + b"x" * 6 + b"\n" + b"abc")
    assert list(read_lines(path, max_line_bytes=5)) == [(1, b"12345"), (3, None), (4, b"abc")]


@pytest.mark.parametrize(("raw", "problem"), [
    (b'{"data": {}, "timestamp_collected": true, "source_platform": "x"}', "not milliseconds"),
    (b'{"data": {}, "timestamp_collected": 1e400, "source_platform": "x"}', "not milliseconds"),
    (b'{"data": {}, "timestamp_collected": 5, "source_platform": "x"}', "not a plausible"),
    (b'{"data": {}, "timestamp_collected": 99999999999999999999, "source_platform": "x"}',
     "not a plausible"),
    (b'{"data": {}, "timestamp_collected": 1769940000000}', "no source_platform"),
    (b'{"data": 1, "__import_meta": 2}', "neither a Zeeschuimer item"),
    (b'"just a string"', "not an object"),
    (b'{"a": ' + b"9" * 5000 + b"}", "not JSON"),
])
def test_a_bad_envelope_is_a_line_problem(raw: bytes, problem: str) -> None:
    with pytest.raises(LineProblem, match=problem):
        parse_line(raw, file="f", line=1, now=NOW)


def test_the_source_platform_is_read_from_the_page_url_when_missing() -> None:
    capture = parse_line(json.dumps({"data": {}, "timestamp_collected": 1769940000000,
                                     "source_platform_url": "https://www.XiaoHongShu.com/x"}
                                    ).encode(), file="f", line=3, now=NOW)
    assert capture.source_platform == "xiaohongshu.com" and capture.line == 3


# --- reading RedNote items ---------------------------------------------------------------


def item(number: int) -> dict[str, Any]:
    obj = json.loads(line_of(number))
    return obj["data"] if "data" in obj else {k: v for k, v in obj.items()
                                             if k != "__import_meta"}


@pytest.mark.parametrize(("number", "key", "title", "token", "account"), [
    (1, A, "周末去哪儿", "ABsearchTokA1=", U1),  # search card, snake_case
    (2, B, "夜景", "ABpageTokB2=", U2),  # note page, camelCase
    (8, C, "跑步日记", "ABuserTokC3=", U1),  # user page card
    (9, D, "茶馆", "ABfourcatD4=", U2),  # 4CAT export
    (10, E, "早餐", "ABhtmlTokE5=", None),  # read from the HTML
    (16, A, "周末去哪儿", "ABpageTokA6=", U1),
])
def test_each_rednote_shape_reads_through_the_spiders_parser(
        number: int, key: str, title: str, token: str, account: str | None) -> None:
    found = rednote_item(item(number))
    assert (found.post.key, found.post.title, found.post.extra["xsec_token"], found.account) \
        == (key, title, token, account)
    assert found.post.url == f"https://www.xiaohongshu.com/explore/{key}"


def test_the_note_page_keeps_the_text_and_publication_time() -> None:
    post = rednote_item(item(2)).post
    assert post.text.startswith("第一次来") and post.published_at == at("2026-02-01T20:00:00")
    assert post.counters["likedCount"] == "88" and post.extra["ip_location"] == "上海"


@pytest.mark.parametrize("data", [
    {"id": A, "note_id": A, "content": "a comment"},
    {"id": A},
    {"id": "../x", "model_type": "note", "note_card": {"display_title": "x"}},
    {"note": {"noteId": "66A1B2C3000000000D00E1F2Z", "title": "x"}},
])
def test_what_is_not_a_note_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ParseError):
        rednote_item(data)


def test_an_empty_group_is_refused(db: Database) -> None:
    with pytest.raises(ConfigError, match="group"):
        Importer(db, ON, READERS, group=" ")


# --- the command ---------------------------------------------------------------------------


def test_the_command_imports_and_summarises(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHED, encoding="utf-8")
    env = {"TAKEDOWN_DATABASE_URL": db_url, "TAKEDOWN_IMPORT_CAPTURES": "true"}
    result = CliRunner().invoke(cli, ["-w", str(path), "import", "captures", str(FIXTURE),
                                      "--group", "seen"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"imported {FIXTURE.name}: 16 line(s); 7 observation(s) recorded" in result.output
    # U1's account was never synced: the import adds the watchlist's targets first.
    assert "4 note(s) added" in result.output
    assert "skipped 1: douyin.com: no platform to track its items" in result.output
    assert "8 bad line(s) skipped" in result.output
    assert "line 15: not UTF-8" in result.output
    assert {t.group for t in load_watchlist(path).targets} == {"journalists", "seen"}


def test_notes_join_the_watchlist_in_one_edit_that_keeps_what_is_there(tmp_path: Path) -> None:
    from monitor.errors import WatchlistError
    from monitor.watchlist_edit import add_targets

    path = tmp_path / "watchlist.toml"
    path.write_text("# my notes\n" + WATCHED, encoding="utf-8")
    url = "https://www.xiaohongshu.com/explore/{}".format
    added = add_targets(path, "captures", [("xhs", "post", url(B)), ("rednote", "post", url(D)),
                                           ("rednote", "account", U1)])  # U1: there already
    assert [t.key for t in added] == [f"rednote:post:{B}", f"rednote:post:{D}"]
    assert path.read_text(encoding="utf-8").startswith("# my notes\n")
    assert len(load_watchlist(path).targets) == 3
    before = path.read_bytes()
    with pytest.raises(WatchlistError):
        add_targets(path, "captures", [("rednote", "post", url(E)),
                                       ("rednote", "post", "https://example.org/nope")])
    assert path.read_bytes() == before  # one bad value: nothing written
    assert add_targets(path, "captures", [("rednote", "post", url(B))]) == []
