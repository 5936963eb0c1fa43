"""Cause classification: a table of signals and the verdict each must give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.cadence import backoff, next_post_check
from monitor.classify import classify_disappearance, classify_hiding
from monitor.events import Verdict


def probe(outcome: str, status: int | None = None, message: str | None = None,
          **signals: object) -> dict[str, object]:
    return {"outcome": outcome, "http_status": status, "message": message, "signals": signals}


AUTHOR_OR_MOD = ["deleted_by_author", "removed_by_moderator"]
CASES = [
    # (platform, probes, context, cause, detail, candidates)
    ("mastodon", [probe("not_found", 404, "Record not found")], {}, "ambiguous", None,
     AUTHOR_OR_MOD),
    ("mastodon", [probe("not_found", 404, "Not Found")], {}, "ambiguous", None, AUTHOR_OR_MOD),
    ("mastodon", [probe("not_found", 404, account_state="suspended_temporary")], {},
     "account_suspended", None, []),
    ("mastodon", [probe("not_found", 404, account_state="suspended")], {},
     "ambiguous", None, ["account_deleted", "account_suspended"]),
    # A vaguer later signal does not override the profile check of an earlier probe.
    ("mastodon", [probe("not_found", 404, account_state="suspended_temporary"),
                  probe("not_found", 404, account_state="suspended")], {},
     "account_suspended", None, []),
    ("mastodon", [probe("not_found", 404, account_state="suspended_permanent")], {},
     "ambiguous", None, ["account_deleted", "account_suspended"]),
    ("mastodon", [probe("not_found", 404)], {"account_state": "suspended"},
     "ambiguous", None, ["account_deleted", "account_suspended"]),
    ("rss", [probe("gone", 410)], {"tombstone_by": "Alice", "author": "alice"},
     "deleted_by_author", None, []),
    ("rss", [probe("not_found", 404)], {"tombstone_by": "Site Editor", "author": "alice"},
     "removed_by_moderator", None, []),
    ("rss", [probe("gone", 410)], {}, "ambiguous", None, AUTHOR_OR_MOD),
    ("rss", [probe("legal", 451, "Unavailable For Legal Reasons")], {},
     "removed_by_platform", "legal", []),
    ("rss", [probe("forbidden", 403)], {}, "ambiguous", None,
     ["geo_blocked", "restricted", "removed_by_platform"]),
    ("rednote", [probe("unavailable", 200, "当前笔记暂时无法浏览", notice="unavailable_generic",
                       error_code="300031")], {}, "ambiguous", None,
     ["deleted_by_author", "removed_by_platform", "hidden_by_author"]),
    ("rednote", [probe("unavailable", 200, "该内容因违规已被删除", notice="removed_violation")],
     {}, "removed_by_platform", "policy", []),
    ("rednote", [probe("unavailable", 200, "私密笔记", notice="private")], {},
     "hidden_by_author", None, []),
    ("rednote", [probe("unavailable", 200, "笔记状态异常，请稍后查看", notice="under_review")],
     {}, "restricted", None, []),
    ("rednote", [probe("unavailable", 200, "该笔记已被删除", notice="deleted")], {},
     "ambiguous", None, ["deleted_by_author", "removed_by_platform"]),
    ("rednote", [probe("unavailable", 200, "当前内容无法展示", notice="content_unavailable")],
     {}, "ambiguous", None, ["hidden_by_author", "restricted", "removed_by_platform"]),
    ("rednote", [probe("unavailable", 200, "该用户已注销", notice="account_deleted")], {},
     "account_deleted", None, []),
    ("rednote", [probe("unavailable", notice="geo_blocked")], {}, "geo_blocked", None, []),
    ("rss", [probe("unavailable", notice="removed_copyright")], {}, "removed_by_platform",
     "copyright", []),
    # The latest probe's notice wins over an earlier generic one.
    ("rednote", [probe("unavailable", notice="unavailable_generic"),
                 probe("unavailable", notice="removed_violation")], {},
     "removed_by_platform", "policy", []),
]


@pytest.mark.parametrize(("platform", "probes", "context", "cause", "detail", "candidates"),
                         CASES)
def test_classify_disappearance(platform: str, probes: list[dict[str, object]],
                                context: dict[str, object], cause: str, detail: str | None,
                                candidates: list[str]) -> None:
    verdict = classify_disappearance(platform, probes, context)
    assert (verdict.cause, verdict.detail, verdict.candidates) == (cause, detail, candidates)
    assert verdict.reason


def test_classify_needs_a_probe() -> None:
    with pytest.raises(ValueError):
        classify_disappearance("rss", [], {})


def test_an_ambiguous_verdict_must_list_candidates() -> None:
    with pytest.raises(ValueError):
        Verdict("ambiguous", candidates=["deleted_by_author"])
    with pytest.raises(ValueError):
        Verdict("vanished")


def test_classify_hiding() -> None:
    assert classify_hiding({}).cause == "hidden_from_feed"
    limited = classify_hiding({"account_state": "limited"})
    assert (limited.cause, limited.detail) == ("hidden_from_feed", "account_limited")


T0 = datetime(2026, 1, 1, tzinfo=UTC)
OFFSETS = [120.0, 300.0, 600.0, 1800.0, 3600.0]


@pytest.mark.parametrize(("age", "due_offset", "step"), [
    (0, 120, 0), (119, 120, 0), (120, 300, 1), (1000, 1800, 3), (3599, 3600, 4),
    # after the last offset: daily
    (3600, 3600 + 86400, 5), (3600 + 86400 + 5, 3600 + 2 * 86400, 6),
])
def test_cadence_offsets_then_daily(age: float, due_offset: float, step: int) -> None:
    when, got_step = next_post_check(T0, T0 + timedelta(seconds=age), OFFSETS, 30 * 86400)
    assert when == T0 + timedelta(seconds=due_offset)
    assert got_step == step


def test_cadence_coalesces_missed_checks_after_downtime() -> None:
    # Down for 40 minutes: the next check is the first offset still ahead, not a replay.
    when, _ = next_post_check(T0, T0 + timedelta(minutes=40), OFFSETS, 86400)
    assert when == T0 + timedelta(seconds=3600)


def test_cadence_stops_at_the_horizon_and_caps_gaps() -> None:
    assert next_post_check(T0, T0 + timedelta(days=3), OFFSETS, 2 * 86400)[0] is None
    when, _ = next_post_check(T0, T0 + timedelta(seconds=1000), OFFSETS, 86400, max_gap=60)
    assert when == T0 + timedelta(seconds=1060)


def test_backoff_doubles_and_caps() -> None:
    assert [backoff(n, 10, 100) for n in range(5)] == [10, 20, 40, 80, 100]


# A removal served as HTTP 200 with a marker: the words give outcome unavailable and a
# notice; the notice alone decides the cause, whatever the platform's default remover.
@pytest.mark.parametrize(("notice", "cause", "detail"), [
    ("removed_by_moderator", "removed_by_moderator", None),
    ("removed_by_platform", "removed_by_platform", None),
    ("deleted_by_author", "deleted_by_author", None),
    ("removed_legal", "removed_by_platform", "legal"),
    ("removed_violation", "removed_by_platform", "policy"),
    ("removed_copyright", "removed_by_platform", "copyright"),
    ("removed_spam", "removed_by_platform", "spam"),
])
@pytest.mark.parametrize("platform", ["rednote", "mastodon"])
def test_a_200_marker_notice_decides_the_cause(platform: str, notice: str, cause: str,
                                               detail: str | None) -> None:
    verdict = classify_disappearance(platform, [
        probe("unavailable", 200, "[removed]", notice=notice, fingerprint="forum.x"),
        probe("unavailable", 200, "[removed]", notice=notice, fingerprint="forum.x")])
    assert (verdict.cause, verdict.detail, verdict.candidates) == (cause, detail, [])
    assert notice in verdict.reason


def test_a_notice_on_a_non_unavailable_outcome_decides_nothing() -> None:
    verdict = classify_disappearance("mastodon", [probe("not_found", 404,
                                                        notice="removed_by_moderator")])
    assert verdict.cause == "ambiguous"


def test_every_notice_is_documented_and_known_to_the_classifier() -> None:
    from monitor.classify import NOTICES
    from monitor.observation import NOTICES as DOCUMENTED

    assert set(DOCUMENTED) == set(NOTICES)
