"""The signed JSON webhook: payload, signature, and the receiver's :func:`verify`.

Every POST carries::

    Content-Type: application/json; charset=utf-8
    X-Takedown-Timestamp: 1785585600                 # Unix seconds when signed
    X-Takedown-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>
    Idempotency-Key: event-123                       # the same on every retry

The body is UTF-8 JSON with ``"version": 1`` (see ``alerts/README.md``).
Delivery is at least once: a receiver deduplicates on ``Idempotency-Key``.
:func:`verify` uses only the standard library so receivers can copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .render import Message, cause_text, lifetime

__all__ = ["VERSION", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "IDEMPOTENCY_HEADER",
           "payload", "encode", "sign", "signed_headers", "verify", "post"]

VERSION = 1
SIGNATURE_HEADER = "X-Takedown-Signature"
TIMESTAMP_HEADER = "X-Takedown-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "TakedownMonitor-Webhook/1"

_EVENT_FIELDS = ("id", "kind", "cause", "cause_detail", "candidates", "platform",
                 "group_name", "target", "target_key", "post_key", "url", "author",
                 "published_at", "detected_at", "last_seen_visible", "first_seen_gone",
                 "edit", "evidence", "burst_id")


def event_json(v: Mapping[str, Any]) -> dict[str, Any]:
    """One event for the payload: its columns, the post's text, the lifetime, the evidence."""
    out = {k: v.get(k) for k in _EVENT_FIELDS}
    out["group"] = out.pop("group_name")
    content = v.get("content") or {}
    out["title"] = content.get("title") or v.get("title") or None
    out["text"] = content.get("text") or v.get("text") or None
    out["cause_label"] = cause_text(dict(v)) or None
    start, end = v.get("published_at"), v.get("first_seen_gone") or v.get("last_seen_visible")
    out["lifetime_seconds"] = (end - start).total_seconds() if (
        v.get("kind") == "disappeared" and start and end) else None
    out["lifetime"] = lifetime(dict(v))
    return out


def payload(kind: str, key: str, views: Sequence[Mapping[str, Any]], message: Message, *,
            channel: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The version-1 document. ``kind``: event, burst, digest or test.

    ``event`` holds the event for kind event; ``events`` always lists them all.
    ``message`` is the rendered text, for receivers that just forward it.
    """
    events = [event_json(v) for v in views]
    doc: dict[str, Any] = {
        "version": VERSION,
        "type": kind,
        "idempotency_key": key,
        "channel": channel,
        "event": events[0] if kind == "event" and events else None,
        "events": events,
        "message": {"title": message.title, "body": message.body, "format": message.format},
    }
    if extra:
        doc.update(extra)
    return doc


def encode(doc: Mapping[str, Any]) -> bytes:
    """Canonical UTF-8 JSON (sorted keys, no spaces, non-ASCII kept as is)."""
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=_default).encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} in a webhook payload")


def sign(body: bytes, secret: str | bytes, timestamp: int) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(body: bytes, secret: str | bytes, idempotency_key: str,
                   now: float | None = None) -> dict[str, str]:
    ts = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(body, secret, ts),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify(body: bytes | str, headers: Mapping[str, str], secret: str | bytes,
           tolerance: float = 300, now: float | None = None) -> bool:
    """True when ``body`` was signed with ``secret`` less than ``tolerance`` s ago.

    Give the raw request body (bytes, as received, before any JSON parsing) and
    its headers (any case). Rejects a missing or malformed header, a timestamp
    outside ``tolerance`` either way (replays), and any change to the body.
    Standard library only: copy it into your receiver.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    stamp = lower.get("x-takedown-timestamp", "")
    given = lower.get("x-takedown-signature", "")
    if not (stamp.isascii() and stamp.isdigit()) or not given.startswith("sha256="):
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, stamp.encode("ascii") + b"." + raw, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), given)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A signed POST is not replayed at another address: a redirect is a failure."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST ``body``; returns the 2xx status. Raises ``urllib.error.HTTPError`` for any
    other status and ``OSError`` (``URLError``, ``TimeoutError``) when there is no answer."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    with _opener.open(request, timeout=timeout) as response:
        response.read(65536)
        status = int(response.status)
    if not 200 <= status < 300:  # pragma: no cover - urllib raises for >= 300 itself
        raise OSError(f"HTTP {status}")
    return status
