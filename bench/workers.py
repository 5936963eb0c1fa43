"""Scale-out on one PostgreSQL: one worker against N workers, and how far the database carries.

Workers. nginx on 127.0.0.1 serves N Mastodon statuses; a watchlist names each as
a single-post target. Every pass is ``takedown -v -w <watchlist> check --once``,
the command a user (or cron) runs, in its own process, database and data
directory given by ``TAKEDOWN_DATABASE_URL`` and ``TAKEDOWN_DATA_DIR``:

1. warm-up: one worker syncs the watchlist and checks every post once (every
   post new: a version each). Not timed;
2. one worker: every post made due again (``posts.next_check``), one process;
3. ``--workers`` workers: every post due again, that many processes started
   together;
4. one worker with nothing due: the start-up every added worker pays (imports,
   the watchlist, its sync).

Each pass's wall time runs from the first process's start to the last one's
exit, so it holds each process's start-up and its watchlist sync. The ratio is
(2)/(3); target: at least 1.8 with two workers. After each pass the database
must show exactly one more check of every post (the sum of ``observations.repeats``
per post grew by one: none twice, none missed). The cycle's own seconds, as each
worker logs them, give the crawl phase apart from start-up and sync.

Database ceiling (``--db-ceiling 1,2,4``): K processes, no crawl, each recording
synthetic unchanged probes (``bench.storage``'s posts, counters moving) of its
share of P posts through :class:`monitor.snapshot.Recorder` in batches of 500, R
rounds. Observations/s = P x R / (last process's end - first one's start of
recording); x 3,600 = the single-post targets at a 1-hour interval that one
PostgreSQL records for. Recorder CPU per observation: the processes' own CPU
seconds while recording over the observations (the database's are not in it). Before
them, one recorder gives every post its first probe (observation row, version,
archived capture, chain entries): its CPU per observation is what a new post costs.

Run: ``.venv/bin/python -m bench.workers [--posts 20000] [--workers 2]``
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from monitor.db import Database

from . import _dbceiling
from ._common import (
    CRAWL_SETTINGS,
    add_database_args,
    fresh_database,
    machine,
    machine_rows,
    print_block,
    server_facts,
    setup_logging,
    verdict,
    write_result,
)
from ._static import StaticSite

NAME = "workers"
TARGET_RATIO = 1.8
ROOT = Path(__file__).resolve().parent.parent
_CYCLE = re.compile(r"cycle \d+: (\{.*?\}) \(crawl:")
_CHECKED = re.compile(r"checked (\d+) item\(s\), recorded (\d+) observation")
#: RECORDER = auto moving a worker's recording (other workers share its machine).
_PLACED = re.compile(r"recording in (a process of its own|a thread) from now on")


def watchlist(site: StaticSite, n: int, concurrency: int,
              recorder: str = CRAWL_SETTINGS["recorder"]) -> str:
    """A watchlist of ``n`` single-post targets with the benchmarks' crawl settings
    (``recorder``: where each worker records, its RECORDER setting)."""
    knobs = {**CRAWL_SETTINGS, "concurrent_requests": concurrency,
             "concurrent_requests_per_host": concurrency, "recorder": recorder}
    lines = ["[settings]", 'vantage = "bench"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in knobs.items()]
    lines += ["", "[groups.bench]"]
    for sid in site.ids[:n]:
        lines += ["[[groups.bench.targets]]", 'platform = "mastodon"',
                  f'post = "{site.status_url(sid)}"']
    return "\n".join(lines) + "\n"


def _command() -> list[str]:
    script = Path(sys.executable).with_name("takedown")
    return [str(script)] if script.exists() else [sys.executable, "-m", "spiders.cli"]


class LockWaits:
    """Samples what the database's busy sessions wait on, every ``every`` seconds, while
    a pass runs: a worker that waits for another's row locks shows as ``Lock``."""

    def __init__(self, url: str, every: float = 0.25) -> None:
        self.url, self.every = url, every
        self.samples = 0
        self.waits: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(self.every):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM "
                    "pg_stat_activity WHERE datname = current_database() AND state = "
                    "'active' AND pid <> pg_backend_pid()").fetchall()
                self.samples += 1
                self.waits.update(r[0] for r in rows)

    def summary(self) -> dict[str, Any]:
        """Busy sessions seen per sample, by what they waited on."""
        return {"samples": self.samples, "per_sample": {
            k: round(v / max(1, self.samples), 3) for k, v in self.waits.most_common()}}


def run_pass(url: str, wl: Path, data_dir: Path, workers: int) -> dict[str, Any]:
    """Start ``workers`` ``takedown check --once`` processes together; wait for all."""
    with LockWaits(url) as waits:
        out = _run_pass(url, wl, data_dir, workers)
    return {**out, "database_waits": waits.summary()}


def _run_pass(url: str, wl: Path, data_dir: Path, workers: int) -> dict[str, Any]:
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": url, "TAKEDOWN_DATA_DIR": str(data_dir)}
    started, busy = time.perf_counter(), _busy()
    procs = []
    for i in range(workers):
        err = open(data_dir / f"worker-{i}.log", "w+b")  # noqa: SIM115 (closed below)
        procs.append((subprocess.Popen([*_command(), "-v", "-w", str(wl), "check", "--once"],
                                       stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env),
                      err, time.perf_counter()))
    out: list[dict[str, Any]] = []
    for proc, err, began in procs:
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        ended = time.perf_counter()
        err.seek(0)
        log = err.read().decode(errors="replace")
        err.close()
        if proc.returncode != 0:
            raise SystemExit(f"takedown check failed (exit {proc.returncode}):\n{log[-3000:]}")
        cycle = _CYCLE.search(log)
        checked = _CHECKED.search(stdout.decode())
        out.append({"wall_s": round(ended - began, 2),
                    "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                    "cycle": ast.literal_eval(cycle.group(1)) if cycle else None,
                    "recording_moved_to": _moved_to(log),
                    "claimed": int(checked.group(1)) if checked else None,
                    "observations": int(checked.group(2)) if checked else None})
    wall = time.perf_counter() - started
    cores = (_busy() - busy) / wall  # every process of the machine: ours, nginx, postgres
    cycles = [w["cycle"]["seconds"] for w in out if w["cycle"]]
    return {"workers": workers, "wall_s": round(wall, 2),
            "cycle_s": round(max(cycles), 2) if cycles else None,
            "machine_cores_busy": round(cores, 2), "per_worker": out}


def _moved_to(log: str) -> str | None:
    """Where RECORDER = auto last moved a worker's recording (None: where it started)."""
    moves = _PLACED.findall(log)
    if not moves:
        return None
    return "thread" if "thread" in moves[-1] else "process"


def _busy() -> float:
    """CPU-seconds the whole machine has spent busy since boot (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_ms(run: dict[str, Any], posts: int) -> float:
    return 1000 * sum(w["cpu_s"] for w in run["per_worker"]) / posts


def _share(run: dict[str, Any]) -> str:
    return ", ".join(f"{w['cpu_s'] / w['wall_s']:.2f}" for w in run["per_worker"])


def checks_per_post(db: Database) -> dict[int, int]:
    """How many times each post was checked: the sum of its observations' repeats."""
    with db.transaction() as conn:
        return {r["id"]: r["n"] for r in conn.execute(
            "SELECT p.id, coalesce(sum(o.repeats), 0)::int AS n FROM posts p "
            "LEFT JOIN observations o ON o.post_id = p.id GROUP BY p.id")}


def exactly_once(before: dict[int, int], after: dict[int, int]) -> dict[str, int]:
    deltas = [after.get(p, 0) - before.get(p, 0) for p in after]
    return {"posts": len(after), "once": sum(d == 1 for d in deltas),
            "missed": sum(d == 0 for d in deltas), "twice_or_more": sum(d > 1 for d in deltas)}


def make_due(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE posts SET next_check = now() - interval '1 second'")


def measure_workers(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="takedown-bench-workers-"))
    try:
        with StaticSite(args.posts) as site, \
                fresh_database(args.database_url, args.embedded) as url:
            wl = tmp / "watchlist.toml"
            wl.write_text(watchlist(site, args.posts, args.concurrency, args.recorder),
                          encoding="utf-8")
            db = Database(url)
            try:
                db.migrate()
                print(f"warm-up pass over {args.posts} posts ...", file=sys.stderr, flush=True)
                warm = run_pass(url, wl, tmp, 1)
                passes: dict[str, Any] = {"warm_up": warm}
                for label, n in (("one", 1), ("many", args.workers)):
                    make_due(db)
                    before = checks_per_post(db)
                    print(f"pass with {n} worker(s) ...", file=sys.stderr, flush=True)
                    passes[label] = run_pass(url, wl, tmp, n)
                    passes[label]["checks"] = exactly_once(before, checks_per_post(db))
                # Nothing due: what a process costs before and after its cycle (imports,
                # the watchlist, its sync, the summary), which every added worker pays.
                with db.transaction() as conn:  # re-checks fall due a minute on
                    conn.execute("UPDATE posts SET next_check = now() + interval '1 day'")
                passes["idle"] = run_pass(url, wl, tmp, 1)
                with db.transaction() as conn:
                    outcomes = {r["outcome"]: r["n"] for r in conn.execute(
                        "SELECT outcome, count(*) AS n FROM observations GROUP BY outcome")}
            finally:
                db.close()
            server = server_facts(url)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one, many = passes["one"], passes["many"]
    ratio = one["wall_s"] / many["wall_s"]
    crawl_ratio = (one["cycle_s"] / many["cycle_s"]) if one["cycle_s"] and many["cycle_s"] \
        else None
    exact = all(p["checks"]["once"] == p["checks"]["posts"] == args.posts
                for p in (one, many))
    return {"server": server, "passes": passes, "outcomes": outcomes,
            "ratio": round(ratio, 3),
            "crawl_ratio": round(crawl_ratio, 3) if crawl_ratio else None,
            "exactly_once": exact, "valid": set(outcomes) == {"ok"},
            "met": ratio >= TARGET_RATIO and exact}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20000,
                        help="single-post targets served and checked (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the scaled pass")
    parser.add_argument("--recorder", choices=("process", "thread", "auto"),
                        default=CRAWL_SETTINGS["recorder"],
                        help="each worker's RECORDER (default %(default)s, the benchmarks'; "
                        "auto, the product's: a process where two CPUs are there for each "
                        "worker of the machine, else a thread)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="CONCURRENT_REQUESTS and CONCURRENT_REQUESTS_PER_HOST")
    parser.add_argument("--db-ceiling", default="1,2,4", metavar="K,...",
                        help="recorder processes to measure the database with; '' skips")
    parser.add_argument("--ceiling-posts", type=int, default=4000, help="P (default %(default)s)")
    parser.add_argument("--ceiling-rounds", type=int, default=5, help="R (default %(default)s)")
    parser.add_argument("--no-crawl", action="store_true", help="only the database ceiling")
    parser.add_argument("--ceiling-child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true")
    add_database_args(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if args.ceiling_child:
        return _dbceiling.child(*args.ceiling_child)

    info = machine()
    result: dict[str, Any] = {"machine": info, "params": {
        "posts": args.posts, "workers": args.workers, "concurrency": args.concurrency,
        "recorder": args.recorder,
        "entry": "takedown -v -w <watchlist> check --once",
        "server": "embedded" if args.embedded else "given URL"}}
    rows: list[tuple[str, Any]] = []
    server = None
    if not args.no_crawl:
        w = measure_workers(args)
        server = w.pop("server")
        result["scale_out"] = w
        one, many = w["passes"]["one"], w["passes"]["many"]
        rows += [
            ("recorder", f"RECORDER = {args.recorder} in every worker; moved by auto: "
                         + ", ".join(str(p["recording_moved_to"] or "no")
                                     for p in (*one["per_worker"], *many["per_worker"]))
                         + " (1 worker; then each of the scaled pass)"),
            ("1 worker", f"{one['wall_s']:.1f} s end to end (cycle {one['cycle_s']} s); "
                         f"{args.posts / one['wall_s']:.0f} posts/s; CPU "
                         f"{one['per_worker'][0]['cpu_s']} s; machine "
                         f"{one['machine_cores_busy']} cores busy"),
            (f"{args.workers} workers", f"{many['wall_s']:.1f} s end to end (slowest cycle "
                                        f"{many['cycle_s']} s); claimed "
                                        + " + ".join(str(p["claimed"])
                                                     for p in many["per_worker"])
                                        + "; CPU " + " + ".join(str(p["cpu_s"]) for p in
                                                                many["per_worker"])
                                        + f" s; machine {many['machine_cores_busy']} cores "
                                          "busy"),
            ("CPU per post", f"1 worker {_cpu_ms(one, args.posts):.2f} ms, {args.workers} "
                             f"workers {_cpu_ms(many, args.posts):.2f} ms in all; share of a "
                             f"core each worker got: {_share(one)} / {_share(many)} (below "
                             "1: other processes had the cores)"),
            ("start-up, nothing due", f"{w['passes']['idle']['wall_s']:.1f} s wall, CPU "
                                      f"{w['passes']['idle']['per_worker'][0]['cpu_s']} s, "
                                      f"{w['passes']['idle']['per_worker'][0]['claimed']} "
                                      "claimed (imports, watchlist, sync: paid by every "
                                      "worker)"),
            ("checks per post", f"1 worker {one['checks']}; {args.workers} workers "
                                f"{many['checks']}"),
            ("database waits", f"busy sessions per sample, 1 worker "
                               f"{one['database_waits']['per_sample']}; {args.workers} "
                               f"workers {many['database_waits']['per_sample']}"),
            ("crawl phase", f"x{w['crawl_ratio']} (cycle seconds as the workers log them)"),
            *([] if w["valid"] else [("INVALID", f"not every fetch was ok: {w['outcomes']}")]),
            ("target", f"{args.workers} workers / 1 = x{w['ratio']:.2f} end to end "
                       f"(target >= {TARGET_RATIO}), each post once per pass "
                       f"{'yes' if w['exactly_once'] else 'NO'}: {verdict(w['met'])}"),
            ("", ""),
        ]
    ks = [int(k) for k in args.db_ceiling.split(",") if k.strip()]
    if ks:
        c = _dbceiling.measure(args, ks)
        server = server or c.pop("server")
        c.pop("server", None)
        result["db_ceiling"] = c
        f = c["first_probes"]
        rows.append(("database, new posts", f"{f['observations']} first probes (observation row, "
                     f"version, archived capture, chain entries) in {f['seconds']:.1f} s, one "
                     f"recorder: its CPU {f['recorder_cpu_us_per_obs']} us/obs"))
        for run in c["runs"]:
            rows.append((f"database, {run['processes']} recorder(s)",
                         f"{run['obs_per_s']:.0f} unchanged obs/s ({run['observations']} in "
                         f"{run['seconds']:.1f} s) = {run['targets_hourly']:,} targets at 1 h; "
                         f"recorder CPU {run['recorder_cpu_us_per_obs']} us/obs"))
        rows.append(("database carries", f"{c['best_obs_per_s']:.0f} obs/s = "
                                         f"{c['best_targets_hourly']:,} single-post targets "
                                         "checked hourly (best of the K above)"))
    result["postgresql"] = server
    path = write_result(NAME + ("-embedded" if args.embedded else ""), result)
    rows.append(("json", str(path)))
    print_block(f"bench.workers: {args.workers} workers vs 1 over {args.posts} posts, and "
                "the database's ceiling", [*machine_rows(info, server), ("", ""), *rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
