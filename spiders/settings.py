"""Map the monitor's settings table onto Scrapy settings, in one place.

Every crawl the monitor runs is built from :func:`scrapy_settings`, so the
fetching policy (logged out, polite, bounded, retried) lives here and nowhere
else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrapy.settings import Settings as ScrapySettings

from monitor.settings import Settings

#: Status codes Scrapy's RetryMiddleware retries. 429 and the 5xx family are
#: transient by definition; 408 is the server saying it timed us out.
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524]

#: Pages per Mastodon timeline walk unless a crawl overrides it.
MASTODON_MAX_PAGES = 2


def scrapy_settings(settings: Mapping[str, Any], **overrides: Any) -> ScrapySettings:
    """Scrapy settings for one crawl; ``overrides`` win (UPPER_SNAKE names)."""
    if not isinstance(settings, Settings):
        # Accept a plain mapping (tests, scripts) but fill in the defaults.
        settings = Settings.load(file_values={k.lower(): v for k, v in settings.items()},
                                 environ={})
    values: dict[str, Any] = {
        # Snapshot logged out: no cookie may carry one target's session into
        # another's fetch (platforms show removed content to its own author).
        "COOKIES_ENABLED": False,
        "USER_AGENT": settings["USER_AGENT"],
        "ROBOTSTXT_OBEY": settings["ROBOTSTXT_OBEY"],
        "CONCURRENT_REQUESTS": settings["CONCURRENT_REQUESTS"],
        "CONCURRENT_REQUESTS_PER_DOMAIN": settings["CONCURRENT_REQUESTS_PER_HOST"],
        # Each response yields one observation; Scrapy's default of 100 parallel
        # items costs ~17% CPU in idle task bookkeeping (measured in bench/).
        "CONCURRENT_ITEMS": 4,
        "AUTOTHROTTLE_ENABLED": settings["AUTOTHROTTLE"],
        "AUTOTHROTTLE_START_DELAY": max(1.0, float(settings["DOWNLOAD_DELAY"])),
        "DOWNLOAD_DELAY": float(settings["DOWNLOAD_DELAY"]),
        "DOWNLOAD_TIMEOUT": float(settings["DOWNLOAD_TIMEOUT"]),
        "DOWNLOAD_MAXSIZE": int(settings["MAX_BODY_BYTES"]),
        # Warn at half the limit so a growing page shows up in the log first.
        "DOWNLOAD_WARNSIZE": int(settings["MAX_BODY_BYTES"]) // 2,
        # A truncated body must never be parsed as if it were the whole page.
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": settings["RETRY_TIMES"],
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        # The spider records the last failure itself; Scrapy's give-up line
        # would only duplicate it at ERROR level.
        "RETRY_GIVE_UP_LOG_LEVEL": "INFO",
        "RETRY_AFTER_MAX": float(settings["RETRY_AFTER_MAX"]),
        # Every status reaches the spider: a 404 is an observation, not noise.
        "HTTPERROR_ALLOW_ALL": True,
        # A notice page's <meta refresh> ("back to the home page in 3 s") would
        # replace the notice we came for with the home page.
        "METAREFRESH_ENABLED": False,
        "REDIRECT_ENABLED": True,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "spiders.middlewares.RobotsTxtMiddleware": 100,
            # Above RetryMiddleware (550) so its process_response runs first.
            "spiders.middlewares.RetryAfterMiddleware": 560,
        },
        "ITEM_PIPELINES": {"spiders.pipelines.SinkPipeline": 100},
        "MASTODON_MAX_PAGES": MASTODON_MAX_PAGES,
        "MONITOR_VANTAGE": settings["VANTAGE"],
        # At most this many work items are in flight per spider; the rest stay
        # unclaimed in the caller's iterator (see MonitorSpider.start).
        "MONITOR_MAX_IN_FLIGHT": max(1, 2 * int(settings["CONCURRENT_REQUESTS"])),
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "LOGSTATS_INTERVAL": 0.0,
        "STATS_DUMP": False,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    values.update(overrides)
    return ScrapySettings(values)
