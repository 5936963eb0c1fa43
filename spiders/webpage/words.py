"""A web page's words: what its answer says about the watched part.

Scopes: ``status`` (HTTP status) and ``match_count`` (how many elements the
target's CSS selector matched). A page that answers 404 or 410 is gone; a
page that answers 200 but where the selector matches nothing has lost the
watched part (removed or rewritten past recognition). Each rule's name
(``webpage.…``) is recorded as ``signals["fingerprint"]``.
"""

from __future__ import annotations

from monitor.platform import Rule

WORDS: tuple[Rule, ...] = (
    Rule("status", "404", "not_found", name="webpage.status.404", source="RFC 9110"),
    Rule("status", "410", "gone", name="webpage.status.410", source="RFC 9110"),
    Rule("match_count", "0", "unavailable", "not_found", name="webpage.selector.no_match"),
)
