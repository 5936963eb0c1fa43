"""The ``takedown`` command group and the commands that crawl.

The commands that do not crawl live in :mod:`.records` and :mod:`.watch`, by
subject; the demo in :mod:`.demo`; what they all share in :mod:`.context`.
"""

from __future__ import annotations

import asyncio
import importlib
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor import heap, query
from monitor.db import queries as q
from monitor.db import redact_url
from monitor.errors import TakedownError
from monitor.settings import Settings
from monitor.signals import SignalManager, batch_committed

from .context import (
    Ctx,
    default_watchlist,
    print_events,
    run_on_crawl_loop,
    setup_logging,
    signals_call,
    sigterm_interrupts,
    watchlist_reloader,
    watchlist_targets,
    worker_for,
)

if TYPE_CHECKING:
    from alerts.config import AlertConfig
    from monitor.db import Database
    from monitor.metrics import Metrics
    from monitor.watchlist_reload import Reloader
    from monitor.worker import Worker


class TakedownFailure(click.ClickException):
    """A :class:`~monitor.errors.TakedownError` as the command line shows it: its
    message (which says what to do), exit status 2, no traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


#: The commands defined in other modules, by name: ``module:attribute``, imported when
#: the command is run or listed (``--help``). A ``takedown check`` started by cron, or
#: each of several workers, then never imports what only other commands use (the
#: statistics' numpy, the capture importers' spiders, the web server).
LAZY_COMMANDS = {
    "events": "spiders.cli.records:events",
    "history": "spiders.cli.records:history",
    "status": "spiders.cli.records:status",
    "migrate": "spiders.cli.records:migrate",
    "watch": "spiders.cli.watch:watch",
    "platforms": "spiders.cli.watch:platforms_command",
    "alerts": "alerts.cli:alerts_group",
    "import": "spiders.cli.imports:import_group",
    "token": "spiders.cli.access:token_group",
    "review": "spiders.cli.access:review_group",
    "stats": "spiders.cli.stats:stats",
    "export": "spiders.cli.exports:export",
    "serve": "spiders.cli.serve:serve",
    "evidence": "spiders.cli.evidence:evidence",
}


class _Group(click.Group):
    """The ``takedown`` group: an expected failure of any command (a bad watchlist,
    an unreachable database) ends it as a :class:`TakedownFailure`. The commands of
    :data:`LAZY_COMMANDS` are imported on first use (click's documented lazy group)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TakedownError as exc:
            raise TakedownFailure(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--watchlist", "-w", type=click.Path(path_type=Path), default=None,
              help="Watchlist TOML file (default: $TAKEDOWN_WATCHLIST or the user config dir).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, watchlist: Path | None, verbose: int) -> None:
    """Takedown Monitor: watch posts, confirm disappearances, keep the evidence."""
    setup_logging(verbose)
    ctx.obj = Ctx(watchlist or default_watchlist(), verbose)


def load_command(name: str) -> click.Command:
    """The command :data:`LAZY_COMMANDS` names ``name``, imported now."""
    module, _, attribute = LAZY_COMMANDS[name].partition(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command) or command.name != name:
        raise TypeError(f"{LAZY_COMMANDS[name]} is not the {name!r} command")
    return command


def main() -> None:
    heap.own()  # the program's own process: its collector is tuned once start-up is done
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


# --- running ----------------------------------------------------------------


def _signals(alerts: AlertConfig | None) -> SignalManager:
    """The receivers of ``takedown run`` and ``check``: live events, and the alerts
    outbox when channels are configured."""
    from alerts import Outbox

    signals = SignalManager()
    signals.connect(print_events, batch_committed)
    if alerts is not None:
        Outbox(alerts).connect(signals)
    return signals


@cli.command()
# check always makes one pass (`takedown run` is the daemon); --once stays accepted
# because cron lines and scripts spell it out.
@click.option("--once", is_flag=True, expose_value=False,
              help="The default, accepted for scripts: check always makes one pass.")
@click.pass_obj
def check(c: Ctx) -> None:
    """Check every due target and post once, then exit (for cron; `run` keeps watching)."""
    from alerts import dispatch_once

    wl, alerts = c.checked()
    settings = wl.settings()
    with sigterm_interrupts(), c.database(settings) as db:
        with worker_for(settings, db, signals=_signals(alerts)) as worker:
            worker.sync(watchlist_targets(c, db, wl))
            heap.settle()  # start-up is done: what it built is kept out of the collector's way
            stats = run_on_crawl_loop(_one_cycle(worker))
        sent = dispatch_once(db, alerts) if alerts else None
        with db.transaction() as conn:
            failing = q.failing_targets(conn)
    click.echo(f"checked {stats['claimed']} item(s), recorded {stats['observations']} "
               f"observation(s), {stats['events']} event(s)"
               + (f"; {len(failing)} target(s) failing" if failing else ""))
    click.echo(query.format_failing(failing), nl=False)
    if sent is not None:
        click.echo("alerts: " + ", ".join(f"{k} {v}" for k, v in sent.items()))


async def _one_cycle(worker: Worker) -> dict[str, Any]:
    """One cycle, cancelled by SIGINT or SIGTERM: the cycle then gives back the work it
    claimed but did not observe, and ``check`` ends as interrupted."""
    cycle = asyncio.ensure_future(worker.cycle())
    try:
        with signals_call(cycle.cancel):
            return await cycle
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


@cli.command()
@click.pass_obj
def run(c: Ctx) -> None:
    """Run the monitor as a daemon until interrupted (SIGINT or SIGTERM)."""
    from monitor.metrics import Metrics

    first = c.watchlist_bytes()  # before the first sync: the reloads compare with it
    wl, alerts = c.checked()
    settings = wl.settings()
    with sigterm_interrupts(), c.database(settings) as db:
        metrics = Metrics(db=db)
        address = settings["METRICS_ADDRESS"]
        stop_metrics = metrics.serve(address) if address else None
        signals = _signals(alerts)
        metrics.connect(signals)
        try:
            with worker_for(settings, db, signals=signals) as worker:
                worker.sync(watchlist_targets(c, db, wl))
                reload = watchlist_reloader(c, db, worker)
                reload.prime(first)
                heap.settle()  # start-up is done (see check)
                run_on_crawl_loop(_daemon(c, worker, db, alerts, metrics, reload,
                                          startup_line(wl, settings, worker.recording)))
        finally:
            if stop_metrics is not None:
                stop_metrics()


async def _daemon(c: Ctx, worker: Worker, db: Database, alerts: AlertConfig | None,
                  metrics: Metrics, reload: Reloader, line: str) -> None:
    """The daemon's jobs on the crawl loop, until SIGINT or SIGTERM. The startup
    ``line`` is printed once those signals stop it cleanly: a Ctrl-C (or a
    supervisor's signal) sent on seeing it never lands in the start-up."""
    from alerts import run_dispatcher
    from monitor.continuous import run_continuous
    from monitor.upkeep import Upkeep

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = None  # API_IN_RUN: bound first, so a taken port fails at once
    if worker.settings["API_IN_RUN"]:
        from monitor.api import create_app

        from .serve import serve_in_background

        server = serve_in_background(create_app(worker.settings, db),
                                     worker.settings["API_ADDRESS"])
    click.echo(line)
    # Continuous scheduling: due work is fetched as it becomes due (README "Scheduling").
    jobs = [run_continuous(worker, reload=reload, stop=stop),
            Upkeep(db, worker.settings, clock=worker.clock).run(stop)]  # stamps, retention
    if alerts is not None:
        jobs.append(run_dispatcher(db, alerts, stop, metrics))
    try:
        await asyncio.gather(*jobs)
    finally:
        if server is not None:
            await server.stop()


def startup_line(wl: Any, settings: Settings, recording: str | None = None) -> str:
    """What ``takedown run`` is about to do: targets, database, metrics endpoint, and
    where it records (``recording``, the worker's: what RECORDER = auto chose)."""
    platforms = Counter(t.platform for t in wl.targets)
    groups = {t.group for t in wl.targets}
    per = ", ".join(f"{n} {p}" for p, n in sorted(platforms.items())) or "none"
    address = settings["METRICS_ADDRESS"]
    metrics = (f"metrics at http://{address}/metrics" if address
               else "no metrics endpoint (METRICS_ADDRESS is empty)")
    where = ""
    if recording is not None:
        place = "a process of its own" if recording == "process" else "a thread"
        how = f"RECORDER = {settings['RECORDER']}"
        if settings["RECORDER"] == "auto":  # monitor.recording moves it as workers come
            how += ("; a thread once other workers share this machine" if recording ==
                    "process" else "; the machine's workers counted again as they come")
        where = f"; recording in {place} ({how})"
    return (f"takedown run: watching {len(wl.targets)} target(s) in {len(groups)} group(s) "
            f"({per}); database {describe_database(settings)}; {metrics}{where}")


def describe_database(settings: Settings) -> str:
    """The database the settings name, with any password hidden."""
    url = settings["DATABASE_URL"]
    if not url:
        from monitor.db import default_data_dir

        return f"embedded at {settings['DATA_DIR'] or default_data_dir()}"
    return redact_url(url)


# --- the sandbox and the demo ----------------------------------------------


@cli.command()
@click.option("--port", default=8765, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--scenario", type=click.Choice(["demo", "random"]), default="demo")
@click.option("--fault-rate", default=0.0, show_default=True)
@click.option("--tick", default=10.0, show_default=True, help="Seconds per script step.")
@click.option("--prefix", default="", help="Mount every platform under this path, e.g. /mirror.")
def sandbox(port: int, seed: int, scenario: str, fault_rate: float, tick: float,
            prefix: str) -> None:
    """Serve the sandbox platform on 127.0.0.1 (for trying the monitor by hand)."""
    from spiders.sandbox import serve

    try:
        serve(seed=seed, scenario=scenario, fault_rate=fault_rate, port=port,
              tick_seconds=tick, prefix=prefix)
    except ValueError as exc:  # a bad prefix: say so, without a traceback
        raise click.BadParameter(str(exc), param_hint="--prefix") from None


@cli.command()
@click.option("--seconds", default=100.0, show_default=True, help="How long to watch.")
@click.option("--seed", default=1, show_default=True)
@click.option("--fault-rate", default=0.1, show_default=True,
              help="Share of sandbox responses that fail transiently.")
@click.option("--serve", "serve", is_flag=False, flag_value="127.0.0.1:8080", default=None,
              metavar="[HOST:PORT]",
              help="Also serve the web interface (default 127.0.0.1:8080) with an admin "
                   "token made for the demo, and go on serving after it until Ctrl-C.")
@click.pass_obj
def demo(c: Ctx, seconds: float, seed: int, fault_rate: float, serve: str | None) -> None:
    """Start the sandbox platform and watch it with the real monitor, offline."""
    from .demo import run_demo

    run_demo(c, seconds=seconds, seed=seed, fault_rate=fault_rate, serve=serve)
