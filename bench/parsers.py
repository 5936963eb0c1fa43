"""Milliseconds per megabyte of every parser on adversarial pages of ~1 MB and more.

Each case is a hostile body (long whitespace runs, deep nesting, huge
attributes, many entries, one long line, many ``<script>`` tags, unclosed tags,
unterminated strings) fed to the platform's spider step in memory, exactly as
a response would be (:mod:`bench._spiderrun`): RSS 2.0, Atom, RSS 1.0 (RDF),
a Mastodon timeline page (JSON), a RedNote note page, and an article page read
by an RSS probe (readability's main-text search, and an ``article_selector``).
Parsing runs on the reactor loop, so a slow case freezes every crawl in the process.

Target: every case under 50 ms per MB (best of ``--repeat`` runs). Exit status
1 when a case misses it.

Run: ``.venv/bin/python -m bench.parsers [--size-mb 1] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from monitor.observation import WorkItem

from . import _spiderrun as sr
from ._common import machine, machine_rows, print_block, verdict, write_result

NAME = "parsers"
TARGET_MS_PER_MB = 50.0
MB = 1_000_000
FEED = "http://127.0.0.1:8767/feed"
MASTODON = "http://127.0.0.1:8765"
REDNOTE = "http://127.0.0.1:8766"
NOTE = "66a1b2c3000000000d00e1f2"

RSS_HEAD = b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
ATOM_HEAD = (b'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
             b"<title>t</title>")
RDF_HEAD = (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax'
            b'-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>t</title>'
            b"</channel>")


def _fill(unit: bytes, size: int) -> bytes:
    return unit * max(1, size // len(unit))


def feed_cases(size: int) -> dict[str, dict[str, bytes]]:
    item = (b"<item><title>T</title><guid>g%d</guid><link>http://127.0.0.1:8767/%d</link>"
            b"<description>&lt;p&gt;x &lt;a href=&quot;/a&quot;&gt;a&lt;/a&gt;&lt;/p&gt;"
            b"</description><pubDate>Sat, 01 Aug 2026 09:00:00 GMT</pubDate></item>")
    entry = (b'<entry><id>tag:%d</id><title>T</title><link href="/e/%d"/>'
             b'<content type="html">&lt;a href="http://[x"&gt;x&lt;/a&gt;</content></entry>')
    rdf_item = (b'<item rdf:about="http://127.0.0.1:8767/%d"><title>T</title>'
                b"<link>http://127.0.0.1:8767/%d</link><description>d</description></item>")
    # Entries of tiny tags: libxml2 builds ~1 element a microsecond, and every
    # entry's HTML is parsed for its links.
    dense = b"&lt;b&gt;x&lt;/b&gt;" * 100 + b"&lt;a href=&quot;/a&quot;&gt;a&lt;/a&gt;"
    dense_units = {
        "rss": b"<item><guid>g%d</guid><description>" + dense + b"</description></item>",
        "atom": b'<entry><id>tag:%d</id><content type="html">' + dense + b"</content></entry>",
        "rdf": b'<item rdf:about="http://127.0.0.1:8767/%d"><description>' + dense
        + b"</description></item>",
    }
    out: dict[str, dict[str, bytes]] = {}
    for kind, head, unit, tail in (("rss", RSS_HEAD, item, b"</channel></rss>"),
                                   ("atom", ATOM_HEAD, entry, b"</feed>"),
                                   ("rdf", RDF_HEAD, rdf_item, b"</rdf:RDF>")):
        n = size // len(unit % (0, 0))
        many = b"".join(unit % (i, i) for i in range(n))
        dense_unit = dense_units[kind]
        dense_many = b"".join(dense_unit % i for i in range(size // len(dense_unit % 0)))
        one = unit % (1, 1)
        close = b"</channel>" if kind == "rss" else b""
        out[kind] = {
            "many entries": head + many + tail,
            "whitespace run": head + one + b" " * size + tail,
            "deep nesting": head + b"<x>" * (size // 7) + b"</x>" * (size // 7) + tail,
            "huge attribute": head + b'<x a="' + b"a" * size + b'"/>' + one + tail,
            "one long line": head + b"<item><title>" + b"w" * size + b"</title></item>" + tail,
            "unclosed tags": head + _fill(b"<item><title>", size) + close,
            "tag-dense entries": head + dense_many + tail,
            "long html text": head + b"<item><guid>h</guid><description>" + _fill(
                b"&lt;a href=&quot;/x&quot;&gt;x&lt;/a&gt; ", size) + b"</description></item>"
            + tail,
        }
    return out


def mastodon_cases(size: int) -> dict[str, bytes]:
    status = json.loads(sr.fixture("mastodon/status.json"))
    one = json.dumps(status).encode()
    odd = json.dumps({**status, "media_attachments": [None], "account": "x",
                      "favourites_count": "12"}).encode()
    n = size // len(one)
    dense = json.dumps({**status, "content": "<b>x</b>" * 100 + "<a href='/x'>x</a>"}).encode()
    return {
        "many entries": b"[" + b",".join(one for _ in range(n)) + b"]",
        "tag-dense statuses": b"[" + b",".join(dense for _ in range(size // len(dense))) + b"]",
        "odd entries": b"[" + b",".join(odd for _ in range(n)) + b"]",
        "whitespace run": b"[" + one + b" " * size + b"]",
        "deep nesting": b"[" * (size // 2) + b"]" * (size // 2),
        "long string": b'[{"id":"1","content":"' + b"a" * size + b'"}]',
        "long html content": b'[{"id":"1","content":"' + _fill(b"<a href='/x'>x</a> ", size)
        + b'"}]',
        "unterminated string": b'[{"id":"1","content":"' + b"\\\"" * (size // 2),
    }


def rednote_cases(size: int) -> dict[str, bytes]:
    page = sr.fixture("rednote/note_page.html")
    mark = b"<script>window.__INITIAL_STATE__="
    state = page[page.index(mark) + len(mark):page.index(b"</script>", page.index(mark))]
    return {
        "fixture padded": page.replace(b"</body>", b" " * size + b"</body>"),
        "whitespace, no script end": mark + b"{}" + b" " * size + b"x",
        "whitespace before state": mark + b" " * size + state + b"</script>",
        "deep nesting": mark + b"[" * (size // 2) + b"]" * (size // 2) + b"</script>",
        "escaped quotes": mark + b'{"a":undefined,"b":"' + b'\\"' * (size // 2),
        "many quotes": mark + b'"' * size + b"undefined",
        "undefined, then quotes": mark + b"[undefined" + b',""' * (size // 3) + b"]</script>",
        "undefined between strings": mark + b"[" + _fill(b'"",undefined,', size) + b"1]",
        "many undefined": mark + b"[" + _fill(b"undefined,", size) + b"1]</script>",
        "many script tags": _fill(b"<script>", size) + mark + state + b"</script>",
        "markers, no assignment": _fill(b"window.__INITIAL_STATE__ ", size),
        "unclosed tags": _fill(b"<div><p>", size) + mark + state,
        "huge attribute": b'<div a="' + b"a" * size + b'">' + mark + state + b"</script>",
    }


def article_cases(size: int) -> dict[str, bytes]:
    """Hostile article pages: readability scores every paragraph and walks the tree
    several times, so tiny paragraphs and deep nesting are its worst cases."""
    head = b"<!DOCTYPE html><html><head><title>t</title></head><body>"
    para = b"<p>Short words, and a comma, here.</p>"
    return {
        "tiny paragraphs": head + _fill(para, size),
        "tiny divs": head + _fill(b"<div>x, y</div>", size),
        "deep nesting": head + b"<div>" * (size // 11) + b"x" + b"</div>" * (size // 11),
        "unclosed tags": head + _fill(b"<div><p>x, ", size),
        "whitespace run": head + para + b" " * size + b"</body></html>",
        "one long paragraph": head + b"<p>" + _fill(b"word, ", size) + b"</p>",
        "huge attribute": head + b'<div class="' + b"a" * size + b'">' + para + b"</div>",
        "many script tags": head + _fill(b"<script>x</script>", size) + para,
    }


def runners() -> dict[str, Callable[[bytes], Any]]:
    spiders = sr.spiders()
    html = {"Content-Type": "text/html; charset=utf-8"}
    js = {"Content-Type": "application/json; charset=utf-8"}
    xml = {"Content-Type": "application/xml; charset=utf-8"}
    lookup = (200, sr.fixture("mastodon/account_normal.json"), js)

    def rss(body: bytes) -> Any:
        item = WorkItem("listing", "rss", "feed", FEED)
        return sr.run(spiders["rss"], item, sr.routes({"/feed": (200, body, xml)}))

    def mastodon(body: bytes) -> Any:
        item = WorkItem("listing", "mastodon", "m", "alice", MASTODON)
        return sr.run(spiders["mastodon"], item, sr.routes({
            "lookup": lookup, "/statuses": (200, body, js)}))

    def rednote(body: bytes) -> Any:
        item = WorkItem("probe", "rednote", "r", f"{REDNOTE}/explore/{NOTE}", REDNOTE, NOTE)
        return sr.run(spiders["rednote"], item, sr.routes({"/explore/": (200, body, html)}))

    def article(body: bytes, selector: str | None = None) -> Any:
        url = f"{FEED}/article"
        item = WorkItem("probe", "rss", "p", url, target_url=url, post_key=url,
                        known={"article_selector": selector} if selector else {})
        return sr.run(spiders["rss"], item, sr.routes({"/article": (200, body, html)}))

    return {"rss": rss, "mastodon": mastodon, "rednote": rednote, "article": article,
            "article/selector": partial(article, selector="article .body p")}


def measure(run: Callable[[bytes], Any], body: bytes, repeat: int) -> tuple[float, str]:
    best = float("inf")
    outcome = "?"
    for _ in range(repeat):
        started = time.perf_counter()
        (obs,) = run(body)
        best = min(best, time.perf_counter() - started)
        outcome = obs.outcome.value
    return best * 1000 / max(len(body) / MB, 1e-9), outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.parsers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("spiders").setLevel(logging.CRITICAL)  # skipped entries, malformed
    size = int(args.size_mb * MB)
    run = runners()
    table: list[tuple[str, str, bytes]] = []
    for kind, cases in feed_cases(size).items():
        table += [(kind, name, body) for name, body in cases.items()]
    table += [("mastodon", name, body) for name, body in mastodon_cases(size).items()]
    table += [("rednote", name, body) for name, body in rednote_cases(size).items()]
    for kind in ("article", "article/selector"):
        table += [(kind, name, body) for name, body in article_cases(size).items()]
    rows: list[tuple[str, Any]] = machine_rows(machine())
    results = []
    worst = 0.0
    for kind, name, body in table:
        ms_per_mb, outcome = measure(run["rss" if kind in ("rss", "atom", "rdf") else kind],
                                     body, args.repeat)
        worst = max(worst, ms_per_mb)
        ok = ms_per_mb < TARGET_MS_PER_MB
        results.append({"parser": kind, "case": name, "bytes": len(body),
                        "ms_per_mb": round(ms_per_mb, 2), "outcome": outcome, "met": ok})
        rows.append((f"{kind:16} {name}", f"{ms_per_mb:7.1f} ms/MB  {len(body) / MB:5.2f} MB  "
                                         f"{outcome:10} {verdict(ok)}"))
    all_ok = all(r["met"] for r in results)
    rows.append(("target", f"every case < {TARGET_MS_PER_MB:.0f} ms/MB: {verdict(all_ok)} "
                           f"(worst {worst:.1f})"))
    print_block(f"bench.parsers: ms per MB on adversarial pages (~{args.size_mb:g} MB)", rows)
    write_result(NAME, {"size_mb": args.size_mb, "repeat": args.repeat, "results": results,
                        "worst_ms_per_mb": worst, "machine": machine()})
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
