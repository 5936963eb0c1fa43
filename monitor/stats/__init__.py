"""Statistics of what the monitor recorded: time-to-takedown curves (interval-censored),
deletion rates, keywords of removed posts, and their plots.

- :mod:`.survival`: the Turnbull estimate and its bootstrap band (pure).
- :mod:`.keywords`: tokens (jieba for Chinese) and the weighted log-odds (pure).
- :mod:`.report`: the tables and curves the API, the pages and the CLI share.
- :mod:`.plots`: the SVG plots.
- :mod:`.cache`: survival answers computed ahead of the request (the fit costs seconds).

The SQL is in :mod:`monitor.db.stats`.
"""

from ..db.stats import BY, PERIODS, StatsFilter
from .report import keywords, rates, survival

__all__ = ["BY", "PERIODS", "StatsFilter", "keywords", "rates", "survival"]
