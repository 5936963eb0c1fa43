"""Words over-represented in removed posts: the weighted log-odds ratio with an
informative Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words").

For a term ``w`` with counts ``a`` in the removed corpus (``n_a`` words) and ``b`` in
the surviving one (``n_b``), and a prior ``alpha_w = alpha0 * pi_w`` (``pi_w`` the
term's share of both corpora together)::

    delta = log((a + alpha_w) / (n_a + alpha0 - a - alpha_w))
          - log((b + alpha_w) / (n_b + alpha0 - b - alpha_w))
    z = delta / sqrt(1 / (a + alpha_w) + 1 / (b + alpha_w))

The prior shrinks rare terms towards no difference, so a word seen once does not top
the list. ``alpha0`` defaults to the smaller of 500 (the paper's order) and the
total word count, so the prior never outweighs a small sample.

Tokens: Chinese runs are segmented by jieba, everything else split on word
boundaries; lower-cased (case-folded); numbers, one-letter Latin tokens and a short
stop list dropped. Markup is read by the monitor's one HTML-to-text walker.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import regex

from ..text import html_text

__all__ = ["STOP_WORDS", "Term", "log_odds", "tokens"]

log = logging.getLogger(__name__)

#: Words too common to say anything (English and Chinese function words).
STOP_WORDS = frozenset(
    "the a an and or but of to in on at by for with from as is are was were be been it its "
    "this that these those i you he she we they me my your our their not no so if then "
    "than there here have has had do does did will would can could just about into "
    "的 了 是 在 和 也 就 都 而 及 与 着 或 一个 我 你 他 她 我们 这 那 有 不 吗 吧 呢 啊".split())

_HAN = regex.compile(r"\p{Han}+")
_WORD = regex.compile(r"\w+")
_LOCK = threading.Lock()
_jieba_ready = False


def _segment(text: str) -> list[str]:
    """jieba's words of a Chinese run; the dictionary loads once, quietly, from the
    package (no network)."""
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _LOCK:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_ready = True
    return [w for w in jieba.lcut(text) if w.strip()]


def _keep(word: str) -> bool:
    if word in STOP_WORDS or word.isdigit():
        return False
    return len(word) > 1 or bool(_HAN.fullmatch(word))


def tokens(text: str) -> list[str]:
    """The terms of one post's text (HTML or plain)."""
    if "<" in text:
        text = html_text(text, layout=False)
    out: list[str] = []
    pos = 0
    for run in _HAN.finditer(text):
        out += _WORD.findall(text[pos:run.start()])
        out += _segment(run.group())
        pos = run.end()
    out += _WORD.findall(text[pos:])
    return [w for w in (t.casefold() for t in out) if _keep(w)]


@dataclass(frozen=True)
class Term:
    """A term's counts in each corpus and its z-score (positive: removed posts)."""

    term: str
    removed: int
    surviving: int
    delta: float
    z: float


def log_odds(removed: Iterable[str], surviving: Iterable[str], *, min_count: int = 2,
             alpha0: float | None = None) -> list[Term]:
    """Every term seen ``min_count`` times or more, most over-represented in the removed
    texts first (each argument: the texts of one corpus)."""
    a = Counter(t for text in removed for t in tokens(text))
    b = Counter(t for text in surviving for t in tokens(text))
    n_a, n_b = sum(a.values()), sum(b.values())
    total = n_a + n_b
    if not n_a or not n_b or len(a.keys() | b.keys()) < 2:
        return []  # no contrast without both corpora and two terms
    prior = min(500.0, float(total)) if alpha0 is None else alpha0
    if prior <= 0:
        raise ValueError("alpha0 (the prior's strength) must be positive")
    out = []
    for term in a.keys() | b.keys():
        ya, yb = a[term], b[term]
        if ya + yb < min_count:
            continue
        alpha = prior * (ya + yb) / total
        delta = (math.log((ya + alpha) / (n_a + prior - ya - alpha))
                 - math.log((yb + alpha) / (n_b + prior - yb - alpha)))
        z = delta / math.sqrt(1 / (ya + alpha) + 1 / (yb + alpha))
        out.append(Term(term, ya, yb, round(delta, 6), round(z, 6)))
    out.sort(key=lambda t: (-t.z, t.term))
    return out
