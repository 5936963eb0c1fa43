"""The ``takedown`` command line.

This is where the parts are assembled: it is the one place in ``monitor`` that
imports the Scrapy side (``spiders.crawl``), and only inside the commands that
crawl.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from . import query
from .db import Database
from .db import queries as q
from .errors import TakedownError
from .events import CAUSES, EVENT_KINDS
from .platforms import PLATFORMS
from .settings import Settings, parse_duration

log = logging.getLogger("monitor")


def default_watchlist() -> Path:
    env = os.environ.get("TAKEDOWN_WATCHLIST")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("takedown-monitor", appauthor=False)) / \
        "watchlist.toml"


class Ctx:
    def __init__(self, watchlist: Path, verbose: int) -> None:
        self.watchlist_path = watchlist
        self.verbose = verbose

    def watchlist(self) -> Any:
        from .watchlist import load_watchlist

        return load_watchlist(self.watchlist_path)

    def settings(self) -> Settings:
        """Settings from the watchlist's [settings] (if the file exists) and the environment."""
        if self.watchlist_path.exists():
            return self.watchlist().settings()  # type: ignore[no-any-return]
        return Settings.load()

    def database(self, settings: Settings | None = None) -> Database:
        return Database.open(settings or self.settings())


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Libraries speak up only when asked (-v): a skipped tick or a truncated body is
    # routine here, and each becomes an observation with its outcome anyway.
    for noisy in ("scrapy", "twisted", "apscheduler", "psycopg.pool", "pgserver", "filelock"):
        logging.getLogger(noisy).setLevel(logging.ERROR if verbose == 0 else
                                          max(level, logging.INFO))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--watchlist", "-w", type=click.Path(path_type=Path), default=None,
              help="Watchlist TOML file (default: $TAKEDOWN_WATCHLIST or the user config dir).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, watchlist: Path | None, verbose: int) -> None:
    """Takedown Monitor: watch posts, confirm disappearances, keep the evidence."""
    _setup_logging(verbose)
    ctx.obj = Ctx(watchlist or default_watchlist(), verbose)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TakedownError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


# --- running ----------------------------------------------------------------


def _worker(c: Ctx, settings: Settings, db: Database, groups: list[str] | None = None,
            on_events: Any = None, on_recorded: Any = None, outbox: Any = None) -> Any:
    from spiders.crawl import crawl, install_reactor

    from .worker import Worker

    install_reactor()
    return Worker(db, settings, crawl, groups=groups, on_events=on_events,
                  on_recorded=on_recorded, outbox=outbox)


def _alerts(wl: Any) -> Any:
    """The [alerts] config, checked before anything runs; None without channels."""
    from alerts import from_watchlist

    config = from_watchlist(wl)
    return config if config.channels else None


def run_on_crawl_loop(coro: Any) -> Any:
    """Run ``coro`` on the process's one crawl loop (a Twisted reactor cannot restart)."""
    from spiders.crawl import event_loop, shutdown

    loop = event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        shutdown()


@cli.command()
@click.option("--once", is_flag=True, help="One pass over everything due, then exit (cron).")
@click.pass_obj
def check(c: Ctx, once: bool) -> None:
    """Check every due target and post once, then exit."""
    from alerts import Outbox, dispatch_once

    wl = c.watchlist()
    settings = wl.settings()
    alerts = _alerts(wl)
    with c.database(settings) as db:
        worker = _worker(c, settings, db, on_events=_print_events,
                         outbox=Outbox(alerts) if alerts else None)
        worker.sync(wl.targets)
        stats = run_on_crawl_loop(worker.cycle())
        sent = dispatch_once(db, alerts) if alerts else None
    click.echo(f"checked {stats['claimed']} item(s), recorded {stats['observations']} "
               f"observation(s), {stats['events']} event(s)")
    if sent is not None:
        click.echo("alerts: " + ", ".join(f"{k} {v}" for k, v in sent.items()))


@cli.command()
@click.pass_obj
def run(c: Ctx) -> None:
    """Run the monitor as a daemon until interrupted."""
    from alerts import Outbox, run_dispatcher

    from .metrics import Metrics
    from .worker import run_daemon

    wl = c.watchlist()
    settings = wl.settings()
    alerts = _alerts(wl)
    with c.database(settings) as db:
        metrics = Metrics(db=db)
        address = settings["METRICS_ADDRESS"]
        stop_metrics = metrics.serve(address) if address else None
        worker = _worker(c, settings, db, on_events=_print_events, on_recorded=metrics.recorded,
                         outbox=Outbox(alerts) if alerts else None)
        worker.sync(wl.targets)

        def reload() -> Any:
            return c.watchlist().targets

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            jobs = [run_daemon(worker, reload=reload, stop=stop)]
            if alerts is not None:
                jobs.append(run_dispatcher(db, alerts, stop, metrics))
            await asyncio.gather(*jobs)

        try:
            run_on_crawl_loop(main())
        finally:
            if stop_metrics is not None:
                stop_metrics()


def _print_events(events: list[Any]) -> None:
    for e in events:
        cause = e.cause or ""
        if e.cause_detail:
            cause += f"/{e.cause_detail}"
        if e.candidates:
            cause += " (one of: " + ", ".join(e.candidates) + ")"
        observed = e.evidence.get("observed", {})
        status = observed.get("http_status")
        words = observed.get("message")
        evidence = " ".join(x for x in (
            f"HTTP {status}" if status else "", f"“{words}”" if words else "",
            f"sha256:{observed['body_hash'][:12]}" if observed.get("body_hash") else "") if x)
        extra = ""
        if e.kind == "edited" and e.edit:
            rendered = " ".join(str(e.edit.get("rendered", "")).split())
            extra = f" [{','.join(e.edit.get('classes', []))}] {rendered[:160]}"
        life = ""
        if e.kind == "disappeared" and e.published_at and e.first_seen_gone:
            life = f" after {query.human_duration(e.first_seen_gone - e.published_at)}"
        click.echo(f"{e.detected_at:%H:%M:%S} {e.kind:<11} {e.platform}:{e.post_key} "
                   f"{cause}{life} {evidence}{extra}".rstrip())


# --- querying ---------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give an ISO date/time or a duration like 2h, 7d"
                                 ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@cli.command()
@click.option("--since", help="ISO time, or a duration ago (24h, 7d).")
@click.option("--until", help="ISO time, or a duration ago.")
@click.option("--platform", "platforms", multiple=True, type=click.Choice(sorted(PLATFORMS)))
@click.option("--group", "groups", multiple=True)
@click.option("--target", "targets", multiple=True, help="Target key or value.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(sorted(EVENT_KINDS)))
@click.option("--cause", "causes", multiple=True,
              help=f"One of: {', '.join(CAUSES)} (or a detail such as legal).")
@click.option("--limit", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.pass_obj
def events(c: Ctx, since: str | None, until: str | None, platforms: tuple[str, ...],
           groups: tuple[str, ...], targets: tuple[str, ...], kinds: tuple[str, ...],
           causes: tuple[str, ...], limit: int | None, fmt: str) -> None:
    """List takedown events, filtered."""
    f = q.EventFilter(since=_when(since), until=_when(until), platforms=list(platforms) or None,
                      groups=list(groups) or None, targets=list(targets) or None,
                      kinds=list(kinds) or None, causes=list(causes) or None, limit=limit)
    with c.database() as db, db.transaction() as conn:
        rows = q.events(conn, f)
    click.echo(query.format_events(rows, fmt), nl=False)


@cli.command()
@click.argument("post")
@click.pass_obj
def history(c: Ctx, post: str) -> None:
    """Every stored version of POST (URL or id), with word diffs and its timeline."""
    with c.database() as db, db.transaction() as conn:
        found = q.find_posts(conn, post)
        if not found:
            raise click.ClickException(f"no tracked post has the id or URL {post!r}; "
                                       "try `takedown events` to find one")
        for row in found:
            click.echo(query.format_history(row, q.post_versions(conn, row["id"]),
                                            q.post_observations(conn, row["id"]),
                                            q.post_events(conn, row["id"])))


@cli.command()
@click.pass_obj
def status(c: Ctx) -> None:
    """Each target's last successful check, error streak and next due time."""
    from alerts import delivery_summary
    from alerts.cli import format_summary

    with c.database() as db, db.transaction() as conn:
        rows = q.status(conn)
        backlog = q.overdue(conn)
        deliveries = delivery_summary(conn)
    click.echo(query.format_status(rows), nl=False)
    click.echo(f"{len(rows)} target(s); {backlog} check(s) overdue by more than a minute")
    click.echo(format_summary(deliveries))


@cli.command()
@click.pass_obj
def migrate(c: Ctx) -> None:
    """Apply database migrations (they also apply themselves on every start)."""
    with c.database() as db:
        applied = db.migrate()
    click.echo("applied: " + ", ".join(applied) if applied else "schema is up to date")


# --- the watchlist ----------------------------------------------------------


@cli.group()
def watch() -> None:
    """Edit the watchlist without opening the file."""


@watch.command("add")
@click.argument("platform")
@click.argument("value")
@click.option("--group", default="default", show_default=True)
@click.option("--kind", type=click.Choice(["account", "feed", "post"]), default=None,
              help="What VALUE is (default: feed for rss, post for a URL, else account).")
@click.option("--base-url")
@click.option("--interval")
@click.option("--tag", "tags", multiple=True)
@click.pass_obj
def watch_add(c: Ctx, platform: str, value: str, group: str, kind: str | None,
              base_url: str | None, interval: str | None, tags: tuple[str, ...]) -> None:
    """Add a target: PLATFORM (rss, mastodon, rednote) and VALUE."""
    from .watchlist import add_target

    if kind is None:
        is_url = value.startswith(("http://", "https://"))
        kind = "feed" if platform in {"rss", "atom", "feed"} else ("post" if is_url else
                                                                  "account")
    target = add_target(c.watchlist_path, group, platform, kind, value, base_url=base_url,
                        interval=interval, tags=tags)
    click.echo(f"added {target.key} to group {group!r} in {c.watchlist_path}")


@watch.command("list")
@click.pass_obj
def watch_list(c: Ctx) -> None:
    """List the watchlist's targets."""
    wl = c.watchlist()
    rows = [[t.group, t.platform, t.kind, t.value, t.base_url or "",
             f"{t.interval:g}s" if t.interval else "", ",".join(t.tags)] for t in wl.targets]
    click.echo(query.render_table(["group", "platform", "kind", "value", "base_url",
                                   "interval", "tags"], rows, width=80), nl=False)


@watch.command("remove")
@click.argument("target")
@click.pass_obj
def watch_remove(c: Ctx, target: str) -> None:
    """Remove a target by its key or value."""
    from .watchlist import remove_target

    removed = remove_target(c.watchlist_path, target)
    click.echo(f"removed {removed.key}")


# --- the sandbox and the demo ----------------------------------------------


@cli.command()
@click.option("--port", default=8765, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--scenario", type=click.Choice(["demo", "random"]), default="demo")
@click.option("--fault-rate", default=0.0, show_default=True)
@click.option("--tick", default=10.0, show_default=True, help="Seconds per script step.")
def sandbox(port: int, seed: int, scenario: str, fault_rate: float, tick: float) -> None:
    """Serve the sandbox platform on 127.0.0.1 (for trying the monitor by hand)."""
    from .sandbox import serve

    serve(seed=seed, scenario=scenario, fault_rate=fault_rate, port=port, tick_seconds=tick)


@cli.command()
@click.option("--seconds", default=100.0, show_default=True, help="How long to watch.")
@click.option("--seed", default=1, show_default=True)
@click.option("--fault-rate", default=0.1, show_default=True,
              help="Share of sandbox responses that fail transiently.")
@click.pass_obj
def demo(c: Ctx, seconds: float, seed: int, fault_rate: float) -> None:
    """Start the sandbox platform and watch it with the real monitor, offline."""
    from .demo import run_demo

    run_demo(c, seconds=seconds, seed=seed, fault_rate=fault_rate,
             worker_factory=_worker, print_events=_print_events)


def _add_alerts() -> None:
    from alerts.cli import alerts_group

    cli.add_command(alerts_group)


_add_alerts()
