"""The word tokeniser (:func:`monitor.words.tokenise`): classes from Unicode
properties and grapheme clusters, linear on hostile input."""

from __future__ import annotations

import random

import pytest
import regex

from bench.hostile import WORD_RUNS
from monitor.diff import Normalised, compare
from monitor.words import tokenise

FAMILY = "👩\u200d👩\u200d👧"  # a ZWJ sequence: one cluster
RAINBOW_FLAG = "🏳\ufe0f\u200d🌈"
ENGLAND = "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F"  # tag sequence


def norm(text: str) -> Normalised:
    return Normalised(title="", text=text)


def words(doc: str) -> list[str]:
    return [doc[start:end] for _, start, end in tokenise(doc)]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # Letters, digits and "_" run together; ' and ’ only between two of them.
        ("The quick_brown fox2", ["The", "quick_brown", "fox2"]),
        ("I don't know, rock’n’roll", ["I", "don't", "know", ",", "rock’n’roll"]),
        ("'quoted' it's'", ["'", "quoted", "'", "it's", "'"]),
        ("x² 3pm", ["x²", "3pm"]),
        # Han: every character alone, Extension B and beyond included.
        ("我们今天", ["我", "们", "今", "天"]),
        ("𠀀𠀁𪚥 𰀀", ["𠀀", "𠀁", "𪚥", "𰀀"]),  # Ext B, B, Ext G
        ("々〆〇", ["々", "〆", "〇"]),
        # Japanese: kana one by one (with the length mark), Latin and digits as words.
        ("日本語のテキスト、English 123。",
         ["日", "本", "語", "の", "テ", "キ", "ス", "ト", "、", "English", "123", "。"]),
        ("ラーメン", ["ラ", "ー", "メ", "ン"]),
        ("ｶﾞｷﾞ", ["ｶﾞ", "ｷﾞ"]),  # halfwidth kana keep their (halfwidth) voiced mark
        ("ㇰ\u3099", ["ㇰ\u3099"]),  # a combining voiced mark stays on its kana
        ("𛀁𛀂𛅐", ["𛀁", "𛀂", "𛅐"]),  # hentaigana, small kana (outside the old ranges)
        ("ㄅㄆㄇ", ["ㄅ", "ㄆ", "ㄇ"]),  # Bopomofo: one by one, as Han
        # Hangul is spaced into words, jamo and halfwidth forms included.
        ("한국어 텍스트", ["한국어", "텍스트"]),
        ("ㅋㅋㅋ ﾡﾤ", ["ㅋㅋㅋ", "ﾡﾤ"]),
        ("\u1112\u1161\u11ab\u1100\u1173\u11af", ["\u1112\u1161\u11ab\u1100\u1173\u11af"]),
        # Fullwidth Latin letters and digits are words, fullwidth punctuation alone.
        ("ＡＢＣ１２３！", ["ＡＢＣ１２３", "！"]),
        # Emoji: one cluster each, whatever joins or modifies it.
        (f"{FAMILY} here", [FAMILY, "here"]),
        (f"{FAMILY}{FAMILY}", [FAMILY, FAMILY]),
        ("🇨🇳🇺🇸🇨 ok", ["🇨🇳", "🇺🇸", "🇨", "ok"]),
        ("👍🏽👍🏿", ["👍🏽", "👍🏿"]),
        (f"{RAINBOW_FLAG}{ENGLAND}❤️", [RAINBOW_FLAG, ENGLAND, "❤️"]),
        ("1️⃣2️⃣ #️⃣ ab1️⃣", ["1️⃣", "2️⃣", "#️⃣", "ab", "1️⃣"]),  # keycaps are emoji
        ("🍕pizza", ["🍕", "pizza"]),
        # Combining marks stay on their letter; one after a space stands alone.
        ("e\u0301te\u0301 cafe\u0301", ["e\u0301te\u0301", "cafe\u0301"]),
        ("a \u0301b", ["a", "\u0301", "b"]),
        ("שָׁלוֹם עוֹלָם", ["שָׁלוֹם", "עוֹלָם"]),
        ("नमस्ते क्षत्रिय", ["नमस्ते", "क्षत्रिय"]),
        ("မြန်မာစာ", ["မြန်မာစာ"]),  # a spacing vowel sign UAX #29 leaves alone
        ("می\u200cخواهم", ["می\u200cخواهم"]),  # ZWNJ inside a Persian word
        # A Prepend mark (Arabic number sign) starts its number, never swallows a space.
        ("\u0600١٢٣ x", ["\u0600١٢٣", "x"]),
        ("\u0600 x \u0600", ["\u0600", "x", "\u0600"]),
        ("مرحبا بالعالم", ["مرحبا", "بالعالم"]),
        ("", []),
        (" \t\n\u3000\x1c", []),
    ],
)
def test_tokens(doc: str, expected: list[str]) -> None:
    assert words(doc) == expected


@pytest.mark.parametrize("doc", [
    "  lead and trail  ", "a\u3000b\x1cc\u00a0d", "\u0600 \u0600\u0600 a\u0600", FAMILY * 3,
    "x\r\ny", "混合 text 🇨🇳 e\u0301 \u0301",
])
def test_tokens_tile_the_text_with_whitespace_between(doc: str) -> None:
    tokens = tokenise(doc)
    prev = 0
    for lead, start, end in tokens:
        assert lead == prev and start < end
        assert doc[lead:start].isspace() or lead == start
        assert not any(ch.isspace() for ch in doc[start:end])
        prev = end
    assert doc[prev:].isspace() or prev == len(doc)


@pytest.mark.parametrize(
    ("old", "new", "word_diff"),
    [
        ("𠀀𠀁𠀂", "𠀀𠀃𠀂",
         [("equal", "𠀀"), ("delete", "𠀁"), ("insert", "𠀃"), ("equal", "𠀂")]),
        ("ㅋㅋㅋ 좋아요", "ㅋㅋ 좋아요",
         [("delete", "ㅋㅋㅋ "), ("insert", "ㅋㅋ "), ("equal", "좋아요")]),
        ("thanks 👍🏽", "thanks 👍🏿", [("equal", "thanks"), ("delete", " 👍🏽"),
                                       ("insert", " 👍🏿")]),
        ("flags 🇨🇳🇺🇸", "flags 🇺🇸🇺🇸", [("equal", "flags"), ("delete", " 🇨🇳"),
                                         ("insert", " 🇺🇸"), ("equal", "🇺🇸")]),
    ],
)
def test_word_diff_on_clusters(old: str, new: str, word_diff: list[tuple[str, str]]) -> None:
    assert compare(norm(old), norm(new)).word_diff == word_diff


POOL = [*"ab1_'’ .,!#*\n\t\u3000中日本ーカｶﾞ한ㅋ", "\u0301", "\u0903", "\u094d", "\u0915", "\u200d",
        "\u200c", "\ufe0f", "\u20e3", "\u3099", "\u302a", "\u0600", "\u0d4e", "\u102c", "🇨",
        "🇳", "👩", "👍", "\U0001F3FD", "\U000E0067", "\U00020000"]


def test_tokens_never_split_a_grapheme_cluster() -> None:
    """Every token boundary is a boundary of regex's own ``\\X`` (read between spaces)."""
    rng = random.Random(5)
    for _ in range(3000):
        doc = "".join(rng.choice(POOL) for _ in range(rng.randint(1, 16)))
        allowed = {m.end() for chunk in regex.finditer(r"[^\s\x1c-\x1f]+", doc)
                   for m in regex.finditer(r"\X", doc[:chunk.end()], pos=chunk.start())}
        allowed |= {m.start() for m in regex.finditer(r"(?<![^\s\x1c-\x1f])\S", doc)}
        for _, start, end in tokenise(doc):
            assert end in allowed, (doc, start, end)




@pytest.mark.parametrize("unit", WORD_RUNS.values(), ids=WORD_RUNS.keys())
def test_hostile_runs_tokenise_whole(unit: str) -> None:
    # Their speed is measured by ``python -m bench.hostile`` (linear, < 50 ms per 100k).
    doc = unit * (10_000 // len(unit))
    tokens = tokenise(doc)
    assert tokens and tokens[-1][2] <= len(doc)
    assert [t for t in tokens if t[1] >= t[2]] == []
