"""The tamper-evidence chain's cost per recorded observation.

No network: synthetic Mastodon listings go straight into ``Recorder.record`` in
batches, as the worker's writer thread would send them. ``--accounts`` accounts
list 40 posts each; ``--rounds`` rounds follow in which every post's text changes
(so each round writes new observation rows, versions and an ``edited`` event per
post: the most chain entries a batch can bring). The time spent in
``monitor.db.chain.append`` (read the rows back, digest, lock the head, COPY the
entries) is measured inside the recording transactions and divided by the
entries it appended; its share of the whole recording time is the overhead.
Then ``chain.verify`` walks the whole chain (entries per second), and the
chain's bytes per entry are ``pg_total_relation_size('chain')`` / entries.

Target: the chain adds at most 15% to the recording time.

Run: ``.venv/bin/python -m bench.chain [--accounts 50] [--rounds 4]``
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.db import Database
from monitor.db import chain as chain_store
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent
from monitor.snapshot import Recorder
from monitor.watchlist import Target

from ._common import (
    Stopwatch,
    add_database_args,
    crawl_settings,
    fresh_database,
    machine,
    machine_rows,
    print_block,
    scalar,
    server_facts,
    setup_logging,
    verdict,
    write_result,
)

NAME = "chain"
MAX_SHARE = 0.15
BASE = "https://bench.example"
PER_ACCOUNT = 40
T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def listing(target: dict[str, Any], a: int, round_no: int, at: datetime) -> Observation:
    entries = [PostContent(key=f"{a}-{i}", url=f"{BASE}/@bench{a}/{i}",
                           probe_url=f"{BASE}/api/v1/statuses/{a}-{i}",
                           text=f"<p>Post {i} of bench{a}, version {round_no}: the council "
                                f"published its report; 第{round_no}版 ✓</p>",
                           author=f"bench{a}", published_at=T0 - timedelta(minutes=i))
               for i in range(PER_ACCOUNT)]
    return Observation(mode="listing", platform="mastodon", target_key=target["key"],
                       url=f"bench{a}", outcome=Outcome.OK, row_id=target["id"],
                       entries=entries, observed_at=at, http_status=200)


class Timed:
    """Wraps ``chain.append`` as the recorder calls it: time and entries appended."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.entries = 0
        self.real = store.chain.append

    def __call__(self, conn: Any, refs: Any) -> Any:
        start = time.perf_counter()
        out = self.real(conn, refs)
        self.seconds += time.perf_counter() - start
        self.entries += len(out)
        return out


def run(url: str, accounts: int, rounds: int, batch: int) -> dict[str, Any]:
    db = Database(url)
    db.migrate()
    recorder = Recorder(db, crawl_settings(url))
    targets = [Target("bench", "mastodon", "account", f"bench{a}", BASE, None, ())
               for a in range(accounts)]
    with db.transaction() as conn:
        store.sync_targets(conn, targets, 600.0)
        rows = {r["value"]: r for r in conn.execute("SELECT id, key, value FROM targets")}
    timed = Timed()
    store.chain.append = timed  # type: ignore[assignment]
    try:
        with Stopwatch() as recording:
            for round_no in range(rounds + 1):
                at = T0 + timedelta(minutes=round_no)
                obs = [listing(rows[f"bench{a}"], a, round_no, at) for a in range(accounts)]
                for start in range(0, len(obs), batch):
                    recorder.record(obs[start:start + batch])
    finally:
        store.chain.append = timed.real  # type: ignore[assignment]
    with db.transaction() as conn:
        observations = scalar(conn, "SELECT count(*) FROM observations")
        events = scalar(conn, "SELECT count(*) FROM events")
        chain_bytes = scalar(conn, "SELECT pg_total_relation_size('chain')")
        with Stopwatch() as walking:
            report = chain_store.verify(conn)
    db.close()
    if not report.ok:
        raise SystemExit(f"bench.chain: the chain does not verify: {report.problems[:3]}")
    return {
        "accounts": accounts, "rounds": rounds, "batch": batch,
        "observations": observations, "events": events, "entries": report.entries,
        "recording_s": recording.wall, "chain_s": timed.seconds,
        "chain_share": timed.seconds / recording.wall,
        "chain_us_per_entry": timed.seconds / max(timed.entries, 1) * 1e6,
        "chain_us_per_observation": timed.seconds / max(observations, 1) * 1e6,
        "chain_bytes_per_entry": chain_bytes / max(report.entries, 1),
        "verify_s": walking.wall, "verify_entries_per_s": report.entries / walking.wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.chain", description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10, help="listings per recorded batch")
    add_database_args(parser)
    args = parser.parse_args(argv)
    setup_logging()
    with fresh_database(args.database_url, args.embedded) as url:
        server = server_facts(url)
        result = run(url, args.accounts, args.rounds, args.batch)
    ok = result["chain_share"] <= MAX_SHARE
    info = machine()
    write_result(NAME, {"machine": info, "server": server, **result, "met": ok})
    print_block(f"bench.chain: hash chain cost ({result['observations']} observations, "
                f"{result['events']} events)", [
        *machine_rows(info, server),
        ("", ""),
        ("entries appended", result["entries"]),
        ("recording", f"{result['recording_s']:.2f} s"),
        ("in chain.append", f"{result['chain_s']:.3f} s "
                            f"({100 * result['chain_share']:.1f}% of recording)"),
        ("per chained observation", f"{result['chain_us_per_observation']:.0f} µs "
                                    f"({result['chain_us_per_entry']:.0f} µs per entry)"),
        ("chain size", f"{result['chain_bytes_per_entry']:.0f} B per entry"),
        ("verify", f"{result['verify_s']:.2f} s "
                   f"({result['verify_entries_per_s']:.0f} entries/s)"),
        ("target", f"chain ≤ {100 * MAX_SHARE:.0f}% of recording time: {verdict(ok)}"),
    ])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
