"""Static export for benchmarks: N single-post responses as files, plus their URLs.

Serve the directory with any static server (nginx: ``root DIR; default_type
application/json;`` for the extension-less Mastodon files) and feed the URL
list to the crawler.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ._feeds import article
from ._mastodon import status_json
from ._rednote import note_page
from ._script import Planner
from ._urls import article_url, note_url, status_api_url

logger = logging.getLogger(__name__)

_PER_OWNER = 50  # posts per account/site/user, which keeps rendering linear
#: Static Mastodon ids are ``STATIC_FIRST_ID + i * 1000``: predictable for benchmarks.
STATIC_FIRST_ID = 113_000_000_000_000_000

STATIC_PLATFORMS = ("mastodon", "rss", "rednote")


def export_static(
    directory: str | Path,
    n_posts: int,
    platform: str = "mastodon",
    *,
    base_url: str = "http://127.0.0.1:8080",
    seed: int = 1,
) -> list[str]:
    """Write ``n_posts`` live posts under ``directory``; return (and write) their URLs.

    Mastodon: ``api/v1/statuses/{id}`` (JSON; ids ``STATIC_FIRST_ID + i * 1000``).
    RSS: ``articles/{site}/{slug}`` (HTML). RedNote: ``explore/{note_id}`` (HTML;
    a static server ignores the ``xsec_token`` query of the URL). The URLs go to
    ``urls.txt`` too.
    """
    if platform not in STATIC_PLATFORMS:
        raise ValueError(f"cannot export {platform!r}; choose one of {', '.join(STATIC_PLATFORMS)}")
    root = Path(directory)
    base = base_url.rstrip("/")
    planner = Planner(seed, "static")
    world = planner.world
    planner.begin_tick()
    owner = ""
    urls: list[str] = []
    for i in range(n_posts):
        if i % _PER_OWNER == 0:
            owner = _new_owner(planner, platform, i // _PER_OWNER)
        if platform == "mastodon":
            spec = planner.new_status(owner)
            spec.key = str(STATIC_FIRST_ID + i * 1_000)
            post = planner.publish(spec)
            path = root / "api" / "v1" / "statuses" / post.key
            body = json.dumps(status_json(world, base, post), ensure_ascii=False).encode()
            urls.append(status_api_url(base, post))
        elif platform == "rss":
            post = planner.publish(planner.new_entry(owner))
            path = root / "articles" / post.owner / post.key
            body = article(base, world.sites[post.owner], post).body
            urls.append(article_url(base, post))
        else:
            post = planner.publish(planner.new_note(owner))
            path = root / "explore" / post.key
            body = note_page(world, base, post).encode()
            urls.append(note_url(base, post))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    root.mkdir(parents=True, exist_ok=True)
    (root / "urls.txt").write_text("".join(u + "\n" for u in urls))
    logger.info("exported %d %s posts to %s", len(urls), platform, root)
    return urls


def _new_owner(planner: Planner, platform: str, n: int) -> str:
    if platform == "mastodon":
        return planner.account(f"bench{n}").username
    if platform == "rss":
        return planner.site(f"bench{n}", "atom").name
    return planner.user().user_id
