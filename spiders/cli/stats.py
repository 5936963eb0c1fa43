"""``takedown stats``: time-to-takedown curves, deletion rates and keywords of removed
posts, as a table, JSON or CSV (the same numbers as ``/api/v1/stats``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from monitor.stats import BY, PERIODS, StatsFilter, keywords, rates, survival, tables

from .records import _platforms, _when

if TYPE_CHECKING:
    from .context import Ctx


def _filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every statistic takes: the window and what to count."""
    for option in reversed([
        click.option("--since", help="ISO time, or a duration ago (24h, 7d, 365d). Posts "
                     "count by publication (else first sight), events by detection."),
        click.option("--until", help="ISO time, or a duration ago."),
        click.option("--platform", "platforms", multiple=True, callback=_platforms,
                     help="Only this platform (repeatable)."),
        click.option("--group", "groups", multiple=True, help="Only this group (repeatable)."),
        click.option("--account", "accounts", multiple=True,
                     help="Only this account: the author as the platform names it, else "
                     "the target's value (repeatable)."),
        click.option("--format", "fmt", type=click.Choice(tables.FORMATS), default="table"),
    ]):
        command = option(command)
    return command


def _filter(since: str | None, until: str | None, platforms: tuple[str, ...],
            groups: tuple[str, ...], accounts: tuple[str, ...]) -> StatsFilter:
    return StatsFilter(since=_when(since), until=_when(until), platforms=list(platforms) or None,
                       groups=list(groups) or None, accounts=list(accounts) or None)


@click.group()
def stats() -> None:
    """Statistics: time to takedown, deletion rates, keywords of removed posts."""


@stats.command("survival")
@click.option("--by", type=click.Choice(BY), default="all", show_default=True,
              help="One curve per platform, group, account or cause.")
@click.option("--top", type=click.IntRange(min=1), default=12, show_default=True,
              help="Curves at most (the keys with most posts).")
@_filters
@click.pass_obj
def survival_command(c: Ctx, by: str, top: int, since: str | None, until: str | None,
                     platforms: tuple[str, ...], groups: tuple[str, ...],
                     accounts: tuple[str, ...], fmt: str) -> None:
    """Share of posts removed within 10 min, 30 min, 1 h and 24 h of publication.

    Interval-censored (Turnbull) estimates with 95% bootstrap bands: a removal lies
    between the last check that saw the post and the first that did not; posts still
    up count as censored. `of_removed` is the share among removed posts, the figure
    the Velocity-of-Censorship study reports (~30% within 30 min, ~90% within a day).
    """
    f = _filter(since, until, platforms, groups, accounts)
    with c.database() as db, db.transaction() as conn:
        answer = survival(conn, f, by, top=top)
    click.echo(tables.render(tables.survival_rows(answer), tables.SURVIVAL_COLUMNS, fmt,
                             answer), nl=False)
    if fmt == "table" and answer["omitted"]:
        click.echo(f"{answer['omitted']} more key(s) left out; raise --top or filter")


@stats.command("rates")
@click.option("--by", type=click.Choice(BY), default="platform", show_default=True)
@click.option("--period", type=click.Choice(PERIODS), help="Break down by period too (UTC).")
@_filters
@click.pass_obj
def rates_command(c: Ctx, by: str, period: str | None, since: str | None, until: str | None,
                  platforms: tuple[str, ...], groups: tuple[str, ...],
                  accounts: tuple[str, ...], fmt: str) -> None:
    """Posts, the share that disappeared, and disappearances, hidings, edits and
    restorations detected, per platform, group, account or cause."""
    f = _filter(since, until, platforms, groups, accounts)
    with c.database() as db, db.transaction() as conn:
        rows = rates(conn, f, by, period)
    click.echo(tables.render(rows, tables.RATE_COLUMNS, fmt), nl=False)


@stats.command("keywords")
@click.option("--limit", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Read at most this many of the latest posts.")
@click.option("--min-count", type=click.IntRange(min=1), default=2, show_default=True,
              help="Leave out terms seen fewer times.")
@click.option("--top", type=click.IntRange(min=1), default=50, show_default=True)
@_filters
@click.pass_obj
def keywords_command(c: Ctx, limit: int, min_count: int, top: int, since: str | None,
                     until: str | None, platforms: tuple[str, ...], groups: tuple[str, ...],
                     accounts: tuple[str, ...], fmt: str) -> None:
    """Terms over-represented in removed posts against the surviving posts of the same
    accounts (weighted log-odds, informative Dirichlet prior; z > 1.96 stands out)."""
    f = _filter(since, until, platforms, groups, accounts)
    with c.database() as db, db.transaction() as conn:
        answer = keywords(conn, f, limit=limit, min_count=min_count, top=top)
    click.echo(tables.render(tables.keyword_rows(answer), tables.KEYWORD_COLUMNS, fmt, answer),
               nl=False)
    if fmt == "table":
        posts = answer["posts"]
        click.echo(f"from {posts['removed']} removed and {posts['surviving']} surviving post(s)")
