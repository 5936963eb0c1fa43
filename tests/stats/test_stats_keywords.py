"""Keywords of removed posts: tokens (jieba for Chinese, markup read as text) and the
weighted log-odds with an informative Dirichlet prior, on hand cases."""

from __future__ import annotations

import math

import pytest
from analyst_world import XSS

from monitor.stats.keywords import log_odds, tokens


def test_latin_words_lower_cased_without_stop_words_or_numbers() -> None:
    assert tokens("The Censors DELETED 42 posts, a lot of them!") == [
        "censors", "deleted", "posts", "lot", "them"]


def test_chinese_is_segmented_by_jieba() -> None:
    words = tokens("我们讨论审查制度和言论自由")
    assert "审查" in words and "言论自由" in words or {"言论", "自由"} <= set(words)
    assert "我们" not in words and "和" not in words  # stop words
    # Not one token per character, and not the whole run as one token.
    assert 1 < len(words) < len("我们讨论审查制度和言论自由")


def test_mixed_scripts_keep_their_order() -> None:
    assert tokens("VPN 翻墙 tools") == ["vpn", "翻墙", "tools"]


def test_markup_is_read_as_text_and_scripts_are_dropped() -> None:
    words = tokens(f"<p>Protest <b>tonight</b></p>{XSS[0]}")
    assert words == ["protest", "tonight"]


def _z(terms: list, term: str) -> float:
    return next(t.z for t in terms if t.term == term)


def test_a_word_only_in_removed_posts_ranks_first() -> None:
    removed = ["protest at the square tonight", "protest again tomorrow", "weather protest"]
    surviving = ["weather is nice tonight", "tomorrow weather again", "nice lunch again"]
    terms = log_odds(removed, surviving, min_count=1)
    assert terms[0].term == "protest"
    assert (terms[0].removed, terms[0].surviving) == (3, 0)
    assert terms[0].z > 0 > _z(terms, "nice")
    # A word in both corpora alike ranks below one only in removed posts.
    assert abs(_z(terms, "tomorrow")) < terms[0].z


def test_log_odds_formula_by_hand() -> None:
    """Corpora: removed "a1 a1 b1", surviving "b1 c1" (n_a = 3, n_b = 2, total 5, so
    alpha0 = 5 and alpha_w = the pooled count)."""
    terms = {t.term: t for t in log_odds(["a1 a1 b1"], ["b1 c1"], min_count=1)}
    ya, yb, alpha, na, nb, a0 = 2, 0, 2.0, 3, 2, 5.0
    delta = (math.log((ya + alpha) / (na + a0 - ya - alpha))
             - math.log((yb + alpha) / (nb + a0 - yb - alpha)))
    z = delta / math.sqrt(1 / (ya + alpha) + 1 / (yb + alpha))
    assert terms["a1"].delta == pytest.approx(delta, abs=1e-6)
    assert terms["a1"].z == pytest.approx(z, abs=1e-6)
    assert (terms["a1"].removed, terms["a1"].surviving) == (2, 0)


def test_chinese_keyword_found_in_removed_posts() -> None:
    removed = ["今天的审查很严格", "审查又来了", "关于审查的讨论"]
    surviving = ["今天天气很好", "讨论午饭", "天气又变了"]
    terms = log_odds(removed, surviving, min_count=2)
    assert terms[0].term == "审查" and terms[0].removed == 3


def test_min_count_drops_rare_terms() -> None:
    terms = log_odds(["rare common"], ["common other"], min_count=2)
    assert [t.term for t in terms] == ["common"]


@pytest.mark.parametrize("removed, surviving", [
    ([], ["something here"]),
    (["something here"], []),
    (["", "   "], ["words here"]),
    (["same"], ["same"]),  # one term in all: no contrast
])
def test_no_contrast_gives_no_terms(removed: list[str], surviving: list[str]) -> None:
    assert log_odds(removed, surviving, min_count=1) == []


def test_a_non_positive_prior_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha0"):
        log_odds(["a1 b1"], ["b1 c1"], alpha0=0)


def test_huge_hostile_text_is_bounded_work() -> None:
    text = "<a " * 5000 + "spam " * 2000
    assert tokens(text).count("spam") == 2000
