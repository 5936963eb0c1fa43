"""bench.cycle's repetitions (bench/_cycle_report.py): a size is reported by its median
repetition, its ratio the median of the repetitions', its memory the highest of all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import _cycle_report as report
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


def test_the_unrecorded_crawl_is_reported_beside_the_cycle_and_never_judged() -> None:
    """``--unrecorded``: each repetition also times the crawl with its observations
    dropped. Its ratio is the median of the repetitions' too, printed on rows of its own;
    the verdict stays the recorded cycle's."""
    reps = [_run(4.0, 5.6, 130.0, crawl_s=5.5, unrecorded_crawl_s=4.4,
                 unrecorded_floor_ratio=1.1, unrecorded_main_thread=[4.3, 0.0, 0.1],
                 main_thread=[4.7, 0.4, 0.4], floor_main_thread=[4.0, 0.0, 0.0]),
            _run(4.0, 5.2, 130.0, crawl_s=5.1, unrecorded_crawl_s=5.0,
                 unrecorded_floor_ratio=1.25, unrecorded_main_thread=[4.8, 0.0, 0.1],
                 main_thread=[4.6, 0.3, 0.3], floor_main_thread=[4.0, 0.0, 0.0]),
            _run(4.0, 5.4, 130.0, crawl_s=5.3, unrecorded_crawl_s=4.6,
                 unrecorded_floor_ratio=1.15, unrecorded_main_thread=[4.5, 0.0, 0.1],
                 main_thread=[4.6, 0.3, 0.4], floor_main_thread=[4.0, 0.0, 0.0])]
    run = combine(reps)
    assert run["floor_ratio"] == 1.35 and run["unrecorded_floor_ratio"] == 1.15
    assert [r["unrecorded_crawl_s"] for r in run["repetitions"]] == [4.4, 5.0, 4.6]
    rows = report.rows({
        "runs": [{**run, "sync_s": 0.2, "cycle_cpu_s": 5.0, "obs_per_s": 900.0,
                  "floor_cpu_s": 4.0, "floor_items": 5000, "floor_peak_rss_mib": 100.0,
                  "floor_concurrent_items": 4, "collector_s": 0.1, "collections": [1],
                  "floor_collector_s": 0.1, "floor_collections": [1], "peak_rss_mib": 90.0,
                  "rss_before_cycle_mib": 80.0, "ru_maxrss_wait4_mib": 90.0,
                  "parent_rss_at_spawn_mib": 80.0, "recorder_peak_rss_mib": 54.0,
                  "recorder_cpu_s": 2.5, "handover_waited_s": 0.25,
                  "check": {"outcomes": {"ok": 5000}, "observation_rows": 5000,
                            "posts_visible": 5000}}],
        "params": {"exported_by": "x", "export_s": 1.0, "sizes": [5000],
                   "settings": {"recorder": "process"}},
        "target": {"rss_met": True, "pss_met": True, "scaling_at_most": 10.5,
                   "scaling_met": True},
        "machine": {"nproc": 2, "cpu_model": "x", "ram_gib": 1, "python": "3.11"},
        "postgresql": {}, "repeat": 3, "peak_rss_mib": 150.0, "peak_pss_mib": 130.0,
        "scaling": None}, Path("x.json"))
    unrecorded = [value for label, value in rows if label == "5000 posts: unrecorded"]
    assert unrecorded == [
        "crawl 4.6 s with its observations dropped, no recorder (recorded: 5.3 s); main "
        "thread 4.50 / 0.00 / 0.10 s (not held to the target)",
        "crawl alone / floor: 4.4 s x1.10, 5.0 s x1.25, 4.6 s x1.15; median x1.15"]
    assert dict(rows)["5000 posts: recorder"] == (
        "54 MiB VmHWM, 2.5 s CPU (its own process; peak RSS below is the sum); the crawl "
        "held up on the hand-over 0.25 s")
    verdicts = [value for label, value in rows if label == "floor ratio 5000"]
    assert verdicts == ["cycle / floor x1.35 (target <= 1.2): MISSED"]
