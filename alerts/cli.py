"""``takedown alerts``: test a channel, list and retry deliveries, send what is due.

``spiders/cli/app.py`` adds :data:`alerts_group` with ``cli.add_command(alerts_group)``.
The commands find the watchlist, settings and database through the context
object, ``spiders.cli.Ctx``.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from typing import Any

import click

from . import render
from .channels import Content, DeliveryError, sender
from .config import AlertConfig, load_file
from .dispatcher import dispatch_once, run_dispatcher
from .store import STATES, delivery_summary, list_deliveries, retry

__all__ = ["alerts_group", "format_summary"]


def _config(c: Any) -> AlertConfig:
    """The file's ``[alerts]``, checked with the rest of the file (every problem at once)."""
    return load_file(c.watchlist_path)[1]


@click.group("alerts")
def alerts_group() -> None:
    """Alert channels and deliveries (the [alerts] table of the watchlist)."""


@alerts_group.command("test")
@click.argument("channel")
@click.pass_obj
def test_channel(c: Any, channel: str) -> None:
    """Send a test message to CHANNEL now (not through the outbox)."""
    config = _config(c)
    if channel not in config.channels:
        known = ", ".join(config.channels) or "none; add [alerts.channels.NAME]"
        raise click.ClickException(f"no channel {channel!r}; channels: {known}")
    ch = config.channels[channel]
    message = render.render_test(channel, ch.format)
    content = Content("test", f"test-{datetime.now(UTC):%Y%m%dT%H%M%S}", message, urgent=False)
    try:
        sender(ch).send(content)
    except DeliveryError as exc:
        raise click.ClickException(f"channel {channel} ({ch.scheme}): the test message was "
                                   f"not delivered: {exc}") from None
    click.echo(f"test message delivered to channel {channel} ({ch.scheme})")


@alerts_group.command("list")
@click.option("--state", "states", multiple=True, type=click.Choice(STATES),
              help="Default: pending, sending, failed and dead.")
@click.option("--channel")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=0),
              help="At most this many rows (0: none).")
@click.pass_obj
def list_command(c: Any, states: tuple[str, ...], channel: str | None, limit: int) -> None:
    """Deliveries still to send, failing or dead."""
    from monitor.query import render_table

    wanted = list(states) or ["pending", "sending", "failed", "dead"]
    with c.database() as db, db.transaction() as conn:
        rows = list_deliveries(conn, wanted, limit, channel)
    table = [[str(r["id"]), r["channel"], _what(r), r["state"], str(r["tries"]),
              f"{r['next_attempt_at']:%Y-%m-%d %H:%M:%S}", (r["last_error"] or "")[:80]]
             for r in rows]
    click.echo(render_table(["id", "channel", "what", "state", "tries", "next attempt",
                             "last error"], table, width=100), nl=False)
    click.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}")


def _what(r: dict[str, Any]) -> str:
    if r["kind"] != "event":
        return f"{r['kind']} of {r['folded']} event(s)"
    return f"{r['event_kind']} {r['platform']}:{r['post_key']}"


@alerts_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--channel", help="Only this channel's deliveries.")
@click.option("--failed/--no-failed", default=True, show_default=True,
              help="Also retry failed deliveries now instead of after their backoff.")
@click.pass_obj
def retry_command(c: Any, ids: tuple[int, ...], channel: str | None, failed: bool) -> None:
    """Put dead (and failed) deliveries back to pending, due now: all, or IDS."""
    states = ["dead", "failed"] if failed else ["dead"]
    with c.database() as db, db.transaction() as conn:
        n = retry(conn, datetime.now(UTC), ids=list(ids) or None, channel=channel,
                  states=states)
    click.echo(f"{n} deliver{'y' if n == 1 else 'ies'} back to pending; the dispatcher sends "
               "them on its next poll (or run `takedown alerts dispatch`)")


@alerts_group.command("dispatch")
@click.option("--watch", is_flag=True, help="Keep running until interrupted.")
@click.pass_obj
def dispatch_command(c: Any, watch: bool) -> None:
    """Send every due delivery once (for cron), or keep sending with --watch."""
    config = _config(c)
    with c.database() as db:
        if not watch:
            counts = dispatch_once(db, config)
            click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))
            return

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_dispatcher(db, config, stop)

        asyncio.run(main())


@alerts_group.command("status")
@click.pass_obj
def status_command(c: Any) -> None:
    """Counts of deliveries by state, the oldest unsent alert and the last failure."""
    with c.database() as db, db.transaction() as conn:
        summary = delivery_summary(conn)
    click.echo(format_summary(summary))


def format_summary(summary: dict[str, Any], now: datetime | None = None) -> str:
    """One line (two with a failure) for ``takedown status``."""
    now = now or datetime.now(UTC)
    states = summary["states"]
    parts = [f"{states[s]} {s}" for s in ("pending", "sending", "failed", "dead", "sent")]
    line = "alerts: " + ", ".join(parts)
    if summary["oldest_pending"] is not None:
        line += "; oldest unsent " + render.human_duration(now - summary["oldest_pending"]) + \
            " old"
    failure = summary["last_failure"]
    if failure:
        line += (f"\nlast failure: {failure['at']:%Y-%m-%d %H:%M:%S} on channel "
                 f"{failure['channel']} (delivery {failure['delivery_id']}): {failure['error']}")
    return line
