"""Fuzz the parsers and the recorder with mutated fixtures of every platform.

Each case is one fixture, mutated, run through the platform's spider step (an
in-memory response, as :mod:`bench._spiderrun` drives it) and then recorded
into real PostgreSQL by :class:`monitor.snapshot.Recorder`. Two kinds of case:

- document mutations (truncation, byte flips, invalid UTF-8, UTF-16 with a BOM,
  NUL, inserted runs of brackets, spaces, tags or quotes, wrong content types):
  any outcome is allowed, an exception is not;
- entry mutations: one entry of a listing (a Mastodon status, an RSS/Atom/RDF
  item, a RedNote profile card) gets odd values (null, strings where objects
  belong, numbers out of range, NUL, lone surrogates, broken URLs, deep nesting,
  huge text and attributes). The listing must still be recorded with every
  other entry in it.

Counted, and each must be 0: exceptions that escape the spider (``escaped``),
exceptions other than ParseError/ValueError caught by a spider's safety net or
entry guard (``crashes``: parser bugs), listings blinded by one bad entry
(``blinded``) and recorder stops (``record()`` raising, or an observation that
could not be stored even as malformed). Deterministic for a given ``--seed``.

Run: ``.venv/bin/python -m bench.fuzz --cases 100000 --seed 1``
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, WorkItem
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

from . import _spiderrun as sr
from ._common import add_database_args, fresh_database, print_block, verdict, write_result

NAME = "fuzz"
log = logging.getLogger(__name__)
JSON = {"Content-Type": "application/json; charset=utf-8"}
XML = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
MASTODON_BASE = "http://127.0.0.1:8765"
REDNOTE_BASE = "http://127.0.0.1:8766"
NOTE = "66a1b2c3000000000d00e1f2"
#: Seconds one record() may retry before the recorder counts as stopped.
STALL_SECONDS = 10.0
STATUS = "117020586180926938"


@dataclass(slots=True)
class Seed:
    """A fixture and where it is served: platform, mode, the target it belongs to."""

    name: str  # fixture path under tests/fixtures
    platform: str
    mode: str
    target: str  # key into World.targets
    headers: dict[str, str]
    entries: str | None = None  # "json" | "feed" | "profile": how to mutate one entry


SEEDS = [
    Seed("mastodon/statuses_page1.json", "mastodon", "listing", "mastodon", JSON, "json"),
    Seed("mastodon/statuses_page2.json", "mastodon", "listing", "mastodon", JSON, "json"),
    Seed("mastodon/status.json", "mastodon", "probe", "mastodon", JSON),
    Seed("mastodon/status_edited.json", "mastodon", "probe", "mastodon", JSON),
    Seed("rss/rss2.xml", "rss", "listing", "rss2", XML, "feed"),
    Seed("rss/atom_tombstones.xml", "rss", "listing", "atom", XML, "feed"),
    Seed("rss/rss1.rdf", "rss", "listing", "rdf", XML, "feed"),
    Seed("rednote/profile.html", "rednote", "listing", "rednote", HTML, "profile"),
    Seed("rednote/note_page.html", "rednote", "probe", "rednote", HTML),
    Seed("rednote/api_ok.json", "rednote", "probe", "rednote", JSON),
]

#: Values put where an entry's fields were.
ODD_VALUES: list[Any] = [
    None, "", "x", "\u0000", "a\u0000b", "\ud800", "12", "-1", "1.2万", "NaN", 0, -1,
    2**63, -(2**63) - 1, 10**40, 1e308, -0.0, True, [], [None], {}, {"id": None},
    {"id": "\u0000"}, "http://[x", "file:///etc/passwd", "2026-13-45T99:99:99Z",
    "9999-12-31T23:59:59+23:59", "<a href=\"http://[x\">x</a>", "a" * 100_000,
]
#: Byte runs inserted into whole documents.
INSERTS = [
    b"\x00", b"\xff\xfe\xfd", b"\xc3", b"\xed\xa0\x80", b"[" * 5000, b"{" * 5000,
    b"<a>" * 2000, b" " * 100_000, b'"' * 5000, b"\\" * 5000, b"undefined", b"</script>",
    b"<script>" * 1000, b"window.__INITIAL_STATE__=", b"]]>", b"&x;", b"<!--",
    b'<a href="http://[x">', b"99999999999999999999999999",
]
TEXT_FIELDS = ("title", "description", "link", "guid", "pubDate", "author", "id", "updated",
               "published", "content", "summary")


@dataclass(slots=True)
class Case:
    seed: Seed
    kind: str
    body: bytes
    headers: dict[str, str]
    #: Entry mutations: the keys the other entries must still be listed under.
    must_list: set[str] | None = None


# --- mutations ---------------------------------------------------------------


def mutate_document(rng: random.Random, body: bytes, headers: dict[str, str]) -> tuple[
        str, bytes, dict[str, str]]:
    kind = rng.choice(["truncate", "flip", "insert", "utf16", "ctype", "duplicate"])
    if kind == "truncate":
        return kind, body[:rng.randrange(len(body))], headers
    if kind == "flip":
        data = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return kind, bytes(data), headers
    if kind == "insert":
        at = rng.randrange(len(body) + 1)
        return kind, body[:at] + rng.choice(INSERTS) * rng.randint(1, 3) + body[at:], headers
    if kind == "utf16":
        return kind, body.decode("utf-8", "replace").encode("utf-16"), headers
    if kind == "ctype":
        ctype = rng.choice(["text/html", "application/json", "image/png", "text/plain; "
                            "charset=utf-16", "application/xml; charset=nonsense", ""])
        return kind, body, {"Content-Type": ctype}
    a, b = sorted(rng.randrange(len(body) + 1) for _ in range(2))
    return kind, body[:b] + body[a:b] * rng.randint(2, 50) + body[b:], headers


def odd_value(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        depth = rng.choice([50, 500, 5000])
        return json.loads("[" * depth + "]" * depth) if depth < 900 else "[" * depth
    return copy.deepcopy(rng.choice(ODD_VALUES))


def mutate_json_object(rng: random.Random, obj: Any) -> Any:
    """``obj`` with 1-3 of its fields (or its nested objects' fields) made odd."""
    if not isinstance(obj, dict) or rng.random() < 0.1:
        return odd_value(rng)
    for _ in range(rng.randint(1, 3)):
        target = obj
        while True:
            key = rng.choice([*target.keys(), "id", "account", "media_attachments"])
            inner = target.get(key)
            if isinstance(inner, dict) and inner and rng.random() < 0.5:
                target = inner
                continue
            if isinstance(inner, list) and inner and rng.random() < 0.5:
                inner[rng.randrange(len(inner))] = odd_value(rng)
            else:
                target[key] = odd_value(rng)
            break
    return obj


def _entry_key(entry: Any) -> str | None:
    value = entry.get("id") if isinstance(entry, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def mutate_json_listing(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
    page = json.loads(body)
    i = rng.randrange(len(page))
    others = {k for j, e in enumerate(page) if j != i and (k := _entry_key(e))}
    page[i] = mutate_json_object(rng, page[i])
    return json.dumps(page).encode(), others


def mutate_profile(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
    from spiders.rednote.state import initial_state

    state = initial_state(body.decode())
    assert state is not None
    cards = state["user"]["notes"][0]
    i = rng.randrange(len(cards))
    others = {k for j, c in enumerate(cards) if j != i and (k := _entry_key(c))}
    cards[i] = mutate_json_object(rng, cards[i])
    html = ("<html><body><script>window.__INITIAL_STATE__=" + json.dumps(state)
            + "</script></body></html>")
    return html.encode("utf-8", "surrogatepass"), others


def _xml_safe(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)[:100_000]
    return "".join(c for c in text if c in "\t\n\r" or (" " <= c and not 0xD800 <= ord(c)
                                                          <= 0xDFFF and c not in "\ufffe\uffff"))


def mutate_feed(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
    from spiders.rss.spider import parse_feed

    keys = [e.key for e in parse_feed(body, "https://news.example.org/feed").entries]
    root = etree.fromstring(body)
    items = [el for el in root.iter() if etree.QName(el).localname in ("item", "entry")]
    i = rng.randrange(len(items))
    item = items[i]
    for _ in range(rng.randint(1, 3)):
        action = rng.choice(["text", "attribute", "nest", "link", "drop"])
        children = list(item)
        child = rng.choice(children) if children else item
        if action == "text":
            name = rng.choice(TEXT_FIELDS)
            found = [c for c in children if etree.QName(c).localname == name] or [child]
            found[0].text = _xml_safe(odd_value(rng))
        elif action == "attribute":
            child.set(rng.choice(["href", "rel", "type", "about", "x"]), "a" * 1_000_000)
        elif action == "nest":
            parent = child
            for _ in range(rng.choice([10, 100, 200])):
                parent = etree.SubElement(parent, "div")
        elif action == "link":
            child.set("href", rng.choice(["http://[x", "javascript:1", "//[::1", ""]))
        elif children:
            item.remove(child)
    others = {k for j, k in enumerate(keys) if j != i}
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), others


MUTATE_ENTRY: dict[str, Callable[[random.Random, bytes], tuple[bytes, set[str]]]] = {
    "json": mutate_json_listing, "feed": mutate_feed, "profile": mutate_profile}


def cases(seed: int, n: int) -> Iterator[Case]:
    rng = random.Random(seed)
    bodies = {s.name: sr.fixture(s.name) for s in SEEDS}
    for _ in range(n):
        s = rng.choice(SEEDS)
        body = bodies[s.name]
        if s.entries and rng.random() < 0.5:
            mutated, others = MUTATE_ENTRY[s.entries](rng, body)
            yield Case(s, f"entry:{s.entries}", mutated, s.headers, others)
        elif s.platform == "mastodon" and s.mode == "probe" and rng.random() < 0.5:
            status = mutate_json_object(rng, json.loads(body))
            yield Case(s, "field:status", json.dumps(status).encode(), s.headers)
        else:
            kind, mutated, headers = mutate_document(rng, body, s.headers)
            yield Case(s, f"document:{kind}", mutated, headers)


# --- running -------------------------------------------------------------------


class World:
    """The targets and posts the cases are recorded against, in a fresh database."""

    FEEDS = {"rss2": "https://news.example.org/feed.xml",
             "atom": "https://news.example.org/feed.atom",
             "rdf": "https://news.example.org/feed.rdf"}

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self.recorder = Recorder(db, Settings.load(environ={})) if db else None
        self.spiders = sr.spiders()
        self.targets: dict[str, tuple[int, str]] = {}
        self.posts: dict[str, int] = {}
        if db is None:
            return
        wanted = {"mastodon": Target("fuzz", "mastodon", "account", "alice", MASTODON_BASE,
                                     None, ()),
                  "rednote": Target("fuzz", "rednote", "account", "5c315a550000000006031475",
                                    REDNOTE_BASE, None, ())}
        for name, url in self.FEEDS.items():
            wanted[name] = Target("fuzz", "rss", "feed", url, None, None, ())
        with db.transaction() as conn:
            store.sync_targets(conn, list(wanted.values()), 600)
            rows = conn.execute("SELECT id, key, value FROM targets").fetchall()
        by_value = {r["value"]: (r["id"], r["key"]) for r in rows}
        self.targets = {name: by_value[t.value] for name, t in wanted.items()}
        for s in SEEDS:  # the clean listings first: the probes' posts exist
            if s.mode == "listing":
                self.record(self.observe(s, sr.fixture(s.name), s.headers))
        with db.transaction() as conn:
            self.posts = {r["post_key"]: r["id"] for r in
                          conn.execute("SELECT id, post_key FROM posts").fetchall()}

    def item(self, seed: Seed) -> WorkItem:
        row_id, key = self.targets.get(seed.target, (0, f"fuzz:{seed.target}"))
        if seed.platform == "mastodon":
            if seed.mode == "listing":
                return WorkItem("listing", "mastodon", key, "alice", MASTODON_BASE, row_id=row_id)
            return WorkItem("probe", "mastodon", key, f"{MASTODON_BASE}/api/v1/statuses/{STATUS}",
                            MASTODON_BASE, STATUS, self.posts.get(STATUS, 0),
                            known={"account_id": "117020566092212359", "username": "alice"})
        if seed.platform == "rss":
            return WorkItem("listing", "rss", key, self.FEEDS[seed.target], row_id=row_id)
        if seed.mode == "listing":
            return WorkItem("listing", "rednote", key, "5c315a550000000006031475", REDNOTE_BASE,
                            row_id=row_id)
        return WorkItem("probe", "rednote", key, f"{REDNOTE_BASE}/explore/{NOTE}", REDNOTE_BASE,
                        NOTE, self.posts.get(NOTE, 0))

    def observe(self, seed: Seed, body: bytes, headers: dict[str, str]) -> Observation:
        answer = (200, body, headers)
        table: dict[str, sr.Answer] = {
            "/accounts/lookup": (200, sr.fixture("mastodon/account_normal.json"), JSON),
            "/history": (200, sr.fixture("mastodon/history_by_author.json"), JSON),
            "/statuses": answer, "/feed": answer, "/explore/": answer, "/user/profile/": answer,
        }
        (obs,) = sr.run(self.spiders[seed.platform], self.item(seed), sr.routes(table))
        return obs

    def record(self, obs: Observation) -> None:
        if self.recorder is not None:
            self.recorder.record([obs])


@dataclass
class Tally:
    cases: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    escaped: int = 0
    crashes: int = 0
    blinded: int = 0
    recorder_stops: int = 0
    skipped_entries: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def example(self, what: str, text: str) -> None:
        found = self.examples.setdefault(what, [])
        if len(found) < 5:
            found.append(text[:300])

    @property
    def clean(self) -> bool:
        return not (self.escaped or self.crashes or self.blinded or self.recorder_stops)


def run_case(world: World, case: Case, tally: Tally) -> None:
    tally.cases += 1
    tally.kinds[case.kind] += 1
    label = f"{case.seed.name} {case.kind}"
    with sr.catching() as caught:
        try:
            obs = world.observe(case.seed, case.body, case.headers)
        except Exception as exc:  # escaped the spider's own safety net
            tally.escaped += 1
            tally.example("escaped", f"{label}: {type(exc).__name__}: {exc}")
            return
    for err in caught.caught:
        if not isinstance(err, sr.EXPECTED):
            tally.crashes += 1
            tally.example("crashes", f"{label}: {type(err).__name__}: {err}")
    tally.outcomes[obs.outcome.value] += 1
    tally.skipped_entries += int(obs.signals.get("skipped_entries") or 0)
    if case.must_list is not None:
        listed = {e.key for e in obs.entries or []}
        if obs.outcome is not Outcome.OK or not case.must_list <= listed:
            tally.blinded += 1
            tally.example("blinded", f"{label}: {obs.outcome.value} {obs.detail}; missing "
                                     f"{sorted(case.must_list - listed)[:3]}")
    if world.recorder is None:
        return
    before = world.recorder.stats.get("unstorable", 0)
    # A recorder that retries one observation forever is stopped too: give up on it
    # after STALL_SECONDS through its own abort switch, and count it.
    abort = getattr(world.recorder, "abort", None)
    timer = threading.Timer(STALL_SECONDS, abort.set) if abort is not None else None
    if timer is not None:
        timer.start()
    try:
        world.record(obs)
    except Exception as exc:
        tally.recorder_stops += 1
        tally.example("recorder_stops", f"{label}: {type(exc).__name__}: {exc}")
        return
    finally:
        if timer is not None:
            timer.cancel()
        if abort is not None:
            abort.clear()
    if world.recorder.stats.get("unstorable", 0) > before:
        tally.recorder_stops += 1
        tally.example("recorder_stops", f"{label}: not storable even as malformed")


def fuzz(world: World, seed: int, n: int) -> Tally:
    tally = Tally()
    # The spiders log every skipped entry and malformed page; a fuzz run makes thousands.
    # The levels are put back after: in a test run, later tests read these logs.
    loggers = [logging.getLogger(name) for name in ("spiders", "monitor")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        for case in cases(seed, n):
            run_case(world, case, tally)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-db", action="store_true", help="parse only, record nothing")
    add_database_args(parser)
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.no_db:
        tally = fuzz(World(None), args.seed, args.cases)
    else:
        with fresh_database(args.database_url, args.embedded, prefix="takedown_fuzz") as url:
            db = Database(url)
            db.migrate()
            try:
                tally = fuzz(World(db), args.seed, args.cases)
            finally:
                db.close()
    seconds = time.monotonic() - started
    rows: list[tuple[str, Any]] = [
        ("cases", f"{tally.cases} (seed {args.seed}) in {seconds:.0f} s"),
        ("kinds", ", ".join(f"{k} {v}" for k, v in sorted(tally.kinds.items()))),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in tally.outcomes.most_common())),
        ("skipped entries", tally.skipped_entries),
        ("escaped exceptions", f"{tally.escaped}: {verdict(not tally.escaped)}"),
        ("parser crashes", f"{tally.crashes}: {verdict(not tally.crashes)}"),
        ("listings blinded", f"{tally.blinded}: {verdict(not tally.blinded)}"),
        ("recorder stops", f"{tally.recorder_stops}: {verdict(not tally.recorder_stops)}"
         + (" (not recorded: --no-db)" if args.no_db else "")),
    ]
    for what, found in tally.examples.items():
        rows += [(f"e.g. {what}", text) for text in found]
    print_block(f"bench.fuzz: {tally.cases} mutated fixtures", rows)
    write_result(NAME, {"seed": args.seed, "cases": tally.cases, "seconds": seconds,
                        "kinds": dict(tally.kinds), "outcomes": dict(tally.outcomes),
                        "escaped": tally.escaped, "crashes": tally.crashes,
                        "blinded": tally.blinded, "recorder_stops": tally.recorder_stops,
                        "examples": tally.examples})
    return 0 if tally.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
