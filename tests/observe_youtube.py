"""What the YouTube fake serves right after a scripted action, checked over HTTP
(wired into ``tests/test_sandbox.py``): the watch page's ``playabilityStatus`` words,
oEmbed, the channel's uploads feed, and the channel page of a terminated channel."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

from spiders.sandbox import Sandbox
from spiders.youtube.watch import playability, player_response

YT = "{http://www.youtube.com/xml/schemas/2015}"
ATOM = "{http://www.w3.org/2005/Atom}"
#: action → (playabilityStatus.status, a word of its texts); None: playable.
_WATCH: dict[str, tuple[str, str] | None] = {
    "edit": None, "hide_from_feed": None, "restore": None,
    "delete_by_author": ("ERROR", "removed by the uploader"),
    "remove_violation": ("ERROR", "violating YouTube's policy on"),
    "remove_copyright": ("ERROR", "copyright claim by"),
    "make_private": ("LOGIN_REQUIRED", "This video is private"),
    "suspend_account": ("ERROR", "has been terminated"),
}
_LISTED = frozenset({"edit", "restore"})


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (127.0.0.1 only)
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def observe(sb: Sandbox, action: dict[str, Any]) -> None:
    kind, vid, channel = action["action"], action["post_key"], action["target"]
    base = f"{sb.base_url}/youtube"
    assert action["url"] == f"{base}/watch?v={vid}"
    status, body = _get(f"{base}/watch?v={vid}")
    assert status == 200
    player = player_response(body.decode())
    assert player is not None, body[:200]
    state = playability(player)
    expected = _WATCH[kind]
    if expected is None:
        assert state.status == "OK", (kind, state)
    else:
        assert state.status == expected[0] and any(expected[1] in t for t in state.texts), (
            kind, state)
    watch = quote(f"https://www.youtube.com/watch?v={vid}", safe="")
    status, body = _get(f"{base}/oembed?url={watch}&format=json")
    if expected is None:
        assert status == 200 and json.loads(body)["html"], (kind, status)
    else:  # never an oEmbed JSON answer: the watch page decides
        assert status != 200 or not body.startswith(b"{"), (kind, status, body[:80])
    status, body = _get(f"{base}/feeds/videos.xml?channel_id={channel}")
    if kind == "suspend_account":
        assert status == 404 and b"Error 404 (Not Found)!!1" in body
        status, page = _get(f"{base}/channel/{channel}")
        assert status == 200 and b"This account has been terminated" in page
        return
    assert status == 200, (kind, status)
    root = ET.fromstring(body)
    assert root.findtext(f"{YT}channelId") == channel[2:]  # the feed-level quirk
    entries = {e.findtext(f"{YT}videoId"): e for e in root.iter(f"{ATOM}entry")}
    assert (vid in entries) is (kind in _LISTED), (kind, sorted(entries))
