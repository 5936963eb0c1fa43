"""Weibo post ids: the numeric ``mid`` and the base62 ``bid`` are one post.

A mid is split into groups of seven decimal digits from the right; each group
is written in base62 (``0-9a-zA-Z``), four characters wide except the leftmost.
``4414052358656728`` is ``44 1405235 8656728`` and so ``I5Tz5Ak0E``. Pure and
Scrapy-free: the platform declaration uses it to give both spellings one key.
"""

from __future__ import annotations

import re

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
#: A mid: digits only (real ones have 16; older posts fewer). Bounded so that a
#: hostile "id" of a million digits costs nothing.
MID = re.compile(r"[1-9][0-9]{0,19}")
#: A bid: base62, at least one letter (else it reads as a mid), at most 14 characters.
BID = re.compile(r"(?=[0-9A-Za-z]*[A-Za-z])[0-9A-Za-z]{1,14}")


def _base62(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = ALPHABET[r] + out
    return out or "0"


def mid_to_bid(mid: str) -> str:
    """The base62 bid of a numeric mid. ValueError if ``mid`` is not one."""
    if not MID.fullmatch(mid):
        raise ValueError(f"{mid!r} is not a Weibo mid (digits only)")
    parts: list[str] = []
    end = len(mid)
    while end > 0:
        start = max(0, end - 7)
        chunk = _base62(int(mid[start:end]))
        parts.append(chunk if start == 0 else chunk.rjust(4, "0"))
        end = start
    return "".join(reversed(parts))


def bid_to_mid(bid: str) -> str:
    """The numeric mid of a base62 bid. ValueError if ``bid`` is not one."""
    if not BID.fullmatch(bid):
        raise ValueError(f"{bid!r} is not a Weibo bid (base62 letters and digits)")
    parts: list[str] = []
    end = len(bid)
    while end > 0:
        start = max(0, end - 4)
        value = 0
        for ch in bid[start:end]:
            value = value * 62 + _VALUE[ch]
        text = str(value)
        parts.append(text if start == 0 else text.rjust(7, "0"))
        end = start
    mid = "".join(reversed(parts)).lstrip("0")
    if not MID.fullmatch(mid):
        raise ValueError(f"{bid!r} does not spell a Weibo mid")
    return mid


def to_mid(value: str) -> str:
    """A post id in either spelling as its mid. ValueError when it is neither."""
    value = value.strip()
    if MID.fullmatch(value):
        return value
    return bid_to_mid(value)
