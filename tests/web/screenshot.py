"""Screenshots of the web interface for the README: the event feed and a post page.

    python tests/web/screenshot.py --database-url postgresql://…/db feed.png post.png

serves the app over that database (a history such as the demo's; a viewer token is
created for the shot and revoked after it) on 127.0.0.1 and saves PNGs taken by
Debian's chromium. Without ``--database-url`` it builds the tests' analyst history
(the demo scenario, made hostile) in a fresh database on the server named by
``TAKEDOWN_TEST_DATABASE_URL``, and drops it afterwards. The post shown is the one
with the most versions and events, unless ``--post ID`` says which.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

from web_harness import CHROMIUM, serve  # noqa: E402

#: The browser window: wide enough for the feed's columns.
VIEWPORT = {"width": 1280, "height": 900}


@contextmanager
def _history(url: str | None) -> Iterator[str]:
    """The database to show: ``url``, or a freshly built analyst history."""
    if url:
        yield url
        return
    server = os.environ.get("TAKEDOWN_TEST_DATABASE_URL")
    if not server:
        raise SystemExit("give --database-url, or set TAKEDOWN_TEST_DATABASE_URL to a "
                         "PostgreSQL server where a demo history can be built")
    import psycopg
    from analyst_world import build_world
    from psycopg import sql

    from monitor.db import Database

    name = f"takedown_shot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    built = psycopg.conninfo.make_conninfo(server, dbname=name)
    try:
        db = Database(built)
        db.migrate()
        db.close()
        build_world(built)
        yield built
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _busiest_post(served: object) -> int:
    from monitor.db import analyst

    with served.db.transaction() as conn:  # type: ignore[attr-defined]
        rows, _ = analyst.search_events(conn, analyst.EventQuery(kinds=["edited"], limit=1))
        if not rows:
            rows, _ = analyst.search_events(conn, analyst.EventQuery(limit=1))
    if not rows:
        raise SystemExit("the database holds no events to show; run `takedown demo` first")
    return int(rows[0]["post_id"])


def shoot(db_url: str, feed_png: Path, post_png: Path | None, post_id: int | None,
          browser: Any = None) -> None:
    """Save the shots; ``browser``: a running Playwright browser (else one is launched)."""
    from playwright.sync_api import sync_playwright

    from monitor.db import access

    for served in serve(db_url):
        with served.db.transaction() as conn:
            token_id, secret = access.create_token(
                conn, f"screenshot-{uuid.uuid4().hex[:6]}", "viewer")
        try:
            if browser is not None:
                _shots(browser, served, secret, feed_png, post_png, post_id)
                continue
            with sync_playwright() as playwright:
                launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                                      args=["--no-sandbox"])
                _shots(launched, served, secret, feed_png, post_png, post_id)
                launched.close()
        finally:
            with served.db.transaction() as conn:
                access.revoke_token(conn, token_id)


def _shots(browser: Any, served: Any, secret: str, feed_png: Path, post_png: Path | None,
           post_id: int | None) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB",
                                  extra_http_headers={"Authorization": f"Bearer {secret}"})
    try:
        page = context.new_page()
        page.goto(served.url + "/")
        page.screenshot(path=str(feed_png))
        print(f"saved the event feed to {feed_png}")
        if post_png is not None:
            page.goto(f"{served.url}/posts/{post_id or _busiest_post(served)}")
            page.screenshot(path=str(post_png), full_page=True)
            print(f"saved a post page to {post_png}")
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("feed_png", type=Path, help="where to save the event feed (PNG)")
    parser.add_argument("post_png", type=Path, nargs="?", help="where to save a post page")
    parser.add_argument("--database-url", help="the history to show (default: build one)")
    parser.add_argument("--post", type=int, help="the post id to show (default: an edited one)")
    args = parser.parse_args(argv)
    with _history(args.database_url) as url:
        shoot(url, args.feed_png, args.post_png, args.post)
    return 0


if __name__ == "__main__":
    sys.exit(main())
