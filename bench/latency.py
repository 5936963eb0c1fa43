"""Check-interval jitter and deletion-detection latency, with and without a hanging host.

Two phases, each in a fresh database with a fresh nginx on 127.0.0.1 serving N
Mastodon statuses (and their accounts) exported by ``spiders.sandbox.export_static``:

- **healthy**: N single-post targets on that host, nothing else;
- **hanging**: the same, plus H single-post targets on a second server on
  127.0.0.1 (another port, so another host) that accepts every connection and
  never answers: each request costs DOWNLOAD_TIMEOUT.

The daemon's real loop (``--loop continuous``: :func:`monitor.continuous.run_continuous`,
what ``takedown run`` starts; ``--loop lockstep``: :func:`monitor.worker.run_daemon`'s
cycles, the loop before issue 8; on the process's one reactor loop) runs for
``--seconds``; meanwhile D of the healthy posts are deleted at scripted times
(their status file unlinked: the server answers 404, the account stays normal,
so the monitor decides ``disappeared``/``ambiguous`` after CONFIRM_PROBES probes spanning
CONFIRM_SPACING). The phase then runs on until every deletion has its event, at
most ``--drain`` seconds more.

Figures, per phase:

- **interval jitter**: for every healthy post, the time between consecutive
  requests for its status in nginx's access log (``$msec``), divided by the
  configured interval; p50/p95 and the share within 10%. Intervals ending at a
  deletion's 404 probes are left out (confirmations are scheduled apart).
- **detection latency**: from the unlink to the post's ``disappeared`` event
  (``events.detected_at``); p50/p95. A deletion still undetected at the end
  counts with the phase's end as its time (a lower bound) and is reported.

Targets (issue 8 item 7), with the hanging host present: p95 latency at most
interval + CONFIRM_SPACING + 5 s, and healthy intervals within 10% of the
configured one (p95 ratio <= 1.10). Exit 1 when one is missed.

Run: ``.venv/bin/python -m bench.latency [--loop continuous|lockstep] [--posts 200]
[--hanging 20] [--seconds 75]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.db import Database

from ._common import (
    add_database_args,
    crawl_settings,
    fresh_database,
    machine,
    machine_rows,
    print_block,
    server_facts,
    setup_logging,
    stop_reactor_threads,
    verdict,
    write_result,
)
from ._static import export, free_port, start_nginx

NAME = "latency"
#: The monitor's settings for the run: short intervals so a run takes minutes.
LATENCY_SETTINGS: dict[str, Any] = {
    "robotstxt_obey": False,
    "autothrottle": False,
    "download_delay": 0,
    "retry_times": 0,
    "concurrent_requests": 32,
    "concurrent_requests_per_host": 4,
    "download_timeout": 10.0,
    "default_interval": 10.0,
    "confirm_probes": 2,
    "confirm_spacing": 5.0,
    "confirm_retry": 5.0,
    "tick": 1.0,
}
SLACK = 5.0
MAX_INTERVAL_RATIO = 1.10

_LOG_LINE = re.compile(r"^(\d+\.\d+) (\d{3}) /api/v1/statuses/(\d+)$")


class HealthySite:
    """nginx serving ``n`` statuses and their accounts, logging every request's time."""

    def __init__(self, n: int) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="takedown-bench-latency-"))
        self.root = self.tmp / "www"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ids = export(self.root, n, self.base)
        accounts = self.root / "api" / "v1" / "accounts"
        accounts.mkdir(parents=True, exist_ok=True)
        for sid in self.ids:
            account = json.loads(self.status_file(sid).read_bytes())["account"]
            (accounts / str(account["id"])).write_text(json.dumps(account), encoding="utf-8")
        for path in (self.tmp, self.root, *self.root.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.proc = start_nginx(self.tmp, self.root, self.port, stamp_log=True)

    def status_file(self, sid: str) -> Path:
        return self.root / "api" / "v1" / "statuses" / sid

    def post_url(self, sid: str) -> str:
        return f"{self.base}/@bench/{sid}"

    def requests(self) -> dict[str, list[tuple[float, int]]]:
        """``status id → [(unix time, HTTP status), …]`` from the access log."""
        out: dict[str, list[tuple[float, int]]] = defaultdict(list)
        log = self.tmp / "access.log"
        if log.exists():
            for line in log.read_text(encoding="ascii", errors="replace").splitlines():
                if m := _LOG_LINE.match(line):
                    out[m.group(3)].append((float(m.group(1)), int(m.group(2))))
        return out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # nginx flushes its log buffer on exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class HangingHost:
    """A server on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = int(self.sock.getsockname()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0–100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return float(ordered[int(rank) - 1])


async def _drive(worker: Any, site: HealthySite, schedule: list[tuple[float, str]],
                 seconds: float, drain: float, db: Database,
                 loop_name: str) -> tuple[dict[str, float], float]:
    """Run the daemon; unlink the scheduled statuses on time; stop when done."""
    from monitor.continuous import run_continuous
    from monitor.worker import run_daemon

    stop = asyncio.Event()
    deleted: dict[str, float] = {}

    async def script() -> None:
        start = time.monotonic()
        for offset, sid in schedule:
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            site.status_file(sid).unlink()
            deleted[sid] = time.time()
        await asyncio.sleep(max(0.0, start + seconds - time.monotonic()))
        end = start + seconds + drain
        while time.monotonic() < end and len(await asyncio.to_thread(
                _detected, db, list(deleted))) < len(deleted):
            await asyncio.sleep(1.0)
        stop.set()

    task = asyncio.create_task(script())
    if loop_name == "continuous":
        await run_continuous(worker, stop=stop)
    else:
        await run_daemon(worker, stop=stop)
    await task
    return deleted, time.time()


def _detected(db: Database, keys: list[str]) -> dict[str, float]:
    """``post key → detected_at`` (unix time) of the posts' ``disappeared`` events."""
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT post_key, min(detected_at) AS at FROM events WHERE kind = 'disappeared' "
            "AND post_key = ANY(%s) GROUP BY post_key", (keys,)).fetchall()
    return {r["post_key"]: r["at"].timestamp() for r in rows}


def run_phase(args: argparse.Namespace, hanging: int) -> dict[str, Any]:
    from monitor.db import tracking as store
    from monitor.watchlist import Target
    from monitor.worker import Worker
    from spiders.crawl import crawl, event_loop

    site = HealthySite(args.posts)
    hang = HangingHost() if hanging else None
    rng = random.Random(args.seed)
    victims = rng.sample(site.ids, args.deletions)
    first, last = args.seconds * 0.2, args.seconds * 0.75
    schedule = sorted((rng.uniform(first, last), sid) for sid in victims)
    targets = [Target("bench", "mastodon", "post", site.post_url(sid), site.base, None, ())
               for sid in site.ids]
    if hang is not None:
        targets += [Target("bench", "mastodon", "post", f"{hang.base}/@slow/{9000 + i}",
                           hang.base, None, ()) for i in range(hanging)]
    try:
        with fresh_database(args.database_url, args.embedded) as url:
            settings = crawl_settings(url, **LATENCY_SETTINGS)
            db = Database(url)
            try:
                db.migrate()
                with db.transaction() as conn:
                    store.sync_targets(conn, targets, settings["DEFAULT_INTERVAL"])
                worker = Worker(db, settings, crawl,
                                spool_dir=Path(tempfile.mkdtemp(prefix="takedown-spool-")))
                claims = count_claims(worker)
                loop = event_loop()
                asyncio.set_event_loop(loop)
                began = time.time()
                deleted, ended = loop.run_until_complete(
                    _drive(worker, site, schedule, args.seconds, args.drain, db, args.loop))
                worker.close()
                detected = _detected(db, list(deleted))
            finally:
                db.close()
        site.proc.terminate()
        site.proc.wait(timeout=10)
        requests = site.requests()
    finally:
        site.close()
        if hang is not None:
            hang.close()
    return {**_figures(settings, began, ended, deleted, detected, requests, hanging,
                       hang.accepted if hang else 0), **claims}


def count_claims(worker: Any) -> Counter[str]:
    """Count the worker's round trips for work as they return: ``claims``, and
    ``empty_claims`` among them (nothing was due), ``claimed_items``; ``looks``, the
    reads of next due times, and ``looked_platforms``, the platforms they read."""
    counts: Counter[str] = Counter(claims=0, empty_claims=0, claimed_items=0, looks=0,
                                   looked_platforms=0)
    claim, next_due = worker._claim, worker._next_due
    lock = threading.Lock()  # several platforms' round trips return in threads side by side

    def counted(*args: Any, **kwargs: Any) -> Any:
        items = claim(*args, **kwargs)
        with lock:
            counts.update(claims=1, empty_claims=int(not items), claimed_items=len(items))
        return items

    def looked(platforms: Any, *args: Any, **kwargs: Any) -> Any:
        due = next_due(platforms, *args, **kwargs)
        with lock:
            counts.update(looks=1, looked_platforms=len(platforms))
        return due

    worker._claim, worker._next_due = counted, looked
    return counts


def _figures(settings: Any, began: float, ended: float, deleted: dict[str, float],
             detected: dict[str, float], requests: dict[str, list[tuple[float, int]]],
             hanging: int, hang_connections: int) -> dict[str, Any]:
    interval = float(settings["DEFAULT_INTERVAL"])
    ratios: list[float] = []
    for hits in requests.values():
        ok = [t for t, status in hits if status == 200]
        ratios += [(b - a) / interval for a, b in zip(ok, ok[1:], strict=False)]
    latencies = [detected.get(sid, ended) - at for sid, at in deleted.items()]
    missed = sorted(sid for sid in deleted if sid not in detected)
    bound = interval + float(settings["CONFIRM_SPACING"]) + SLACK
    p95 = percentile(latencies, 95)
    r95 = percentile(ratios, 95)
    within = sum(0.9 <= r <= MAX_INTERVAL_RATIO for r in ratios) / len(ratios) if ratios else 0
    return {
        "hanging_targets": hanging, "hanging_connections": hang_connections,
        "wall_s": round(ended - began, 1), "interval_s": interval,
        "intervals": len(ratios),
        "interval_ratio_p50": percentile(ratios, 50), "interval_ratio_p95": r95,
        "interval_ratio_max": max(ratios) if ratios else None,
        "intervals_within_10pct": round(within, 3),
        "deletions": len(deleted), "undetected": missed,
        "latency_p50_s": percentile(latencies, 50), "latency_p95_s": p95,
        "latency_max_s": max(latencies) if latencies else None,
        "latency_bound_s": bound,
        "latency_met": p95 is not None and p95 <= bound and not missed,
        "interval_met": r95 is not None and r95 <= MAX_INTERVAL_RATIO,
    }


def _fmt(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:.2f}{unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200, help="healthy single-post targets")
    parser.add_argument("--hanging", type=int, default=20, help="targets on the hanging host")
    parser.add_argument("--deletions", type=int, default=40, help="scripted deletions")
    parser.add_argument("--seconds", type=float, default=75.0,
                        help="daemon time per phase before the drain (default %(default)s)")
    parser.add_argument("--drain", type=float, default=45.0,
                        help="at most this much longer, until every deletion has its event")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--phases", default="healthy,hanging",
                        help="which phases to run, comma-separated (default %(default)s)")
    parser.add_argument("--loop", choices=("continuous", "lockstep"), default="continuous",
                        help="continuous: run_continuous, what `takedown run` starts; "
                             "lockstep: run_daemon's cycles (the loop before issue 8)")
    parser.add_argument("--verbose", action="store_true")
    add_database_args(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if not args.verbose:
        # A lockstep daemon skips every tick its cycle overruns: one warning a tick.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
    info = machine()
    with fresh_database(args.database_url, args.embedded) as probe_url:
        server = server_facts(probe_url)
    phases: dict[str, dict[str, Any]] = {}
    try:
        for phase in [p.strip() for p in args.phases.split(",") if p.strip()]:
            print(f"phase {phase} ...", file=sys.stderr, flush=True)
            phases[phase] = run_phase(args, args.hanging if phase == "hanging" else 0)
    finally:
        stop_reactor_threads()
    judged = phases.get("hanging") or next(iter(phases.values()))
    ok = bool(judged["latency_met"] and judged["interval_met"])
    result = {"machine": info, "postgresql": server,
              "params": {"loop": args.loop, "posts": args.posts, "hanging": args.hanging,
                         "deletions": args.deletions, "seconds": args.seconds,
                         "drain": args.drain, "seed": args.seed,
                         "settings": LATENCY_SETTINGS},
              "phases": phases, "met": ok}
    path = write_result(f"{NAME}-{args.loop}" + ("-embedded" if args.embedded else ""), result)
    rows: list[tuple[str, Any]] = [*machine_rows(info, server), ("", "")]
    for name, r in phases.items():
        rows += [
            (f"{name}: run", f"{r['wall_s']} s, {r['hanging_targets']} hanging targets "
                             f"({r['hanging_connections']} connections held)"),
            (f"{name}: intervals", f"{r['intervals']} measured, actual/configured p50 "
                                   f"{_fmt(r['interval_ratio_p50'])} p95 "
                                   f"{_fmt(r['interval_ratio_p95'])} max "
                                   f"{_fmt(r['interval_ratio_max'])}; "
                                   f"{r['intervals_within_10pct']:.0%} within 10%: "
                                   f"{verdict(r['interval_met'])}"),
            (f"{name}: detection", f"{r['deletions']} deletions, p50 "
                                   f"{_fmt(r['latency_p50_s'], ' s')} p95 "
                                   f"{_fmt(r['latency_p95_s'], ' s')} max "
                                   f"{_fmt(r['latency_max_s'], ' s')} (target <= "
                                   f"{r['latency_bound_s']:.0f} s), {len(r['undetected'])} "
                                   f"undetected: {verdict(r['latency_met'])}"),
            (f"{name}: claims", f"{r['claims']} claims, {r['empty_claims']} of them empty, "
                                f"for {r['claimed_items']} items; {r['looks']} reads of next due "
                                f"times ({r['looked_platforms']} platforms read)"),
        ]
    rows += [("judged on", "the hanging phase" if "hanging" in phases else "the only phase"),
             ("json", str(path))]
    print_block(f"bench.latency ({args.loop}): {args.posts} healthy targets, {args.hanging} "
                "on a hanging host", rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
