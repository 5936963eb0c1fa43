"""Helpers for the vantage-point tests: one probe crawled through a vantage point.

A module of its own, not ``conftest`` (see ``tests/crawling/crawl_helpers.py``).
Importing it installs the asyncio reactor first, as the daemon does at start.
"""

from __future__ import annotations

from typing import Any

from spiders import install_reactor

install_reactor()

from monitor.observation import Observation, WorkItem  # noqa: E402
from monitor.platforms import post_ref  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.vantage import Vantage  # noqa: E402
from spiders.crawl import crawl_blocking  # noqa: E402
from spiders.politeness import HostRegistry  # noqa: E402
from spiders.sandbox import Sandbox  # noqa: E402

#: Quick failures: no retries to wait for, tiny back-off.
QUICK = {"autothrottle": False, "retry_times": 0, "download_timeout": "3s",
         "retry_backoff_base": "0.1s", "retry_backoff_max": "0.2s"}


def webpage(sb: Sandbox) -> dict[str, Any]:
    """A live web page of the sandbox's demo, as truth() reports it."""
    return next(p for p in sb.truth()["posts"]
                if p["platform"] == "webpage" and p["state"] == "live")


def probe_item(post: dict[str, Any], vantage: Vantage | None) -> WorkItem:
    key, url = post_ref(post["platform"], post["target"], None)
    return WorkItem(mode="probe", platform=post["platform"], target_key=key, url=url,
                    post_key=key, vantage=vantage)


def probe(items: list[WorkItem], hosts: HostRegistry | None = None,
          **settings: Any) -> list[Observation]:
    """Crawl ``items`` (one platform) and return their observations in item order."""
    got: list[Observation] = []
    conf = Settings.load(environ={}, file_values={**QUICK, **settings})
    crawl_blocking({items[0].platform: items}, got.append, conf,
                   MONITOR_HOSTS=hosts if hosts is not None else HostRegistry())
    order = {id(i): n for n, i in enumerate(items)}
    assert len(got) == len(items)
    # Observations carry the item's vantage: sort them back by it and the URL.
    by = {(i.vantage.name if i.vantage else "local", i.url): order[id(i)] for i in items}
    return sorted(got, key=lambda o: by[(o.vantage, o.url)])
