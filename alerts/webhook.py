"""The signed JSON webhook: payload, signature, and the receiver's :func:`verify`.

Every POST carries::

    Content-Type: application/json; charset=utf-8
    X-Takedown-Timestamp: 1785585600                 # Unix seconds when signed
    Idempotency-Key: event-123                       # the same on every retry
    X-Takedown-Signature-Version: 2
    X-Takedown-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{key}.{body}")>

Signature scheme 2 covers the ``Idempotency-Key`` too (scheme 1 signed only the
timestamp and body, so a replay under a fresh key verified). Keys are
``[A-Za-z0-9_-]{1,200}``, so the dots in the signed string are unambiguous.
The body is UTF-8 JSON with ``"version": 1`` (see ``alerts/README.md``).
Delivery is at least once: a receiver deduplicates on ``Idempotency-Key``.
:func:`verify` uses only the standard library so receivers can copy it; it
returns False for any malformed input and never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .render import Message, cause_text, lifetime

__all__ = ["VERSION", "SIGNATURE_VERSION", "SIGNATURE_HEADER", "SIGNATURE_VERSION_HEADER",
           "TIMESTAMP_HEADER", "IDEMPOTENCY_HEADER", "payload", "encode", "sign",
           "signed_headers", "verify", "post"]

VERSION = 1  # of the JSON payload
SIGNATURE_VERSION = "2"  # of the signature scheme: timestamp, key and body are signed
SIGNATURE_HEADER = "X-Takedown-Signature"
SIGNATURE_VERSION_HEADER = "X-Takedown-Signature-Version"
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


def sign(body: bytes, secret: str | bytes, timestamp: int, idempotency_key: str) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "{timestamp}.{idempotency_key}.{body}")>``."""
    if not _KEY.fullmatch(idempotency_key):
        raise ValueError(f"Idempotency-Key {idempotency_key!r} is not 1-200 characters of "
                         "[A-Za-z0-9_-]; the signed string would be ambiguous")
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    signed = f"{int(timestamp)}.{idempotency_key}.".encode("ascii") + body
    return "sha256=" + hmac.new(key, signed, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, secret: str | bytes, idempotency_key: str,
                   now: float | None = None) -> dict[str, str]:
    ts = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(ts),
        IDEMPOTENCY_HEADER: idempotency_key,
        SIGNATURE_VERSION_HEADER: SIGNATURE_VERSION,
        SIGNATURE_HEADER: sign(body, secret, ts, idempotency_key),
    }


# verify() and these patterns are copied verbatim into alerts/README.md for receivers
# (tests/alerting/test_alerts_webhook.py checks the copy behaves the same).
_STAMP = re.compile(r"[0-9]{1,12}")
_KEY = re.compile(r"[A-Za-z0-9_-]{1,200}")
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
_SIGNED = ("x-takedown-timestamp", "idempotency-key", "x-takedown-signature-version",
           "x-takedown-signature")


def verify(body: bytes | str, headers: Mapping[str, str], secret: str | bytes,
           tolerance: float = 300, now: float | None = None) -> bool:
    """True when ``body`` and its Idempotency-Key were signed with ``secret`` less than
    ``tolerance`` seconds ago (signature scheme 2).

    Give the raw request body (bytes, as received, before any JSON parsing) and its
    headers (any case). Returns False, never raises, for anything malformed: a
    missing, repeated or non-ASCII header, a timestamp that is not 1-12 digits or is
    more than ``tolerance`` s away (replays), an unknown signature version, a changed
    body or key. Standard library only: copy it into your receiver.
    """
    found: dict[str, str] = {}
    try:
        for name, value in headers.items():
            name = name.lower() if isinstance(name, str) else ""
            if name in _SIGNED:
                if name in found or not isinstance(value, str):
                    return False  # a repeated header, or not text
                found[name] = value
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
    except (AttributeError, TypeError, ValueError):  # not a mapping; unencodable text
        return False
    if not isinstance(body, (bytes, bytearray)) or not isinstance(secret, bytes) or not secret:
        return False
    stamp, key, version, given = (found.get(name, "") for name in _SIGNED)
    if (version != "2" or not _STAMP.fullmatch(stamp) or not _KEY.fullmatch(key)
            or not _SIGNATURE.fullmatch(given)):
        return False
    try:
        current = time.time() if now is None else float(now)
        if not abs(current - int(stamp)) <= tolerance:  # False for NaN too
            return False
    except (TypeError, ValueError):
        return False
    mac = hmac.new(secret, f"{stamp}.{key}.".encode("ascii") + bytes(body), hashlib.sha256)
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
