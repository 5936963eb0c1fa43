"""bench.cycle's repetitions and its printed block.

With ``--repeat N`` each size runs N times, the floor and the cycle alternating (a
floor, then the cycle over the same pages, each in a fresh process), so the machine's
drift falls on both sides of each ratio. A size is reported by its median repetition:
the ratio held to the target is the median of the N ratios, and the block also lists
every repetition's, so the spread shows. Peak memory is the highest of all.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from ._common import machine_rows, verdict

MAX_SCALING = 10.5
MAX_RSS_BYTES = 150_000_000
MAX_FLOOR_RATIO = 1.2


def combine(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's runs as one: the repetition whose floor ratio is the median (the lower
    middle one for an even N; without a floor, the middle one in run order), with the
    median ratios, the median cycle time (what linearity is judged on), the highest peak
    memory, ``valid`` only if every repetition's every fetch came back ``ok``, and every
    repetition's figures under ``repetitions``."""
    ranked = sorted(reps, key=lambda r: r.get("floor_ratio", 0.0))
    run = dict(ranked[(len(ranked) - 1) // 2])
    run["median_cycle_s"] = round(statistics.median(r["cycle_s"] for r in reps), 2)
    for key in ("floor_ratio", "recheck_floor_ratio", "unrecorded_floor_ratio"):
        if all(key in r for r in reps):
            run[key] = round(statistics.median(r[key] for r in reps), 3)
    for key in ("total_peak_rss_mib", "total_peak_pss_mib"):
        run[key] = max(r[key] for r in reps)
    run["repetitions"] = [
        {**{k: r[k] for k in ("floor_s", "cycle_s", "crawl_s", "recheck_s", "floor_ratio",
                              "recheck_floor_ratio", "unrecorded_crawl_s",
                              "unrecorded_floor_ratio", "total_peak_pss_mib") if k in r},
         "valid": _valid(r)}
        for r in reps]
    run["valid"] = all(rep["valid"] for rep in run["repetitions"])
    return run


def _valid(run: dict[str, Any]) -> bool:
    """Every fetch of the cycle and of its floor came back ``ok``."""
    return set(run["check"]["outcomes"]) == {"ok"} and not run.get("floor_failed")


def _repetitions(r: dict[str, Any]) -> list[tuple[str, Any]]:
    reps = r["repetitions"]
    if len(reps) < 2 or "floor_ratio" not in reps[0]:
        return []
    each = ", ".join(f"{x['floor_s']:.1f} / {x['cycle_s']:.1f} s x{x['floor_ratio']:.2f}"
                     for x in reps)
    out = [(f"{r['size']} posts: repetitions", f"floor / cycle: {each}; median "
                                               f"x{r['floor_ratio']:.2f}")]
    if "unrecorded_floor_ratio" in reps[0]:
        each = ", ".join(f"{x['unrecorded_crawl_s']:.1f} s x{x['unrecorded_floor_ratio']:.2f}"
                         for x in reps)
        out += [(f"{r['size']} posts: unrecorded", f"crawl alone / floor: {each}; median "
                                                   f"x{r['unrecorded_floor_ratio']:.2f}")]
    return out


def rows(result: dict[str, Any], path: Path) -> list[tuple[str, Any]]:
    """The printed block's rows: the machine, each size's (median) run, the verdicts."""
    runs, params, target = result["runs"], result["params"], result["target"]
    peak, pss, scaling = result["peak_rss_mib"], result["peak_pss_mib"], result["scaling"]
    rss_ok, pss_ok, limit = target["rss_met"], target["pss_met"], target["scaling_at_most"]
    small, large = runs[0], runs[-1]
    scaling_ok = target["scaling_met"]
    out: list[tuple[str, Any]] = [
        *machine_rows(result["machine"], result["postgresql"]),
        ("statuses from", f"{params['exported_by']} ({params['export_s']} s for "
                          f"{max(params['sizes'])})"),
        ("recorder", f"RECORDER = {params['settings']['recorder']}, RECORDER_PRIORITY = "
                     f"{params['settings'].get('recorder_priority', 'normal')}"),
        *([("repeat", f"{result['repeat']} runs a size, floor and cycle alternating; "
                      "each size's median below")] if result["repeat"] > 1 else []),
        ("", ""),
    ]
    for r in runs:
        if "floor_s" in r:
            out += [(f"{r['size']} pages: floor", f"{r['floor_s']:.1f} s wall, "
                      f"{r['floor_cpu_s']:.1f} s CPU, {r['floor_items']} items, "
                      f"{r['floor_peak_rss_mib']:.0f} MiB peak (plain Scrapy, "
                      f"CONCURRENT_ITEMS={r['floor_concurrent_items']})")]
        out += [
            (f"{r['size']} posts: sync", f"{r['sync_s']:.1f} s (sync_targets, one transaction)"),
            (f"{r['size']} posts: cycle", f"{r['cycle_s']:.1f} s wall, {r['cycle_cpu_s']:.1f} s "
                                          f"CPU, {r['obs_per_s']:.0f} obs/s"),
            *([(f"{r['size']} posts: main thread", "{:.2f} s on a CPU, {:.2f} s runnable waiting "
                "for one, {:.2f} s asleep (floor: {:.2f} / {:.2f} / {:.2f})".format(
                    *r["main_thread"], *r["floor_main_thread"]))] if "floor_s" in r else []),
            *([(f"{r['size']} posts: unrecorded", "crawl {:.1f} s with its observations "
                "dropped, no recorder (recorded: {:.1f} s); main thread {:.2f} / {:.2f} / "
                "{:.2f} s (not held to the target)".format(
                    r["unrecorded_crawl_s"], r["crawl_s"], *r["unrecorded_main_thread"]))]
              if "unrecorded_crawl_s" in r else []),
            (f"{r['size']} posts: collector", f"{r['collector_s']:.2f} s in "
                                              f"{sum(r['collections'])} collections"
             + (f" (floor: {r['floor_collector_s']:.2f} s in "
                f"{sum(r['floor_collections'])})" if "floor_s" in r else "")),
            *([(f"{r['size']} posts: re-check", f"{r['recheck_s']:.1f} s wall, "
                                                f"{r['recheck_cpu_s']:.1f} s CPU (every post "
                                                "due again, content unchanged)")]
              if "recheck_s" in r else []),
            (f"{r['size']} posts: peak RSS", f"{r['peak_rss_mib']:.0f} MiB VmHWM "
                                             f"({r['peak_rss_mib'] * 2**20 / 1e6:.0f} MB; "
                                             f"{r['rss_before_cycle_mib']:.0f} MiB before "
                                             f"the cycle; wait4 ru_maxrss "
                                             f"{r['ru_maxrss_wait4_mib']:.0f} MiB, parent "
                                             f"{r['parent_rss_at_spawn_mib']:.0f} MiB at "
                                             "spawn)"),
            *([(f"{r['size']} posts: recorder", f"{r['recorder_peak_rss_mib']:.0f} MiB VmHWM, "
                                                f"{r['recorder_cpu_s']:.1f} s CPU (its own "
                                                "process; peak RSS below is the sum); the "
                                                "crawl held up on the hand-over "
                                                f"{r['handover_waited_s']:.2f} s")]
              if r["recorder_peak_rss_mib"] else []),
            (f"{r['size']} posts: stored", f"{r['check']['observation_rows']} observation rows, "
                                           f"{r['check']['posts_visible']} posts visible, "
                                           f"outcomes {r['check']['outcomes']}"),
            *_repetitions(r),
        ]
    if scaling is not None:
        # Median cycles: with --repeat they need not be the rows' above (median ratios).
        out += [("", ""), ("scaling", f"{large['size']}/{small['size']} posts: cycle x"
                                       f"{scaling:.2f} ({large['median_cycle_s']:.1f} / "
                                       f"{small['median_cycle_s']:.1f} s, median cycles; "
                                       f"target <= {limit:.1f}): {verdict(scaling_ok)}")]
    for r in runs:
        if "floor_ratio" in r:
            ok = r["floor_ratio"] <= MAX_FLOOR_RATIO
            out += [(f"floor ratio {r['size']}", f"cycle / floor x{r['floor_ratio']:.2f} "
                      f"(target <= {MAX_FLOOR_RATIO}): {verdict(ok)}")]
        if "recheck_floor_ratio" in r:
            ok = r["recheck_floor_ratio"] <= MAX_FLOOR_RATIO
            out += [(f"re-check ratio {r['size']}", f"re-check / floor "
                      f"x{r['recheck_floor_ratio']:.2f} (target <= {MAX_FLOOR_RATIO}): "
                      f"{verdict(ok)}")]
    bad = [r["size"] for r in runs if not r["valid"]]
    if bad:
        out += [("INVALID", f"not every fetch succeeded for sizes {bad}: see the json")]
    out += [("peak RSS", f"{peak:.0f} MiB = {peak * 2**20 / 1e6:.0f} MB, crawl and recorder "
                          "processes together (target < "
                          f"{MAX_RSS_BYTES / 1e6:.0f} MB): {verdict(rss_ok)}"),
             ("peak PSS", f"{pss:.0f} MiB = {pss * 2**20 / 1e6:.0f} MB, the same two "
                          "processes' proportional set size, shared pages counted once "
                          f"(sampled every 0.5 s): {verdict(pss_ok)}"),
             ("json", str(path))]
    return out
