"""RSS/Atom's words: none of its own.

A feed says what became of an entry only through HTTP statuses (404, 410,
451: read by ``spiders.responses`` for every platform) and RFC 6721
tombstones (a format element, parsed by the spider). A feed host's own words
would go here as :class:`monitor.platform.Rule` rows.
"""

from __future__ import annotations

from monitor.platform import Rule

WORDS: tuple[Rule, ...] = ()
