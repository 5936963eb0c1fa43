"""API latency at 1,000,000 events, and the query plans behind it.

Loads N events with their posts, versions and observations into a fresh database
(``bench/_analyst_data.py``: COPY, then ANALYZE), serves the real app
(:func:`monitor.api.create_app`) with uvicorn in a child process on 127.0.0.1, and
times a few hundred requests per query with one keep-alive httpx client and a viewer
token (``monitor.db.access.create_token``): latest events, filters by platform,
cause, group and a month's range, the next page by cursor, full-text search in
English and Chinese, one post's history, and a year's statistics (rates, survival)
when the server has those routes. Each query's parameters vary from request to
request (another platform, another month, another post), so no request is the cache's
repeat of the previous one.

Then the SQL behind each hot path is explained (``EXPLAIN (FORMAT JSON)``) by calling
the same functions the routes call (:mod:`monitor.db.analyst`, :mod:`monitor.db.stats`)
on a connection that explains every statement before running it: no SQL is copied
here. A ``Seq Scan`` node on events, posts, versions or observations is reported.

Targets (issue 10): p95 < 100 ms per query, and no sequential scan on a hot path.
Exit status 1 when one is missed. Results: ``bench/results/api.json``.

Run: ``.venv/bin/python -m bench.api [--events 1000000] [--requests 300] [--keep]
[--database-url URL] [--loaded URL]``
"""

from __future__ import annotations

import argparse
import logging
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ._analyst_data import Loaded, Plan, bench_database, database_facts, load
from ._api_plans import explain_hot_paths
from ._common import (
    DEFAULT_SERVER,
    machine,
    machine_rows,
    print_block,
    server_facts,
    setup_logging,
    verdict,
    write_result,
)
from .latency import percentile

NAME = "api"
TARGET_P95_MS = 100.0
#: Words that occur in some posts' text (the generator's vocabulary), rare and common.
ENGLISH_TERMS = ["censorship", "petition", "detention", "leaked document", "hospital",
                 "corruption", "memorial"]
CHINESE_TERMS = ["审查", "删除", "抗议", "腐败", "记者", "请愿", "纪念"]

Params = dict[str, Any]


def _iso(at: datetime) -> str:
    return at.isoformat()


def request_plans(facts: Loaded, rng: random.Random) -> dict[str, Callable[[], tuple[
        str, Params]]]:
    """For each measured query, a function giving the next request's path and params."""
    year = facts.now - timedelta(days=365)

    def month() -> Params:
        start = facts.now - timedelta(days=rng.uniform(30, 700))
        return {"since": _iso(start), "until": _iso(start + timedelta(days=30))}

    return {
        "latest events": lambda: ("/api/v1/events", {}),
        "filter: platform": lambda: ("/api/v1/events",
                                     {"platform": rng.choice(facts.platforms)}),
        "filter: cause": lambda: ("/api/v1/events", {"cause": rng.choice(
            ["deleted_by_author", "removed_by_platform", "account_suspended", "restricted",
             "legal", "hidden_from_feed"])}),
        "filter: group": lambda: ("/api/v1/events", {"group": rng.choice(facts.groups)}),
        "filter: time range (30 days)": lambda: ("/api/v1/events", month()),
        "filter: platform + cause + month": lambda: ("/api/v1/events", {
            **month(), "platform": rng.choice(facts.platforms), "cause": "removed_by_platform"}),
        "search: English": lambda: ("/api/v1/events", {"q": rng.choice(ENGLISH_TERMS)}),
        "search: Chinese": lambda: ("/api/v1/events", {"q": rng.choice(CHINESE_TERMS)}),
        "post history": lambda: (f"/api/v1/posts/{rng.choice(facts.sample_posts)}", {}),
        "stats: rates (1 year)": lambda: ("/api/v1/stats/rates", {"since": _iso(year)}),
        # The same window each time: after the first, the stats part's stored answer.
        "stats: survival (1 year)": lambda: ("/api/v1/stats/survival", {"since": _iso(year)}),
        # A window no one asked for before: the fit computed in the request.
        "stats: survival (uncached)": lambda: ("/api/v1/stats/survival", {
            "since": _iso(year - timedelta(seconds=rng.randrange(1, 10**6)))}),
    }


def serve(database_url: str, port: int) -> None:
    """The child process: the real app on 127.0.0.1:port (``-c`` entry point)."""
    import uvicorn

    from monitor.api.app import create_app
    from monitor.db import Database
    from monitor.settings import Settings

    settings = Settings.load({}, environ={"TAKEDOWN_DATABASE_URL": database_url})
    db = Database(database_url)
    uvicorn.run(create_app(settings, db), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


@contextmanager
def running_server(database_url: str) -> Iterator[str]:
    from ._static import free_port

    port = free_port()
    code = f"from bench.api import serve; serve({database_url!r}, {port})"
    proc = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/v1/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API server did not start; run with --verbose "
                                       "and read its error above") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def viewer_token(database_url: str) -> str:
    from monitor.db import Database
    from monitor.db.access import create_token

    db = Database(database_url)
    try:
        with db.transaction() as conn:
            _, secret = create_token(conn, f"bench-{datetime.now(UTC):%H%M%S%f}", "viewer")
    finally:
        db.close()
    return secret


def measure(client: httpx.Client, plans: dict[str, Callable[[], tuple[str, Params]]],
            requests: int, warmup: int, budget: float) -> dict[str, dict[str, Any]]:
    """p50/p95/p99 (ms) per query; the cursor query walks pages of the latest events.
    A query stops after ``budget`` seconds (a slow one is reported with fewer requests)."""
    routes = {r for r in client.get("/api/v1/openapi.json").json().get("paths", {})}
    out: dict[str, dict[str, Any]] = {}
    queries: list[tuple[str, Callable[[], tuple[str, Params]]]] = [
        *plans.items(), ("next page (cursor)", _Pager(client))]
    for name, plan in queries:
        path, _ = plan()
        template = "/api/v1/posts/{post_id}" if path.startswith("/api/v1/posts/") else path
        if template not in routes:
            out[name] = {"skipped": f"the server has no route {template}"}
            continue
        times: list[float] = []
        errors: dict[str, int] = {}
        began_query = time.monotonic()
        warm = 0
        while len(times) < requests and time.monotonic() - began_query < budget:
            # A slow query warms up in a quarter of its budget at most.
            warming = warm < warmup and time.monotonic() - began_query < budget / 4
            path, params = plan()
            began = time.perf_counter()
            try:
                response = client.get(path, params=params)
            except httpx.TransportError as exc:  # the server dropped it: a finding
                key = f"{type(exc).__name__}: {exc}"
                errors[key] = errors.get(key, 0) + 1
                continue
            elapsed = (time.perf_counter() - began) * 1000
            if isinstance(plan, _Pager):
                plan.seen(response)
            if response.status_code != 200:
                key = f"{response.status_code}: {response.text[:200]}"
                errors[key] = errors.get(key, 0) + 1
            elif warming:
                warm += 1
            else:
                times.append(elapsed)
        out[name] = {"requests": len(times), "errors": errors,
                     "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95),
                     "p99_ms": percentile(times, 99), "max_ms": max(times, default=None)}
        print(f"{name}: {len(times)} requests, p95 {_fmt(out[name]['p95_ms'])} ms",
              file=sys.stderr, flush=True)
    return out


class _Pager:
    """The next-page query: each request asks for the page after the previous answer's
    (from the top again after the last page), so every timed page is a new one."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.cursor: str | None = None

    def __call__(self) -> tuple[str, Params]:
        if self.cursor is None:  # untimed: the first page only gives the first cursor
            self.cursor = self.client.get("/api/v1/events").json().get("next_cursor")
        return "/api/v1/events", {"cursor": self.cursor}

    def seen(self, response: httpx.Response) -> None:
        self.cursor = response.json().get("next_cursor") if response.is_success else None


def judge(latency: dict[str, dict[str, Any]], plans: dict[str, Any]) -> bool:
    fast = all(r.get("p95_ms") is not None and r["p95_ms"] < TARGET_P95_MS and not r["errors"]
               for r in latency.values() if "skipped" not in r)
    no_scans = all(not p.get("seq_scans") and "error" not in p for p in plans.values())
    return fast and no_scans


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def report(args: argparse.Namespace, info: dict[str, Any], server: dict[str, Any],
           load_facts: dict[str, Any], latency: dict[str, dict[str, Any]],
           plans: dict[str, dict[str, Any]], ok: bool) -> None:
    path = write_result(NAME, {"machine": info, "postgresql": server,
                               "params": {"events": args.events, "requests": args.requests,
                                          "seed": args.seed, "loaded": bool(args.loaded)},
                               "load": load_facts, "latency": latency, "plans": plans,
                               "met": ok})
    rows: list[tuple[str, Any]] = [*machine_rows(info, server), ("", "")]
    rows.append(("load", f"{load_facts.get('seconds', '-')} s; rows "
                 + ", ".join(f"{k} {v:,}" for k, v in load_facts["rows"].items())))
    rows.append(("database size", f"{load_facts['database_bytes'] / 2**30:.2f} GiB"))
    rows.append(("", ""))
    for name, r in latency.items():
        if "skipped" in r:
            rows.append((name, f"SKIPPED ({r['skipped']})"))
            continue
        errors = f", {sum(r['errors'].values())} errors {list(r['errors'])[:1]}" \
            if r["errors"] else ""
        met = r["p95_ms"] is not None and r["p95_ms"] < TARGET_P95_MS and not r["errors"]
        rows.append((name, f"p50 {_fmt(r['p50_ms'])}  p95 {_fmt(r['p95_ms'])}  p99 "
                           f"{_fmt(r['p99_ms'])} ms ({r['requests']} requests{errors}): "
                           f"{verdict(met)}"))
    rows.append(("", ""))
    for name, p in plans.items():
        if "error" in p:
            rows.append((f"plan: {name}", f"NOT EXPLAINED ({p['error']})"))
            continue
        scans = ", ".join(p["seq_scans"]) or "none"
        rows.append((f"plan: {name}", f"{p['statements']} statements, seq scans on big "
                                      f"tables: {scans}: {verdict(not p['seq_scans'])}"))
    rows.append(("json", str(path)))
    print_block(f"bench.api: {load_facts['rows'].get('events', 0):,} events, target p95 < "
                f"{TARGET_P95_MS:.0f} ms", rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per query")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds per query at most (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true",
                        help="keep the loaded database (its URL is printed) for --loaded")
    parser.add_argument("--database-url", default=DEFAULT_SERVER,
                        help="PostgreSQL server to create the bench database on "
                             "(default: %(default)s)")
    parser.add_argument("--loaded", metavar="URL",
                        help="measure a database a previous --keep run loaded; no load")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    # One log line per timed request would be part of what is timed.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    info = machine()
    server = server_facts(args.database_url)
    with _database(args) as (url, loaded, load_seconds):
        load_facts = {"seconds": load_seconds, **database_facts(url)}
        print(f"loaded in {load_seconds} s: {url}", file=sys.stderr, flush=True)
        rng = random.Random(args.seed)
        token = viewer_token(url)
        with running_server(url) as base, httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"},
                timeout=60) as client:
            latency = measure(client, request_plans(loaded, rng), args.requests, args.warmup,
                              args.budget)
        plans = explain_hot_paths(url, loaded)
    ok = judge(latency, plans)
    report(args, info, server, load_facts, latency, plans, ok)
    return 0 if ok else 1


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[tuple[str, Loaded, float | None]]:
    if args.loaded:
        yield args.loaded, Loaded.read(args.loaded), None
        return
    with bench_database(args.database_url, keep=args.keep) as url:
        began = time.perf_counter()
        load(url, Plan(events=args.events, seed=args.seed))
        yield url, Loaded.read(url), round(time.perf_counter() - began, 1)

if __name__ == "__main__":
    raise SystemExit(main())
