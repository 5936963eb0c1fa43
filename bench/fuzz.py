"""Fuzz the parsers and the recorder with mutated fixtures of every platform.

Each case is one fixture, mutated, run through the platform's spider step (an
in-memory response, as :mod:`bench._spiderrun` drives it) and then recorded
into real PostgreSQL by :class:`monitor.snapshot.Recorder`. Two kinds of case:

- document mutations (truncation, byte flips, invalid UTF-8, UTF-16 with a BOM,
  NUL, inserted runs of brackets, spaces, tags or quotes, wrong content types):
  any outcome is allowed, an exception is not;
- entry mutations: one entry of a listing (a Mastodon status, an RSS/Atom/RDF
  item, a RedNote profile card or ``user_posted`` note, a Weibo timeline card, a
  Reddit thing of a listing, a thread or an ``/api/info`` batch, a Reddit Atom
  entry) gets odd values (null, strings where objects
  belong, numbers out of range, NUL, lone surrogates, broken URLs, deep nesting,
  huge text and attributes). The listing must still be recorded with every
  other entry in it; a batch probe's other posts must end as in the clean answer.
  Probe answers (Mastodon, Weibo ``statuses/show``) also get odd fields.

Weibo runs behind its visitor cookie (``genvisitor2`` is answered), Reddit on the
OAuth path with a configured client (its token endpoint is answered), and each
seed says where its body is served and what the step's other requests get
(:data:`DEFAULT_ROUTES`). The mutations are in :mod:`bench._mutate`.

Counted, and each must be 0: exceptions that escape the spider (``escaped``),
exceptions other than ParseError/ValueError caught by a spider's safety net or
entry guard (``crashes``: parser bugs), listings blinded by one bad entry
(``blinded``) and recorder stops (``record()`` raising, or an observation that
could not be stored even as malformed). Deterministic for a given ``--seed``.

Run: ``.venv/bin/python -m bench.fuzz --cases 100000 --seed 1``
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, WorkItem
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

from . import _spiderrun as sr
from ._common import add_database_args, fresh_database, print_block, verdict, write_result
from ._fuzzsteps import fuzz_spiders, run_batch
from ._mutate import MUTATE_ENTRY, MUTATE_NESTED, mutate_document, mutate_json_object
from ._mutate import at as path_at

NAME = "fuzz"
log = logging.getLogger(__name__)
JSON = {"Content-Type": "application/json; charset=utf-8"}
XML = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
ATOM = {"Content-Type": "application/atom+xml; charset=utf-8"}
MASTODON_BASE = "http://127.0.0.1:8765"
REDNOTE_BASE = "http://127.0.0.1:8766"
NOTE = "66a1b2c3000000000d00e1f2"
#: Seconds one record() may retry before the recorder counts as stopped.
STALL_SECONDS = 10.0
STATUS = "117020586180926938"
WEIBO_BASE = "http://127.0.0.1:8767"
REDDIT_BASE = "http://127.0.0.1:8768"
BASES = {"mastodon": MASTODON_BASE, "rednote": REDNOTE_BASE, "weibo": WEIBO_BASE,
         "reddit": REDDIT_BASE}
REDNOTE_USER = "5c315a550000000006031475"
WEIBO_UID = "1221171697"
WEIBO_MID = "4414052358656728"
REDDIT_THREAD = f"{REDDIT_BASE}/r/example/comments/1kh35wk/title/"
#: The fullnames the /api/info batch seed asks for (its fixture answers them all).
REDDIT_INFO = ["t3_1kh35wk", "t3_5dec01", "t3_5dec70", "t3_aut0f1", "t3_spam01", "t3_aeo001",
               "t3_cops01", "t3_legal1", "t3_copy01", "t3_odd001", "t3_newcat", "t3_old001",
               "t3_link01", "t1_d7ltv31", "t1_d7ltvl0", "t1_d7ltv08", "t1_d7lok01"]


@dataclass(slots=True)
class Seed:
    """A fixture and where it is served: platform, mode, the target it belongs to."""

    name: str  # fixture path under tests/fixtures
    platform: str
    mode: str
    target: str  # key into World.targets
    headers: dict[str, str]
    entries: str | None = None  # a key of MUTATE_ENTRY or MUTATE_NESTED (bench._mutate)
    #: Where the case's body is served (a URL substring), and the fixtures every
    #: other request of the step gets (URL substring -> fixture), before the defaults.
    at: str | None = None
    also: dict[str, str] = field(default_factory=dict)
    #: Probe seeds: the path of the object a ``field`` mutation makes odd.
    fields: tuple[str, ...] | None = None


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
    # The user_posted API pages, read when the profile page is blocked (page 2: the last).
    Seed("rednote/user_posted_page1.json", "rednote", "listing", "rednote", JSON, "posted",
         at="cursor=&", also={"/user/profile/": "rednote/anti_bot.html"}),
    Seed("rednote/profile_banned.html", "rednote", "listing", "rednote", HTML),
    # Weibo: the timeline (page 2 and the long texts' extend answers served clean),
    # statuses/show, its extend, and the /detail/ page read after an errno.
    Seed("weibo/timeline_page1.json", "weibo", "listing", "weibo", JSON, "cards",
         at="containerid=107603"),
    Seed("weibo/show_ok.json", "weibo", "probe", "weibo", JSON, at="statuses/show",
         fields=("data",)),
    Seed("weibo/show_long.json", "weibo", "probe", "weibo", JSON, at="statuses/show",
         fields=("data",)),
    Seed("weibo/extend.json", "weibo", "probe", "weibo", JSON, at="statuses/extend",
         also={"statuses/show": "weibo/show_long.json"}),
    Seed("weibo/show_20112.json", "weibo", "probe", "weibo", JSON, at="statuses/show"),
    Seed("weibo/detail_private.html", "weibo", "probe", "weibo", HTML, at="/detail/",
         also={"statuses/show": "weibo/show_20112.json"}),
    Seed("weibo/detail_gone.html", "weibo", "probe", "weibo", HTML, at="/detail/",
         also={"statuses/show": "weibo/show_20101.json"}),
    # Reddit: the OAuth listings (a subreddit's new, a thread with its comments), the
    # /api/info batch probe, and the public Atom feed.
    Seed("reddit/new.json", "reddit", "listing", "reddit_sub", JSON, "children", at="/new?"),
    Seed("reddit/thread.json", "reddit", "listing", "reddit_thread", JSON, "thread",
         at="/comments/"),
    Seed("reddit/info.json", "reddit", "probe", "reddit_info", JSON, "batch", at="/api/info"),
    Seed("reddit/feed_new.atom", "reddit", "listing", "reddit_feed", ATOM, "reddit_feed",
         at="/new/.rss"),
]


@dataclass(slots=True)
class Case:
    seed: Seed
    kind: str
    body: bytes
    headers: dict[str, str]
    #: Entry mutations: the keys the other entries must still be listed under.
    must_list: set[str] | None = None
    #: Nested entry mutations: what the mutated entry held (the keys it may take
    #: with it); every other key of the clean listing must still be listed.
    excluded: set[str] | None = None


def cases(seed: int, n: int) -> Iterator[Case]:
    rng = random.Random(seed)
    bodies = {s.name: sr.fixture(s.name) for s in SEEDS}
    for _ in range(n):
        s = rng.choice(SEEDS)
        body = bodies[s.name]
        if s.entries in MUTATE_NESTED and rng.random() < 0.5:
            mutated, had = MUTATE_NESTED[s.entries](rng, body)
            yield Case(s, f"entry:{s.entries}", mutated, s.headers, excluded=had)
        elif s.entries in MUTATE_ENTRY and rng.random() < 0.5:
            mutated, others = MUTATE_ENTRY[s.entries](rng, body)
            yield Case(s, f"entry:{s.entries}", mutated, s.headers, others)
        elif s.platform == "mastodon" and s.mode == "probe" and rng.random() < 0.5:
            status = mutate_json_object(rng, json.loads(body))
            yield Case(s, "field:status", json.dumps(status).encode(), s.headers)
        elif s.fields is not None and rng.random() < 0.5:
            doc = json.loads(body)
            parent = path_at(doc, *s.fields[:-1])
            parent[s.fields[-1]] = mutate_json_object(rng, parent[s.fields[-1]])
            yield Case(s, f"field:{s.platform}", json.dumps(doc).encode(), s.headers)
        else:
            kind, mutated, headers = mutate_document(rng, body, s.headers)
            yield Case(s, f"document:{kind}", mutated, headers)


# --- running -------------------------------------------------------------------


def _answer(name: str, headers: dict[str, str] | None = None) -> sr.Answer:
    return (200, sr.fixture(name), headers or (HTML if name.endswith(".html") else JSON))


#: What every other request of a step is answered (after the seed's own routes):
#: Weibo's visitor cookie, the timeline's page 2, the long texts, the profile
#: container; Reddit's token; RedNote's last user_posted page; Mastodon's account.
DEFAULT_ROUTES: dict[str, sr.Answer] = {
    "/visitor/genvisitor2": _answer("weibo/genvisitor2.txt", {
        "Content-Type": "application/javascript",
        "Set-Cookie": "SUB=_2AkMQvisitorSUB; Path=/; HttpOnly"}),
    "since_id=": _answer("weibo/timeline_page2.json"),
    "statuses/extend": _answer("weibo/extend.json"),
    "containerid=100505": _answer("weibo/profile_normal.json"),
    "/access_token": _answer("reddit/token.json"),
    "/user_posted": _answer("rednote/user_posted_last.json"),
    "/accounts/lookup": _answer("mastodon/account_normal.json"),
    "/history": _answer("mastodon/history_by_author.json"),
}
#: Routes no seed's own may shadow (a later page must not get the case again).
FIRST_ROUTES = ("since_id=",)


class World:
    """The targets and posts the cases are recorded against, in a fresh database."""

    FEEDS = {"rss2": "https://news.example.org/feed.xml",
             "atom": "https://news.example.org/feed.atom",
             "rdf": "https://news.example.org/feed.rdf"}
    #: Value and kind of each non-feed target (base URL by platform: BASES).
    TARGETS = {"mastodon": ("mastodon", "account", "alice"),
               "rednote": ("rednote", "account", REDNOTE_USER),
               "weibo": ("weibo", "account", WEIBO_UID),
               "reddit_sub": ("reddit", "subreddit", "r/example"),
               "reddit_thread": ("reddit", "thread", REDDIT_THREAD),
               "reddit_feed": ("reddit", "subreddit", "r/feeds"),
               "reddit_info": ("reddit", "subreddit", "r/probed")}

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self.recorder = Recorder(db, Settings.load(environ={})) if db else None
        self.spiders = {**sr.spiders(), **fuzz_spiders(REDDIT_BASE)}
        self.targets: dict[str, tuple[int, str]] = {}
        self.posts: dict[str, int] = {}
        #: The keys each listing seed's clean fixture lists; the outcome of each
        #: post of a batch seed's clean answer.
        self.baseline: dict[str, set[str]] = {}
        self.batch_outcomes: dict[str, dict[str, Outcome]] = {}
        if db is not None:
            self._sync_targets(db)
        for s in SEEDS:  # the clean listings first: the probes' posts exist
            if s.mode == "listing":
                observed = self.observe(s, sr.fixture(s.name), s.headers)
                self.baseline[s.name] = {e.key for o in observed for e in o.entries or []}
                self.record(observed)
        if db is not None:
            with db.transaction() as conn:
                self.posts = {r["post_key"]: r["id"] for r in
                              conn.execute("SELECT id, post_key FROM posts").fetchall()}
        for s in SEEDS:
            if s.entries == "batch":
                self.batch_outcomes[s.name] = {o.post_key or "": o.outcome for o in
                                               self.observe(s, sr.fixture(s.name), s.headers)}

    def _sync_targets(self, db: Database) -> None:
        wanted = {name: Target("fuzz", platform, kind, value, BASES[platform], None, ())
                  for name, (platform, kind, value) in self.TARGETS.items()}
        for name, url in self.FEEDS.items():
            wanted[name] = Target("fuzz", "rss", "feed", url, None, None, ())
        with db.transaction() as conn:
            store.sync_targets(conn, list(wanted.values()), 600)
            rows = conn.execute("SELECT id, key, value FROM targets").fetchall()
        by_value = {r["value"]: (r["id"], r["key"]) for r in rows}
        self.targets = {name: by_value[t.value] for name, t in wanted.items()}

    def items(self, seed: Seed) -> list[WorkItem]:
        """The work the seed's step is (several for a batch probe)."""
        row_id, key = self.targets.get(seed.target, (0, f"fuzz:{seed.target}"))
        platform, base = seed.platform, BASES.get(seed.platform)
        if platform == "mastodon":
            if seed.mode == "listing":
                return [WorkItem("listing", "mastodon", key, "alice", base, row_id=row_id)]
            return [WorkItem("probe", "mastodon", key, f"{base}/api/v1/statuses/{STATUS}",
                             base, STATUS, self.posts.get(STATUS, 0),
                             known={"account_id": "117020566092212359", "username": "alice"})]
        if platform == "rss":
            return [WorkItem("listing", "rss", key, self.FEEDS[seed.target], row_id=row_id)]
        if platform == "rednote":
            if seed.mode == "listing":
                return [WorkItem("listing", "rednote", key, REDNOTE_USER, base, row_id=row_id)]
            return [WorkItem("probe", "rednote", key, f"{base}/explore/{NOTE}", base, NOTE,
                             self.posts.get(NOTE, 0))]
        if platform == "weibo":
            if seed.mode == "listing":
                return [WorkItem("listing", "weibo", key, WEIBO_UID, base, row_id=row_id)]
            return [WorkItem("probe", "weibo", key, f"{base}/status/{WEIBO_MID}", base,
                             WEIBO_MID, self.posts.get(WEIBO_MID, 0))]
        value = self.TARGETS[seed.target][2]
        known = {"access": "feeds"} if seed.target == "reddit_feed" else {}
        if seed.mode == "listing":
            return [WorkItem("listing", "reddit", key, value, base, row_id=row_id, known=known)]
        return [WorkItem("probe", "reddit", key, f"{base}/comments/{name[3:]}/", base, name,
                         self.posts.get(name, 0)) for name in REDDIT_INFO]

    def observe(self, seed: Seed, body: bytes, headers: dict[str, str]) -> list[Observation]:
        table: dict[str, sr.Answer] = {at: DEFAULT_ROUTES[at] for at in FIRST_ROUTES}
        if seed.at is not None:
            table[seed.at] = (200, body, headers)
        for where, name in seed.also.items():
            table[where] = _answer(name)
        table.update(DEFAULT_ROUTES)
        if seed.at is None:
            for at in ("/statuses", "/feed", "/explore/", "/user/profile/"):
                table.setdefault(at, (200, body, headers))
        spider, items = self.spiders[seed.platform], self.items(seed)
        if seed.entries == "batch":
            return run_batch(spider, items, sr.routes(table))
        return sr.run(spider, items[0], sr.routes(table))

    def record(self, observed: list[Observation]) -> None:
        if self.recorder is not None:
            self.recorder.record(observed)


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


def _blinded_listing(world: World, case: Case, obs: Observation) -> str | None:
    """Why the listing lost entries that one bad entry did not hold, if it did."""
    must = case.must_list
    if case.excluded is not None:
        must = {k for k in world.baseline[case.seed.name] if k not in case.excluded
                and k.split("_", 1)[-1] not in case.excluded}
    if must is None:
        return None
    listed = {e.key for e in obs.entries or []}
    if obs.outcome is not Outcome.OK or not must <= listed:
        return f"{obs.outcome.value} {obs.detail}; missing {sorted(must - listed)[:3]}"
    return None


def _blinded_batch(world: World, case: Case, observed: list[Observation]) -> str | None:
    """Why a batch probe's other posts did not end as their clean answer has them."""
    clean = world.batch_outcomes[case.seed.name]
    excluded = case.excluded or set()
    got = {o.post_key or "": o.outcome for o in observed}
    if len(observed) != len(clean) or set(got) != set(clean):
        return f"{len(observed)} observations for {len(clean)} posts"
    if case.excluded is None:  # a document mutation: any outcome, one per post
        return None
    wrong = sorted(k for k, outcome in clean.items() if got.get(k) is not outcome
                   and k not in excluded and k.split("_", 1)[-1] not in excluded)
    return f"{len(wrong)} posts changed, e.g. {wrong[:3]}" if wrong else None


def run_case(world: World, case: Case, tally: Tally) -> None:
    tally.cases += 1
    tally.kinds[case.kind] += 1
    label = f"{case.seed.name} {case.kind}"
    with sr.catching() as caught:
        try:
            observed = world.observe(case.seed, case.body, case.headers)
        except Exception as exc:  # escaped the spider's own safety net
            tally.escaped += 1
            tally.example("escaped", f"{label}: {type(exc).__name__}: {exc}")
            return
    for err in caught.caught:
        if not isinstance(err, sr.EXPECTED):
            tally.crashes += 1
            tally.example("crashes", f"{label}: {type(err).__name__}: {err}")
    if case.seed.entries == "batch":
        blinded = _blinded_batch(world, case, observed)
    else:
        (obs,) = observed
        blinded = _blinded_listing(world, case, obs)
    for obs in observed:
        tally.outcomes[obs.outcome.value] += 1
        tally.skipped_entries += int(obs.signals.get("skipped_entries") or 0)
    if blinded is not None:
        tally.blinded += 1
        tally.example("blinded", f"{label}: {blinded}")
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
        world.record(observed)
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
