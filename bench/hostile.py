"""Milliseconds for the text helpers on hostile input: the tokeniser and the link reader.

The diff's tokeniser (:func:`monitor.words.tokenise`) and the link reader
(:func:`spiders.links.html_links`) run on what the people we watch write. Each
case below is a run that made one of them (or a library under it) quadratic, or
that defeats a naive one: ``regex``'s own ``\\X`` walks back over a whole run of
regional indicators at each one, libxml2 builds every tiny tag.

Targets, per case (best of ``--repeat`` runs): linear, i.e. four times the
input takes at most six times as long; and under 200 ms per 100,000 characters
(a hostile post's worst case; real posts are far shorter and the tokeniser's
cost is one tuple per token). Exit status 1 when a case misses either.
The unit tests (``tests/test_tokenise.py``, ``tests/crawling/test_links.py``)
check the answers on the same cases, without timing them.

Run: ``.venv/bin/python -m bench.hostile [--chars 100000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from ._common import machine, machine_rows, print_block, verdict, write_result

NAME = "hostile"
TARGET_MS_PER_100K = 200.0
#: Time at 4x the input over time at 1x, at most (linear with slack for noise).
MAX_GROWTH = 6.0

#: Units repeated to the wanted length and tokenised.
WORD_RUNS: dict[str, str] = {
    "regional indicators": "🇨",
    "regional indicators and marks": "🇨\u0301",
    "combining marks": "\u0301",
    "letter and mark": "a\u0301",
    "zwj chain": "👩\u200d",
    "skin tones": "\U0001F3FD",
    "prepend marks": "\u0600",
    "prepend and space": "\u0600 ",
    "apostrophes": "a'",
    "keycap digits": "1\ufe0f\u20e3",
    "digits then keycap": "1111111\u20e3",
    "virama chain": "\u0915\u094d",
    "han": "中",
    "one long word": "a",
}

#: Whole fragments (~120,000 characters) given to the link reader.
LINK_FRAGMENTS: dict[str, str] = {
    "tag-dense": "<b>x</b>" * 12_000 + '<a href="/a">a</a>',
    "many anchors": "<a href='/x'>x</a> " * 6_000,
    "many attributes": "<a" + ' x="1"' * 20_000 + ' href="/y">',
    "unterminated quote": '<a href="' + "x" * 120_000,
    "many lone <": "<" * 120_000,
    "many <a": "<a" * 60_000,
    "many &": '<a href="' + "&amp;" * 24_000 + '">',
}


def _best(run: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from monitor.words import tokenise
    from spiders.links import html_links

    rows: list[tuple[str, Any]] = machine_rows(machine())
    results = []
    cases: list[tuple[str, str, str, Callable[[str], Any]]] = [
        ("tokenise", name, unit * (args.chars // len(unit)), tokenise)
        for name, unit in WORD_RUNS.items()]
    cases += [("links", name, html, lambda h: html_links(h, "https://ex.org/"))
              for name, html in LINK_FRAGMENTS.items()]
    for kind, name, doc, fn in cases:
        seconds = _best(lambda fn=fn, doc=doc: fn(doc), args.repeat)  # type: ignore[misc]
        big = doc * 4
        growth = _best(lambda fn=fn, big=big: fn(big), args.repeat) / max(seconds, 1e-6)
        per_100k = seconds * 1000 * 100_000 / max(len(doc), 1)
        ok = per_100k < TARGET_MS_PER_100K and growth <= MAX_GROWTH
        results.append({"helper": kind, "case": name, "chars": len(doc),
                        "ms_per_100k_chars": round(per_100k, 2), "growth_4x": round(growth, 2),
                        "met": ok})
        rows.append((f"{kind:8} {name}", f"{per_100k:7.1f} ms/100k chars  x4 input: "
                                         f"{growth:4.1f}x time  {verdict(ok)}"))
    all_ok = all(r["met"] for r in results)
    worst = max(r["ms_per_100k_chars"] for r in results)
    rows.append(("target", f"every case < {TARGET_MS_PER_100K:.0f} ms per 100k characters and "
                           f"<= {MAX_GROWTH:g}x time at 4x input: {verdict(all_ok)} "
                           f"(worst {worst:.1f} ms)"))
    print_block("bench.hostile: tokeniser and link reader on hostile runs", rows)
    write_result(NAME, {"chars": args.chars, "repeat": args.repeat, "results": results,
                        "worst_ms_per_100k_chars": worst, "machine": machine()})
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
