"""The vantage verdict, pure: a table of answers → lift, wait, removal or geo_blocked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.events import Verdict
from monitor.geo import (
    GeoVerdict,
    answer,
    confirmed,
    decide,
    geo_blocked_verdict,
    record,
    with_silent,
)
from monitor.observation import Observation, Outcome
from monitor.rows import Suspicion

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def obs(vantage: str, minutes: float, outcome: Outcome = Outcome.LEGAL,
        **signals: Any) -> Observation:
    return Observation(mode="probe", platform="rss", target_key="t", url="https://e.org/1",
                       outcome=outcome, vantage=vantage, http_status=451,
                       message="Unavailable", observed_at=T0 + timedelta(minutes=minutes),
                       signals={"country": vantage.upper(), "fingerprint": "rss.status.451",
                                **signals})


def answers_of(*seen: tuple[str, float, Outcome]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for vantage, minutes, outcome in seen:
        new = answer(obs(vantage, minutes, outcome), None)
        assert new is not None
        record(out, new)
    return out


A, V = Outcome.LEGAL, Outcome.OK


@pytest.mark.parametrize("seen, now, expected", [
    # nothing absent: lifted, whoever is silent
    ([("de", 0, V)], 1, GeoVerdict("lift", ("de",), (), ("us",))),
    # an absence, the other silent, within patience: wait
    ([("de", 0, A), ("de", 6, A)], 7, None),
    # visible in the US, DE absent but unconfirmed (too close): wait
    ([("de", 0, A), ("us", 1, V), ("de", 2, A)], 3, None),
    # visible in the US, DE confirmed: geo-blocked
    ([("de", 0, A), ("us", 1, V), ("de", 6, A)], 7, GeoVerdict("geo_blocked", ("us",), ("de",))),
    # both confirmed absent: a removal
    ([("de", 0, A), ("us", 0, A), ("de", 6, A), ("us", 6, A)], 7,
     GeoVerdict("removal", (), ("de", "us"))),
    # DE's absence was taken back by a visible answer: its streak starts over
    ([("de", 0, A), ("us", 0, V), ("de", 3, V), ("de", 4, A), ("de", 6, A)], 7, None),
    # past patience with the US silent: decided, the US named
    ([("de", 0, A), ("de", 6, A)], 61, GeoVerdict("removal", (), ("de",), ("us",))),
    # past patience, the US answered absent once and went quiet: silence, not confirmation
    ([("de", 0, A), ("us", 0, A), ("de", 6, A)], 61, GeoVerdict("removal", (), ("de",), ("us",))),
    ([("de", 0, A), ("us", 0, V)], 61, GeoVerdict("lift", ("us",), (), ("de",))),
])
def test_decide(seen: list[tuple[str, float, Outcome]], now: float,
                expected: GeoVerdict | None) -> None:
    got = decide(["de", "us"], answers_of(*seen), T0, T0 + timedelta(minutes=now),
                 probes=2, spacing=300.0, patience=3600.0)
    assert got == expected


@pytest.mark.parametrize("outcome", [Outcome.TIMEOUT, Outcome.CONNECTION_ERROR,
                                     Outcome.ANTI_BOT, Outcome.COLLECTOR_BLOCKED])
def test_failures_and_paused_absences_are_not_answers(outcome: Outcome) -> None:
    assert answer(obs("us", 0, outcome), 1) is None
    assert answer(obs("us", 0, Outcome.NOT_FOUND, collector_paused="outage"), 1) is None
    assert answer(obs("us", 0, Outcome.NOT_FOUND), 1) is not None
    served = answer(obs("us", 0, Outcome.OK, collector_paused="outage"), 1)
    assert served is not None and served["visible"]  # content served is content served


def test_confirmed_needs_count_and_spacing_and_survives_hostile_rows() -> None:
    seen = answers_of(("de", 0, A), ("de", 6, A))
    assert confirmed(seen["de"], 2, 300.0) and not confirmed(seen["de"], 3, 300.0)
    assert not confirmed(seen["de"], 2, 600.0)
    assert not confirmed({"visible": True, "at": T0.isoformat()}, 1, 0)
    assert not confirmed({"visible": False, "at": T0.isoformat(), "absent_count": None}, 1, 0)
    assert not confirmed({"visible": False, "at": "yesterday", "absent_count": 5}, 1, 0)
    assert not confirmed({"visible": False, "absent_count": "many"}, 1, 0)
    assert not confirmed({"visible": False, "absent_count": 3}, 1, 0)  # no time at all


def test_the_evidence_names_countries_answers_and_the_silent() -> None:
    seen = answers_of(("de", 0, A), ("us", 1, V), ("de", 6, A))
    verdict = geo_blocked_verdict(GeoVerdict("geo_blocked", ("us",), ("de",), ("fr",)), seen)
    assert verdict.cause == "geo_blocked"
    assert verdict.reason == "withheld in DE, visible in US; no answer from fr"
    ev = verdict.evidence
    assert (ev["countries_withheld"], ev["countries_visible"]) == (["DE"], ["US"])
    assert ev["silent_vantages"] == ["fr"]
    de = next(a for a in ev["vantage_answers"] if a["vantage"] == "de")
    assert de == {"vantage": "de", "country": "DE", "outcome": "legal", "http_status": 451,
                  "words": "Unavailable", "notice": None, "fingerprint": "rss.status.451",
                  "at": (T0 + timedelta(minutes=6)).isoformat(), "obs": None}


def test_a_removal_with_silent_vantage_points_is_ambiguous_with_geo_blocked() -> None:
    seen = answers_of(("de", 0, A), ("de", 6, A))
    removal = GeoVerdict("removal", (), ("de",), ("us",))
    legal = Verdict("removed_by_platform", "legal", reason="HTTP 451")
    out = with_silent(legal, removal, seen)
    assert (out.cause, out.candidates) == ("ambiguous", ["removed_by_platform", "geo_blocked"])
    assert out.evidence["silent_vantages"] == ["us"]
    both = Verdict("ambiguous", candidates=["deleted_by_author", "removed_by_moderator"])
    assert with_silent(both, removal, seen).candidates == [
        "deleted_by_author", "removed_by_moderator", "geo_blocked"]
    said = Verdict("geo_blocked", reason="the platform said so")
    assert with_silent(said, removal, seen).cause == "geo_blocked"  # never ambiguous of one
    heard = with_silent(legal, GeoVerdict("removal", (), ("de",)), seen)
    assert (heard.cause, heard.detail) == ("removed_by_platform", "legal")
    assert heard.evidence["countries_withheld"] == ["DE"]


def test_a_suspicion_keeps_its_answers_and_skips_malformed_ones() -> None:
    suspicion = Suspicion("probe_absent", "absence", T0)
    suspicion.answers = answers_of(("de", 0, A))
    again = Suspicion.from_json(suspicion.to_json())
    assert again.answers == suspicion.answers
    stored = {**suspicion.to_json(), "answers": {"de": "garbage", "us": {"visible": True}}}
    assert Suspicion.from_json(stored).answers == {"us": {"visible": True}}
    assert Suspicion.from_json({**stored, "answers": ["not", "a", "table"]}).answers == {}
    assert "answers" not in Suspicion("probe_absent", "absence", T0).to_json()
