"""What the X fake serves right after a scripted action, checked over HTTP (the
syndication ``tweet-result`` and oEmbed under ``/x/``), for ``tests/test_sandbox.py``."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_TIMEOUT = 5
#: Action → a stem of the tombstone text the syndication serves after it (None: the post).
_TOMBSTONE = {
    "delete_by_author": "deleted by the post author",
    "remove_by_platform": "violated the x rules",
    "withhold_legal": "withheld in germany in response to a legal demand",
    "protect": "limits who can view",
    "suspend_account": "from a suspended account",
}
#: Action → the oEmbed status after it (200: it renders the post).
_OEMBED = {"delete_by_author": 404, "remove_by_platform": 404, "withhold_legal": 404,
           "protect": 403, "suspend_account": 404}


def _get(url: str) -> tuple[int, Any]:
    """(status, parsed JSON or None); HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, None


def _false_tombstone(sb: Any, key: str) -> bool:
    """Whether the fake marks ``key`` as a post the embed misreports (truth says so)."""
    return any(p["post_key"] == key and p.get("false_tombstone") for p in sb.truth()["posts"])


def observe(sb: Any, action: dict[str, Any]) -> None:
    """Check the syndication answer and the oEmbed answer of the post ``action`` acted on."""
    kind, key = action["action"], action["post_key"]
    base = f"{sb.base_url}/x"
    status, data = _get(f"{base}/tweet-result?id={key}&lang=en")
    assert status == 200, (kind, key, status)
    stem = _TOMBSTONE.get(kind)
    if stem is None and data["__typename"] == "TweetTombstone" and _false_tombstone(sb, key):
        # The embed's false tombstone for a live post: oEmbed must still render it.
        text = data["tombstone"]["text"]["text"].lower()
        assert "is unavailable" in text, (kind, text)
    elif stem is None:  # edit, restore: the post itself
        assert data["__typename"] == "Tweet" and data["id_str"] == key, (kind, data)
    else:
        assert data["__typename"] == "TweetTombstone", (kind, data)
        text = data["tombstone"]["text"]["text"].replace("\u2019", "'").lower()
        assert stem in text, (kind, text)
        if kind == "withhold_legal":
            assert data["withheld_in_countries"] == ["DE"]
    post_url = urllib.parse.quote(f"{base}/i/web/status/{key}", safe="")
    status, data = _get(f"{base}/oembed?url={post_url}&omit_script=true")
    expected = _OEMBED.get(kind, 200)
    assert status == expected, (kind, key, status)
    if expected == 200:
        assert "twitter-tweet" in data["html"], (kind, data)
