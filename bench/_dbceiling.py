"""How far one PostgreSQL carries: K recorder processes writing unchanged probes at once.

No crawl: each process records its share of P single-post probes (``bench.storage``'s
synthetic Mastodon posts, text fixed, counters moving, so every one is an unchanged
re-check that extends its observation row) through :class:`monitor.snapshot.Recorder`,
in batches of 500 (the worker's), for R rounds. The observations are built before the
clock starts, so the time is the recorder's and the database's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.db import Database
from monitor.db import tracking as store
from monitor.snapshot import Recorder
from monitor.watchlist import Target

from . import storage
from ._common import crawl_settings, fresh_database, server_facts

BATCH = 500
ROOT = Path(__file__).resolve().parent.parent


def _at(round_no: int) -> datetime:
    return storage.T0 + timedelta(minutes=1 + 10 * round_no)


def _rows(db: Database, start: int, end: int) -> list[tuple[dict[str, Any], int]]:
    keys = {storage.content(i, 0).key: i for i in range(start, end)}
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT p.id, p.post_key, p.probe_url, t.key AS target_key FROM posts p "
            "JOIN targets t ON t.id = p.target_id WHERE p.post_key = ANY(%s)",
            (list(keys),)).fetchall()
    return [(row, keys[row["post_key"]]) for row in rows]


def _record(db: Database, url: str, start: int, end: int, first: int,
            rounds: int) -> tuple[int, float, float]:
    """Record rounds ``first`` .. of posts ``start:end`` in this process: the count, and
    the wall and CPU seconds of the recording alone (the observations built before)."""
    recorder = Recorder(db, crawl_settings(url, recheck_horizon=storage.HORIZON))
    rows = _rows(db, start, end)
    work = [[storage.probe(row, i, r, _at(r)) for row, i in rows]
            for r in range(first, first + rounds)]
    began, cpu = time.time(), time.process_time()
    for observations in work:
        for chunk in storage.batched(observations, BATCH):
            recorder.record(chunk)
    return sum(len(w) for w in work), time.time() - began, time.process_time() - cpu


def child(url: str, span: str, first: str, rounds: str, t0: str) -> int:
    """One recorder process: posts ``start:end``, rounds ``first`` .. ``first+rounds-1``."""
    storage.T0 = datetime.fromisoformat(t0)
    start, end = (int(x) for x in span.split(":"))
    db = Database(url)
    try:
        recorder = Recorder(db, crawl_settings(url, recheck_horizon=storage.HORIZON))
        rows = _rows(db, start, end)
        work = [[storage.probe(row, i, r, _at(r)) for row, i in rows]
                for r in range(int(first), int(first) + int(rounds))]
        began, cpu = time.time(), time.process_time()
        for observations in work:
            for chunk in storage.batched(observations, BATCH):
                recorder.record(chunk)
        ended, cpu = time.time(), time.process_time() - cpu
    finally:
        db.close()
    print(json.dumps({"began": began, "ended": ended, "cpu_s": round(cpu, 3),
                      "observations": sum(map(len, work)),
                      "recorded": recorder.stats["observations"]}))
    return 0


def measure(args: argparse.Namespace, ks: list[int]) -> dict[str, Any]:
    p, r = args.ceiling_posts, args.ceiling_rounds
    with fresh_database(args.database_url, args.embedded) as url:
        server = server_facts(url)
        db = Database(url)
        try:
            db.migrate()
            targets = [Target("bench", "mastodon", "post", storage.content(i, 0).url or "",
                              storage.BASE, None, ()) for i in range(p)]
            with db.transaction() as conn:
                store.sync_targets(conn, targets, 600.0)
            print(f"database ceiling: first probe of {p} posts ...", file=sys.stderr,
                  flush=True)
            # Each post's observation row, version, archived capture and chain entries:
            # what a new post costs the recorder (this process's CPU; the database's is
            # not in it).
            n, wall, cpu = _record(db, url, 0, p, 0, 1)
            first = {"observations": n, "seconds": round(wall, 2),
                     "recorder_cpu_us_per_obs": round(1e6 * cpu / n)}
        finally:
            db.close()
        runs = []
        next_round = 1
        for k in ks:
            print(f"database ceiling: {k} recorder process(es) ...", file=sys.stderr, flush=True)
            bounds = [p * j // k for j in range(k + 1)]
            procs = [subprocess.Popen(
                [sys.executable, "-m", "bench.workers", "--ceiling-child", url,
                 f"{bounds[j]}:{bounds[j + 1]}", str(next_round), str(r),
                 storage.T0.isoformat()],
                stdout=subprocess.PIPE, cwd=ROOT) for j in range(k)]
            outs = []
            for proc in procs:
                stdout, _ = proc.communicate()
                if proc.returncode != 0:
                    raise SystemExit(f"a recorder process failed (exit {proc.returncode})")
                outs.append(json.loads(stdout.decode().strip().splitlines()[-1]))
            next_round += r
            seconds = max(o["ended"] for o in outs) - min(o["began"] for o in outs)
            n = sum(o["recorded"] for o in outs)
            rate = n / seconds
            cpu_us = 1e6 * sum(o["cpu_s"] for o in outs) / max(1, n)
            runs.append({"processes": k, "observations": n, "seconds": round(seconds, 2),
                         "obs_per_s": round(rate, 1), "targets_hourly": int(rate * 3600),
                         "recorder_cpu_us_per_obs": round(cpu_us),
                         "per_process": outs})
    best = max(runs, key=lambda x: x["obs_per_s"])
    return {"server": server, "posts": p, "rounds": r, "batch": BATCH, "first_probes": first,
            "runs": runs,
            "best_obs_per_s": best["obs_per_s"], "best_targets_hourly": best["targets_hourly"]}
