"""Collector health: per platform and vantage point, is the collector blocked?"""

from __future__ import annotations

from collections.abc import Sequence

from .observation import Observation


class CollectorHealth:
    """Screens each batch before the lifecycle reads it. (Stub.)"""

    def screen(self, observations: Sequence[Observation]) -> None:
        """Mark ``signals["collector_paused"]`` on observations whose platform and
        vantage point are blocked or in an outage: their absence decides nothing."""
