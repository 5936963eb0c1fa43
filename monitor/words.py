"""Words: the tokeniser and the word-level alignment behind :func:`monitor.diff.compare`.

Word tokens, read from Unicode properties by the ``regex`` module rather than
from hand-kept code point ranges, one grapheme cluster (``\\X``: a character
with its combining marks, an emoji with its modifiers, ZWJ sequence or flag
pair) at a time:

- a run of clusters based on a letter, digit or ``_`` (Latin, Cyrillic,
  Arabic, Hebrew, Hangul, fullwidth Latin...), with ``'`` or ``’`` kept
  between two of them (``don't``);
- each cluster based on a Han, Hiragana, Katakana or Bopomofo character alone
  (Script_Extensions, so the kana length mark ``ー`` and ``〆`` count), since
  Chinese and Japanese put no spaces between words and we carry no dictionary;
- any other cluster alone: punctuation, symbols, emoji.

Thai and Khmer come out as long runs: coarse, but correct. Tokens are compared
in logical order, so right-to-left text needs no special case. Whitespace is
what :meth:`str.isspace` says, as in :func:`nonspace`.

Pure functions, no I/O; one regex scan, linear in the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import regex
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
# str.isspace() is White_Space plus the four information separators U+001C-1F
# (bidi class B/S); kept so tokens and nonspace() agree on what a space is.
_SPACE = r"[\s\x1c-\x1f]"
_CJK = r"[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Bopomofo}]"
_W = rf"[[\p{{L}}\p{{N}}_]--{_CJK}]"  # what a word starts with
# An emoji keycap (UTS #51: [0-9#*] U+FE0F U+20E3) starts with a digit but is an emoji.
_KEYCAP = r"[0-9#*]\uFE0F?\u20E3"
# ...and goes on with marks too: a spacing vowel sign that UAX #29 leaves as a
# cluster of its own (Myanmar ါ ာ း, Tai Tham) stays in its word; a keycap's do not.
_WM = rf"[[\p{{L}}\p{{N}}\p{{M}}_]--[{_CJK}\uFE0F\u20E3]]"
# What joins the cluster before it (UAX #29 GB9, GB9a), and what joins the one after.
_GLUE = r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}]"
_PRE = r"\p{GCB=Prepend}"
# A word: a run of clusters that start with _WM, the first with _W; a Prepend
# mark (the Arabic number sign) starts a cluster too, with what follows it.
# Plain: letters and marks in one class scan, ending where no cluster can go on
# (the common case). Otherwise cluster by cluster: `_WM*` takes the plain
# letters and gives back one (two before a keycap) for `\X` to take with what
# extends it; a loop of `(?=_W)\X` per letter is 6x slower.
_PLAIN = rf"(?={_W}){_WM}++(?<!{_PRE})(?!{_GLUE}|{_PRE})"
_CLUSTERS = rf"(?={_PRE}|{_W})(?:{_WM}*(?={_PRE}|{_WM})(?!{_KEYCAP})\X)++"
_WORD = rf"(?:{_PLAIN}|{_CLUSTERS})"
# regex's \X counts back over the whole run of regional indicators at every
# one (quadratic on a hostile run), so flags pair up here: left to right,
# with what extends the pair (UAX #29 GB12/13, GB9, GB9a).
_FLAGS = rf"\p{{RI}}\p{{RI}}?+{_GLUE}*+"
_TOKEN = regex.compile(
    rf"(?!{_SPACE})(?>"
    rf"((?:{_CJK}(?!{_GLUE}))++)"  # group 1: CJK characters that are clusters alone
    rf"|{_WORD}(?:['’]{_WORD})*+"  # a word, with apostrophes inside (don't, rock'n'roll)
    rf"|{_FLAGS}"
    rf"|\X)",  # a CJK character with marks, an emoji, any other symbol: one cluster
    regex.VERSION1,
)
_PREPEND = regex.compile(_PRE)
_CHUNK = regex.compile(r"[^\s\x1c-\x1f]++")  # between spaces: see _SPACE


def tokenise(doc: str) -> list[tuple[int, int, int]]:
    """Tokens as (lead, start, end): ``doc[lead:start]`` is the whitespace before one."""
    if _PREPEND.search(doc) is None:
        matches: Iterable[Any] = _TOKEN.finditer(doc)
    else:  # a Prepend mark joins even a space to its cluster (UAX #29 GB9b): scan between spaces
        matches = (m for chunk in _CHUNK.finditer(doc) for m in _TOKEN.finditer(doc, *chunk.span()))
    tokens: list[tuple[int, int, int]] = []
    lead = 0
    for m in matches:
        start, end = m.span()
        if m.lastindex:  # a run of CJK characters: one token each
            tokens.append((lead, start, start + 1))
            tokens += [(i, i, i + 1) for i in range(start + 1, end)]
        else:
            tokens.append((lead, start, end))
        lead = end
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
