"""bench.cycle's repetitions (bench/_cycle_report.py): a size is reported by its median
repetition, its ratio the median of the repetitions', its memory the highest of all."""

from __future__ import annotations

from typing import Any

import pytest

from bench import cycle
from bench._cycle_report import combine


def _run(floor: float, cycle: float, pss: float, **extra: Any) -> dict[str, Any]:
    return {"size": 5000, "floor_s": floor, "cycle_s": cycle,
            "floor_ratio": round(cycle / floor, 3), "total_peak_rss_mib": pss + 20,
            "total_peak_pss_mib": pss, "check": {"outcomes": {"ok": 5000}}, **extra}


def test_a_size_is_its_median_repetition_with_the_highest_memory() -> None:
    reps = [_run(10.0, 14.0, 130.0, tag="high"), _run(10.0, 11.0, 145.0, tag="low"),
            _run(8.0, 10.0, 120.0, tag="middle")]
    run = combine(reps)
    assert run["tag"] == "middle" and run["floor_ratio"] == 1.25
    assert run["median_cycle_s"] == 11.0  # linearity is judged on the median cycle
    assert run["total_peak_pss_mib"] == 145.0 and run["total_peak_rss_mib"] == 165.0
    assert [r["floor_ratio"] for r in run["repetitions"]] == [1.4, 1.1, 1.25]


def test_an_even_number_of_repetitions_takes_the_middle_two_ratios_mean() -> None:
    run = combine([_run(10.0, 13.0, 100.0, tag="a"), _run(10.0, 11.0, 100.0, tag="b")])
    assert run["floor_ratio"] == 1.2 and run["tag"] == "b"  # the lower middle one
    assert run["median_cycle_s"] == 12.0


def test_one_run_is_itself() -> None:
    one = _run(9.3, 9.8, 143.0, recheck_s=8.7, recheck_floor_ratio=0.935)
    run = combine([one])
    assert {k: run[k] for k in one} == one
    assert run["recheck_floor_ratio"] == 0.935 and len(run["repetitions"]) == 1


def test_runs_without_a_floor_have_no_ratio() -> None:
    runs = [{"size": 500, "cycle_s": c, "total_peak_rss_mib": 90.0,
             "total_peak_pss_mib": 80.0, "check": {"outcomes": {"ok": 500}}}
            for c in (3.0, 2.0, 4.0)]
    run = combine(runs)
    assert "floor_ratio" not in run and run["median_cycle_s"] == 3.0
    assert run["cycle_s"] == 2.0  # the middle run in run order, not the median cycle


def test_a_failed_fetch_in_any_repetition_makes_the_size_invalid() -> None:
    """Not only the median one's: a repetition whose cycle or floor lost a fetch is not
    a measurement of the same work, whichever ratio it gave."""
    reps = [_run(10.0, 12.0, 130.0), _run(10.0, 11.5, 130.0),
            _run(10.0, 30.0, 130.0, check={"outcomes": {"ok": 4990, "timeout": 10}})]
    assert combine(reps[:2])["valid"] is True
    run = combine(reps)
    assert run["floor_ratio"] == 1.2 and "timeout" not in run["check"]["outcomes"]
    assert run["valid"] is False
    assert [r["valid"] for r in run["repetitions"]] == [True, True, False]
    assert combine([_run(10.0, 12.0, 130.0), _run(10.0, 11.0, 130.0, floor_failed=True),
                    _run(10.0, 11.5, 130.0)])["valid"] is False


def test_fewer_than_one_repetition_is_refused_before_anything_runs(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cycle.main(["--repeat", "0", "--sizes", "5"])
    assert stop.value.code == 2
    assert "--repeat must be 1 or more, not 0" in capsys.readouterr().err
