"""The chain's canonical JSON and digests, pinned byte for byte.

``tests/golden/chain_canonical.json`` was written by :func:`monitor.chain.canonical`
as it was when it called ``json.dumps`` per value, for every value and row below:
the canonical bytes (hex: a lone surrogate is kept as its code point, which is not
UTF-8), the row digests and entry hashes. Every stored chain entry commits to these
bytes, so a change to any of them makes a stored chain fail to verify.

Rewrite the file (``.venv/bin/python tests/evidence/test_chain_golden.py``) only if
the chain's format changes on purpose, with a migration for the chains stored.
"""

from __future__ import annotations

import enum
import json
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any
from uuid import UUID

import pytest

from monitor import chain

GOLDEN = Path(__file__).parent.parent / "golden" / "chain_canonical.json"
AT = datetime(2026, 8, 1, 12, 0, 0, 5, tzinfo=UTC)


class Colour(enum.IntEnum):
    RED = 1


class Word(enum.StrEnum):
    HELLO = "hello"


class Mood(enum.Enum):
    CALM = "calm"


class Text(str):
    pass


class Moment(datetime):
    pass


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


VALUES: dict[str, Any] = {
    "none": None, "true": True, "false": False, "zero": 0, "negative": -17,
    "big int": 10**40, "huge int": -(2**200), "float": 0.1, "minus zero": -0.0,
    "big float": 1e300, "tiny float": 5e-324, "float int": 2.0, "nan": float("nan"),
    "inf": float("inf"), "-inf": float("-inf"), "empty str": "",
    "quotes and controls": "\n\t\"\\\x00\x1f\x7f", "non-ascii": "该内容因违规已被删除 é",
    "bidi": "\u202eevil\u202c", "combining": "a\u0301", "astral": "\U0001f600",
    "lone surrogate": "\ud800", "low surrogate": "x\udfffy", "line separators": "\u2028\u2029",
    "long": "x" * 100_000, "html": "<script>&amp;</script>",
    "decimal": Decimal("1.10"), "decimal exp": Decimal("-1E+3"), "decimal nan": Decimal("NaN"),
    "bytes": b"\x00\xff", "bytearray": bytearray(b"abc"), "memoryview": memoryview(b"xyz"),
    "empty bytes": b"", "uuid": UUID("12345678-1234-5678-1234-567812345678"),
    "date": date(2026, 8, 1), "datetime utc": AT, "datetime naive": datetime(2026, 8, 1, 12),
    "datetime +8": datetime(2026, 8, 1, 20, 0, tzinfo=timezone(timedelta(hours=8))),
    "datetime -3:30": datetime(2026, 8, 1, 8, 30, 0, 999999,
                               tzinfo=timezone(-timedelta(hours=3, minutes=30))),
    "datetime subclass": Moment(2026, 8, 1, 12, tzinfo=UTC),
    "int enum": Colour.RED, "str enum": Word.HELLO, "str subclass": Text("sub"),
    "empty list": [], "empty dict": {}, "tuple": (1, "a", None),
    "nested": {"nested": {"deep": [{"k": "v"}] * 3}},
    "key order": {"b": 1, "a": 2, "B": 3, "é": 4, "\ud800": 5, "": 6, "10": 7, "9": 8},
    "non-str keys": {1: "one", 2.5: "x", None: "n", False: "f", (1, 2): "tuple"},
    "colliding keys": {1: "int", "1": "str"},
    "ordered dict": OrderedDict([("z", 1), ("a", 2)]),
    "mapping proxy": MappingProxyType({"b": [1], "a": {2}}),
    "set": {3, 1, 2}, "frozenset": frozenset({"b", "a", "c"}),
    "mixed set": {1, "1", None, 2.5, (1, 2)}, "set of bytes": {b"a", b"b"},
    "list of everything": ["", None, True, False, 0, 1.5, AT, b"x", Decimal("0"),
                           {"k": {1, 2}}, (), [[]]],
}
#: Values canonical refuses: the pins include the message.
REFUSED: dict[str, Any] = {
    "object": Opaque(), "enum": Mood.CALM, "complex": 1j, "nested object": {"a": [object]},
}


def obs(**kw: Any) -> dict[str, Any]:
    row = {"id": 7, "target_id": 1, "post_id": 3, "mode": "probe", "first_at": AT,
           "last_at": AT, "repeats": 1, "outcome": "absent", "http_status": 404,
           "version_id": None, "body_hash": "ab" * 32, "message": "该内容因违规已被删除",
           "url": "https://ex.social/@a/1", "vantage": "default",
           "signals": {"b": 1, "a": [1.5, None, "x"]}, "counters": {"likes": 3},
           "detail": None}
    row.update(kw)
    return row


EVENT = {"id": 9, "dedupe_key": "k:1", "kind": "deleted", "cause": "takedown",
         "cause_detail": {"status": 451, "words": ["违规"]}, "candidates": ["a", "b"],
         "post_id": 3, "target_id": 1, "platform": "mastodon", "group_name": "g",
         "post_key": "1", "detected_at": AT, "last_seen_visible": AT - timedelta(hours=1),
         "first_seen_gone": AT, "published_at": None, "version_id": 4,
         "edit": None, "evidence": {"observed": {"obs": 7}, "suspicion": {"probes": []}},
         "words_doc": "'x':1"}
CAPTURE = {"id": 5, "observation_id": 7, "captured_at": AT, "target_uri": "https://x/1",
           "payload_sha256": "aa" * 32, "warc_sha256": "bb" * 32, "size": 10, "warc": b"x"}
ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "observation": ("observation", obs()),
    "observation, every type": ("observation", obs(**{
        "message": "\ud800 \U0001f600", "signals": {"set": {2, 1}, "d": Decimal("1.5"),
                                                    "nan": float("nan"), "b": b"\x01"},
        "detail": {"at": datetime(2026, 1, 1), "uuid": UUID(int=1), 3: [(), {}]},
        "first_at": datetime(2026, 8, 1, 20, tzinfo=timezone(timedelta(hours=8)))})),
    "observation, as a bundle carries it": ("observation", json.loads(json.dumps(
        chain.chained_fields("observation", obs())))),
    "event": ("event", EVENT),
    "capture": ("capture", CAPTURE),
}
ENTRIES = [(chain.GENESIS, 1, "observation", 7, "ab" * 32),
           ("f" * 64, 2**40, "retire:capture", 2**62, "cd" * 32),
           ("0" * 63 + "é", 0, "ob\"s", -1, "\ud800")]
RETIREMENTS = [("capture", 5, "retention"), ("observation", 2**62, "demo group 'x' \ud800")]


def _outputs() -> dict[str, dict[str, str]]:
    refused = {}
    for name, value in REFUSED.items():
        with pytest.raises(chain.ChainError) as caught:
            chain.canonical(value)
        refused[name] = str(caught.value)
    return {
        "canonical": {name: chain.canonical(v).hex() for name, v in VALUES.items()},
        "refused": refused,
        "row_digest": {name: chain.row_digest(kind, row) for name, (kind, row) in ROWS.items()},
        "entry_hash": {repr(e): chain.entry_hash(*e) for e in ENTRIES},
        "retire_digest": {repr(r): chain.retire_digest(*r) for r in RETIREMENTS},
    }


def test_canonical_bytes_and_digests_are_as_pinned() -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))
    found = _outputs()
    for part, pinned in golden.items():
        for name, value in pinned.items():
            assert found[part][name] == value, f"{part} {name} changed: see the docstring"
    assert {p: sorted(v) for p, v in found.items()} == {
        p: sorted(v) for p, v in golden.items()}


def test_the_pins_spell_what_canonical_promises() -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))["canonical"]
    text = {name: bytes.fromhex(h).decode("utf-8", "surrogatepass") for name, h in golden.items()}
    assert text["key order"] == '{"":6,"10":7,"9":8,"B":3,"a":2,"b":1,"é":4,"\ud800":5}'
    assert text["set"] == "[1,2,3]" and text["nan"] == '"NaN"'
    assert text["datetime +8"] == '"2026-08-01T12:00:00.000000+00:00"'
    assert text["lone surrogate"] == '"\ud800"'
    assert text["bytes"] == '"base64:AP8="'


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(_outputs(), indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"wrote {GOLDEN}")
