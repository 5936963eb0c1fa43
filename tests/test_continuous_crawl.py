"""The continuous loop with the real spiders: a host that never answers holds only its
own requests, while a healthy host's feed is fetched again and again.

Real sockets on 127.0.0.1: the healthy feed comes from the crawling tests' mock
server; the hanging host accepts connections and never answers (its timeout is
far longer than the test, so its first request is open throughout). Assertions
are on counts at the moment the healthy feed had been fetched three times.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from monitor.continuous import Continuous, host_of
from monitor.db import Database
from monitor.settings import Settings
from monitor.watchlist import parse_watchlist
from monitor.worker import Worker
from tests.crawling.mockserver import MockServer


class Hanging:
    """Accepts every connection on 127.0.0.1 and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _observations(db: Database, host: str) -> int:
    with db.transaction() as conn:
        row = conn.execute("SELECT coalesce(sum(o.repeats), 0) AS n FROM observations o "
                           "JOIN targets t ON t.id = o.target_id WHERE t.value LIKE %s",
                           (f"http://{host}/%",)).fetchone()
    return int(row["n"])


def test_a_hanging_host_does_not_hold_back_a_healthy_one(db: Database) -> None:
    from spiders.crawl import crawl, event_loop

    hanging = Hanging()
    with MockServer() as server:
        healthy = server.base.split("://", 1)[1]
        slow = f"127.0.0.1:{hanging.port}"
        wl = parse_watchlist(
            '[groups.g]\ninterval = "0.3s"\n'
            f'[[groups.g.targets]]\nplatform = "rss"\nfeed = "http://{slow}/feed.xml"\n'
            f'[[groups.g.targets]]\nplatform = "rss"\nfeed = "http://{slow}/other.xml"\n'
            '[[groups.g.targets]]\nplatform = "rss"\n'
            f'feed = "http://{healthy}/fixture/rss/rss2.xml"\n')
        settings = Settings.load({"tick": "0.1s", "download_timeout": "60s",
                                  "robotstxt_obey": False, "autothrottle": False,
                                  "retry_times": 0}, environ={})
        worker = Worker(db, settings, crawl)
        worker.sync(wl.targets)
        loop = Continuous(worker, drain=0.5)
        seen: dict[str, Any] = {}

        async def main() -> None:
            stop = asyncio.Event()
            task = asyncio.ensure_future(loop.run(stop))
            async with asyncio.timeout(30):
                while server.hits["/fixture/rss/rss2.xml"] < 3:
                    assert not task.done()
                    await asyncio.sleep(0.05)
            seen["hanging_accepted"] = len(hanging.held)
            seen["hanging_observed"] = await asyncio.to_thread(_observations, db, slow)
            seen["pending"] = {host_of(item) for item in loop.pending.values()}
            stop.set()
            await task

        try:
            event_loop().run_until_complete(main())
        finally:
            hanging.close()
            worker.close()

    assert seen["hanging_accepted"] >= 1  # its requests went out and are still open
    assert seen["hanging_observed"] == 0
    assert slow in seen["pending"]
    assert _observations(db, healthy) >= 2  # recorded as they came, not at the end
    with db.transaction() as conn:
        leased = conn.execute("SELECT count(*) AS n FROM targets WHERE lease_until IS NOT NULL"
                              ).fetchone()["n"]
    assert leased == 0  # stopped mid-crawl: the open requests' work was given back

