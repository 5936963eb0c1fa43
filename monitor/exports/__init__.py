"""Exports: events, posts, versions and per-country availability as CSV, JSON lines and
Parquet (streamed), Atom feeds of events, and the anonymised research export.

The SQL is in :mod:`monitor.db.exports`; the HTTP routes in :mod:`monitor.api.exports`;
the ``takedown export`` command in ``spiders/cli/exports.py``.
"""

from ..query import safe_cell
from .atom import FeedSpec, build_feed, xml_safe
from .research import RESEARCH_TABLES, Pseudonyms, research_table
from .streams import EXPORTS, feed_bytes, public_author, research_bytes, table_bytes
from .tables import AVAILABILITY, EVENTS, POSTS, TABLES, VERSIONS
from .tabular import FORMATS, Table, encode

__all__ = ["AVAILABILITY", "EVENTS", "EXPORTS", "FORMATS", "POSTS", "RESEARCH_TABLES", "TABLES",
           "VERSIONS",
           "FeedSpec", "Pseudonyms", "Table", "build_feed", "encode", "feed_bytes",
           "public_author", "research_bytes", "research_table", "safe_cell", "table_bytes",
           "xml_safe"]
