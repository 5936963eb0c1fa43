"""Per-country availability, pure: measurements, cross-country contrast, the matrix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.availability import (
    HTTP_451,
    UNKNOWN,
    assess,
    classify,
    clean,
    country_code,
    matrix,
    render,
)
from monitor.observation import BLOCKED, TRANSIENT, Outcome

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("outcome", "signals", "expected"), [
    ("ok", {}, ("ok", None)),
    ("ok", {"fingerprint": "rss.item.present"}, ("ok", "rss.item.present")),
    # 451 confirms, with the rule that named it or, lacking one, the status itself.
    ("legal", {}, ("confirmed", HTTP_451)),
    ("legal", {"fingerprint": "x.status.451"}, ("confirmed", "x.status.451")),
    # "Withheld in <country>" and removal notices confirm, carrying their rule.
    ("unavailable", {"notice": "geo_blocked", "fingerprint": "x.withheld.country"},
     ("confirmed", "x.withheld.country")),
    ("unavailable", {"notice": "removed_legal", "fingerprint": "weibo.code.legal"},
     ("confirmed", "weibo.code.legal")),
    ("unavailable", {"notice": "removed_by_platform"}, ("confirmed", "notice.removed_by_platform")),
    ("forbidden", {"notice": "geo_blocked"}, ("confirmed", "notice.geo_blocked")),
    ("unavailable", {"notice": "removed_by_moderator", "fingerprint": "reddit.category.moderator"},
     ("confirmed", "reddit.category.moderator")),
    # Not served, no block named: an anomaly, with whatever rule matched.
    ("not_found", {"fingerprint": "webpage.status.404"}, ("anomaly", "webpage.status.404")),
    ("gone", {}, ("anomaly", None)),
    ("forbidden", {}, ("anomaly", None)),
    ("unavailable", {"notice": "unavailable_generic"}, ("anomaly", None)),
    ("unavailable", {"notice": "deleted_by_author"}, ("anomaly", None)),
    ("tombstone", {}, ("anomaly", None)),
    # An absence while the collector was paused measured nothing.
    ("not_found", {"collector_paused": True}, ("failure", None)),
    # A notice the classifier does not know is not a confirmation.
    ("unavailable", {"notice": "geo_blocked "}, ("anomaly", None)),
    ("unavailable", {"notice": ["geo_blocked"]}, ("anomaly", None)),
    # An outcome nothing knows cannot be read as evidence.
    ("legal2", {}, ("failure", None)),
    ("", None, ("failure", None)),
])
def test_each_outcome_is_one_measurement(outcome: str, signals: Any,
                                         expected: tuple[str, str | None]) -> None:
    assert classify(outcome, signals) == expected


@pytest.mark.parametrize("outcome", sorted(TRANSIENT | BLOCKED))
def test_failures_are_never_anomalies(outcome: Outcome) -> None:
    """Timeouts, anti-bot pages, collector blocks, a proxy down: the measurement failed,
    whatever notice or status came with it."""
    kind, _ = classify(outcome.value, {"notice": "geo_blocked", "fingerprint": "x.block"})
    assert kind == "failure"


@pytest.mark.parametrize(("value", "code"), [
    ("DE", "DE"), ("de", "DE"), (" fr ", "FR"), ("", UNKNOWN), (None, UNKNOWN),
    ("DEU", UNKNOWN), ("D1", UNKNOWN), (49, UNKNOWN), ("D\x00", UNKNOWN),
    ("ＤＥ", UNKNOWN), ("<script>", UNKNOWN),
])
def test_country_codes_are_two_letters_or_unknown(value: Any, code: str) -> None:
    assert country_code(value) == code


def test_hostile_strings_are_cleaned_for_printing() -> None:
    assert clean("rule\x1b[31m.red\u202e") == "rule[31m.red"
    assert clean("x" * 500) == "x" * 120
    assert clean("\x00\x07") is None
    assert clean(42) is None


def run(country: str | None, outcome: str, start: int, end: int | None = None,
        vantage: str = "v", **signals: Any) -> dict[str, Any]:
    """An observation row from minute ``start`` to ``end``."""
    if country is not None:
        signals["country"] = country
    last = end if end is not None else start
    return {"id": start, "post_id": 1, "vantage": vantage, "mode": "probe",
            "first_at": T0 + timedelta(minutes=start), "last_at": T0 + timedelta(minutes=last),
            "repeats": max(1, (last - start) // 10 + 1), "outcome": outcome,
            "http_status": {"ok": 200, "legal": 451, "not_found": 404}.get(outcome),
            "signals": signals}


def test_an_absence_beside_another_countrys_success_names_that_country() -> None:
    records = assess([
        run("DE", "ok", 0, 120), run("FR", "ok", 0, 30), run("FR", "legal", 40, 100),
        run("US", "not_found", 50), run(None, "ok", 50), run("US", "timeout", 60),
        run("GB", "not_found", 400),
    ])
    by = {(r["country"], r["outcome"]): r for r in records}
    assert by[("FR", "legal")]["measurement"] == "confirmed"
    assert by[("FR", "legal")]["ok_elsewhere"] == ["DE"]  # not FR's own earlier ok
    # FR was served 20 minutes before: "about the same time"; the unknown country is not
    # named (it may be the same country).
    assert by[("US", "not_found")]["ok_elsewhere"] == ["DE", "FR"]
    # Four hours later nothing else was measured: an anomaly with nothing to compare.
    assert by[("GB", "not_found")] | {"ok_elsewhere": []} == by[("GB", "not_found")]
    assert by[("GB", "not_found")]["measurement"] == "anomaly"
    # A failure is never compared, and an unknown country shows as such.
    assert by[("US", "timeout")]["measurement"] == "failure"
    assert by[("US", "timeout")]["ok_elsewhere"] == []
    assert by[(UNKNOWN, "ok")]["measurement"] == "ok"


def test_an_ok_next_to_a_failure_is_not_a_contrast() -> None:
    """One country failing while another is served says nothing about the post."""
    records = assess([run("DE", "ok", 0), run("FR", "connection_error", 0),
                      run("FR", "collector_blocked", 5)])
    assert [r["measurement"] for r in records] == ["ok", "failure", "failure"]
    assert all(r["ok_elsewhere"] == [] for r in records)


def test_the_matrix_keeps_the_most_telling_measurement_per_bucket() -> None:
    grid = matrix(assess([run("DE", "ok", 0, 180), run("DE", "legal", 200),
                          run("FR", "timeout", 0), run("FR", "ok", 30),
                          run("FR", "not_found", 130)]))
    assert grid is not None
    assert grid.bucket == timedelta(hours=1) and grid.start == T0
    assert grid.cells["DE"] == ["ok", "ok", "ok", "confirmed"]
    assert grid.cells["FR"] == ["ok", None, "anomaly", None]


def test_a_long_history_stays_within_the_columns() -> None:
    records = assess([run("DE", "ok", 0, 60 * 24 * 400), run("FR", "gone", 60 * 24 * 399)])
    grid = matrix(records, columns=48)
    assert grid is not None
    assert grid.columns <= 48
    assert grid.cells["FR"][-1] == "anomaly"
    with pytest.raises(ValueError, match="2 columns"):
        matrix(records, columns=1)


def test_the_rendering_shows_each_country_and_the_rule_that_confirmed() -> None:
    shown = render(assess([run("DE", "ok", 0, 120, vantage="berlin"),
                           run("FR", "ok", 0), run("FR", "legal", 60, 90, vantage="paris",
                                                   fingerprint="x.status.451")]))
    lines = shown.splitlines()
    assert any(line.startswith("  DE  ...") and "ok ×13" in line and "berlin" in line
               for line in lines)
    assert any(line.startswith("  FR  .C") for line in lines)
    assert "fingerprint x.status.451" in shown
    assert "(served in DE at about the same time)" in shown
    assert render([]) == "\nAvailability by country (no measurements)\n"


def test_the_rendering_never_prints_control_characters() -> None:
    shown = render(assess([run("DE", "not_found", 0, vantage="v\x1b]0;pwned\x07",
                               fingerprint="f\r\nforged line", country_extra="x")]))
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "forged line" in shown and "\nforged line" not in shown


def test_a_long_history_is_compared_quickly() -> None:
    """A post checked every few minutes for months from three countries: the contrast
    is a search per measurement, not a scan of every other one."""
    import time

    rows = [run(country, "ok" if country != "FR" or i % 2 else "not_found", i * 5)
            for i in range(10_000) for country in ("DE", "FR", "US")]
    started = time.perf_counter()
    records = assess(rows)
    assert time.perf_counter() - started < 5
    absent = [r for r in records if r["measurement"] == "anomaly"]
    assert len(absent) == 5_000 and all(r["ok_elsewhere"] == ["DE", "US"] for r in absent)
