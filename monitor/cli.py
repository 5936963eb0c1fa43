"""The ``takedown`` command line.

This is where the parts are assembled: it is the one place in ``monitor`` that
imports the Scrapy side (``spiders.crawl``), and only inside the commands that
crawl.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import click

from . import query
from .db import Database
from .db import queries as q
from .errors import TakedownError, UnknownPlatform
from .events import CAUSES, EVENT_KINDS, REMOVAL_DETAILS, Event
from .platforms import PLATFORMS, get_platform
from .settings import Settings, parse_duration
from .signals import SignalManager, batch_committed

if TYPE_CHECKING:
    from alerts.config import AlertConfig

    from .worker import Worker

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
            signals: SignalManager | None = None) -> Worker:
    from spiders.crawl import crawl, install_reactor

    from .worker import Worker

    install_reactor()
    return Worker(db, settings, crawl, groups=groups, signals=signals)


def _signals(alerts: AlertConfig | None) -> SignalManager:
    """The receivers of ``takedown run`` and ``check``: live events, and the alerts
    outbox when channels are configured."""
    from alerts import Outbox

    signals = SignalManager()
    signals.connect(_print_events, batch_committed)
    if alerts is not None:
        Outbox(alerts).connect(signals)
    return signals


def _alerts(wl: Any) -> AlertConfig | None:
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
    from alerts import dispatch_once

    wl = c.watchlist()
    settings = wl.settings()
    alerts = _alerts(wl)
    with c.database(settings) as db:
        worker = _worker(c, settings, db, signals=_signals(alerts))
        worker.sync(wl.targets)
        stats = run_on_crawl_loop(worker.cycle())
        sent = dispatch_once(db, alerts) if alerts else None
        with db.transaction() as conn:
            failing = q.failing_targets(conn)
    click.echo(f"checked {stats['claimed']} item(s), recorded {stats['observations']} "
               f"observation(s), {stats['events']} event(s)"
               + (f"; {len(failing)} target(s) failing" if failing else ""))
    click.echo(query.format_failing(failing), nl=False)
    if sent is not None:
        click.echo("alerts: " + ", ".join(f"{k} {v}" for k, v in sent.items()))


@cli.command("platforms")
def platforms_command() -> None:
    """List the installed platforms, their aliases and the target kinds each supports."""
    from .platforms import registry

    reg = registry()
    aliases: dict[str, list[str]] = {}
    for alias, name in sorted(reg.aliases.items()):
        aliases.setdefault(name, []).append(alias)
    rows = [[p.name, p.title, ", ".join(aliases.get(p.name, [])), ", ".join(p.kinds)]
            for _, p in sorted(reg.platforms.items())]
    click.echo(query.render_table(["platform", "title", "aliases", "kinds"], rows, width=60),
               nl=False)
    for error in reg.broken.values():
        click.echo(f"broken: {error}", err=True)


@cli.command()
@click.pass_obj
def run(c: Ctx) -> None:
    """Run the monitor as a daemon until interrupted."""
    from alerts import run_dispatcher

    from .metrics import Metrics
    from .worker import run_daemon

    wl = c.watchlist()
    settings = wl.settings()
    alerts = _alerts(wl)
    with c.database(settings) as db:
        metrics = Metrics(db=db)
        address = settings["METRICS_ADDRESS"]
        stop_metrics = metrics.serve(address) if address else None
        signals = _signals(alerts)
        metrics.connect(signals)
        worker = _worker(c, settings, db, signals=signals)
        worker.sync(wl.targets)
        click.echo(startup_line(wl, settings))

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


def startup_line(wl: Any, settings: Settings) -> str:
    """What ``takedown run`` is about to do: targets, database, metrics endpoint."""
    platforms = Counter(t.platform for t in wl.targets)
    groups = {t.group for t in wl.targets}
    per = ", ".join(f"{n} {p}" for p, n in sorted(platforms.items())) or "none"
    address = settings["METRICS_ADDRESS"]
    metrics = (f"metrics at http://{address}/metrics" if address
               else "no metrics endpoint (METRICS_ADDRESS is empty)")
    return (f"takedown run: watching {len(wl.targets)} target(s) in {len(groups)} group(s) "
            f"({per}); database {describe_database(settings)}; {metrics}")


def describe_database(settings: Settings) -> str:
    """The database the settings name, with any password hidden."""
    url = settings["DATABASE_URL"]
    if not url:
        from .db import default_data_dir

        return f"embedded at {settings['DATA_DIR'] or default_data_dir()}"
    return redact_url(url)


def redact_url(url: str) -> str:
    """``url`` (a URL or a key=value conninfo) with its password replaced by ***."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        if parts.password is not None:
            userinfo, _, hostport = parts.netloc.rpartition("@")
            parts = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(k == "password" for k, _ in pairs):
            parts = parts._replace(query=urlencode(
                [(k, "***" if k == "password" else v) for k, v in pairs], safe="*"))
        # Not urlunsplit: it drops the empty host of postgresql:///db.
        return (f"{parts.scheme}://{parts.netloc}{parts.path}"
                + (f"?{parts.query}" if parts.query else "")
                + (f"#{parts.fragment}" if parts.fragment else ""))
    import psycopg

    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable DATABASE_URL>"
    if "password" in info:
        info["password"] = "***"
    return psycopg.conninfo.make_conninfo("", **info)


def _print_events(events: Sequence[Event]) -> None:
    """Receiver of ``batch_committed``: one line per event, as it is recorded."""
    for e in events:
        click.echo(query.format_live_event(e))


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


def _unknown(param: str, value: str, known: Iterable[str], what: str,
             listed: bool = True) -> click.BadParameter:
    """The error for a filter value nothing has: a close match and the known values."""
    names = sorted(set(known))
    close = difflib.get_close_matches(value, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    if listed:
        hint += f"known {what}s: " + (", ".join(names) or "none yet")
    else:
        hint += "`takedown status` lists the targets' keys"
    return click.BadParameter(f"unknown {what} {value!r}; {hint}", param_hint=param)


def _platforms(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
               ) -> tuple[str, ...]:
    try:
        return tuple(get_platform(v).name for v in values)
    except UnknownPlatform as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _vocabulary(what: str, known: Iterable[str]) -> Any:
    names = list(known)

    def check(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
              ) -> tuple[str, ...]:
        for value in values:
            if value not in names:
                raise _unknown(f"--{param.name}".removesuffix("s"), value, names, what)
        return values

    return check


@cli.command()
@click.option("--since", help="ISO time, or a duration ago (24h, 7d).")
@click.option("--until", help="ISO time, or a duration ago.")
@click.option("--platform", "platforms", multiple=True, callback=_platforms,
              help=f"One of: {', '.join(sorted(PLATFORMS))}.")
@click.option("--group", "groups", multiple=True, help="A watchlist group.")
@click.option("--target", "targets", multiple=True,
              help="Target key or value, as `takedown status` prints it.")
@click.option("--kind", "kinds", multiple=True, callback=_vocabulary("kind", EVENT_KINDS),
              help=f"One of: {', '.join(EVENT_KINDS)}.")
@click.option("--cause", "causes", multiple=True,
              callback=_vocabulary("cause", [*CAUSES, *REMOVAL_DETAILS]),
              help=f"One of: {', '.join(CAUSES)} (or a detail: {', '.join(REMOVAL_DETAILS)}).")
@click.option("--limit", type=click.IntRange(min=0),
              help="At most this many events, oldest first (0: none; default: all).")
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
        if groups or targets:
            _check_names(c, q.target_names(conn), groups, targets)
        rows = q.events(conn, f)
    click.echo(query.format_events(rows, fmt), nl=False)


def _check_names(c: Ctx, names: list[dict[str, Any]], groups: Iterable[str],
                 targets: Iterable[str]) -> None:
    """Reject a group or target that neither the watchlist nor the database knows."""
    known_groups = {r["group_name"] for r in names}
    if c.watchlist_path.exists():
        known_groups |= set(c.watchlist().groups)
    for group in groups:
        if group not in known_groups:
            raise _unknown("--group", group, known_groups, "group")
    known_targets = {r["key"] for r in names} | {r["value"] for r in names}
    for target in targets:
        if target not in known_targets:
            raise _unknown("--target", target, known_targets, "target", listed=False)


@cli.command()
@click.argument("post")
@click.pass_obj
def history(c: Ctx, post: str) -> None:
    """Every stored version of POST, with word diffs and its timeline.

    POST is a post key, URL, or platform:key as `takedown events` and `check` print
    it; a target key (as `takedown status` prints it) lists the target's posts.
    """
    with c.database() as db, db.transaction() as conn:
        found = q.find_posts(conn, post, sorted(PLATFORMS))
        if not found and (target := q.find_target(conn, post)) is not None:
            click.echo(query.format_target_posts(target, q.target_posts(conn, target["id"])),
                       nl=False)
            return
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
    failing = sum(query.target_state(r) == "failing" for r in rows)
    click.echo(f"{len(rows)} target(s), {failing} failing; {backlog} check(s) overdue by more "
               "than a minute")
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
@click.option("--kind", default=None,
              help="What VALUE is: one of the platform's kinds (`takedown platforms`); "
                   "default: the first of them that accepts VALUE.")
@click.option("--base-url")
@click.option("--interval")
@click.option("--tag", "tags", multiple=True)
@click.pass_obj
def watch_add(c: Ctx, platform: str, value: str, group: str, kind: str | None,
              base_url: str | None, interval: str | None, tags: tuple[str, ...]) -> None:
    """Add a target: PLATFORM (see `takedown platforms`) and VALUE."""
    from .watchlist import add_target

    if kind is None:
        kind = _guess_kind(platform, value, base_url)
    target = add_target(c.watchlist_path, group, platform, kind, value, base_url=base_url,
                        interval=interval, tags=tags)
    click.echo(f"added {target.key} to group {group!r} in {c.watchlist_path}")


def _guess_kind(platform: str, value: str, base_url: str | None) -> str:
    """The first of the platform's kinds whose check accepts ``value``.

    When none does (or the platform is unknown), the first kind, so that
    add_target reports what is wrong with the value, with its key.
    """
    try:
        declared = get_platform(platform)
    except TakedownError:
        return "post" if value.startswith(("http://", "https://")) else "account"
    for kind in declared.kinds.values():
        try:
            kind.check(value.strip(), base_url is not None)
        except ValueError:
            continue
        return kind.name
    return next(iter(declared.kinds))


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
