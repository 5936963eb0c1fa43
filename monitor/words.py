"""Words: the tokeniser and the word-level alignment behind :func:`monitor.diff.compare`.

Word tokens: a run of letters, digits and combining marks (Latin, Cyrillic,
Arabic, Hebrew, Hangul...); each Han character, kana or CJK punctuation mark
alone, since Chinese and Japanese put no spaces between words and we carry no
dictionary; an emoji with its modifiers, ZWJ sequence or flag pair; any other
symbol alone. Thai and Khmer come out as long runs: coarse, but correct. Tokens
are compared in logical order, so right-to-left text needs no special case.

Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel, Levenshtein, Postfix, Prefix

# Bounds on huge texts: rapidfuzz's LCS alignment keeps a bit matrix of
# len(a) * len(b) / 64 words (~1.2 GB for two 100k-token texts) and its ratio
# takes ~2 s there. Past these sizes we use banded or low-memory variants, which
# are fast while the texts differ by at most MAX_EDITS tokens or characters.
WORD_DIFF_MAX_CELLS = 25_000_000
SIMILARITY_MAX_CELLS = 500_000_000
MAX_EDITS = 2_000


# --- tokens -------------------------------------------------------------------
_SPACE, _WORD, _CJK, _EXTEND, _FLAG, _OTHER = range(6)
_CJK_RANGES = ((0x2E80, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF),
               (0x20000, 0x3FFFF))


@lru_cache(maxsize=65536)
def _kind(ch: str) -> int:
    cp = ord(ch)
    if ch.isspace():
        return _SPACE
    if any(lo <= cp <= hi for lo, hi in _CJK_RANGES):
        return _CJK
    if ch.isalnum() or ch == "_":
        return _WORD
    if (ch in "\u200c\u200d" or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F
            or unicodedata.category(ch).startswith("M")):
        return _EXTEND  # combining mark, joiner, skin tone, emoji tag: glue to the left
    return _FLAG if 0x1F1E6 <= cp <= 0x1F1FF else _OTHER  # regional indicators pair up


def tokenise(doc: str) -> list[tuple[int, int, int]]:
    """Tokens as (lead, start, end): ``doc[lead:start]`` is the whitespace before one."""
    tokens: list[tuple[int, int, int]] = []
    start, kind, lead, glue = -1, _OTHER, 0, False
    for i, ch in enumerate(doc):
        k = _kind(ch)
        if k == _SPACE:
            if start >= 0:
                tokens.append((lead, start, i))
                start, lead = -1, i
            glue = False
            continue
        if start >= 0 and (
            k == _EXTEND or glue or k == kind == _WORD
            or (k == kind == _FLAG and i - start == 1)
            or (ch in "'’" and kind == _WORD and doc[i + 1 : i + 2].isalnum())
        ):
            glue = ch == "\u200d"
            continue
        if start >= 0:
            tokens.append((lead, start, i))
            lead = i
        start, kind, glue = i, k, ch == "\u200d"
    if start >= 0:
        tokens.append((lead, start, len(doc)))
    return tokens


Op = tuple[str, int, int, int, int]  # (tag, old start, old end, new start, new end)


def _affixes(a: Sequence[Any], b: Sequence[Any]) -> tuple[int, int]:
    p = Prefix.similarity(a, b)
    return p, Postfix.similarity(a[p:], b[p:])


def word_ops(a: list[str], b: list[str]) -> list[Op]:
    """Token diff; each stretch of changes becomes one delete, then one insert.

    LCS (Indel) when the matrix is small; on huge inputs with few edits,
    rapidfuzz's low-memory Levenshtein alignment; otherwise one coarse change.
    """
    p, s = _affixes(a, b)
    codes: list[Op] = [("equal", 0, p, 0, p), ("replace", p, len(a) - s, p, len(b) - s),
                       ("equal", len(a) - s, len(a), len(b) - s, len(b))]
    if (len(a) - p - s) * (len(b) - p - s) <= WORD_DIFF_MAX_CELLS:
        codes = [(o.tag, o.src_start, o.src_end, o.dest_start, o.dest_end)
                 for o in Indel.opcodes(a, b)]
    elif (d := Indel.distance(a, b, score_cutoff=MAX_EDITS)) <= MAX_EDITS:
        codes = [(o.tag, o.src_start, o.src_end, o.dest_start, o.dest_end)
                 for o in Levenshtein.opcodes(a, b, score_hint=d)]
    runs: list[Op] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag != "equal" and runs and runs[-1][0] == "change":
            runs[-1] = ("change", runs[-1][1], i2, runs[-1][3], j2)
        elif i2 > i1 or j2 > j1:
            runs.append(("equal" if tag == "equal" else "change", i1, i2, j1, j2))
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in runs:
        if tag == "equal":
            ops.append((tag, i1, i2, j1, j2))
        else:
            ops += [("delete", i1, i2, j1, j1)] if i2 > i1 else []
            ops += [("insert", i2, i2, j1, j2)] if j2 > j1 else []
    return ops


def nonspace(s: str) -> int:
    return len(s) - sum(ch.isspace() for ch in s)


def similarity(a: str, b: str, word_diff: list[tuple[str, str]]) -> float:
    """``fuzz.ratio(a, b)``; for huge, very different texts, estimated from the word diff."""
    p, s = _affixes(a, b)
    if (len(a) - p - s) * (len(b) - p - s) <= SIMILARITY_MAX_CELLS:
        return round(fuzz.ratio(a, b), 2)
    if (d := Indel.distance(a, b, score_cutoff=MAX_EDITS)) <= MAX_EDITS:
        return round(100.0 * (1 - d / (len(a) + len(b))), 2)  # what fuzz.ratio computes
    changed = sum(nonspace(w) for op, w in word_diff if op != "equal")
    return round(100.0 * (1 - changed / max(1, nonspace(a) + nonspace(b))), 2)
