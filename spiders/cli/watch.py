"""The commands about what to watch: ``watch add|list|remove`` edit the watchlist,
``platforms`` lists what can be watched and what each platform's contract declares."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from monitor import query
from monitor.errors import TakedownError
from monitor.platforms import get_platform

if TYPE_CHECKING:
    from monitor.platform import Platform

    from .context import Ctx


@click.command("platforms")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per platform and line, for scripts.")
def platforms_command(as_json: bool) -> None:
    """List the installed platforms and what each declares: target kinds, aliases,
    probe token, sandbox fake, fingerprints, and its spider's probe_batch and
    second_signals."""
    from monitor.platforms import registry

    reg = registry()
    accepted: dict[str, list[str]] = {}
    for alias, name in sorted(reg.aliases.items()):
        accepted.setdefault(name, []).append(alias)
    described = [describe_platform(p, accepted.get(p.name, []))
                 for _, p in sorted(reg.platforms.items())]
    if as_json:
        for d in described:
            click.echo(json.dumps(d, ensure_ascii=False))
    else:
        click.echo("\n".join(format_platform(d) for d in described), nl=False)
    for error in reg.broken.values():
        click.echo(f"broken: {error}", err=True)


def describe_platform(p: Platform, aliases: list[str]) -> dict[str, Any]:
    """What ``p`` declares, and what its spider class declares; a spider that cannot
    be loaded is described by its error (``spider_error``), never raised. ``aliases``:
    those the registry accepts (one that names another platform is ignored)."""
    from monitor.platforms import single_post_kind

    single = single_post_kind(p)
    found: dict[str, Any] = {
        "name": p.name, "title": p.title, "aliases": aliases, "kinds": list(p.kinds),
        "single_post_kind": single.name if single is not None else None,
        "probe_token": p.probe_token, "fake": p.fake, "fingerprints": len(p.words),
        "spider": p.spider, "spider_error": None, "probe_batch": None, "second_signals": None}
    try:
        from spiders.crawl import spider_class

        spider = spider_class(p.name)
        found["probe_batch"] = int(spider.probe_batch)
        found["second_signals"] = list(spider.second_signals)
    except Exception as exc:  # a plug-in's spider module may raise anything
        found["spider_error"] = str(exc) if isinstance(exc, TakedownError) else \
            f"{p.spider}: {type(exc).__name__}: {exc}"
    return found


def format_platform(d: dict[str, Any]) -> str:
    """One platform as ``takedown platforms`` prints it: a heading and its fields."""
    kinds = ", ".join(f"{k} (single post)" if k == d["single_post_kind"] else k
                      for k in d["kinds"])
    fields = [("kinds", kinds), ("aliases", ", ".join(d["aliases"]) or "-"),
              ("probe_token", d["probe_token"] or "-"),
              ("sandbox fake", d["fake"] or "none"),
              ("fingerprints", str(d["fingerprints"]))]
    if d["spider_error"] is not None:
        fields.append(("spider", f"broken: {d['spider_error']}"))
    else:
        fields += [("probe_batch", str(d["probe_batch"])),
                   ("second_signals", ", ".join(d["second_signals"]) or "-")]
    return f"{d['name']}: {d['title']}\n" + "".join(
        f"  {name:<15} {value}\n" for name, value in fields)


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
