"""Takedown Monitor core: schedule → fetch → snapshot → diff → event → query.

The core never imports Scrapy; spiders live in the ``spiders`` package and hand
:class:`~monitor.observation.Observation` records back.
"""

from .errors import ConfigError, ParseError, StorageError, TakedownError, WatchlistError
from .events import CAUSES, EVENT_KINDS, Event, Verdict
from .observation import Observation, Outcome, PostContent, WorkItem

__version__ = "0.1.0"

__all__ = [
    "CAUSES",
    "EVENT_KINDS",
    "ConfigError",
    "Event",
    "Observation",
    "Outcome",
    "ParseError",
    "PostContent",
    "StorageError",
    "TakedownError",
    "Verdict",
    "WatchlistError",
    "WorkItem",
]
