"""Prometheus metrics: what operators watch to learn that a platform changed under them.

:class:`Metrics` owns three kinds of instrument, all registered on one
``CollectorRegistry``:

- counters and histograms fed by :meth:`Metrics.recorded`, a receiver of the
  ``batch_committed`` signal (:meth:`Metrics.connect`). It runs *after* each batch
  commits, so the counts match what the database holds (a rolled-back batch is
  never counted);
- ``takedown_alert_delivery_attempts_total``, fed by the alerts dispatcher
  through :meth:`Metrics.delivery`;
- gauges computed at scrape time by :class:`DatabaseCollector` from one short
  query (tracked targets and posts, the backlog, per-group freshness, error
  streaks, targets needing attention, the live workers, the delivery queue and dead
  letters). A failing query never fails the scrape: it is logged and
  ``takedown_collector_up`` drops to 0;
- the collector's health per platform, kept by :class:`CollectorHealth` from the
  same committed observations: the share of the last :data:`HEALTH_WINDOW` checks
  the platform blocked (the ``BLOCKED`` outcomes: anti-bot, login wall, expired
  token, collector_blocked) and when a check last got an answer about content.
  Blocked checks themselves are counted in ``takedown_checks_total`` by outcome;
- ``takedown_build_info`` and prometheus_client's ``process_*`` metrics.

No ``_created`` series: prometheus_client's are switched off when a
:class:`Metrics` is built (they double the series count and no rule reads them).

:data:`METRICS` names every metric with its help text; the README documents each.
Labels come from a small fixed set (:data:`LABELS`): never a URL, a post id or an
account name.

Processes: the daemon is ONE process (spiders, the recorder thread and the
alerts dispatcher all run in it), so an ordinary in-memory registry is right and
:meth:`Metrics.serve` exposes it. If ``PROMETHEUS_MULTIPROC_DIR`` is set in the
environment *before the process starts* (prometheus-client reads it at import),
every process writes its counters to files in that directory and :meth:`serve`
exposes their sum through ``MultiProcessCollector``, plus the database gauges,
which are global already. Empty the directory between runs.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from platform import python_version
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .collector_metrics import COLLECTOR_METRICS, CollectorStateGauge, PausedObservations
from .db.queries import gauge_rows
from .errors import ConfigError
from .observation import Observation, Outcome
from .signals import SignalManager, batch_committed
from .tokens import ATTENTION_REASONS

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from .db import Database
    from .events import Event

log = logging.getLogger(__name__)

__all__ = ["HEALTH_WINDOW", "LABELS", "METRICS", "BuildInfoCollector", "CollectorHealth",
           "DatabaseCollector", "Metrics", "MetricsServer"]

#: Every metric, with its help text. ``tests/test_docs.py`` checks the README lists each.
METRICS: dict[str, str] = {
    "takedown_checks_total": "Checks recorded, one per observation, by platform, mode "
    "(listing|probe) and outcome. A rising share of anti_bot, token_expired, malformed or "
    "auth_required outcomes means the platform changed under the spiders; "
    "collector_blocked counts the platform's blocks of the collector (its words name them: "
    "HTTP 432, 461/471, TikTok 10204, Reddit's \"whoa there, pardner\").",
    "takedown_events_total": "Events stored, by platform, watchlist group, kind and cause "
    "(cause is empty for edits and restorations).",
    "takedown_alert_delivery_attempts_total": "Alert delivery attempts by channel type and "
    "result: sent; resent (sent after an interrupted try, which may have arrived too: a "
    "possible duplicate); failed (will retry); dead (gave up).",
    "takedown_check_duration_seconds": "Time one check took (fetch and parse), by platform "
    "and mode.",
    "takedown_time_to_takedown_seconds": "Post lifetime at deletion: first seen gone minus "
    "published, for disappeared events where both are known, by platform and cause. An upper "
    "bound: detection waits for the next check.",
    "takedown_tracked_targets": "Active watchlist targets, by platform.",
    "takedown_workers_live": "Workers holding a live seat on the database (their presence "
                             "lock held): every `takedown run` and running `takedown check`.",
    "takedown_tracked_posts": "Posts of active targets, by platform and state "
    "(unseen, visible, suspect, gone, hidden).",
    "takedown_checks_overdue": "Listings and probes due more than 60 s ago and not yet "
    "recorded: the backlog. Growing means the crawl cannot keep up.",
    "takedown_group_last_success_timestamp_seconds": "Unix time of the latest successful "
    "check of any active target of the group; 0 if none has ever succeeded.",
    "takedown_platform_error_streak": "Longest run of failed checks in a row among the "
    "platform's active targets.",
    "takedown_targets_needing_attention": "Active targets that need the user, by platform "
    "and reason: token_expired is a post watched alone whose access token expired and no "
    "watched listing refreshes (`takedown status` says what to do: add the author's profile "
    "or a fresh URL). Never an event.",
    "takedown_alert_delivery_queue": "Alert deliveries waiting to go out, by state "
    "(pending, sending, failed: due again after its backoff); absent before the alerts "
    "migration.",
    "takedown_alert_dead_letters": "Alert deliveries given up after max_tries: nobody was "
    "told. Falls when `takedown alerts retry` puts them back.",
    "takedown_collector_block_ratio": "Share (0-1) of the platform's last 100 recorded "
    "checks that the platform blocked (anti_bot, auth_required, token_expired, "
    "collector_blocked: about the collector, never the post), since the process started.",
    "takedown_collector_last_success_timestamp_seconds": "Unix time of the platform's latest "
    "recorded check that got an answer about content (not a transient outcome), since the "
    "process started; 0 if none yet.",
    "takedown_collector_up": "1 if the last scrape read the database, 0 if the query failed "
    "(see the log); the database gauges are missing while it is 0.",
    "takedown_build_info": "Always 1; the labels say which Takedown Monitor version and "
    "Python version run.",
    **COLLECTOR_METRICS,  # issue 11, part E: monitor/collector_metrics.py
}

#: The only label names any metric may carry.
LABELS = frozenset(
    {"platform", "mode", "outcome", "group", "kind", "cause", "channel_type", "result", "state",
     "reason", "version", "python_version", "vantage"}
)

#: 10 ms … 60 s: a cached RSS feed answers in tens of ms, a throttled API in seconds.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

_MIN, _HOUR, _DAY = 60.0, 3600.0, 86400.0
#: 1 min … 30 days, dense between 5 and 30 min and around 24 h, where the Velocity of
#: Censorship study (Zhu et al., 2013) found most removals on Weibo.
TAKEDOWN_BUCKETS = (
    _MIN, 2 * _MIN, 5 * _MIN, 8 * _MIN, 10 * _MIN, 15 * _MIN, 20 * _MIN, 30 * _MIN, _HOUR,
    2 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 3 * _DAY, 7 * _DAY, 14 * _DAY, 30 * _DAY,
)

DELIVERY_RESULTS = ("sent", "resent", "failed", "dead")
#: Deliveries waiting to go out; sent, folded and suppressed rows are done, dead ones
#: are ``takedown_alert_dead_letters``.
QUEUE_STATES = ("pending", "sending", "failed")
POST_STATES = ("unseen", "visible", "suspect", "gone", "hidden")
MODES = ("listing", "probe")
#: Outcomes created at 0 for each (platform, mode) on first sight: those the shared fetch
#: layer gives any platform in either mode (HTTP statuses, network and size failures,
#: challenge pages, refusals). A platform's own verdicts (a token expiring, a notice page,
#: a tombstone) are not invented where they cannot occur: their series start when seen.
PRECREATED_OUTCOMES = frozenset(Outcome) - {Outcome.TOKEN_EXPIRED, Outcome.UNAVAILABLE,
                                            Outcome.TOMBSTONE, Outcome.COLLECTOR_BLOCKED}
#: Checks per platform that ``takedown_collector_block_ratio`` is computed over.
HEALTH_WINDOW = 100

# Free-form label values (platform, channel type) must look like a short name. Anything
# else - a URL, an account - is a bug upstream; it is counted as "invalid" and logged,
# so one bad caller cannot create a series per URL.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class Metrics:
    """The monitor's metrics on one registry; with ``db``, also the database gauges.

    By default a new registry is used, with ``process_*`` (a ``ProcessCollector``) and
    ``takedown_build_info``; pass ``prometheus_client.REGISTRY`` to export its
    ``python_*`` metrics too (it has its own process collector).
    """

    def __init__(self, registry: CollectorRegistry | None = None,
                 db: Database | None = None) -> None:
        disable_created_metrics()  # process-wide in prometheus_client; read at scrape time
        self.registry = registry if registry is not None else CollectorRegistry()
        #: The collectors this object registered (besides its counters and histograms).
        self.collectors: list[Collector] = [BuildInfoCollector()]
        if self.registry is not REGISTRY:
            self.collectors.append(ProcessCollector(registry=None))
        self.checks = Counter(
            "takedown_checks_total", METRICS["takedown_checks_total"],
            ["platform", "mode", "outcome"], registry=self.registry)
        self.events = Counter(
            "takedown_events_total", METRICS["takedown_events_total"],
            ["platform", "group", "kind", "cause"], registry=self.registry)
        self.deliveries = Counter(
            "takedown_alert_delivery_attempts_total",
            METRICS["takedown_alert_delivery_attempts_total"],
            ["channel_type", "result"], registry=self.registry)
        self.check_duration = Histogram(
            "takedown_check_duration_seconds", METRICS["takedown_check_duration_seconds"],
            ["platform", "mode"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.time_to_takedown = Histogram(
            "takedown_time_to_takedown_seconds", METRICS["takedown_time_to_takedown_seconds"],
            ["platform", "cause"], buckets=TAKEDOWN_BUCKETS, registry=self.registry)
        #: Collector health per platform, fed with every committed observation.
        self.health = CollectorHealth()
        self.collectors.append(self.health)
        self.collector = DatabaseCollector(db) if db is not None else None
        if self.collector is not None:
            self.collectors.append(self.collector)
            self.collectors.append(CollectorStateGauge(self.collector.db))
        #: Absences recorded while a platform and vantage point were paused.
        self.paused = PausedObservations(self.registry)
        for collector in self.collectors:
            self.registry.register(collector)
        # Series created at zero on first sight, so rate() and increase() see the first
        # anti_bot or dead delivery instead of a series that starts at 1.
        self._seen: set[tuple[str, ...]] = set()
        self._warned: set[str] = set()

    def connect(self, signals: SignalManager) -> None:
        """Count every committed batch the recorder announces on ``signals``."""
        signals.connect(self.recorded, batch_committed)

    def recorded(self, observations: Sequence[Observation], events: Sequence[Event]) -> None:
        """Receiver of ``batch_committed``: count a committed batch."""
        self.paused.observe(observations)
        for obs in observations:
            platform = self._name(obs.platform, "platform")
            mode = obs.mode if obs.mode in MODES else "invalid"
            if ("checks", platform, mode) not in self._seen:
                self._seen.add(("checks", platform, mode))
                for outcome in PRECREATED_OUTCOMES:
                    self.checks.labels(platform, mode, outcome.value)
            self.checks.labels(platform, mode, str(obs.outcome)).inc()
            self.health.observe(platform, obs)
            if obs.elapsed_ms is not None and obs.elapsed_ms >= 0:
                self.check_duration.labels(platform, mode).observe(obs.elapsed_ms / 1000.0)
        for event in events:
            platform = self._name(event.platform, "platform")
            cause = event.cause or ""
            self.events.labels(platform, event.group, event.kind, cause).inc()
            if (event.kind == "disappeared" and event.published_at is not None
                    and event.first_seen_gone is not None):
                try:
                    lifetime = (event.first_seen_gone - event.published_at).total_seconds()
                except TypeError:  # one naive, one aware: a bug upstream, not worth a crash
                    log.warning("event %s of %s: cannot subtract published_at from "
                                "first_seen_gone", event.id, event.post_key)
                    continue
                if lifetime >= 0:  # negative: the platform's clock or a backdated post
                    self.time_to_takedown.labels(platform, cause).observe(lifetime)

    def delivery(self, channel_type: str, result: str) -> None:
        """Count one delivery attempt; ``result`` is sent, resent (sent after an
        interrupted try: a possible duplicate), failed (will retry) or dead."""
        if result not in DELIVERY_RESULTS:
            self._warn(f"result:{result}", "delivery result %r is not one of %s; not counted",
                       result, ", ".join(DELIVERY_RESULTS))
            return
        channel_type = self._name(channel_type, "channel_type")
        if ("delivery", channel_type) not in self._seen:
            self._seen.add(("delivery", channel_type))
            for each in DELIVERY_RESULTS:
                self.deliveries.labels(channel_type, each)
        self.deliveries.labels(channel_type, result).inc()

    def serve(self, address: str) -> MetricsServer:
        """Serve ``/metrics`` on ``HOST:PORT`` (``:PORT`` is every interface) in a thread.

        Returns the server; calling it (or its ``stop``) shuts it down.
        """
        host, port = parse_address(address)
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = self._multiprocess_registry()
        try:
            httpd, thread = start_http_server(port, host, registry)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {address!r}: {exc}. Choose a free port, or an "
                "address of this machine, such as 127.0.0.1:9464."
            ) from exc
        server = MetricsServer(httpd, thread)
        log.info("serving metrics on http://%s:%d/metrics", server.host, server.port)
        return server

    def _multiprocess_registry(self) -> CollectorRegistry:
        from prometheus_client import multiprocess, values

        if values.ValueClass is values.MutexValue:
            log.warning("PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was "
                        "imported; this process's counts are not in the shared files. Set it "
                        "before starting the process.")
        registry = CollectorRegistry()
        try:
            multiprocess.MultiProcessCollector(registry)
        except ValueError as exc:
            raise ConfigError(f"{exc}: create the directory PROMETHEUS_MULTIPROC_DIR names, "
                              "or unset it to serve this process's metrics only.") from exc
        # Build info and the database gauges are the same from any process; process_*
        # would describe only the serving one, so it is left out here.
        for collector in self.collectors:
            if not isinstance(collector, ProcessCollector):
                registry.register(collector)
        return registry

    def _name(self, value: str, label: str) -> str:
        if _NAME.fullmatch(value):
            return value
        self._warn(f"{label}:{value}", "%s label value %r is not a short name; counted as "
                   "'invalid' (labels never carry URLs or ids)", label, value)
        return "invalid"

    def _warn(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned and len(self._warned) < 100:
            self._warned.add(key)
            log.warning(msg, *args)


class MetricsServer:
    """A running metrics endpoint. Call it, or :meth:`stop`, to shut it down."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        self._lock = threading.Lock()
        self.host, self.port = httpd.server_address[:2]

    def stop(self) -> None:
        with self._lock:
            if not self._thread.is_alive():
                return
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)

    __call__ = stop


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (all interfaces) → (host, port)."""
    host, sep, port = address.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""  # an unbracketed IPv6 address is ambiguous: refuse it below
        sep = ""
    if not sep or not port.isdigit() or int(port) > 65535 or "/" in host:
        raise ConfigError(
            f"metrics address (METRICS_ADDRESS) {address!r} is not HOST:PORT. Write "
            "127.0.0.1:9464 (this machine only), :9464 (every interface) or [::1]:9464 "
            "(IPv6); leave METRICS_ADDRESS empty for no endpoint."
        )
    return host or "0.0.0.0", int(port)


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time, in one short query.

    Waits at most ``timeout`` seconds for a connection and as long for the query, so a
    scrape finishes inside Prometheus's default 10 s timeout even when the database hangs.
    """

    def __init__(self, db: Database, *, timeout: float = 4.0) -> None:
        self.db = db
        self.timeout = timeout
        self._failing = False

    def describe(self) -> Iterable[Metric]:
        # Names only: registering on an auto-describing registry must not query.
        return [family for _, family in self._families()]

    def collect(self) -> Iterable[Metric]:
        try:
            rows, has_deliveries = self._read()
        except Exception as exc:
            if not self._failing:
                log.warning("metrics: reading the database failed; exporting "
                            "takedown_collector_up 0 until it works again", exc_info=exc)
            else:
                log.debug("metrics: reading the database still fails: %s", exc)
            self._failing = True
            return [_gauge("takedown_collector_up", value=0.0)]
        if self._failing:
            log.info("metrics: reading the database works again")
            self._failing = False
        families = dict(self._families(has_deliveries))
        posts: dict[str, dict[str, float]] = {}
        attention: dict[str, dict[str, float]] = {}
        for row in rows:
            metric, a, b, value = row["metric"], row["a"], row["b"], float(row["value"])
            if metric == "posts":
                posts.setdefault(a, dict.fromkeys(POST_STATES, 0.0))[b] = value
            elif metric == "attention":
                reasons = attention.setdefault(a, dict.fromkeys(ATTENTION_REASONS, 0.0))
                reason = b if b in ATTENTION_REASONS else "other"  # never a free-form label
                reasons[reason] = reasons.get(reason, 0.0) + value
            elif metric in ("overdue", "workers"):
                families[metric].add_metric([], value)
            elif metric == "deliveries":
                if a in QUEUE_STATES:
                    families["deliveries"].add_metric([a], value)
                elif a == "dead":
                    families["dead"].add_metric([], value)
            else:
                if metric == "targets":  # a platform with targets but no posts yet
                    posts.setdefault(a, dict.fromkeys(POST_STATES, 0.0))
                    attention.setdefault(a, dict.fromkeys(ATTENTION_REASONS, 0.0))
                families[metric].add_metric([a], value)
        for platform, states in sorted(posts.items()):
            for state, count in states.items():
                families["posts"].add_metric([platform, state], count)
        for platform, reasons in sorted(attention.items()):
            for reason, count in reasons.items():
                families["attention"].add_metric([platform, reason], count)
        families["up"].add_metric([], 1.0)
        return list(families.values())

    @staticmethod
    def _families(has_deliveries: bool = True) -> list[tuple[str, GaugeMetricFamily]]:
        out = [
            ("targets", _gauge("takedown_tracked_targets", ["platform"])),
            ("posts", _gauge("takedown_tracked_posts", ["platform", "state"])),
            ("overdue", _gauge("takedown_checks_overdue")),
            ("workers", _gauge("takedown_workers_live")),
            ("group", _gauge("takedown_group_last_success_timestamp_seconds", ["group"])),
            ("streak", _gauge("takedown_platform_error_streak", ["platform"])),
            ("attention", _gauge("takedown_targets_needing_attention", ["platform", "reason"])),
        ]
        if has_deliveries:
            out.append(("deliveries", _gauge("takedown_alert_delivery_queue", ["state"])))
            out.append(("dead", _gauge("takedown_alert_dead_letters")))
        out.append(("up", _gauge("takedown_collector_up")))
        return out

    def _read(self) -> tuple[list[dict[str, Any]], bool]:
        # The pool directly, not Database.transaction(): that waits 30 s for a connection,
        # three times Prometheus's scrape timeout.
        with self.db.pool.connection(timeout=self.timeout) as conn, conn.transaction():
            rows, has_deliveries = gauge_rows(conn, self.timeout)
        if has_deliveries:
            # Every state at zero, so a queue that empties reads 0, not "no data".
            seen = {r["a"] for r in rows if r["metric"] == "deliveries"}
            rows += [{"metric": "deliveries", "a": s, "b": "", "value": 0}
                     for s in (*QUEUE_STATES, "dead") if s not in seen]
        return rows, has_deliveries


class CollectorHealth(Collector):
    """Per platform: the share of its last ``window`` checks it blocked, and when a
    check last got an answer about content. Kept in memory from committed
    observations (this process's, since it started); read at scrape time."""

    def __init__(self, window: int = HEALTH_WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        #: platform → blocked flags of its latest checks, oldest first.
        self._recent: dict[str, deque[bool]] = {}
        self._last_success: dict[str, float] = {}

    def observe(self, platform: str, obs: Observation) -> None:
        with self._lock:
            recent = self._recent.setdefault(platform, deque(maxlen=self.window))
            recent.append(obs.outcome.blocked)
            if not obs.outcome.transient:
                when = obs.observed_at.timestamp()
                self._last_success[platform] = max(when, self._last_success.get(platform, 0.0))

    def collect(self) -> Iterable[Metric]:
        ratio = _gauge("takedown_collector_block_ratio", ["platform"])
        last = _gauge("takedown_collector_last_success_timestamp_seconds", ["platform"])
        with self._lock:
            if not self._recent:
                return []  # no platform checked yet: no series (nor empty families)
            for platform, recent in sorted(self._recent.items()):
                ratio.add_metric([platform], sum(recent) / len(recent))
                last.add_metric([platform], self._last_success.get(platform, 0.0))
        return [ratio, last]


class BuildInfoCollector(Collector):
    """``takedown_build_info{version, python_version} 1``: which build is running."""

    def collect(self) -> Iterable[Metric]:
        from . import __version__

        family = _gauge("takedown_build_info", ["version", "python_version"])
        family.add_metric([__version__, python_version()], 1.0)
        return [family]


def _gauge(name: str, labels: Sequence[str] = (), value: float | None = None
           ) -> GaugeMetricFamily:
    if value is not None:
        return GaugeMetricFamily(name, METRICS[name], value=value)
    return GaugeMetricFamily(name, METRICS[name], labels=list(labels))


