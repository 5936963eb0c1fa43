"""Metrics of collector health per platform and vantage point (:mod:`monitor.collector`).

Registered by :class:`monitor.metrics.Metrics` next to its own instruments:

- ``takedown_collector_paused{platform,vantage,state}``: a gauge read at scrape time
  from the ``collector_state`` table (:func:`monitor.db.collector.gauge_rows`), so it
  is the same from any process and survives restarts. Each stored pair has a series
  per paused state, 1 for the state it is in and 0 otherwise; a pair that was never
  paused has none. A failing read is logged and leaves the gauge out of that scrape
  (``takedown_collector_up`` already says the database is away);
- ``takedown_collector_paused_observations_total{platform,vantage,state}``: absent
  observations recorded while paused (they decided nothing), counted after their
  batch commits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .collector import PAUSED_STATES, counts
from .observation import Observation

if TYPE_CHECKING:
    from .db import Database

log = logging.getLogger(__name__)

__all__ = ["COLLECTOR_METRICS", "CollectorStateGauge", "PausedObservations"]

COLLECTOR_METRICS: dict[str, str] = {
    "takedown_collector_paused": "1 while the platform blocks the collector (state "
    "blocked: captcha, login wall, expired token, the platform's block) or is out "
    "(state outage: many targets absent at once) at that vantage point; absences seen "
    "there are recorded but decide nothing until it resumes. 0 otherwise.",
    "takedown_collector_paused_observations_total": "Absent answers recorded while the "
    "platform and vantage point were paused (blocked or outage): they decided nothing, "
    "by platform, vantage and state.",
}

# As monitor.metrics: a label value that does not look like a short name is a bug
# upstream, exported as "invalid" rather than as a series per URL.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


def _label(value: str) -> str:
    return value if _NAME.fullmatch(value) else "invalid"


class PausedObservations:
    """``takedown_collector_paused_observations_total``, fed with committed batches."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counter = Counter(
            "takedown_collector_paused_observations_total",
            COLLECTOR_METRICS["takedown_collector_paused_observations_total"],
            ["platform", "vantage", "state"], registry=registry)

    def observe(self, observations: Sequence[Observation]) -> None:
        for (platform, vantage, state), n in counts(observations).items():
            self.counter.labels(_label(platform), _label(vantage), state).inc(n)


class CollectorStateGauge(Collector):
    """``takedown_collector_paused``, read from the database at scrape time."""

    def __init__(self, db: Database, *, timeout: float = 4.0) -> None:
        self.db = db
        self.timeout = timeout
        self._failing = False

    def describe(self) -> Iterable[Metric]:
        return [self._family()]  # names only: registering must not query

    def collect(self) -> Iterable[Metric]:
        from .db.collector import gauge_rows

        try:
            with self.db.pool.connection(timeout=self.timeout) as conn, conn.transaction():
                rows = gauge_rows(conn, self.timeout)
        except Exception as exc:
            if not self._failing:
                log.warning("metrics: reading the collector states failed (%s); "
                            "takedown_collector_paused is left out until it works", exc)
            self._failing = True
            return []
        self._failing = False
        family = self._family()
        seen: set[tuple[str, str]] = set()
        for row in rows:
            key = (_label(row["platform"]), _label(row["vantage"]))
            if key in seen:
                continue
            seen.add(key)
            for state in PAUSED_STATES:
                family.add_metric([*key, state], 1.0 if row["state"] == state else 0.0)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("takedown_collector_paused",
                                 COLLECTOR_METRICS["takedown_collector_paused"],
                                 labels=["platform", "vantage", "state"])
