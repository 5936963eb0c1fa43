"""The signed webhook, verified from the receiver's side with ``alerts.webhook.verify``."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

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


def test_signature_is_hmac_sha256_over_timestamp_key_and_body() -> None:
    """Scheme 2: HMAC-SHA256(secret, "{timestamp}.{Idempotency-Key}.{raw body}")."""
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.event-1.".encode() + BODY,
                        hashlib.sha256).hexdigest()
    headers = signed()
    assert headers["X-Takedown-Signature"] == f"sha256={expected}"
    assert headers["X-Takedown-Signature-Version"] == "2"


def test_a_replay_with_a_fresh_idempotency_key_fails() -> None:
    """The key is signed: a captured delivery re-sent under a new key (so that the
    receiver's deduplication lets it through) no longer verifies."""
    genuine = signed()
    assert verify(BODY, genuine, SECRET, now=NOW)
    for fresh in ("event-2", "event-1x", "Event-1", "event-1 "):
        assert not verify(BODY, {**genuine, "Idempotency-Key": fresh}, SECRET, now=NOW), fresh


def test_a_key_that_would_make_the_signed_string_ambiguous_is_refused() -> None:
    """Keys are [A-Za-z0-9_-]: with a dot allowed, key "event-1.{" and a body cut after
    "{." would sign the same string as the genuine pair."""
    with pytest.raises(ValueError, match="Idempotency-Key"):
        webhook.signed_headers(BODY, SECRET, "event.1", now=NOW)
    body = b'{"a":1}'
    forged = {**webhook.signed_headers(body, SECRET, "event-1", now=NOW)}
    forged["Idempotency-Key"] = 'event-1.{"a"'
    assert not verify(b"1}", forged, SECRET, now=NOW)


def _hostile() -> list[tuple[str, object, object, object]]:
    """(case, body, headers, secret): every one must verify False, without raising."""
    good = signed()

    def with_(name: str, value: object) -> dict[str, object]:
        return {**good, name: value}

    def without(name: str) -> dict[str, str]:
        return {k: v for k, v in good.items() if k != name}

    sig = good["X-Takedown-Signature"]
    return [
        ("400-digit timestamp", BODY, with_("X-Takedown-Timestamp", "9" * 400), SECRET),
        ("5000-digit timestamp", BODY, with_("X-Takedown-Timestamp", "1" * 5000), SECRET),
        ("negative timestamp", BODY, with_("X-Takedown-Timestamp", str(-NOW)), SECRET),
        ("float timestamp", BODY, with_("X-Takedown-Timestamp", f"{NOW}.0"), SECRET),
        ("exponent timestamp", BODY, with_("X-Takedown-Timestamp", "1.7e9"), SECRET),
        ("Arabic-Indic digits", BODY, with_("X-Takedown-Timestamp", "١٧٨٥٥٨٥٦٠٠"), SECRET),
        ("superscript digits", BODY, with_("X-Takedown-Timestamp", "¹⁷⁸⁵"), SECRET),
        ("timestamp with spaces", BODY, with_("X-Takedown-Timestamp", f" {NOW} "), SECRET),
        ("timestamp with newline", BODY, with_("X-Takedown-Timestamp", f"{NOW}\n"), SECRET),
        ("empty timestamp", BODY, with_("X-Takedown-Timestamp", ""), SECRET),
        ("no timestamp", BODY, without("X-Takedown-Timestamp"), SECRET),
        ("non-ASCII signature", BODY, with_("X-Takedown-Signature", "sha256=é" + sig[8:]),
         SECRET),
        ("non-ASCII signature, right length", BODY,
         with_("X-Takedown-Signature", sig[:-1] + "é"), SECRET),
        ("non-hex digest", BODY, with_("X-Takedown-Signature", "sha256=" + "z" * 64), SECRET),
        ("short digest", BODY, with_("X-Takedown-Signature", sig[:-2]), SECRET),
        ("upper-case prefix", BODY, with_("X-Takedown-Signature", "SHA256=" + sig[7:]),
         SECRET),
        ("empty signature", BODY, with_("X-Takedown-Signature", ""), SECRET),
        ("no signature", BODY, without("X-Takedown-Signature"), SECRET),
        ("no idempotency key", BODY, without("Idempotency-Key"), SECRET),
        ("non-ASCII idempotency key", BODY, with_("Idempotency-Key", "événement-1"), SECRET),
        ("no signature version", BODY, without("X-Takedown-Signature-Version"), SECRET),
        ("signature version 1", BODY, with_("X-Takedown-Signature-Version", "1"), SECRET),
        ("duplicate header, two cases", BODY,
         {**good, "x-takedown-timestamp": good["X-Takedown-Timestamp"]}, SECRET),
        ("duplicate header, joined", BODY,
         with_("X-Takedown-Signature", f"{sig}, {sig}"), SECRET),
        ("header value is a list", BODY, with_("X-Takedown-Signature", [sig]), SECRET),
        ("header value is bytes", BODY, with_("X-Takedown-Signature", sig.encode()), SECRET),
        ("header value is None", BODY, with_("Idempotency-Key", None), SECRET),
        ("header name is bytes", BODY,
         {**without("X-Takedown-Timestamp"), b"X-Takedown-Timestamp": str(NOW)}, SECRET),
        ("headers is None", BODY, None, SECRET),
        ("headers is a list", BODY, list(good.items()), SECRET),
        ("body is None", None, good, SECRET),
        ("body is an int", 5, good, SECRET),
        ("body with a lone surrogate", "\ud800", good, SECRET),
        ("empty secret", BODY, good, ""),
        ("secret is None", BODY, good, None),
    ]


@pytest.mark.parametrize(("body", "headers", "secret"), [c[1:] for c in _hostile()],
                         ids=[c[0] for c in _hostile()])
def test_hostile_input_is_refused_without_raising(body: object, headers: object,
                                                  secret: object) -> None:
    # A float clock, as time.time() gives: a 400-digit timestamp used to overflow it.
    assert verify(body, headers, secret, now=float(NOW)) is False  # type: ignore[arg-type]


def test_duplicate_headers_of_a_real_request_are_refused() -> None:
    """http.server's headers keep every copy of a header; two signatures are refused."""
    from email.message import Message

    headers = Message()
    for name, value in signed().items():
        headers[name] = value
    assert verify(BODY, headers, SECRET, now=NOW)  # type: ignore[arg-type]
    headers["X-Takedown-Timestamp"] = str(NOW)
    assert not verify(BODY, headers, SECRET, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(("now", "tolerance"), [(float("nan"), 300), (NOW, float("nan")),
                                                (float("inf"), 300), (NOW, -1), ("soon", 300)])
def test_a_bad_clock_or_tolerance_refuses(now: object, tolerance: object) -> None:
    assert verify(BODY, signed(), SECRET, tolerance=tolerance, now=now) is False  # type: ignore[arg-type]


_SIGNED = ("X-Takedown-Timestamp", "Idempotency-Key", "X-Takedown-Signature-Version",
           "X-Takedown-Signature")


def _random_headers(rng: random.Random) -> dict[object, object]:
    """The genuine headers with one to four of the signed ones replaced by random bytes
    (as Latin-1, as UTF-8 with surrogates, or raw), dropped, repeated in another case,
    or with one character changed."""
    headers: dict[object, object] = dict(signed())
    for _ in range(rng.randint(1, 4)):
        name = rng.choice(_SIGNED)
        action = rng.randrange(5)
        raw = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 7, 64, 71, 400])))
        if action == 0:
            headers[name] = raw.decode("latin-1")
        elif action == 1:
            headers[name] = raw.decode("utf-8", "surrogateescape")
        elif action == 2:
            headers[name] = raw
        elif action == 3:
            headers.pop(name, None)
        elif name in headers:  # the same header twice, in another case
            headers[name.upper()] = headers[name]
        else:
            headers[name] = str(NOW)
        if rng.random() < 0.3 and isinstance(headers.get(name), str) and headers[name]:
            value = str(headers[name])
            i = rng.randrange(len(value))
            headers[name] = value[:i] + chr(rng.randrange(0xD800)) + value[i + 1:]
    return headers


def _fuzz(check: Any) -> int:
    rng = random.Random(6)
    genuine = {k.lower(): v for k, v in signed().items()}
    same = 0
    for _ in range(3000):
        headers = _random_headers(rng)
        names = [str(k).lower() for k in headers]
        # Unchanged, up to the case of the header names (which HTTP ignores).
        expected = (len(names) == len(set(names))
                    and {str(k).lower(): v for k, v in headers.items()} == genuine)
        same += expected
        assert check(BODY, headers, SECRET, 300, NOW) is expected, headers
    return same


def test_random_header_bytes_never_raise_and_never_verify() -> None:
    same = _fuzz(verify)
    assert same < 50  # the loop really mutates (a chosen value may equal the genuine one)


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
    # Replayed under a fresh key, to get past the receiver's deduplication: refused.
    replay = {k: (f"event-{e.id + 1}" if k.lower() == "idempotency-key" else v)
              for k, v in got.headers.items()}
    assert replay != got.headers and not verify(got.body, replay, SECRET)
    assert got.headers["X-Takedown-Signature-Version"] == "2"
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
    for _, body, headers, secret in _hostile():
        assert copied(body, headers, secret, 300, float(NOW)) is False  # type: ignore[operator]
    _fuzz(copied)
