"""The signed webhook, verified from the receiver's side with ``alerts.webhook.verify``."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from alerts_world import AR, EMOJI, SECRET, T0, ZH, Receiver, World, config, hook, outbox

from alerts import verify, webhook
from alerts.dispatcher import dispatch_once

BODY = '{"version":1,"text":"警方 🚨 تم"}'.encode()
NOW = 1_785_585_600
_S = timedelta(seconds=1)


def signed(body: bytes = BODY, secret: str = SECRET, at: int = NOW) -> dict[str, str]:
    return webhook.signed_headers(body, secret, "event-1", now=at)


CASES = [
    ("good signature", BODY, signed(), SECRET, NOW + 10, True),
    ("headers in any case", BODY, {k.lower(): v for k, v in signed().items()}, SECRET, NOW,
     True),
    ("body as str", BODY.decode(), signed(), SECRET, NOW, True),
    ("tampered body", BODY.replace("警方".encode(), "警察".encode()), signed(), SECRET, NOW,
     False),
    ("wrong secret", BODY, signed(), "another-secret", NOW, False),
    ("stale timestamp (a replay)", BODY, signed(at=NOW - 301), SECRET, NOW, False),
    ("timestamp from the future", BODY, signed(at=NOW + 301), SECRET, NOW, False),
    ("timestamp changed after signing", BODY,
     {**signed(), "X-Takedown-Timestamp": str(NOW + 1)}, SECRET, NOW, False),
    ("no signature", BODY, {"X-Takedown-Timestamp": str(NOW)}, SECRET, NOW, False),
    ("not sha256", BODY, {**signed(), "X-Takedown-Signature": "md5=abc"}, SECRET, NOW, False),
    ("garbage timestamp", BODY, {**signed(), "X-Takedown-Timestamp": "soon"}, SECRET, NOW,
     False),
]


@pytest.mark.parametrize(("body", "headers", "secret", "now", "ok"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_verify(body: bytes, headers: dict[str, str], secret: str, now: int, ok: bool) -> None:
    assert verify(body, headers, secret, tolerance=300, now=now) is ok


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signed()["X-Takedown-Signature"] == f"sha256={expected}"


def test_a_real_delivery_verifies_and_carries_the_full_evidence(world: World,
                                                                 receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url("/takedown"))})
    t = world.target()
    p = world.post(t, "109", f"{ZH} {EMOJI} {AR}", published_at=T0 - 14 * 60 * _S)
    e = world.event("disappeared", p, T0, "removed_by_platform", cause_detail="legal")
    world.record(outbox(cfg), e)
    assert dispatch_once(world.db, cfg, now=T0) == {"sent": 1, "failed": 0, "dead": 0}
    (got,) = receiver.received
    assert got.path == "/takedown"
    assert verify(got.body, got.headers, SECRET)
    assert not verify(got.body + b" ", got.headers, SECRET)
    assert got.headers["Idempotency-Key"] == f"event-{e.id}"
    assert got.headers["Content-Type"] == "application/json; charset=utf-8"
    assert abs(int(got.headers["X-Takedown-Timestamp"]) - time.time()) < 60
    doc = got.json()
    assert doc["version"] == 1 and doc["type"] == "event"
    assert doc["idempotency_key"] == f"event-{e.id}"
    event = doc["event"]
    assert event["id"] == e.id and event["kind"] == "disappeared"
    assert event["cause"] == "removed_by_platform" and event["cause_detail"] == "legal"
    assert event["text"] == f"{ZH} {EMOJI} {AR}"
    assert event["lifetime"] == "gone 9 min after posting"  # first seen gone 5 min before
    assert event["lifetime_seconds"] == 540
    assert event["evidence"]["observed"]["http_status"] == 410
    assert event["evidence"]["observed"]["body_hash"] == "ab" * 32
    assert event["evidence"]["reason"].startswith("the platform answered 410")
    assert event["group"] == "journalists" and event["target"] == "alice@ex.social"
    assert ZH in doc["message"]["body"]
    # Non-ASCII is sent as UTF-8, not \\u escapes.
    assert ZH.encode() in got.body


def test_a_retry_carries_the_same_idempotency_key(world: World, receiver: Receiver) -> None:
    cfg = config({"hook": hook(receiver.url())}, retry_base="1s")
    p = world.post(world.target(), "1", "text")
    (e,) = world.record(outbox(cfg), world.event("disappeared", p, T0, "deleted_by_author"))
    receiver.answer("500")
    assert dispatch_once(world.db, cfg, now=T0)["failed"] == 1
    assert dispatch_once(world.db, cfg, now=T0 + 10 * _S)["sent"] == 1
    first, second = receiver.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == \
        f"event-{e.id}"
    assert verify(second.body, second.headers, SECRET)


def test_the_readme_verify_is_the_real_one() -> None:
    """The copy receivers take from alerts/README.md behaves like alerts.webhook.verify."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "alerts" / "README.md").read_text("utf-8")
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert "def verify(body, headers, secret, tolerance=300, now=None)" in code
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    copied = namespace["verify"]
    for body, headers, secret, now, ok in [c[1:] for c in CASES]:
        assert copied(body, headers, secret, 300, now) is ok  # type: ignore[operator]
