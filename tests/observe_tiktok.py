"""TikTok's observer for ``tests/test_sandbox.py``: right after a scripted action, the
fake serves over HTTP what the action implies (oEmbed, the video page, the profile)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from spiders.tiktok.parse import VIDEO_DETAIL, hydration

#: Action → the video page's statusCode and whether its item is age-gated.
_PAGE = {"delete_by_author": (10217, False), "remove_violation": (10231, False),
         "make_private": (10216, False), "age_restrict": (0, True)}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8")


def observe(sb: Any, action: dict[str, Any]) -> None:
    kind, key, url = action["action"], action["post_key"], action["url"]
    base = f"{sb.base_url}/tiktok"
    assert url.startswith(f"{base}/@") and url.endswith(f"/video/{key}"), url
    status, body = _get(f"{base}/oembed?url={quote(url, safe='')}")
    served = kind not in _PAGE
    if served:
        assert status == 200, (kind, status)
        answer = json.loads(body)
        assert f'data-video-id="{key}"' in answer["html"] and answer["embed_product_id"] == key
    else:
        assert status == 400 and "html" not in json.loads(body), (kind, status)
    status, page = _get(url)
    assert status == 200
    detail = (hydration(page) or {})[VIDEO_DETAIL]
    item = detail.get("itemInfo", {}).get("itemStruct")
    if served:
        assert detail["statusCode"] == 0 and item["id"] == key and "video" in item
        if kind == "edit":
            assert item["desc"] == answer["title"]
    else:
        code, classified = _PAGE[kind]
        assert detail["statusCode"] == code, (kind, detail)
        assert (item is not None and item["isContentClassified"]) is classified
    # The profile's window lists the video only while it is served.
    owner = url[len(base) + 2:].split("/", 1)[0]
    _, profile = _get(f"{base}/@{owner}")
    listed = [i["id"] for i in (hydration(profile) or {})["webapp.user-detail"]["itemList"]]
    assert (key in listed) is served, (kind, listed)
