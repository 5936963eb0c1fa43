"""``takedown import captures``: researchers' browser captures as seen-visible evidence.

The core (:mod:`monitor.captures`) reads the file and records the observations;
this module gives it the readers of the platforms' own items. RedNote items are
read by the RedNote spider's own :func:`~spiders.rednote.spider.parse_note`, in
each of the shapes Zeeschuimer's ``rednote.js`` captures (assumed from its
source, and from 4CAT's ``search_rednote.py`` that maps them):

- an explore, search or feed API item: ``{"id", "model_type": "note",
  "note_card": {…snake_case note card…}, "xsec_token"}``;
- a note page's ``__INITIAL_STATE__`` entry: ``{"id", "note": {…camelCase note,
  with xsecToken…}, "comments": …}``;
- a user page card: ``{"note_id", "type", "display_title", "xsec_token", "user", …}``;
- a card read from the page's HTML: ``{"id", "url", "title", "author_name",
  "_zs-origin": "html"}``.

Douyin (``douyin.com``) and every other source have no platform here: their
items are counted as skipped, with that reason. Storing them as existence
records would need a target, and a target of a platform nobody declares could
never be checked, listed by ``takedown platforms`` or kept by a watchlist sync.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import click

from monitor.captures import CapturedPost, ImportReport, Reader, import_captures, require_enabled
from monitor.errors import ParseError

from .. import fields as f
from ..rednote.platform import BASE_URL, NOTE_ID
from ..rednote.platform import PLATFORM as REDNOTE
from ..rednote.spider import parse_note, with_token

if TYPE_CHECKING:
    from .context import Ctx

#: What an ``xsec_token`` looks like (URL-safe base64 and its escapes); anything else
#: from a capture is dropped rather than put into a probe URL or the watchlist.
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.%]{1,512}")
#: Problems printed in full; the rest are counted.
_SHOWN = 20


def rednote_item(data: dict[str, Any]) -> CapturedPost:
    """A RedNote item of a Zeeschuimer capture as a post, with its author's user id."""
    note: Any
    note_id: str | None = None
    token: str | None = None
    if data.get("_zs-origin") == "html":
        note, note_id, token = _html_card(data)
    elif isinstance(data.get("note"), dict):  # a note page's noteDetailMap entry
        note, note_id = data["note"], f.key(data.get("id"))
    elif isinstance(data.get("note_card"), dict):  # an explore / search / feed item
        note, note_id, token = data["note_card"], f.key(data.get("id")), f.text(
            data.get("xsec_token"))
    elif (data.get("note_id") or data.get("noteId")) and any(
            k in data for k in ("display_title", "title", "desc")):  # a user page card
        note = data
    else:
        raise ParseError("not a RedNote note (a comment, or a tile without its note?)")
    post = parse_note(note, BASE_URL, note_id, token)
    if not NOTE_ID.fullmatch(post.key):
        raise ParseError(f"note id {post.key[:40]!r} is not 24 hex characters")
    found = post.extra.get("xsec_token")
    token = found if isinstance(found, str) and _TOKEN.fullmatch(found) else None
    post.extra["xsec_token"] = token
    post.probe_url = with_token(post.url or "", token) if token else None
    user = post.extra.get("user_id")
    account = user if isinstance(user, str) and NOTE_ID.fullmatch(user) else None
    post.extra["user_id"] = account
    return CapturedPost(post, account)


def _html_card(data: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """The note of a card Zeeschuimer read from the page's HTML (title and author only)."""
    url = f.text(data.get("url")) or ""
    token = dict(parse_qsl(urlsplit(url).query)).get("xsec_token")
    note = {"note_id": f.key(data.get("id")), "display_title": f.text(data.get("title")),
            "user": {"nickname": f.text(data.get("author_name"))}}
    return note, None, token


#: The items read, by Zeeschuimer's source platform (its module's domain).
READERS: dict[str, Reader] = {
    "xiaohongshu.com": Reader(REDNOTE.name, rednote_item),
}


@click.group("import")
def import_group() -> None:
    """Bring in observations made elsewhere (researchers' browser captures)."""


@import_group.command("captures")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", default="captures", show_default=True,
              help="Watchlist group for notes that nothing watches yet (each becomes a "
                   "single-post target); also preferred among account targets.")
@click.pass_obj
def captures(c: Ctx, file: Path, group: str) -> None:
    """Import a Zeeschuimer / 4CAT NDJSON export as seen-visible observations.

    Each RedNote note in FILE is recorded as seen at its capture time (a logged-in
    view: evidence that it existed, never of a removal) and tracked from then on.
    Needs the IMPORT_CAPTURES setting.
    """
    settings = c.settings()
    require_enabled(settings)
    with c.database(settings) as db:
        report = import_captures(db, settings, file, READERS, watchlist=c.watchlist_path,
                                 group=group)
    click.echo(summary(file, report, group, c.watchlist_path))
    for line, problem in report.problems[:_SHOWN]:
        click.echo(f"  line {line}: {problem}", err=True)
    if report.bad_lines > _SHOWN:
        click.echo(f"  … and {report.bad_lines - _SHOWN} more bad line(s) (-v logs each)",
                   err=True)


def summary(file: Path, report: ImportReport, group: str, watchlist: Path) -> str:
    """What an import did, in a few lines."""
    lines = [f"imported {file.name}: {report.lines} line(s); {report.recorded} observation(s) "
             f"recorded, {report.already} already recorded; {report.new_posts} post(s) "
             f"newly tracked under their author's account"]
    if report.added_targets:
        lines.append(f"  {len(report.added_targets)} note(s) added to {watchlist} as "
                     f"single-post targets in group {group!r}")
    for reason, n in sorted(report.skipped.items()):
        lines.append(f"  skipped {n}: {reason}")
    if report.bad_lines:
        lines.append(f"  {report.bad_lines} bad line(s) skipped:")
    return "\n".join(lines)
