"""The commands about what to watch: ``watch add|list|remove`` edit the watchlist,
``platforms`` lists what can be watched."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from monitor import query
from monitor.errors import TakedownError
from monitor.platforms import get_platform

if TYPE_CHECKING:
    from .context import Ctx


@click.command("platforms")
def platforms_command() -> None:
    """List the installed platforms, their aliases and the target kinds each supports."""
    from monitor.platforms import registry

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


@click.group()
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
    from monitor.watchlist_edit import add_target

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
    from monitor.watchlist_edit import remove_target

    removed = remove_target(c.watchlist_path, target)
    click.echo(f"removed {removed.key}")
