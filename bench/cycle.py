"""One check cycle over 5,000, 20,000 and 50,000 single-post pages, next to the
tuned plain-Scrapy floor: wall time, ratio, linearity, peak RSS.

nginx on 127.0.0.1 serves the largest size's Mastodon statuses. For each size, a
fresh subprocess first runs the floor (``bench/_floor.py``: a plain Scrapy spider
with the project's ``CONCURRENT_ITEMS`` fetching and parsing the same pages, no
claim, no recording); then, in a fresh database, this process syncs that many
single-post targets (``sync_targets`` in one transaction, timed separately), then
starts a fresh subprocess that runs one ``Worker.cycle()`` over all the due posts
(claim -> fetch -> parse -> diff -> store; every post new), so the sizes cannot
contaminate each other. Unless ``--no-recheck``, the same child then makes every
post due again and runs a second cycle, where nothing changed (the steady state
of a monitor): it is reported beside the first, against the same floor.

Peak RSS is the child's ``VmHWM`` (/proc/self/status) at the end: the
``ru_maxrss`` that ``os.wait4`` returns for the child is recorded too, but Linux
folds the spawning parent's high-water mark into it across (v)fork + exec, so
it reads as the parent's size (about 210 MiB here, after exporting 50,000
statuses) whatever the child does. The child also reports its RSS just before
the cycle (imports, pool and reactor) so the cycle's own share shows. With the
benchmarks' ``RECORDER = process`` the worker records in a process of its own: its
``VmHWM`` and CPU are read from /proc before the worker closes it (with the seconds
the crawl was held up on the hand-over to it: backpressure), and the peak
RSS held to the target is the two processes' peaks added (shared pages counted
twice). Beside it, ``total_peak_pss_mib`` is the peak of the two processes'
proportional set size (``Pss``, /proc/<pid>/smaps_rollup), sampled every 0.5 s
by this (parent) process over the child's whole life, which counts their shared
pages once. The crawl's and the floor's main threads report how they spent the wall
time: on a CPU, runnable but waiting for one, asleep (Linux schedstat); with the
seconds each process's garbage collector ran (the crawl's settled once its worker is
built, as ``takedown check`` settles it: :mod:`monitor.heap`). Every
fetch must come back ``ok`` (in every repetition); otherwise the run is flagged INVALID.

Targets (issue 13): at every size the (first) cycle takes at most 1.2 x the floor; the
largest cycle at most 10.5 x the smallest for 10 x the posts (other size ratios
scale the same way); peak RSS stays under 150 MB.

``--repeat N`` runs each size N times, the floor and the cycle alternating, and holds
the median ratio to the target, listing every repetition's (:mod:`bench._cycle_report`):
on a shared 2-core machine one pair's ratio moves by a quarter from run to run.
``--unrecorded`` adds, to each repetition, the same cycle in a third fresh process and
database whose worker hands its observations to a recorder that drops them
(:class:`bench._cycle_children.Dropping`): its crawl phase over the floor is what the
crawl costs without recording's share of the machine, printed and never judged.

Run: ``.venv/bin/python -m bench.cycle [--sizes 5000,20000,50000] [--repeat 3] [--recorder thread]
[--recorder-priority idle]``
(``--recorder thread``: recording in the crawl's own process, what the product's
default ``auto`` gives on one CPU)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from monitor.db import Database

from . import _cycle_report as report
from ._common import (
    CRAWL_SETTINGS,
    Stopwatch,
    add_database_args,
    crawl_settings,
    fresh_database,
    machine,
    print_block,
    scalar,
    server_facts,
    setup_logging,
    write_result,
)
from ._cycle_children import child, current_rss_mib, floor_child
from ._cycle_report import MAX_FLOOR_RATIO, MAX_RSS_BYTES, MAX_SCALING
from ._static import StaticSite

NAME = "cycle"
THREAD_SPLIT = ("thread_ran_s", "thread_queued_s", "thread_slept_s")


class PeakPss(threading.Thread):
    """The peak of the summed proportional set size (``Pss`` in /proc/<pid>/smaps_rollup)
    of the crawl process and its recorder process, sampled every ``every`` seconds.
    Pages the two share (the interpreter, libpq, OpenSSL) count once between them here;
    the RSS peaks added count them twice. Sampling misses peaks shorter than ``every``."""

    def __init__(self, pids: Callable[[], list[int]], every: float = 0.5) -> None:
        super().__init__(daemon=True, name="bench-pss")
        self.pids = pids
        self.every = every
        self.peak_mib = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.every):
            self.sample()

    def sample(self) -> None:
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                    total += next(int(line.split()[1]) for line in fh
                                  if line.startswith("Pss:"))
            except (OSError, StopIteration):
                continue
        self.peak_mib = max(self.peak_mib, total / 1024)

    def stop(self) -> float:
        self._done.set()
        self.join()
        self.sample()
        return self.peak_mib


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants alive now (the cycle child and, with RECORDER =
    process, its recorder process), from /proc/<pid>/task/<tid>/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{current}/task/{tid}/children", encoding="ascii") as fh:
                    todo.extend(int(c) for c in fh.read().split())
            except OSError:
                continue
    return found


def run_floor(site: StaticSite, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """The tuned plain-Scrapy floor over the same ``size`` pages, in a fresh child."""
    urls_file = os.path.join(site.tmp, f"floor-urls-{size}.txt")
    with open(urls_file, "w", encoding="utf-8") as fh:
        fh.write("\n".join(site.probe_url(sid) for sid in site.ids[:size]))
    out = subprocess.run(
        [sys.executable, "-m", "bench.cycle", "--floor-child", urls_file, "--base", site.base,
         "--concurrency", str(args.concurrency)],
        stdout=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(__file__)), check=False)
    if out.returncode != 0:
        raise SystemExit(f"the {size}-page floor failed (exit {out.returncode})")
    stats = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return {"floor_s": round(stats["wall_s"], 2), "floor_cpu_s": round(stats["cpu_s"], 2),
            "floor_items": stats["items"], "floor_failed": stats["failed"],
            "floor_peak_rss_mib": round(stats["hwm_mib"], 1),
            "floor_concurrent_items": stats["concurrent_items"],
            "floor_main_thread": [stats[k] for k in THREAD_SPLIT],
            "floor_collector_s": stats["collector_s"], "floor_collections": stats["collections"]}


def run_size(site: StaticSite, size: int, args: argparse.Namespace,
             unrecorded: bool = False) -> dict[str, Any]:
    from monitor.watchlist import Target

    targets = [Target("bench", "mastodon", "post", site.status_url(sid), site.base, None, ())
               for sid in site.ids[:size]]
    with fresh_database(args.database_url, args.embedded) as url:
        db = Database(url)
        try:
            db.migrate()
            settings = crawl_settings(url)
            from monitor.db import tracking as store

            with Stopwatch() as sync_sw, db.transaction() as conn:
                store.sync_targets(conn, targets, settings["DEFAULT_INTERVAL"])
        finally:
            db.close()
        parent_rss = current_rss_mib()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.cycle", "--child", url,
             "--concurrency", str(args.concurrency), "--recorder", args.recorder,
             "--recorder-priority", args.recorder_priority,
             *(["--no-recheck"] if args.no_recheck or unrecorded else []),
             *(["--unrecorded"] if unrecorded else [])],
            stdout=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(__file__)),
        )
        # Sampled from here, not in the child: reading smaps_rollup is not free, and
        # the measured process should not pay for its own measurement.
        pss = PeakPss(lambda: process_tree(proc.pid))
        pss.start()
        assert proc.stdout is not None
        out = proc.stdout.read()
        pss_mib = pss.stop()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"the {size}-post cycle failed (exit {proc.returncode})")
        stats = json.loads(out.decode().strip().splitlines()[-1])
        db = Database(url)
        try:
            with db.transaction() as conn:
                check = {
                    "posts_visible": scalar(
                        conn, "SELECT count(*) FROM posts WHERE state = 'visible'"),
                    "observation_rows": scalar(conn, "SELECT count(*) FROM observations"),
                    "outcomes": {r["outcome"]: r["n"] for r in conn.execute(
                        "SELECT outcome, count(*) AS n FROM observations GROUP BY outcome")},
                    "not_ok_sample": [dict(r) for r in conn.execute(
                        "SELECT outcome, http_status, message, url, detail FROM observations "
                        "WHERE outcome <> 'ok' ORDER BY id LIMIT 3")],
                }
        finally:
            db.close()
    recheck = {} if "recheck_wall_s" not in stats else {
        "recheck_s": round(stats["recheck_wall_s"], 2),
        "recheck_cpu_s": round(stats["recheck_cpu_s"], 2),
        "recheck_observations": stats["recheck_observations"],
        "peak_rss_first_cycle_mib": round(stats["hwm_first_mib"], 1),
    }
    return {
        **recheck,
        "size": size,
        "sync_s": round(sync_sw.wall, 2),
        "cycle_s": round(stats["wall_s"], 2),
        "cycle_cpu_s": round(stats["cpu_s"], 2),
        # The crawl alone (claims, fetches, parses, the hand-over to the recorder), without
        # the wait for the recorder's last batch at the cycle's end.
        "crawl_s": round(stats["crawl_s"], 2),
        "obs_per_s": round(stats["observations"] / stats["wall_s"], 1),
        # The crawl's main thread: seconds on a CPU, runnable waiting for one, asleep.
        "main_thread": [stats[k] for k in THREAD_SPLIT],
        # The crawl process's cyclic garbage collector, all threads: seconds, collections.
        "collector_s": stats["collector_s"],
        "collections": stats["collections"],
        "claimed": stats["claimed"],
        "observations": stats["observations"],
        "batches": stats["batches"],
        "rss_before_cycle_mib": round(stats["rss_before_cycle_mib"], 1),
        "peak_rss_mib": round(stats["hwm_mib"], 1),
        # RECORDER = process: the recorder child's own peak and CPU, and the two together.
        "recorder_peak_rss_mib": round(stats.get("recorder_hwm_mib", 0.0), 1),
        "recorder_cpu_s": round(stats.get("recorder_cpu_s", 0.0), 2),
        # The crawl held up on the hand-over to the recorder process (backpressure).
        "handover_waited_s": round(stats.get("handover_waited_s", 0.0), 2),
        "total_peak_rss_mib": round(stats["hwm_mib"] + stats.get("recorder_hwm_mib", 0.0), 1),
        # Both processes' proportional set size, sampled: shared pages counted once.
        "total_peak_pss_mib": round(pss_mib, 1),
        "ru_maxrss_wait4_mib": round(usage.ru_maxrss / 1024, 1),
        "parent_rss_at_spawn_mib": round(parent_rss, 1),
        "nginx_alive": site.proc.poll() is None,
        "check": check,
    }


def run_pair(site: StaticSite, size: int, args: argparse.Namespace,
             repetition: int) -> dict[str, Any]:
    """The floor (unless ``--no-floor``), then the cycle, over ``size`` pages."""
    of = f" ({repetition + 1} of {args.repeat})" if args.repeat > 1 else ""
    floor: dict[str, Any] = {}
    if not args.no_floor:
        print(f"floor over {size} pages{of} ...", file=sys.stderr, flush=True)
        floor = run_floor(site, size, args)
    print(f"cycle over {size} posts{of} ...", file=sys.stderr, flush=True)
    run = run_size(site, size, args)
    if args.unrecorded:
        print(f"crawl over {size} posts, unrecorded{of} ...", file=sys.stderr, flush=True)
        alone = run_size(site, size, args, unrecorded=True)
        run.update(unrecorded_crawl_s=alone["crawl_s"],
                   unrecorded_main_thread=alone["main_thread"])
    if floor:
        run.update(floor, floor_ratio=round(run["cycle_s"] / floor["floor_s"], 3))
        if "recheck_s" in run:
            run["recheck_floor_ratio"] = round(run["recheck_s"] / floor["floor_s"], 3)
        if "unrecorded_crawl_s" in run:
            run["unrecorded_floor_ratio"] = round(run["unrecorded_crawl_s"] / floor["floor_s"],
                                                  3)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cycle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="5000,20000,50000",
                        help="comma-separated numbers of single-post targets (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="CONCURRENT_REQUESTS and CONCURRENT_REQUESTS_PER_HOST")
    parser.add_argument("--keep-site", action="store_true",
                        help="keep nginx's directory (statuses, config, error.log) afterwards")
    parser.add_argument("--child", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--floor-child", metavar="URLS_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--no-recheck", action="store_true",
                        help="skip the second, unchanged cycle of each size")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the plain-Scrapy floor (no ratio is reported)")
    parser.add_argument("--recorder", choices=("process", "thread"),
                        default=CRAWL_SETTINGS["recorder"],
                        help="the worker's RECORDER (default %(default)s, the benchmarks' "
                             "and the product's on two CPUs or more; thread: one process, "
                             "no recorder process beside it)")
    parser.add_argument("--recorder-priority", choices=("normal", "idle"), default="normal",
                        help="the worker's RECORDER_PRIORITY (default %(default)s; idle: the "
                             "recorder process under SCHED_IDLE)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run each size N times, floor and cycle alternating; the "
                             "median ratio is held to the target (default %(default)s)")
    parser.add_argument("--unrecorded", action="store_true",
                        help="also run, after each cycle, the same cycle with its "
                             "observations handed to a recorder that drops them (no "
                             "recorder process): what the crawl costs alone, reported "
                             "beside the floor and never held to the target")
    parser.add_argument("--verbose", action="store_true")
    add_database_args(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be 1 or more, not {args.repeat}")
    setup_logging(args.verbose)
    if args.child:
        return child(args.child, args.concurrency, not args.no_recheck, args.recorder,
                     args.unrecorded, args.recorder_priority)
    if args.floor_child:
        return floor_child(args.floor_child, args.base, args.concurrency)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    info = machine()
    runs: list[dict[str, Any]] = []
    with StaticSite(max(sizes), keep=args.keep_site) as site:
        if args.keep_site:
            print(f"nginx directory (kept): {site.tmp}", file=sys.stderr)
        exported = (site.exported_by, round(site.export_seconds, 1))
        with fresh_database(args.database_url, args.embedded) as probe_url:
            server = server_facts(probe_url)
        for size in sizes:
            runs.append(report.combine([run_pair(site, size, args, i)
                                        for i in range(args.repeat)]))

    small, large = runs[0], runs[-1]
    scaling = large["median_cycle_s"] / small["median_cycle_s"] if len(runs) > 1 else None
    size_ratio = large["size"] / small["size"] if len(runs) > 1 else None
    peak = max(r["total_peak_rss_mib"] for r in runs)
    pss = max(r["total_peak_pss_mib"] for r in runs)
    rss_ok = peak * 2**20 < MAX_RSS_BYTES
    pss_ok = pss * 2**20 < MAX_RSS_BYTES
    # 10.5x for 10x the posts: linear plus 5%; other size ratios scale the same way.
    limit = MAX_SCALING * (size_ratio or 10) / 10
    scaling_ok = scaling is None or scaling <= limit
    ratios = [r["floor_ratio"] for r in runs if "floor_ratio" in r]
    floor_ok = bool(ratios) and max(ratios) <= MAX_FLOOR_RATIO
    rechecks = [r["recheck_floor_ratio"] for r in runs if "recheck_floor_ratio" in r]
    result = {
        "machine": info, "postgresql": server,
        "params": {"sizes": sizes, "setup": "sync_targets, one transaction",
                   "settings": {**CRAWL_SETTINGS, "concurrent_requests": args.concurrency,
                                "concurrent_requests_per_host": args.concurrency,
                                "recorder": args.recorder,
                                "recorder_priority": args.recorder_priority},
                   "exported_by": exported[0], "export_s": exported[1],
                   "server": "embedded" if args.embedded else "given URL"},
        "runs": runs,
        "valid": all(r["valid"] for r in runs),
        "scaling": scaling,
        "repeat": args.repeat,
        "peak_rss_mib": peak, "peak_pss_mib": pss,
        "target": {"scaling_at_most": limit, "scaling_met": scaling_ok,
                   "peak_rss_below_bytes": MAX_RSS_BYTES, "rss_met": rss_ok,
                   "pss_met": pss_ok,
                   "floor_ratio_at_most": MAX_FLOOR_RATIO,
                   "floor_met": floor_ok if ratios else None,
                   "recheck_floor_met": (max(rechecks) <= MAX_FLOOR_RATIO) if rechecks
                   else None},
    }
    path = write_result(NAME + ("-embedded" if args.embedded else ""), result)
    rows = report.rows(result, path)
    print_block(f"bench.cycle: one check cycle over {', '.join(map(str, sizes))} "
                "single-post pages", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
