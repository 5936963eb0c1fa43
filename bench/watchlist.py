"""What the watchlist costs a daemon when nothing changed: reloads, syncs and idling.

No network. A watchlist file of ``--targets`` targets (nine in ten Mastodon
accounts, one in ten single posts) is written to a temporary directory and read
through the daemon's own reload (``spiders.cli.context.watchlist_reloader``: file
read, hash check, parse, ``Worker.sync``). Measured:

- the first sync (set-based: COPY, one upsert, one deactivation), after a parse;
- an unchanged reload, as ``takedown run`` does it every 30 s (file read and hash
  check; nothing parsed, nothing written). Target: under 1 s;
- an unchanged sync with every hash check bypassed (``sync_targets``: the SQL alone),
  and the dead tuples it leaves (rows whose xmin is its transaction). Target: 0;
- a reload with ``--changed`` of the targets changed (their tags), parse included;
- the idle daemon: ``run_continuous`` (what ``takedown run`` starts) with the real
  Scrapy crawl and the reload every 30 s, over the targets, none of them due, for
  ``--idle-seconds``: the process's CPU time (``getrusage``, every thread) and its
  recorder process's (``/proc``, with ``RECORDER = process``) over wall time. Target:
  under 1% of one core. The database backends' CPU over the same
  window is reported beside it (read from ``/proc`` when the server is local);
- the plans of the idle loop's queries at this size (EXPLAIN ANALYZE).

Run: ``.venv/bin/python -m bench.watchlist [--targets 100000] [--idle-seconds 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.db import Database, claims, continuous, sync

from ._common import (
    Stopwatch,
    add_database_args,
    cpu_seconds,
    crawl_settings,
    fresh_database,
    machine,
    machine_rows,
    print_block,
    process_cpu_seconds,
    server_facts,
    setup_logging,
    verdict,
    write_result,
)

NAME = "watchlist"
#: Targets: an unchanged reload under this many seconds; the idle daemon under this
#: share of one core; no dead tuple from an unchanged sync.
MAX_RELOAD_S = 1.0
MAX_IDLE_SHARE = 0.01
BASE = "https://bench.example"


def watchlist_text(n: int, changed: int = 0) -> str:
    """A watchlist of ``n`` targets; the first ``changed`` accounts carry a new tag."""
    lines = ["[groups.bench]", 'interval = "10m"']
    left = changed
    for i in range(n):
        lines.append("[[groups.bench.targets]]")
        lines.append('platform = "mastodon"')
        if i % 10 == 9:
            lines.append(f'post = "{BASE}/@alice/{100000 + i}"')
        else:
            lines.append(f'account = "u{i}@bench.example"')
            if left > 0:
                left -= 1
                lines.append('tags = ["changed"]')
    return "\n".join(lines) + "\n"


def _backend_cpu(db: Database) -> dict[int, float]:
    """CPU seconds so far of this database's server processes (empty when /proc cannot
    tell: a remote server, or another user's processes)."""
    with db.transaction() as conn:
        pids = [r["pid"] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    out: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            out[pid] = process_cpu_seconds(pid)
    return out


def _recorder_cpu(worker: Any) -> float:
    """CPU seconds of the worker's recorder process (RECORDER = process), 0 without one:
    the idle daemon is both processes."""
    from ._cycle_children import recorder_usage

    return float(recorder_usage(worker).get("recorder_cpu_s", 0.0))


def _plans(db: Database, now: datetime) -> dict[str, dict[str, Any]]:
    """The plans of the idle loop's look-ups at this size, as the real calls run them
    (``auto_explain`` on this session, its LOG lines sent to the client), for a
    platform with targets (mastodon) and one without (weibo); rolled back."""
    out: dict[str, dict[str, Any]] = {}
    calls: list[tuple[str, Any]] = [("platforms_due", lambda c: claims.platforms_due(c, now))]
    for p in ("mastodon", "weibo"):
        calls += [(f"claim_due {p}",
                   lambda c, p=p: claims.claim_due(c, now, 100, 300.0, [p])),
                  (f"next_due {p}", lambda c, p=p: continuous.next_due(c, now, [p]))]
    with db.transaction() as conn, conn.transaction(force_rollback=True):
        notices: list[str] = []
        try:
            with conn.transaction():
                conn.execute("LOAD 'auto_explain'")
                conn.execute("SET LOCAL auto_explain.log_min_duration = 0")
                conn.execute("SET LOCAL auto_explain.log_analyze = on")
                conn.execute("SET LOCAL auto_explain.log_buffers = on")
                conn.execute("SET LOCAL client_min_messages = log")
        except Exception:  # not a superuser, or no contrib: times alone
            pass
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        for name, call in calls:
            for _ in range(8):  # the last: as a daemon runs it, prepared (generic plan)
                notices.clear()
                t0 = time.perf_counter()
                call(conn)
                ms = 1000 * (time.perf_counter() - t0)
                conn.execute("SELECT 'flush'")  # the last statement's log line may lag
            plan = "\n".join(n for n in notices if "SELECT 'flush'" not in n)
            out[name] = {"ms": round(ms, 3), "seq_scan": "Seq Scan" in plan,
                         "rows_removed": sum(int(w) for w in _removed(plan)), "plan": plan}
    return out


def _removed(plan: str) -> list[str]:
    """The counts of every "Rows Removed by Filter" line of a plan."""
    return [line.rsplit(":", 1)[1].strip() for line in plan.splitlines()
            if "Rows Removed by Filter" in line]


def run(url: str, n: int, changed_share: float, idle_seconds: float,
        platform_indexes: bool = True) -> dict[str, Any]:
    from monitor.continuous import run_continuous
    from monitor.watchlist import parse_watchlist
    from monitor.watchlist_reload import reload_and_sync
    from monitor.worker import Worker
    from spiders.cli.context import Ctx, watchlist_reloader
    from spiders.crawl import crawl, event_loop

    out: dict[str, Any] = {"targets": n}
    tmp = Path(tempfile.mkdtemp(prefix="takedown-bench-watchlist-"))
    path = tmp / "watchlist.toml"
    path.write_text(watchlist_text(n), encoding="utf-8")
    out["file_bytes"] = path.stat().st_size
    settings = crawl_settings(url)
    db = Database(url)
    try:
        db.migrate()
        worker = Worker(db, settings, crawl, spool_dir=tmp / "spool")
        reload = watchlist_reloader(Ctx(path, 0), db, worker)
        with Stopwatch() as sw:
            targets = parse_watchlist(path.read_text(encoding="utf-8"), str(path)).targets
        out["parse_s"] = sw.wall
        with Stopwatch() as sw:
            first = worker.sync(targets)
        out["first_sync_s"], out["first_sync"] = sw.wall, first
        reload.prime(path.read_bytes())  # as ``takedown run`` does after its first sync

        times = []
        for _ in range(5):
            with Stopwatch() as sw:
                result = reload_and_sync(worker, reload)
            assert result is None, result
            times.append(sw.wall)
        out["unchanged_reload_s"] = max(times)

        with Stopwatch() as sw:
            hashed = worker.sync(targets)
        assert hashed["skipped"] == 1, hashed
        out["unchanged_worker_sync_s"] = sw.wall  # hash computed, found in the database

        with db.transaction() as conn, Stopwatch() as sw:
            xid = next(iter(conn.execute("SELECT pg_current_xact_id()::text").fetchone()
                            .values()))
            bypassed = sync.sync_targets(conn, targets, settings["DEFAULT_INTERVAL"])
        out["unchanged_sql_sync_s"], out["unchanged_sql_sync"] = sw.wall, bypassed
        with db.transaction() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM targets WHERE xmin::text = %(x)s) "
                "+ (SELECT count(*) FROM posts WHERE xmin::text = %(x)s) AS n",
                {"x": str(int(xid) % 2**32)}).fetchone()
        out["dead_tuples_unchanged_sync"] = row["n"]

        changed = max(1, int(n * changed_share))
        path.write_text(watchlist_text(n, changed), encoding="utf-8")
        with Stopwatch() as sw:
            counts = reload_and_sync(worker, reload)
        assert counts is not None and counts["changed"] >= changed, counts
        out["changed_reload_s"], out["changed_reload"] = sw.wall, counts

        # Idle: nothing due for a day.
        later = datetime.now(UTC) + timedelta(days=1)
        with db.transaction() as conn:
            conn.execute("UPDATE targets SET next_due = %s WHERE next_due IS NOT NULL",
                         (later,))
            conn.execute("UPDATE posts SET next_check = %s", (later,))
        with db.pool.connection() as conn:
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE targets")
            conn.execute("VACUUM ANALYZE posts")
            conn.autocommit = False
        if not platform_indexes:  # to compare: the idle loop without migration 019's
            with db.transaction() as conn:
                conn.execute("DROP INDEX targets_platform_due, posts_platform_due")
        out["plans"] = _plans(db, datetime.now(UTC))
        if idle_seconds > 0:
            out.update(_idle(worker, reload, run_continuous, event_loop(), idle_seconds, db))
        worker.close()
    finally:
        db.close()
    return out


def _idle(worker: Any, reload: Any, run_continuous: Any, loop: asyncio.AbstractEventLoop,
          seconds: float, db: Database) -> dict[str, Any]:
    warmup = 5.0
    measured: dict[str, Any] = {}

    async def drive() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(run_continuous(worker, reload=reload, stop=stop,
                                                    reload_every=30.0))
        await asyncio.sleep(warmup)  # the spiders start
        backends = await asyncio.to_thread(_backend_cpu, db)
        wall, cpu = time.perf_counter(), cpu_seconds() + _recorder_cpu(worker)
        await asyncio.sleep(seconds)
        measured["idle_cpu_s"] = cpu_seconds() + _recorder_cpu(worker) - cpu
        measured["idle_wall_s"] = time.perf_counter() - wall
        after = await asyncio.to_thread(_backend_cpu, db)
        measured["idle_db_cpu_s"] = (sum(after[p] - backends.get(p, 0.0) for p in after)
                                     if after else None)
        stop.set()
        await task

    asyncio.set_event_loop(loop)
    loop.run_until_complete(drive())
    measured["idle_share"] = measured["idle_cpu_s"] / measured["idle_wall_s"]
    if measured["idle_db_cpu_s"] is not None:
        measured["idle_db_share"] = measured["idle_db_cpu_s"] / measured["idle_wall_s"]
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.watchlist", description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01,
                        help="share of the targets changed for the changed reload")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="how long the idle daemon is measured (0: not run)")
    parser.add_argument("--without-platform-indexes", action="store_true",
                        help="drop migration 019's per-platform due indexes before the idle "
                             "part (to compare)")
    add_database_args(parser)
    args = parser.parse_args(argv)
    setup_logging()
    with fresh_database(args.database_url, args.embedded) as url:
        server = server_facts(url)
        result = run(url, args.targets, args.changed, args.idle_seconds,
                     not args.without_platform_indexes)
    from spiders.crawl import shutdown

    shutdown()
    met = {"unchanged_reload": result["unchanged_reload_s"] < MAX_RELOAD_S,
           "dead_tuples": result["dead_tuples_unchanged_sync"] == 0}
    if "idle_share" in result:
        met["idle_cpu"] = result["idle_share"] < MAX_IDLE_SHARE
    info = machine()
    write_result(NAME, {"machine": info, "server": server,
                        "params": {"targets": args.targets, "changed": args.changed,
                                   "idle_seconds": args.idle_seconds,
                                   "platform_indexes": not args.without_platform_indexes},
                        **result, "met": met})
    n = result["targets"]
    rows: list[tuple[str, Any]] = [
        *machine_rows(info, server),
        ("", ""),
        ("watchlist file", f"{result['file_bytes'] / 2**20:.1f} MiB, {n} targets"),
        ("parse", f"{result['parse_s']:.2f} s"),
        ("first sync", f"{result['first_sync_s']:.2f} s ({result['first_sync']})"),
        ("unchanged reload", f"{result['unchanged_reload_s']:.3f} s (file read + hash; "
                             f"max of 5): {verdict(met['unchanged_reload'])} (< 1 s)"),
        ("unchanged Worker.sync", f"{result['unchanged_worker_sync_s']:.2f} s "
                                  "(hash found in the database, no write)"),
        ("unchanged sync, SQL alone", f"{result['unchanged_sql_sync_s']:.2f} s "
                                      f"({result['unchanged_sql_sync']})"),
        ("dead tuples it left", f"{result['dead_tuples_unchanged_sync']}: "
                                f"{verdict(met['dead_tuples'])} (0)"),
        ("reload, changed targets", f"{result['changed_reload_s']:.2f} s, parse included "
                                    f"({result['changed_reload']})"),
    ]
    for name, plan in result["plans"].items():
        rows.append((f"idle query: {name}", f"{plan['ms']:.2f} ms, "
                     f"{plan['rows_removed']} rows read and dropped"
                     + (", Seq Scan" if plan.get("seq_scan") else "")))
    if "idle_share" in result:
        rows.append(("idle daemon CPU", f"{result['idle_cpu_s']:.2f} s over "
                                        f"{result['idle_wall_s']:.0f} s = "
                                        f"{100 * result['idle_share']:.2f}% of a core: "
                                        f"{verdict(met['idle_cpu'])} (< 1%)"))
        if result.get("idle_db_share") is not None:
            rows.append(("its database backends", f"{result['idle_db_cpu_s']:.2f} s = "
                                                  f"{100 * result['idle_db_share']:.2f}% "
                                                  "of a core (not in the target)"))
    print_block(f"bench.watchlist: watchlist sync and idle cost at {n} targets", rows)
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
