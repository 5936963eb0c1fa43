"""Bytes added to PostgreSQL per unchanged re-check of a post.

No network: synthetic observations go straight into ``Recorder.record`` in
batches, as the worker's writer thread would send them. N posts are created by
one listing pass (``--targets account``: N/40 Mastodon accounts listing 40 posts
each) or by syncing N single-post targets (``--targets post``), then probed once
(the probe's observation row is created then). After that come R rounds of
unchanged probes: same content, counters and body hash changing. By default each
round happens when the posts' own ``next_check`` says (2m, 5m, ... 24h, then
daily: every re-check moves ``next_check``, as in production, which rules out
HOT updates of ``posts``); ``--spacing 10m`` probes more often than the schedule.

Phases and what each number means (sizes are ``pg_database_size`` and the sum of
``pg_total_relation_size`` over the project tables):

1. baseline: after setup, ``VACUUM FULL`` then ``VACUUM`` of the project tables, so the
   starting size holds no garbage but already has its free-space and visibility maps;
2. R rounds with autovacuum as the server is configured -> *un-vacuumed growth*;
3. plain ``VACUUM`` -> the same delta measured after it (a plain VACUUM frees
   space for reuse inside the files but rarely gives it back to the OS);
4. R more rounds with a ``VACUUM`` after every round (what a keeping-up
   autovacuum does on a table that rewrites all its rows each round) ->
   *steady-state growth*, the amortised cost per re-check;
5. ``VACUUM FULL`` -> the bytes the 2R rounds truly retained (the floor);
6. the evidence archive: every observation carries its raw capture, as the spider
   gives it (a Mastodon status JSON of ~3 KB, a 40-post listing page of ~130 KB), so
   (2)-(5) show that unchanged re-checks archive nothing. Then E posts (``--events``)
   disappear (two 404 probes 40 minutes apart): the WARC bytes per event (what its
   bundle carries: the listing that last showed it and both probes), the archive's
   table growth per event, and the archive's bytes per observation row.

Run: ``.venv/bin/python -m bench.storage [--posts 2000] [--rounds 50]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from monitor.db import Database
from monitor.db import archive as archive_store
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent, RawCapture
from monitor.settings import parse_duration
from monitor.snapshot import Recorder
from monitor.watchlist import Target

from ._common import (
    TABLES,
    Stopwatch,
    add_database_args,
    crawl_settings,
    fresh_database,
    machine,
    machine_rows,
    print_block,
    scalar,
    server_facts,
    setup_logging,
    sizes,
    verdict,
    write_result,
)

NAME = "storage"
TARGET_BYTES = 50.0
BASE = "https://bench.example"
PER_ACCOUNT = 40
#: Setup time. Single-post targets get ``first_seen = now()`` from the database,
#: so the synthetic clock starts at the real one.
T0 = datetime.now(UTC).replace(microsecond=0)
#: Long enough that R daily re-checks stay inside it (the default is 30 days).
HORIZON = "120d"


def content(i: int, round_no: int) -> PostContent:
    """Post ``i`` as served in round ``round_no``: text fixed, counters growing."""
    sid = str(113_000_000_000_000_000 + i * 1000)
    user = f"bench{i // PER_ACCOUNT}"
    text = (f"<p>Post {i}: the council published the annual report near the harbour; "
            f"nobody expected it. <a href=\"https://example.org/doc/{i}\">example.org/doc/"
            f"{i}</a> #bench</p>")
    return PostContent(
        key=sid,
        url=f"{BASE}/@{user}/{sid}",
        probe_url=f"{BASE}/api/v1/statuses/{sid}",
        text=text,
        author=user,
        published_at=T0 - timedelta(minutes=i % 600),
        links=[f"https://example.org/doc/{i}"],
        counters={"favourites_count": 3 * round_no + i % 7, "reblogs_count": round_no,
                  "replies_count": i % 5},
        extra={"account_id": str(110_000_000_000_000_000 + i // PER_ACCOUNT),
               "username": user, "edited_at": None, "spoiler_text": "", "sensitive": False,
               "visibility": "public", "uri": f"{BASE}/users/{user}/statuses/{sid}"},
    )


def body(post: PostContent) -> str:
    return hashlib.sha256(repr((post.key, post.text, post.counters)).encode()).hexdigest()


#: The archive's tables (measured apart from TABLES, which the target applies to).
ARCHIVE_TABLES = ("archive_records", "archive_links")
REQUEST_HEADERS = (("User-Agent", "TakedownMonitor/0.1 (+https://example.org)"),
                   ("Accept", "application/json"), ("Accept-Encoding", "gzip, deflate"))
RESPONSE_HEADERS = (("Content-Type", "application/json; charset=utf-8"),
                    ("Cache-Control", "max-age=0, public"), ("Vary", "Accept, Origin"),
                    ("X-Request-Id", "6c4f3b1e-bench"), ("Server", "Mastodon"))


def status_json(post: PostContent) -> bytes:
    """A status as Mastodon's API serves it (~3 KB: the post, its account, its card)."""
    user = post.author or "bench"
    account: dict[str, Any] = {
               "id": post.extra.get("account_id"), "username": user, "acct": user,
               "display_name": f"Bench {user}", "locked": False, "bot": False,
               "created_at": "2023-01-01T00:00:00.000Z",
               "note": "<p>Reporter covering the harbour council. Tips welcome.</p>",
               "url": f"{BASE}/@{user}", "avatar": f"{BASE}/avatars/{user}/original.png",
               "header": f"{BASE}/headers/{user}/original.png", "followers_count": 1234,
               "following_count": 321, "statuses_count": 4567, "emojis": [], "fields": []}
    doc = {"id": post.key, "created_at": post.published_at.isoformat()
           if post.published_at else None, "in_reply_to_id": None, "sensitive": False,
           "spoiler_text": "", "visibility": "public", "language": "en",
           "uri": post.extra.get("uri"), "url": post.url, "replies_count": 0,
           "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
           "content": post.text, "reblog": None, "application": None, "account": account,
           "media_attachments": [], "mentions": [], "tags": [{"name": "bench"}], "emojis": [],
           "card": {"url": post.links[0] if post.links else None, "title": "Annual report",
                    "description": "The council's annual report, published near the "
                                   "harbour. " * 3, "type": "link"},
           "poll": None, **post.counters}
    return json.dumps(doc).encode()


def raw(url: str, status: int, payload: bytes, at: datetime) -> RawCapture:
    return RawCapture(method="GET", url=url, request_headers=REQUEST_HEADERS, status=status,
                      response_headers=RESPONSE_HEADERS, body=payload, fetched_at=at)


def probe(row: dict[str, Any], i: int, round_no: int, at: datetime) -> Observation:
    post = content(i, round_no)
    return Observation(
        mode="probe", platform="mastodon", target_key=row["target_key"], url=row["probe_url"],
        outcome=Outcome.OK, row_id=row["id"], post_key=row["post_key"], http_status=200,
        final_url=row["probe_url"], body_hash=body(post), post=post, observed_at=at,
        elapsed_ms=3.0, capture=raw(row["probe_url"], 200, status_json(post), at),
    )


def absent_probe(row: dict[str, Any], at: datetime) -> Observation:
    payload = b'{"error":"Record not found"}'
    return Observation(
        mode="probe", platform="mastodon", target_key=row["target_key"], url=row["probe_url"],
        outcome=Outcome.NOT_FOUND, row_id=row["id"], post_key=row["post_key"],
        http_status=404, final_url=row["probe_url"], observed_at=at,
        body_hash=hashlib.sha256(payload).hexdigest(),
        capture=raw(row["probe_url"], 404, payload, at))


def batched(items: list[Observation], size: int) -> Iterator[list[Observation]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Bench:
    def __init__(self, url: str, n: int, targets: str, batch: int,
                 spacing: float | None) -> None:
        self.url = url
        self.n = n
        self.batch = batch
        self.targets = targets
        self.spacing = spacing
        self.at = T0
        self.settings = crawl_settings(url, recheck_horizon=HORIZON)
        self.db = Database(url)
        self.db.migrate()
        self.recorder = Recorder(self.db, self.settings)
        self.rows: list[tuple[dict[str, Any], int]] = []
        self.round_seconds: list[float] = []

    def setup(self) -> None:
        """Create the N posts and give each its probe observation row."""
        if self.targets == "account":
            accounts = [Target("bench", "mastodon", "account", f"bench{a}", BASE, None, ())
                        for a in range((self.n + PER_ACCOUNT - 1) // PER_ACCOUNT)]
            with self.db.transaction() as conn:
                store.sync_targets(conn, accounts, 600.0)
                ids = {r["key"]: r["id"] for r in conn.execute("SELECT id, key FROM targets")}
            listings = []
            for a, t in enumerate(accounts):
                entries = [content(i, 0) for i in range(a * PER_ACCOUNT,
                                                        min(self.n, (a + 1) * PER_ACCOUNT))]
                page = b"[" + b",".join(status_json(e) for e in entries) + b"]"
                listings.append(Observation(
                    mode="listing", platform="mastodon", target_key=t.key, url=t.value,
                    outcome=Outcome.OK, row_id=ids[t.key], http_status=200,
                    body_hash=hashlib.sha256(t.key.encode()).hexdigest(), entries=entries,
                    signals={"account_state": "normal"}, observed_at=T0,
                    capture=raw(f"{BASE}/api/v1/accounts/{a}/statuses", 200, page, T0)))
            for chunk in batched(listings, max(1, self.batch // PER_ACCOUNT)):
                self.recorder.record(chunk)
        else:
            posts = [Target("bench", "mastodon", "post", content(i, 0).url or "", BASE, None, ())
                     for i in range(self.n)]
            with self.db.transaction() as conn:
                store.sync_targets(conn, posts, 600.0)
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT p.id, p.post_key, p.probe_url, t.key AS target_key FROM posts p "
                "JOIN targets t ON t.id = p.target_id ORDER BY p.post_key").fetchall()
        assert len(rows) == self.n, f"expected {self.n} posts, found {len(rows)}"
        index = {content(i, 0).key: i for i in range(self.n)}
        self.rows = [(row, index[row["post_key"]]) for row in rows]
        self.round(0)  # the first probe: creates each post's probe observation row

    def round(self, round_no: int) -> None:
        """Probe every post once more: when its schedule says (``next_check``), or
        ``spacing`` seconds after the last round."""
        if round_no == 0:
            at = T0 + timedelta(minutes=1)
        elif self.spacing is None:
            with self.db.transaction() as conn:
                due = scalar(conn, "SELECT max(next_check) FROM posts")
            at = max(due, self.at + timedelta(seconds=1))
        else:
            at = self.at + timedelta(seconds=self.spacing)
        self.at = at
        observations = [probe(row, i, round_no, at) for row, i in self.rows]
        with Stopwatch() as sw:
            for chunk in batched(observations, self.batch):
                self.recorder.record(chunk)
        if round_no:
            self.round_seconds.append(sw.wall)

    def vacuum(self, full: bool = False) -> float:
        """VACUUM the project tables only. A database-wide VACUUM, or an ANALYZE each
        round, would add catalog churn (free-space maps, pg_statistic rows) to the
        sizes measured."""
        tables = ", ".join(TABLES)
        with psycopg.connect(self.url, autocommit=True) as conn, Stopwatch() as sw:
            if full:
                conn.execute(f"VACUUM (FULL, ANALYZE) {tables}")
            conn.execute(f"VACUUM {tables}")  # a VACUUM FULL leaves no FSM/VM forks
        return sw.wall

    def table_stats(self) -> dict[str, dict[str, Any]]:
        # An idle backend reports its table statistics only every 10 s (PostgreSQL
        # 15); one that exits reports them at once. So: new pool, then read.
        self.db.close()
        self.db = Database(self.url)
        self.recorder = Recorder(self.db, self.settings)
        time.sleep(0.5)
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT relname, n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, "
                "autovacuum_count, vacuum_count FROM pg_stat_user_tables "
                "WHERE relname = ANY(%s)", (list(TABLES),)).fetchall()
        return {r[0]: {"live": r[1], "dead": r[2], "updates": r[3], "hot_updates": r[4],
                       "autovacuums": r[5], "vacuums": r[6]} for r in rows}

    def disappear(self, count: int) -> dict[str, Any]:
        """``count`` posts answer 404 twice, 40 minutes apart: each a ``disappeared``
        event. Returns what the archive holds for them."""
        rows = [row for row, _ in self.rows[:count]]
        recorder = Recorder(self.db, self.settings)
        before = archive_sizes(self.url)
        for minutes in (1, 41):
            self.at += timedelta(minutes=minutes)
            for chunk in batched([absent_probe(row, self.at) for row in rows], self.batch):
                recorder.record(chunk)
        after = archive_sizes(self.url)
        with self.db.transaction() as conn:
            events = [r["id"] for r in conn.execute(
                "SELECT id FROM events WHERE kind = 'disappeared'").fetchall()]
            warc, records = 0, 0
            for event_id in events:
                found = archive_store.records(
                    conn, archive_store.event_observation_ids(conn, event_id))
                warc += sum(len(r.warc) for r in found)
                records += len(found)
            stored = conn.execute("SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes "
                                  "FROM archive_records").fetchone()
            observations = scalar(conn, "SELECT count(*) FROM observations")
        assert stored is not None
        n = max(1, len(events))
        return {"events": len(events), "records_per_event": round(records / n, 2),
                "warc_bytes_per_event": round(warc / n, 1),
                "table_growth_per_event": round((after - before) / n, 1),
                "records": stored["n"], "warc_bytes": stored["bytes"],
                "observation_rows": observations,
                "warc_bytes_per_observation_row": round(stored["bytes"]
                                                        / max(1, observations), 1)}

    def counts(self) -> dict[str, int]:
        with self.db.transaction() as conn:
            return {t: scalar(conn, f"SELECT count(*) FROM {t}") for t in TABLES}


def archive_sizes(url: str) -> int:
    """``pg_total_relation_size`` of the archive's tables, together."""
    with psycopg.connect(url, autocommit=True) as conn:
        return sum(scalar(conn, "SELECT pg_total_relation_size(%s::regclass)", (t,))
                   for t in ARCHIVE_TABLES)


def per_check(before: dict[str, int], after: dict[str, int], checks: int) -> dict[str, float]:
    return {k: round((after[k] - before[k]) / checks, 2) for k in ("database", "tables")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=2000, help="posts tracked (N)")
    parser.add_argument("--rounds", type=int, default=50, help="unchanged rounds (R) per phase")
    parser.add_argument("--targets", choices=("account", "post"), default="account",
                        help="create the posts by an account listing or as single-post targets")
    parser.add_argument("--batch", type=int, default=500,
                        help="observations per Recorder.record call (the worker's BATCH_SIZE)")
    parser.add_argument(
        "--spacing", default="schedule",
        help="time between rounds: 'schedule' (each post's own next_check, so every "
             "re-check moves it, as in production) or a duration such as 10m")
    parser.add_argument("--events", type=int, default=200,
                        help="posts made to disappear for the archive's cost per event (E)")
    parser.add_argument("--verbose", action="store_true")
    add_database_args(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    n, r = args.posts, args.rounds
    info = machine()

    with fresh_database(args.database_url, args.embedded) as url:
        server = server_facts(url)
        spacing = None if args.spacing == "schedule" else parse_duration(args.spacing)
        bench = Bench(url, n, args.targets, args.batch, spacing)
        try:
            with Stopwatch() as setup_sw:
                bench.setup()
            bench.vacuum(full=True)
            s0 = sizes(url)
            a0 = archive_sizes(url)
            for k in range(1, r + 1):  # phase 2: autovacuum as configured
                bench.round(k)
            s1 = sizes(url)
            stats_unvacuumed = bench.table_stats()
            vacuum_seconds = bench.vacuum()
            s2 = sizes(url)
            for k in range(r + 1, 2 * r + 1):  # phase 4: VACUUM after every round
                bench.round(k)
                bench.vacuum()
            s3 = sizes(url)
            a3 = archive_sizes(url)
            stats_steady = bench.table_stats()
            counts = bench.counts()
            bench.vacuum(full=True)
            s4 = sizes(url)
            archived = bench.disappear(min(n, args.events))
        finally:
            bench.db.close()

    checks = n * r
    unvacuumed = per_check(s0, s1, checks)
    after_vacuum = per_check(s0, s2, checks)
    steady = per_check(s2, s3, checks)
    retained = per_check(s0, s4, 2 * checks)
    rates = sorted(bench.round_seconds)
    median_round = rates[len(rates) // 2]
    amortised = max(steady["database"], steady["tables"])
    ok = amortised < TARGET_BYTES
    result = {
        "machine": info, "postgresql": server,
        "params": {"posts": n, "rounds": r, "targets": args.targets, "batch": args.batch,
                   "spacing": args.spacing, "recheck_horizon": HORIZON,
                   "simulated_span_days": round((bench.at - T0).total_seconds() / 86400, 2),
                   "server": "embedded" if args.embedded else "given URL"},
        "sizes": {"baseline_vacuum_full": s0, "after_rounds_unvacuumed": s1,
                  "after_vacuum": s2, "after_steady_rounds": s3, "after_vacuum_full": s4},
        "bytes_per_recheck": {"unvacuumed": unvacuumed, "after_vacuum": after_vacuum,
                              "steady_state": steady, "retained_vacuum_full": retained},
        "table_stats": {"after_unvacuumed_rounds": stats_unvacuumed,
                        "after_steady_rounds": stats_steady},
        "rows": counts,
        "archive": {**archived, "growth_over_unchanged_rounds": a3 - a0},
        "timing": {"setup_s": round(setup_sw.wall, 2), "vacuum_s": round(vacuum_seconds, 2),
                   "median_round_s": round(median_round, 3),
                   "recorder_obs_per_s": round(n / median_round, 1)},
        "target": {"bytes_per_recheck_below": TARGET_BYTES, "amortised": amortised, "met": ok},
    }
    variant = [] if args.targets == "account" else [args.targets]
    variant += [] if args.spacing == "schedule" else [args.spacing]
    variant += ["embedded"] if args.embedded else []
    path = write_result("-".join([NAME, *variant]), result)

    def fmt(d: dict[str, float]) -> str:
        return f"{d['database']:>9.1f} B (database)  {d['tables']:>9.1f} B (project tables)"

    mib = 2**20
    print_block(f"bench.storage: bytes per unchanged re-check (N={n}, R={r}, "
                f"{args.targets} targets)", [
        *machine_rows(info, server),
        ("", ""),
        ("re-check times", f"{args.spacing}: {2 * r} rounds span "
                           f"{(bench.at - T0).total_seconds() / 86400:.1f} simulated days"),
        ("baseline (VACUUM FULL)", f"{s0['database'] / mib:.1f} MiB database, "
                                   f"{s0['tables'] / mib:.2f} MiB tables"),
        ("after R rounds, no vacuum", f"{s1['database'] / mib:.1f} MiB database, "
                                      f"{s1['tables'] / mib:.2f} MiB tables"),
        ("(a) un-vacuumed growth", fmt(unvacuumed)),
        ("    by table", ", ".join(f"{t} {(s1[t] - s0[t]) / checks:.0f} B" for t in TABLES)),
        ("(b) same delta after VACUUM", fmt(after_vacuum)),
        ("(c) steady state, VACUUM/round", fmt(steady) + "   <- amortised"),
        ("(d) retained (VACUUM FULL)", fmt(retained)),
        ("", ""),
        ("HOT updates (unvacuumed)", ", ".join(
            f"{t} {v['hot_updates']}/{v['updates']}" for t, v in
            sorted(stats_unvacuumed.items()) if v["updates"])),
        ("autovacuum runs", ", ".join(f"{t} {v['autovacuums']}" for t, v in
                                      sorted(stats_steady.items()))),
        ("rows", ", ".join(f"{t} {c}" for t, c in counts.items())),
        ("archive: unchanged rounds", f"{a3 - a0} B over {2 * checks} re-checks "
                                      "(none stores a capture)"),
        ("archive: per event", f"{archived['warc_bytes_per_event']:.0f} B of WARC "
                               f"({archived['records_per_event']} records; "
                               f"{archived['table_growth_per_event']:.0f} B table growth) "
                               f"over {archived['events']} disappearances"),
        ("archive: per observation row", f"{archived['warc_bytes_per_observation_row']:.0f} B "
                                         f"({archived['records']} records, "
                                         f"{archived['warc_bytes'] / mib:.1f} MiB in all)"),
        ("Recorder.record rate", f"{n / median_round:.0f} unchanged obs/s "
                                 f"(median round {median_round:.2f} s, batches of {args.batch})"),
        ("", ""),
        ("target", f"< {TARGET_BYTES:.0f} B amortised: {verdict(ok)} ({amortised:.1f} B)"),
        ("json", str(path)),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
