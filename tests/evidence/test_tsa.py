"""The RFC 3161 client against a local ``openssl ts`` authority, and hostile tokens."""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography.hazmat.primitives.serialization import Encoding
from tsa_server import LocalAuthority

from monitor.evidence.tsa import (
    AuthorityUnavailable,
    TimestampError,
    build_request,
    load_ca_file,
    parse_response,
    request_token,
    verify_token,
)

DATA = b'{"manifest": "example"}'
UA = "TakedownMonitor/test (+https://example.org)"


def test_stamp_from_a_local_authority(live_authority: LocalAuthority) -> None:
    token = request_token(live_authority.url, DATA, timeout=10, user_agent=UA)
    info = verify_token(token, DATA, load_ca_file(str(live_authority.ca_file)))
    assert info.imprint == hashlib.sha256(DATA).digest()
    assert info.hash_algorithm == "sha256"
    assert info.chained and "Test TSA" in info.signer
    assert abs(info.gen_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert live_authority.user_agents[-1] == UA


def test_a_token_for_other_data_is_rejected(live_authority: LocalAuthority) -> None:
    token = request_token(live_authority.url, DATA, timeout=10, user_agent=UA)
    with pytest.raises(TimestampError, match="other data"):
        verify_token(token, DATA + b" ")


def test_a_token_does_not_chain_to_another_ca(live_authority: LocalAuthority,
                                              second_authority: LocalAuthority) -> None:
    token = request_token(live_authority.url, DATA, timeout=10, user_agent=UA)
    with pytest.raises(TimestampError, match="chain"):
        verify_token(token, DATA, load_ca_file(str(second_authority.ca_file)))


def test_every_changed_byte_of_a_token_is_caught(live_authority: LocalAuthority) -> None:
    token = request_token(live_authority.url, DATA, timeout=10, user_agent=UA)
    ca = load_ca_file(str(live_authority.ca_file))
    carried_ca = _span(token, ca[0].public_bytes(Encoding.DER))
    survivors_without_ca = []
    for i in range(len(token)):
        bad = bytearray(token)
        bad[i] ^= 0x01
        with pytest.raises(TimestampError):
            verify_token(bytes(bad), DATA, ca)
        try:
            verify_token(bytes(bad), DATA)
        except TimestampError:
            continue
        survivors_without_ca.append(i)
    # Without an anchor, only the CA certificate the token carries for information is
    # unauthenticated (nothing signs it but itself); --tsa-ca catches those too.
    assert all(i in carried_ca for i in survivors_without_ca)


def _span(token: bytes, part: bytes) -> range:
    start = token.index(part)
    return range(start, start + len(part))


def test_a_replayed_answer_is_rejected(live_authority: LocalAuthority) -> None:
    query, nonce = build_request(DATA)
    answer = live_authority.reply(query)
    assert parse_response(answer, DATA, nonce)
    with pytest.raises(TimestampError, match="nonce"):
        parse_response(answer, DATA, nonce + 1)


def test_a_refusal_is_an_unavailable_authority() -> None:
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": ["bad alg"]}).dump()
    refusal = bytes([0x30, len(status)]) + status  # a TimeStampResp with no token
    with pytest.raises(AuthorityUnavailable, match="refused.*bad alg"):
        parse_response(refusal, DATA, 1)


@pytest.mark.parametrize("answer", [b"", b"<html>not a token</html>", b"\x30\x03\x02\x01"])
def test_garbage_answers_are_errors(answer: bytes) -> None:
    with pytest.raises(TimestampError):
        parse_response(answer, DATA, 1)


@pytest.mark.parametrize("token", [b"", b"\x00" * 40, b"\x30\x80garbage"])
def test_garbage_tokens_are_errors(token: bytes) -> None:
    with pytest.raises(TimestampError):
        verify_token(token, DATA)


def test_an_authority_down_or_unreachable(live_authority: LocalAuthority) -> None:
    live_authority.up = False
    with pytest.raises(AuthorityUnavailable, match="HTTP 503"):
        request_token(live_authority.url, DATA, timeout=5, user_agent=UA)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AuthorityUnavailable, match="cannot reach"):
        request_token(f"http://127.0.0.1:{port}/", DATA, timeout=2, user_agent=UA)


def test_only_http_urls_are_asked(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for you")
    with pytest.raises(AuthorityUnavailable, match="not an http"):
        request_token(secret.as_uri(), DATA, timeout=1, user_agent=UA)


def test_a_silent_authority_times_out() -> None:
    with socket.socket() as sock:  # accepts the connection, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        start = datetime.now(UTC)
        with pytest.raises(AuthorityUnavailable):
            request_token(f"http://127.0.0.1:{port}/", DATA, timeout=0.5, user_agent=UA)
        assert datetime.now(UTC) - start < timedelta(seconds=5)


def test_an_ecdsa_authority(tmp_path: Path) -> None:
    authority = LocalAuthority(tmp_path / "ec", ec=True)
    try:
        token = request_token(authority.url, DATA, timeout=10, user_agent=UA)
    finally:
        authority.close()
    ca = load_ca_file(str(authority.ca_file))
    assert verify_token(token, DATA, ca).chained
    for at in range(0, len(token), 3):
        bad = bytearray(token)
        bad[at] ^= 0x01
        with pytest.raises(TimestampError):
            verify_token(bytes(bad), DATA, ca)
