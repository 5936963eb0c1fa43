"""The hash chain's pure part: canonical digests, entry hashes and the checks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from monitor.chain import (
    GENESIS,
    ChainEntry,
    ChainError,
    canonical,
    chained_fields,
    entry_hash,
    link,
    retire_digest,
    row_digest,
    verify_entries,
)

AT = datetime(2026, 8, 1, 12, 0, 0, 5, tzinfo=UTC)


def obs(**kw: Any) -> dict[str, Any]:
    row = {"id": 7, "target_id": 1, "post_id": 3, "mode": "probe", "first_at": AT,
           "last_at": AT, "repeats": 1, "outcome": "absent", "http_status": 404,
           "version_id": None, "body_hash": "ab" * 32, "message": "该内容因违规已被删除",
           "url": "https://ex.social/@a/1", "vantage": "default",
           "signals": {"b": 1, "a": [1.5, None, "x"]}, "counters": {"likes": 3},
           "detail": None}
    row.update(kw)
    return row


def test_canonical_is_sorted_compact_utf8() -> None:
    assert canonical({"b": 1, "a": "é", "c": [1, 2.5]}) == '{"a":"é","b":1,"c":[1,2.5]}'.encode()


def test_digest_is_stable_across_key_order_and_timezone() -> None:
    row = obs()
    reordered = dict(reversed(list(row.items())))
    reordered["signals"] = {"a": [1.5, None, "x"], "b": 1}
    shifted = AT.astimezone(timezone(timedelta(hours=8)))  # the same instant in Beijing
    assert row_digest("observation", row) == row_digest("observation", reordered)
    assert row_digest("observation", row) == row_digest("observation", obs(first_at=shifted))


def test_digest_ignores_the_run_columns_and_unknown_columns() -> None:
    extended = obs(last_at=AT + timedelta(hours=5), repeats=40, body_hash="cd" * 32,
                   counters={"likes": 99}, words_doc="'x':1", extra_column=1)
    assert row_digest("observation", obs()) == row_digest("observation", extended)


@pytest.mark.parametrize("change", [
    {"message": "该内容因违规已被删除 "}, {"outcome": "ok"}, {"http_status": 200},
    {"first_at": AT + timedelta(microseconds=1)}, {"signals": {"b": 1, "a": [1.5, None]}},
    {"signals": {"b": 1.0, "a": [1.5, None, "x"]}}, {"post_id": None}, {"message": None},
    {"vantage": "de"},
])
def test_digest_changes_with_any_chained_column(change: dict[str, Any]) -> None:
    assert row_digest("observation", obs()) != row_digest("observation", obs(**change))


def test_chained_fields_are_json_safe_and_idempotent() -> None:
    fields = chained_fields("observation", obs())
    assert fields["first_at"] == "2026-08-01T12:00:00.000005+00:00"
    assert "last_at" not in fields and "repeats" not in fields
    assert chained_fields("observation", fields) == fields
    assert row_digest("observation", fields) == row_digest("observation", obs())


@pytest.mark.parametrize("value", [
    "\u202eevil\u202c", "a\u0301", "\U0001f600", "\ud800", "x" * 100_000, "<script>", "\n\t\"\\",
    float("nan"), float("inf"), -0.0, 10**40, Decimal("1.10"), b"\x00\xff",
    {"nested": {"deep": [{"k": "v"}] * 3}}, ["", None, True, False],
])
def test_hostile_values_digest_deterministically(value: Any) -> None:
    a = row_digest("observation", obs(message=value, signals={"v": value}))
    b = row_digest("observation", obs(message=value, signals={"v": value}))
    assert a == b and len(a) == 64


def test_unicode_forms_are_not_merged() -> None:
    # NFC and NFD spell the same text with different code points: a stored row that
    # changed form was edited, so the digests differ.
    assert row_digest("observation", obs(message="é")) != row_digest(
        "observation", obs(message="e\u0301"))


def test_unknown_kind_and_missing_columns_are_errors() -> None:
    with pytest.raises(ChainError, match="unknown chain kind"):
        row_digest("post", {"id": 1})
    row = obs()
    del row["message"]
    with pytest.raises(ChainError, match="message"):
        row_digest("observation", row)
    with pytest.raises(ChainError, match="cannot chain"):
        row_digest("observation", obs(signals={"x": object()}))


def test_entry_hash_commits_to_every_field() -> None:
    base = entry_hash(GENESIS, 1, "observation", 7, "ab" * 32)
    assert base == hashlib.sha256(
        ('["' + GENESIS + '",1,"observation",7,"' + "ab" * 32 + '"]').encode()).hexdigest()
    others = {entry_hash("1" * 64, 1, "observation", 7, "ab" * 32),
              entry_hash(GENESIS, 2, "observation", 7, "ab" * 32),
              entry_hash(GENESIS, 1, "event", 7, "ab" * 32),
              entry_hash(GENESIS, 1, "observation", 8, "ab" * 32),
              entry_hash(GENESIS, 1, "observation", 7, "cd" * 32)}
    assert base not in others and len(others) == 5


def chain_of(rows: list[tuple[str, dict[str, Any]]]) -> list[ChainEntry]:
    out, prev = [], GENESIS
    for seq, (kind, row) in enumerate(rows, 1):
        entry = link(prev, seq, kind, row["id"], row_digest(kind, row))
        out.append(entry)
        prev = entry.hash
    return out


def test_verify_entries_accepts_a_whole_chain_and_rejects_each_tampering() -> None:
    rows = [("observation", obs(id=i, message=f"m{i}")) for i in range(1, 5)]
    entries = chain_of(rows)
    stored = {(k, r["id"]): r for k, r in rows}
    assert verify_entries(entries, stored, complete=True) == []

    edited = dict(stored)
    edited[("observation", 2)] = obs(id=2, message="rewritten")
    assert verify_entries(entries, edited, complete=True) == [
        "seq 2 (observation 2): row edited: its digest no longer matches"]

    removed = {k: v for k, v in stored.items() if k != ("observation", 3)}
    assert verify_entries(entries, removed, complete=True) == [
        "seq 3 (observation 3): row missing and never retired (row removed)"]

    gap = entries[:2] + entries[3:]
    problems = verify_entries(gap, stored, complete=True)
    assert problems == ["seq 4 (observation 4): gap: seq 3..3 missing (entries removed)"]

    forged = [*entries[:1], ChainEntry(2, "observation", 2, "ff" * 32, entries[0].hash,
                                       entries[1].hash), *entries[2:]]
    assert "entry hash does not match" in " ".join(verify_entries(forged, stored))
    # Recomputing the forged entry's hash breaks the next link instead.
    relinked = link(entries[0].hash, 2, "observation", 2, "ff" * 32)
    problems = verify_entries([entries[0], relinked, *entries[2:]], stored)
    assert any("does not link to seq 2" in p for p in problems)


def test_a_retired_row_may_be_missing_but_only_after_its_retirement() -> None:
    rows = [("observation", obs(id=1)), ("capture", {
        "id": 5, "observation_id": 1, "captured_at": AT, "target_uri": "https://x/1",
        "payload_sha256": "aa" * 32, "warc_sha256": "bb" * 32, "size": 10, "warc": b"x"})]
    entries = chain_of(rows)
    retired = link(entries[-1].hash, 3, "retire:capture", 5,
                   retire_digest("capture", 5, "retention"), note="retention")
    stored = {("observation", 1): rows[0][1]}
    assert verify_entries([*entries, retired], stored, complete=True) == []
    wrong_reason = ChainEntry(3, "retire:capture", 5, retired.digest, retired.prev,
                              retired.hash, note="forged reason")
    assert verify_entries([*entries, wrong_reason], stored) == [
        "seq 3 (retire:capture 5): retirement's reason does not match its digest"]
    assert verify_entries(entries, stored) == [
        "seq 2 (capture 5): row missing and never retired (row removed)"]


def test_partial_entries_link_only_when_adjacent() -> None:
    rows = [("event", {"id": i, **{c: None for c in (
        "dedupe_key", "kind", "cause", "cause_detail", "candidates", "post_id", "target_id",
        "platform", "group_name", "post_key", "detected_at", "last_seen_visible",
        "first_seen_gone", "published_at", "version_id", "edit", "evidence")}})
        for i in range(1, 6)]
    entries = chain_of(rows)
    stored = {(k, r["id"]): r for k, r in rows}
    picked = [entries[1], entries[3]]
    assert verify_entries(picked, stored) == []
    assert verify_entries(picked, stored, complete=True)[0].startswith("seq 2")
    assert verify_entries(list(reversed(picked)), stored) == [
        "seq 2 (event 2): out of order after seq 4"]


def test_entry_json_round_trip() -> None:
    entry = link(GENESIS, 1, "observation", 7, "ab" * 32)
    entry = ChainEntry(**{**entry.as_json(), "at": AT})
    assert ChainEntry.from_json(entry.as_json()) == entry


def test_fields_survive_a_json_round_trip_as_a_bundle_carries_them() -> None:
    import json

    row = obs(signals={"ratio": 0.1, "big": 1e300, "tiny": 5e-324, "n": 2**62},
              message="\u202e\U0001f600")
    carried = json.loads(json.dumps(chained_fields("observation", row)))
    assert row_digest("observation", carried) == row_digest("observation", row)
