"""Scrapy spiders: turn platform responses into monitor.Observation records.

Public surface: :func:`crawl` / :func:`crawl_blocking` run the spiders over
work items; :data:`SPIDERS` maps platform names to spider classes;
:func:`scrapy_settings` builds the Scrapy settings from the monitor's table.
"""

from .base import Job, MonitorSpider
from .crawl import SPIDERS, crawl, crawl_blocking, event_loop, install_reactor
from .mastodon import MastodonSpider
from .rednote import RednoteSpider
from .rss import RssSpider, parse_feed
from .settings import scrapy_settings

__all__ = [
    "SPIDERS",
    "Job",
    "MastodonSpider",
    "MonitorSpider",
    "RednoteSpider",
    "RssSpider",
    "crawl",
    "crawl_blocking",
    "event_loop",
    "install_reactor",
    "parse_feed",
    "scrapy_settings",
]
