"""``takedown demo``: the sandbox platform watched by the real monitor, offline.

The demo uses the configured database (the embedded one by default) under the
group ``demo``, which it empties first, so ``takedown events --group demo``
lists what it found afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import click

from monitor.db import Database
from monitor.settings import Settings
from monitor.signals import SignalManager, batch_committed

from .context import (
    Ctx,
    print_events,
    run_on_crawl_loop,
    signals_call,
    sigterm_interrupts,
    worker_for,
)

if TYPE_CHECKING:
    from monitor.worker import Worker
    from spiders.sandbox import Sandbox

DEMO_GROUP = "demo"

#: Fast settings so a two-minute demo shows whole life cycles; a real
#: deployment keeps the defaults (minutes to days).
DEMO_SETTINGS = {
    "tick": "1s",
    "default_interval": "3s",
    "recheck_schedule": "3s,6s,10s,15s,20s,30s,45s,60s,75s,90s",
    "confirm_probes": 2,
    "confirm_spacing": "3s",
    "confirm_retry": "2s",
    "download_timeout": "2s",
    "retry_times": 1,
    # Host back-off scaled down with everything else (faults pause the sandbox host).
    "retry_backoff_base": "0.2s",
    "retry_backoff_max": "2s",
    "autothrottle": False,
    "concurrent_requests_per_host": 8,
}


def demo_settings(environ: dict[str, str] | None = None) -> Settings:
    return Settings.load(DEMO_SETTINGS, environ, source="demo settings")


def run_demo(c: Ctx, *, seconds: float, seed: int, fault_rate: float,
             serve: str | None = None) -> None:
    """Watch a fresh demo sandbox for up to ``seconds``, printing events as they come;
    with ``serve`` (HOST:PORT), also serve the web interface there, and go on serving
    after the demo until interrupted."""
    from monitor.db import tracking
    from monitor.watchlist import parse_watchlist
    from spiders.sandbox import Sandbox

    settings = demo_settings()
    if serve:
        from .serve import bind

        bind(serve).close()  # a taken port fails now, not after the demo
    sandbox = Sandbox(seed=seed, scenario="demo", fault_rate=fault_rate, tick_seconds=6.0,
                      timeout_delay=3.0)
    base_url = sandbox.start()
    # The fakes' API credentials (Reddit's OAuth app) point at this sandbox.
    settings = settings.replace(**sandbox.settings())
    click.echo(f"sandbox platform on {base_url} (seed {seed}, {fault_rate:.0%} transient "
               "faults); watching it for up to {:.0f} s".format(seconds))
    try:
        with sigterm_interrupts(), Database.open(settings) as db:
            with db.transaction() as conn:
                tracking.forget_group(conn, DEMO_GROUP)
            wl = parse_watchlist(sandbox.watchlist_toml(group=DEMO_GROUP, interval="3s"),
                                 source="sandbox watchlist")
            signals = SignalManager()
            signals.connect(print_events, batch_committed)
            with worker_for(settings, db, groups=[DEMO_GROUP], signals=signals) as worker:
                worker.sync(wl.targets)
                kinds = Counter(f"{t.platform} {t.kind}" for t in wl.targets)
                line = (f"tracking {len(wl.targets)} targets: "
                        + ", ".join(f"{n} {what}" for what, n in sorted(kinds.items()))
                        + "\n")
                run_on_crawl_loop(_watch(worker, sandbox, seconds, line,
                                         web=_web(settings, db, serve) if serve else None))
            _summary(db, sandbox.truth())
    finally:
        sandbox.stop()


def _web(settings: Settings, db: Database, address: str) -> tuple[Any, str, str]:
    """The app to serve, where, and a fresh admin token for the demo's operator."""
    from monitor.api import create_app
    from monitor.db import access

    with db.transaction() as conn:
        # The demo group's events wait for review, so the review queue has work.
        access.sync_review_groups(conn, {DEMO_GROUP: True})
        # Named by the second and a random suffix: two demos may start in one second.
        _, token = access.create_token(conn, f"demo-{int(time.time())}-{secrets.token_hex(3)}",
                                       "admin")
    return create_app(settings, db), address, token


async def _watch(worker: Worker, sandbox: Sandbox, seconds: float, line: str,
                 web: tuple[Any, str, str] | None = None) -> None:
    """Run the daemon until ``seconds`` passed, or 25 s after the sandbox's script ended;
    with ``web``, serve it meanwhile and afterwards until Ctrl-C or SIGTERM. Either
    signal stops the daemon as ``takedown run`` stops (the cycle under way records what
    it holds) and ends the demo, summary and all. The start-up ``line`` is printed once
    they do (as ``takedown run``'s): a signal sent on seeing it never lands in the
    start-up, which it would end at once (status 130)."""
    from monitor.worker import run_daemon

    stop = asyncio.Event()
    interrupted = asyncio.Event()

    def interrupt() -> None:
        interrupted.set()
        stop.set()

    with signals_call(interrupt):
        server = None
        if web is not None:
            from .serve import serve_in_background

            app, address, token = web
            server = serve_in_background(app, address)
            click.echo(f"web interface: http://{address}/login (token, shown once: {token})\n")
        click.echo(line)
        started = time.monotonic()

        async def watchdog() -> None:
            done_at = None
            while time.monotonic() - started < seconds:
                await asyncio.sleep(1)
                if sandbox.done and done_at is None:
                    done_at = time.monotonic()
                if done_at and time.monotonic() - done_at > 25:
                    break
            stop.set()

        task = asyncio.create_task(watchdog())
        try:
            await run_daemon(worker, stop=stop)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if server is not None:
            if not interrupted.is_set():
                click.echo(f"\nthe demo is over; still serving http://{server.address}/ "
                           "(Ctrl-C to stop)")
                await interrupted.wait()
            await server.stop()


def _summary(db: Database, truth: dict[str, Any]) -> None:
    from monitor.db.queries import EventFilter, events

    with db.transaction() as conn:
        rows = events(conn, EventFilter(groups=[DEMO_GROUP]))
    found = {(r["post_key"], r["kind"]) for r in rows}
    expected = [a for a in truth["actions"] if a.get("expect")]
    hit = sum((a["post_key"], a["expect"]["kind"]) in found for a in expected)
    click.echo(f"\n{len(rows)} event(s) recorded; {hit} of {len(expected)} scripted changes "
               "detected so far. List them with: takedown events --group demo")
