"""What the Bluesky fake serves right after a scripted action (wired into
``tests/test_sandbox.py``): the uncached AppView, the PDS and the labels say what the
action implies at once; the cached AppView still says what was true before (it lags)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

#: Bluesky's own labeler (the fake's labels come from it).
MOD = "did:plc:ar7c4by46qjdydhdevvrndac"


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _xrpc(base: str, host: str, method: str, **params: Any) -> tuple[int, Any]:
    return _get(f"{base}/bluesky/{host}/xrpc/{method}?{urlencode(params, doseq=True)}")


def _served(base: str, host: str, uri: str) -> dict[str, Any] | None:
    status, body = _xrpc(base, host, "app.bsky.feed.getPosts", uris=[uri])
    assert status == 200, (host, status, body)
    posts = [p for p in body["posts"] if p["uri"] == uri]
    return posts[0] if posts else None


def observe(sb: Any, action: dict[str, Any]) -> None:
    base, kind, uri = sb.base_url, action["action"], action["post_key"]
    did, rkey = uri[5:].split("/")[0], uri.rsplit("/", 1)[1]
    fresh = _served(base, "appview", uri)
    stale = _served(base, "public", uri)
    record, _ = _xrpc(base, "pds", "com.atproto.repo.getRecord", repo=did,
                      collection="app.bsky.feed.post", rkey=rkey)
    if kind == "delete_by_author":
        assert fresh is None and record == 400
        assert stale is not None  # the cache still serves it for a while
    elif kind == "remove_by_platform":
        assert fresh is None and record == 200
        assert stale is not None
    elif kind == "label":
        assert fresh is not None and stale is not None
        assert [(lab["src"], lab["val"]) for lab in fresh["labels"]] == [(MOD, "!hide")]
        assert stale["labels"] == []  # the cache has not seen the label yet
    elif kind == "restore":  # a labelled post's label is retracted
        assert fresh is not None
        assert [lab.get("neg", False) for lab in fresh["labels"]] == [False, True]
    elif kind == "suspend_account":
        assert fresh is None
        status, body = _xrpc(base, "appview", "app.bsky.actor.getProfile", actor=did)
        assert (status, body["error"]) == (400, "AccountTakedown")
        status, body = _xrpc(base, "pds", "com.atproto.sync.getRepoStatus", did=did)
        assert status == 200 and body["status"] == "takendown"
    else:
        raise AssertionError(f"no observation for bluesky action {kind!r}")
    status, doc = _get(f"{base}/bluesky/plc/{quote(did, safe=':')}")
    assert status == 200 and doc["service"][0]["serviceEndpoint"] == f"{base}/bluesky/pds"
