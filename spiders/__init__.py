"""Scrapy spiders: turn platform responses into monitor.Observation records.

Public surface: ``spiders.crawl.crawl`` / :func:`crawl_blocking` run the spiders over
work items; :data:`SPIDERS` maps platform names to spider classes (read from
the ``takedown.platforms`` entry points); :func:`scrapy_settings` builds the
Scrapy settings from the monitor's table. Each platform is a package
(``spiders/rss/``, ``spiders/mastodon/``, ``spiders/rednote/``) whose
``platform`` module is Scrapy-free.

Names are imported on first use, so importing a platform declaration
(``spiders.rss.platform``) does not import Scrapy. ``spiders.crawl`` is the
module (import the coroutine as ``from spiders.crawl import crawl``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SPIDERS": "spiders.crawl",
    "crawl_blocking": "spiders.crawl",
    "event_loop": "spiders.crawl",
    "install_reactor": "spiders.crawl",
    "spider_class": "spiders.crawl",
    "Job": "spiders.base",
    "MonitorSpider": "spiders.base",
    "MastodonSpider": "spiders.mastodon.spider",
    "RednoteSpider": "spiders.rednote.spider",
    "RssSpider": "spiders.rss.spider",
    "parse_feed": "spiders.rss.spider",
    "scrapy_settings": "spiders.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'spiders' has no attribute {name!r}") from None
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
