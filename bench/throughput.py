"""Observations per second end to end, against Scrapy's raw fetch-and-parse rate.

M single-post Mastodon statuses are served by nginx on 127.0.0.1. In one process,
on one reactor, with the same Scrapy settings:

- raw: the Mastodon spider over M probe WorkItems (``crawl_blocking``), the sink
  only counts observations (fetch + parse, nothing stored);
- end to end: M single-post targets synced into a fresh database, then
  ``Worker.cycle()`` over all M due posts (claim -> fetch -> parse -> diff ->
  store): a first pass (every post new: a version and an observation row each)
  and a second, unchanged pass (observations extended in place). Between passes
  the benchmark sets ``posts.next_check = now()`` so every post is due again.

Raw runs once before and once after the end-to-end passes; the better of the two
is the reference, which makes the ratio the conservative one. The two raw runs do
the same work, so when their CPU times differ by more than ``NOISY_DRIFT`` (15%) the
machine's speed changed during the run (another tenant, a frequency change): the run
is flagged NOISY, and still counts toward the target. ``--runs N``
repeats the whole measurement N times in fresh databases and reports each run.

Target (issue 13): end-to-end / raw at least 0.8 on both passes of every run.

Run: ``.venv/bin/python -m bench.throughput [--posts 5000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections import Counter
from typing import Any

from monitor.db import Database
from monitor.observation import Observation, WorkItem
from monitor.watchlist import Target
from monitor.worker import Worker

from ._common import (
    CRAWL_SETTINGS,
    Stopwatch,
    add_database_args,
    crawl_settings,
    fresh_database,
    machine,
    machine_rows,
    maxrss_mib,
    print_block,
    scalar,
    server_facts,
    setup_logging,
    stop_reactor_threads,
    verdict,
    write_result,
)
from ._static import StaticSite

NAME = "throughput"
TARGET_RATIO = 0.8
#: A run whose two raw passes (the same work) differ by more CPU time than this share
#: ran on a machine whose speed changed under it: flagged, still counted.
NOISY_DRIFT = 0.15
log = logging.getLogger(__name__)


def post_targets(site: StaticSite, n: int) -> list[Target]:
    return [Target("bench", "mastodon", "post", site.status_url(sid), site.base, None, ())
            for sid in site.ids[:n]]


def raw_crawl(site: StaticSite, n: int, settings: Any) -> dict[str, Any]:
    """The spider alone: fetch and parse n statuses; the sink only counts."""
    from spiders.crawl import crawl_blocking

    items = [WorkItem(mode="probe", platform="mastodon", target_key=f"bench:{sid}",
                      url=site.probe_url(sid), base_url=site.base, post_key=sid, row_id=i)
             for i, sid in enumerate(site.ids[:n])]
    outcomes: Counter[str] = Counter()

    def sink(obs: Observation) -> None:
        outcomes[obs.outcome.value] += 1

    with Stopwatch() as sw:
        crawl_blocking({"mastodon": items}, sink, settings)
    return {"observations": sum(outcomes.values()), "outcomes": dict(outcomes),
            "seconds": round(sw.wall, 3), "cpu_seconds": round(sw.cpu, 3),
            "obs_per_s": round(sum(outcomes.values()) / sw.wall, 1)}


def cycle(worker: Worker) -> dict[str, Any]:
    from spiders.crawl import event_loop

    loop = event_loop()
    asyncio.set_event_loop(loop)
    with Stopwatch() as sw:
        stats = loop.run_until_complete(worker.cycle())
    return {**stats, "seconds": round(sw.wall, 3), "cpu_seconds": round(sw.cpu, 3),
            "obs_per_s": round(stats["observations"] / sw.wall, 1)}


def db_summary(db: Database) -> dict[str, Any]:
    with db.transaction() as conn:
        return {
            "posts_by_state": {r["state"]: r["n"] for r in conn.execute(
                "SELECT state, count(*) AS n FROM posts GROUP BY state")},
            "observation_rows": scalar(conn, "SELECT count(*) FROM observations"),
            "observation_repeats": scalar(
                conn, "SELECT coalesce(sum(repeats), 0) FROM observations"),
            "outcomes": {r["outcome"]: r["n"] for r in conn.execute(
                "SELECT outcome, count(*) AS n FROM observations GROUP BY outcome")},
            "versions": scalar(conn, "SELECT count(*) FROM versions"),
            "events": scalar(conn, "SELECT count(*) FROM events"),
            # A single-post target's own row: does a probe update its check times?
            "targets_with_last_checked_at": scalar(
                conn, "SELECT count(*) FROM targets WHERE last_checked_at IS NOT NULL"),
        }


def make_due(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET next_check = now() - interval '1 second'")


def measure(site: StaticSite, m: int, args: argparse.Namespace,
            knobs: dict[str, Any]) -> dict[str, Any]:
    """One run: raw, both end-to-end passes, raw again, in a fresh database."""
    with fresh_database(args.database_url, args.embedded) as url:
        server = server_facts(url)
        settings = crawl_settings(url, **knobs)
        raw_crawl(site, min(m, 500), settings)  # warm-up: imports, connections, JIT-less
        raw_before = raw_crawl(site, m, settings)
        db = Database(url)
        try:
            db.migrate()
            worker = Worker(db, settings, _crawl())
            with Stopwatch() as sync_sw:
                synced = worker.sync(post_targets(site, m))
            first = cycle(worker)
            after_first = db_summary(db)
            make_due(db)
            second = cycle(worker)
            after_second = db_summary(db)
        finally:
            db.close()
        raw_after = raw_crawl(site, m, settings)
    valid = all(set(d["outcomes"]) == {"ok"} for d in (raw_before, raw_after, after_second))
    raw_best = max(raw_before["obs_per_s"], raw_after["obs_per_s"])
    # The same work twice: a change in its CPU time is the machine's, not the code's.
    drift = raw_after["cpu_seconds"] / raw_before["cpu_seconds"] - 1
    ratio_first = first["obs_per_s"] / raw_best
    ratio_second = second["obs_per_s"] / raw_best
    return {
        "postgresql": server,
        "raw_before": raw_before, "raw_after": raw_after, "raw_reference_obs_per_s": raw_best,
        "sync": {**synced, "seconds": round(sync_sw.wall, 2)},
        "e2e_first_pass": first, "e2e_second_pass": second,
        "db_after_first": after_first, "db_after_second": after_second,
        "ratio_first_pass": round(ratio_first, 3), "ratio_second_pass": round(ratio_second, 3),
        "valid": valid,
        "raw_cpu_drift": round(drift, 3), "noisy": abs(drift) > NOISY_DRIFT,
        "met": min(ratio_first, ratio_second) >= TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=5000, help="statuses served and checked (M)")
    parser.add_argument("--runs", type=int, default=1,
                        help="repetitions, each in a fresh database (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="CONCURRENT_REQUESTS and CONCURRENT_REQUESTS_PER_HOST")
    parser.add_argument("--verbose", action="store_true")
    add_database_args(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)

    from spiders.crawl import install_reactor

    install_reactor()
    m = args.posts
    info = machine()
    knobs = {"concurrent_requests": args.concurrency,
             "concurrent_requests_per_host": args.concurrency}
    runs: list[dict[str, Any]] = []
    try:
        with StaticSite(m) as site:
            for n in range(max(1, args.runs)):
                if args.runs > 1:
                    print(f"run {n + 1} of {args.runs} ...", file=sys.stderr, flush=True)
                runs.append(measure(site, m, args, knobs))
            exported_by, export_s = site.exported_by, site.export_seconds
    finally:
        stop_reactor_threads()

    ok = all(r["met"] for r in runs)
    valid = all(r["valid"] for r in runs)
    server = runs[0]["postgresql"]
    last = runs[-1]
    result = {
        "machine": info, "postgresql": server,
        "params": {"posts": m, "runs": len(runs),
                   "server": "embedded" if args.embedded else "given URL",
                   "settings": {**CRAWL_SETTINGS, **knobs}, "exported_by": exported_by,
                   "export_s": round(export_s, 2)},
        # The last run's figures at the top level, as before --runs existed.
        **{k: v for k, v in last.items() if k not in ("postgresql", "met")},
        "runs": [{k: v for k, v in r.items() if k != "postgresql"} for r in runs],
        "ratios": [[r["ratio_first_pass"], r["ratio_second_pass"]] for r in runs],
        "peak_rss_mib": round(maxrss_mib(), 1),
        "valid": valid,
        "target": {"ratio_at_least": TARGET_RATIO, "every_run": True, "met": ok},
    }
    path = write_result(NAME + ("-embedded" if args.embedded else ""), result)

    def line(d: dict[str, Any]) -> str:
        return (f"{d['obs_per_s']:>7.0f} obs/s  ({d['observations']} in {d['seconds']:.2f} s, "
                f"CPU {d['cpu_seconds']:.2f} s)")

    rows: list[tuple[str, Any]] = [
        *machine_rows(info, server),
        ("scrapy settings", f"CONCURRENT_REQUESTS={args.concurrency}, per host "
                            f"{args.concurrency}, ROBOTSTXT_OBEY off, AUTOTHROTTLE off"),
        ("statuses from", exported_by),
    ]
    for n, r in enumerate(runs, 1):
        tag = f"run {n}: " if len(runs) > 1 else ""
        sync = r["sync"]
        rows += [
            ("", ""),
            (f"{tag}raw spider (before)", line(r["raw_before"])),
            (f"{tag}raw spider (after)", line(r["raw_after"])
             + (f"  NOISY: raw CPU {r['raw_cpu_drift']:+.0%} for the same work"
                if r["noisy"] else "")),
            (f"{tag}sync targets", f"{m} targets in {sync['seconds']:.2f} s (sync_targets)"),
            (f"{tag}end to end, 1st pass", line(r["e2e_first_pass"])
             + f"  ratio {r['ratio_first_pass']:.2f}"),
            (f"{tag}end to end, 2nd pass", line(r["e2e_second_pass"])
             + f"  ratio {r['ratio_second_pass']:.2f}"),
            (f"{tag}db after passes", f"{r['db_after_second']['observation_rows']} observation "
                                      f"rows holding {r['db_after_second']['observation_repeats']}"
                                      f" observations, {r['db_after_second']['versions']} "
                                      f"versions, posts {r['db_after_second']['posts_by_state']}"),
            *([] if r["valid"] else [(f"{tag}INVALID",
                                      "not every fetch came back ok: see the json")]),
            (f"{tag}target", f"end-to-end/raw >= {TARGET_RATIO}: {verdict(r['met'])} "
                             f"(1st {r['ratio_first_pass']:.2f}, 2nd "
                             f"{r['ratio_second_pass']:.2f})"),
        ]
    rows += [
        ("", ""),
        ("peak RSS", f"{maxrss_mib():.0f} MiB"),
        ("target", f"end-to-end/raw >= {TARGET_RATIO} on every run of {len(runs)}: "
                   f"{verdict(ok)}"),
        ("json", str(path)),
    ]
    print_block(f"bench.throughput: M={m} single-post Mastodon statuses via nginx, "
                f"{len(runs)} run(s)", rows)
    return 0


def _crawl() -> Any:
    from spiders.crawl import crawl

    return crawl


if __name__ == "__main__":
    raise SystemExit(main())
