"""Map the monitor's settings table onto Scrapy settings, in one place.

Every crawl the monitor runs is built from :func:`scrapy_settings`, so the
fetching policy (logged out, polite, bounded, retried) lives here and nowhere
else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrapy.settings import BaseSettings
from scrapy.settings import Settings as ScrapySettings
from scrapy.settings import default_settings as scrapy_defaults

from monitor.claims import in_flight
from monitor.settings import Settings

#: Status codes Scrapy's RetryMiddleware retries. 429 and the 5xx family are
#: transient by definition; 408 is the server saying it timed us out.
RETRY_HTTP_CODES = [408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524]


#: Scrapy's components that a monitor crawl never uses, left out of its ``*_BASE``
#: settings. A ``None`` in ``EXTENSIONS`` or ``*_MIDDLEWARES`` would disable one but
#: Scrapy still imports it to compare keys: the feed exporter imports ftplib, remote
#: control aiohttp, the cookie middleware tldextract and requests (cookies are off),
#: about 14 MiB of every crawl process. No spider sets ``allowed_domains`` (the fetch
#: policy decides the hosts); depth statistics and the meta-copy check would each
#: wrap every spider output in one more asynchronous generator, read by nobody. A
#: logged-out crawl sends no HTTP credentials (``HttpAuthMiddleware``) and no
#: ``Referer`` of its own (a spider that needs one, Weibo's API, sets it); a request
#: over Scrapy's URL length limit is fetched, not silently dropped with its job
#: unanswered (``UrlLengthMiddleware``); per-status download counts are the
#: observations' own (``DownloaderStats`` only added them to the log line). Each
#: cost a middleware call per request or output: together about 4% of a cycle's CPU.
UNUSED_COMPONENTS = {
    "EXTENSIONS_BASE": ("scrapy.extensions.feedexport.FeedExporter",
                        "scrapy.extensions.remote_control.RemoteControl"),
    "DOWNLOADER_MIDDLEWARES_BASE": ("scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
                                    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware",
                                    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
                                    "scrapy.downloadermiddlewares.stats.DownloaderStats"),
    "SPIDER_MIDDLEWARES_BASE": ("scrapy.spidermiddlewares.depth.DepthMiddleware",
                                "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware",
                                "scrapy.spidermiddlewares.referer.RefererMiddleware",
                                "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware"),
}
_WITHOUT_UNUSED = {name: {path: order for path, order in getattr(scrapy_defaults, name).items()
                          if path not in unused}
                   for name, unused in UNUSED_COMPONENTS.items()}


# long: a table of Scrapy settings, one per line with the reason beside it; split, it
# would only scatter what a reviewer reads together.
def scrapy_settings(settings: Mapping[str, Any], **overrides: Any) -> ScrapySettings:
    """Scrapy settings for one crawl; ``overrides`` win (UPPER_SNAKE names).

    Platform settings (e.g. ``MASTODON_MAX_PAGES``) are each spider's
    ``custom_settings``, not listed here.
    """
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
        # May be 0: MonitorDownloader keeps a slot to CONCURRENT_REQUESTS_PER_DOMAIN
        # and holds it through a host's pause without a delay, which Scrapy 2.19's
        # downloader does not (a 1 ms floor here cost ~0.2 ms of CPU a request).
        "DOWNLOAD_DELAY": float(settings["DOWNLOAD_DELAY"]),
        "DOWNLOADER": "spiders.downloader.MonitorDownloader",
        "DOWNLOAD_TIMEOUT": float(settings["DOWNLOAD_TIMEOUT"]),
        "DOWNLOAD_MAXSIZE": int(settings["MAX_BODY_BYTES"]),
        # Warn at half the limit so a growing page shows up in the log first.
        "DOWNLOAD_WARNSIZE": int(settings["MAX_BODY_BYTES"]) // 2,
        # A truncated body must never be parsed as if it were the whole page.
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        "RETRY_ENABLED": True,
        "RETRY_TIMES": settings["RETRY_TIMES"],
        "RETRY_HTTP_CODES": RETRY_HTTP_CODES,
        # The spider records (and logs, once) the last failure itself; Scrapy's
        # give-up line would only repeat it.
        "RETRY_GIVE_UP_LOG_LEVEL": "DEBUG",
        "RETRY_AFTER_MAX": float(settings["RETRY_AFTER_MAX"]),
        # Per-host pauses and back-off that outlive the crawl (spiders.politeness).
        "RETRY_BACKOFF_BASE": float(settings["RETRY_BACKOFF_BASE"]),
        "RETRY_BACKOFF_MAX": float(settings["RETRY_BACKOFF_MAX"]),
        "ROBOTSTXT_CACHE": float(settings["ROBOTSTXT_CACHE"]),
        "SCHEDULER": "spiders.politeness.PoliteScheduler",
        # Every status reaches the spider: a 404 is an observation, not noise.
        "HTTPERROR_ALLOW_ALL": True,
        # A notice page's <meta refresh> ("back to the home page in 3 s") would
        # replace the notice we came for with the home page.
        "METAREFRESH_ENABLED": False,
        "REDIRECT_ENABLED": True,
        # The fetch policy (spiders/urlpolicy.py): only http(s), only the
        # target's own or allowed hosts, no internal addresses, resolved ones
        # included. No handler for any other scheme exists at all.
        "DOWNLOAD_HANDLERS": {"file": None, "s3": None, "ftp": None, "data": None},
        "TWISTED_DNS_RESOLVER": "spiders.urlpolicy.PolicyResolver",
        **_WITHOUT_UNUSED,
        "DOWNLOADER_MIDDLEWARES": {
            # First, so nothing (robots.txt included) fetches for a refused URL.
            "spiders.urlpolicy.UrlPolicyMiddleware": 50,
            # Below RetryMiddleware (550): a refused address is not retried.
            "spiders.urlpolicy.RefusedAddressMiddleware": 580,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "spiders.middlewares.RobotsTxtMiddleware": 100,
            # Above RetryMiddleware (550) so its process_response runs first.
            "spiders.middlewares.RetryAfterMiddleware": 560,
            # A job's requests through its vantage point's proxy (part D2): before the
            # politeness middleware, which keys pauses by the slot it sets, and
            # Scrapy's HttpProxyMiddleware (750), which applies the proxy.
            "spiders.vantage.VantageMiddleware": 585,
            # Sees every answer before the retry middlewares (it sets the host's
            # pause they rely on) and is the last check before a request is sent.
            "spiders.politeness.HostPolitenessMiddleware": 590,
        },
        "ITEM_PIPELINES": {"spiders.pipelines.SinkPipeline": 100},
        "MONITOR_VANTAGE": settings["VANTAGE"],
        "MONITOR_VANTAGE_COUNTRY": settings["VANTAGE_COUNTRY"],
        # The whole settings model, for platform settings a spider reads itself
        # (REDDIT_*). Its repr leaves secrets out, so Scrapy's "Overridden settings"
        # log line never shows one.
        "MONITOR_SETTINGS": settings,
        # At most this many work items are in flight per spider; the rest stay
        # unclaimed in the caller's iterator (see MonitorSpider.start).
        "MONITOR_MAX_IN_FLIGHT": in_flight(settings),
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "LOG_LEVEL": "INFO",
        "LOGSTATS_INTERVAL": 0.0,
        "STATS_DUMP": False,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    values.update(platform_settings(settings))
    values.update(overrides)
    return ScrapySettings(values)


def platform_settings(settings: Settings) -> dict[str, Any]:
    """The settings model's platform settings that are set, under their own names, for
    the spider that reads them from its Scrapy settings: a field named after a
    registered platform (``BLUESKY_LABELERS``, ``X_SYNDICATION_TOKEN``). Secrets
    (fields hidden from repr, such as ``REDDIT_CLIENT_SECRET``) are left to the
    ``MONITOR_SETTINGS`` object, so Scrapy never logs one."""
    from monitor.platforms import registry

    prefixes = tuple(f"{name.upper()}_" for name in registry().platforms)
    return {name: settings[name] for name, field in type(settings).model_fields.items()
            if name.startswith(prefixes) and field.repr and settings[name] not in ("", None)}


class PlatformDefaults:
    """A spider's ``custom_settings`` (its platform's settings, ``WEIBO_MAX_PAGES``…) as
    defaults, not overrides: a crawl that sets its own value (an operator's setting
    through :func:`platform_settings`, a test, a bench) wins."""

    custom_settings: dict[str, Any] | None = None

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        for name, value in (cls.custom_settings or {}).items():
            settings.setdefault(name, value, priority="spider")
