"""The command line, run as a user runs it, against a real database."""

from __future__ import annotations

import csv
import io
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.db import redact_url
from monitor.recording import recording_for
from spiders.cli import cli, startup_line
from spiders.sandbox import Sandbox


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory, pg_server_url: str,
            pg_template: str) -> dict[str, str]:
    """A database filled by `takedown check --once` over the sandbox, run twice."""
    import uuid

    import psycopg
    from psycopg import sql

    name = f"takedown_cli_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(pg_template)))
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=name)
    tmp = tmp_path_factory.mktemp("cli")
    watchlist = tmp / "watchlist.toml"
    with Sandbox(seed=2, scenario="demo") as sb:
        watchlist.write_text('[settings]\nconfirm_spacing = "0s"\nconfirm_retry = "0s"\n'
                             'recheck_schedule = "0s"\n\n' + sb.watchlist_toml(interval="1s"),
                             encoding="utf-8")
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": url, "TAKEDOWN_WATCHLIST": str(watchlist)}
        outputs = []
        for _ in range(4):
            done = subprocess.run([sys.executable, "-m", "spiders.cli", "check", "--once"], env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
            sb.step(3)
    yield {"url": url, "watchlist": str(watchlist), "output": "".join(outputs)}
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def invoke(checked: dict[str, str], *args: str) -> str:
    env = {"TAKEDOWN_DATABASE_URL": checked["url"], "TAKEDOWN_WATCHLIST": checked["watchlist"]}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_check_once_prints_events_and_a_summary(checked: dict[str, str]) -> None:
    assert "checked" in checked["output"] and "observation(s)" in checked["output"]
    assert " edited " in checked["output"]


def test_events_in_three_formats(checked: dict[str, str]) -> None:
    table = invoke(checked, "events")
    assert "detected_at" in table.splitlines()[0] and "event(s)" in table
    lines = invoke(checked, "events", "--format", "json").splitlines()
    records = [json.loads(line) for line in lines]
    assert records and all(r["kind"] in {"edited", "disappeared", "hidden", "restored"}
                           for r in records)
    assert all("evidence" in r and "lifetime_seconds" in r for r in records)
    rows = list(csv.DictReader(io.StringIO(invoke(checked, "events", "--format", "csv"))))
    assert len(rows) == len(records)
    edited = invoke(checked, "events", "--kind", "edited", "--format", "json").splitlines()
    assert edited and all(json.loads(x)["kind"] == "edited" for x in edited)
    rss = [json.loads(x) for x in invoke(checked, "events", "--platform", "rss", "--format",
                                         "json").splitlines()]
    assert all(r["platform"] == "rss" for r in rss)
    assert invoke(checked, "events", "--until", "2000-01-01").endswith("0 event(s)\n")


def test_history_shows_versions_diffs_and_timeline(checked: dict[str, str]) -> None:
    record = json.loads(invoke(checked, "events", "--kind", "edited", "--format", "json"
                               ).splitlines()[0])
    out = invoke(checked, "history", record["post_key"])
    assert "Versions (2" in out or "Versions (3" in out
    assert "[-" in out or "{+" in out
    assert "Observations" in out and "Events" in out and "edited" in out


def test_history_of_an_unknown_post_says_what_to_do(checked: dict[str, str]) -> None:
    env = {"TAKEDOWN_DATABASE_URL": checked["url"], "TAKEDOWN_WATCHLIST": checked["watchlist"]}
    result = CliRunner().invoke(cli, ["history", "no-such-post"], env=env)
    assert result.exit_code == 1
    assert "takedown events" in result.output


def test_status_lists_every_target(checked: dict[str, str]) -> None:
    out = invoke(checked, "status")
    targets = Path(checked["watchlist"]).read_text(encoding="utf-8").count("[[groups.")
    assert targets >= 10 and f"{targets} target(s), 0 failing" in out
    rows = table_rows(out)
    assert {r["state"] for r in rows} == {"ok"}
    assert any(r["target"].startswith("mastodon:account:alice@") for r in rows)


def table_rows(out: str) -> list[dict[str, str]]:
    """The rows of a table as printed, cut at the header's column starts."""
    lines = out.splitlines()
    header = lines[0]
    names = header.split()
    starts = [header.index(f"{n} ") if i < len(names) - 1 else header.rindex(n)
              for i, n in enumerate(names)]
    rows = []
    for line in lines[1:]:
        if not line.startswith(" ") and line[:starts[1]].strip() and "  " in line:
            cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
            rows.append(dict(zip(names, cells, strict=True)))
    return rows


def run_cli(checked: dict[str, str], *args: str) -> Any:
    env = {"TAKEDOWN_DATABASE_URL": checked["url"], "TAKEDOWN_WATCHLIST": checked["watchlist"]}
    return CliRunner().invoke(cli, list(args), env=env)


def test_events_limit_rejects_negatives_and_zero_means_none(checked: dict[str, str]) -> None:
    result = run_cli(checked, "events", "--limit", "-1")
    assert result.exit_code == 2 and result.exception is not None
    assert isinstance(result.exception, SystemExit)  # click's usage error, not a crash
    assert "--limit" in result.output and "-1 is not in the range x>=0" in result.output
    header, *rest = invoke(checked, "events", "--limit", "0").splitlines()
    assert header.split() == invoke(checked, "events").splitlines()[0].split()
    assert rest == ["0 event(s)"]
    assert invoke(checked, "events", "--limit", "0", "--format", "json") == ""
    everything = invoke(checked, "events", "--format", "json").splitlines()
    assert len(everything) > 2
    assert invoke(checked, "events", "--limit", "2", "--format", "json").splitlines() == \
        everything[:2]


def test_what_the_tables_print_pastes_into_history(checked: dict[str, str]) -> None:
    keys = [r["post_key"] for r in table_rows(invoke(checked, "events"))]
    assert any(len(k) > 48 for k in keys)  # long keys are printed whole, not cut
    for key in keys:
        out = invoke(checked, "history", key)
        assert f" post {key}  (" in out and "Versions (" in out
    # `check` prints platform:post_key
    printed = {line.split()[2] for line in checked["output"].splitlines()
               if line[:2].isdigit() and line[2] == ":"}
    assert printed
    for ref in printed:
        platform, key = ref.split(":", 1)
        assert f"{platform} post {key}  (" in invoke(checked, "history", ref)
    # `status` prints target keys: a post target gives its post, a listing its posts
    targets = table_rows(invoke(checked, "status"))
    assert any(len(r["target"]) > 48 for r in targets)
    for row in targets:
        out = invoke(checked, "history", row["target"])
        if row["target"].split(":")[1] == "post":
            assert "Versions (" in out and f"({row['target']})" in out
        else:
            listed = table_rows(out.split("\n", 1)[1])
            assert out.startswith(f"{row['target']} is a ") and len(listed) == int(row["posts"])
            assert "Versions (" in invoke(checked, "history", listed[0]["post_key"])


@pytest.mark.parametrize(("args", "words"), [
    (["--cause", "foo"], ["unknown cause 'foo'", "known causes:", "ambiguous", "legal"]),
    (["--cause", "deleted_by_autor"], ["did you mean 'deleted_by_author'?"]),
    (["--group", "nosuch"], ["unknown group 'nosuch'", "known groups: sandbox"]),
    (["--group", "sandbx"], ["did you mean 'sandbox'?"]),
    (["--platform", "mastodn"], ["unknown platform 'mastodn'", "did you mean 'mastodon'?",
                                 "mastodon, reddit, rednote, rss"]),
    (["--kind", "edit"], ["unknown kind 'edit'", "did you mean 'edited'?", "known kinds:"]),
    (["--target", "nosuch"], ["unknown target 'nosuch'", "`takedown status`"]),
])
def test_unknown_filter_values_are_rejected_with_the_known_ones(
        checked: dict[str, str], args: list[str], words: list[str]) -> None:
    result = run_cli(checked, "events", *args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    for word in words:
        assert word in result.output


def test_known_filter_values_and_aliases_are_accepted(checked: dict[str, str]) -> None:
    feed = next(r["target"] for r in table_rows(invoke(checked, "status"))
                if r["target"].startswith("rss:feed:"))
    for args in (["--platform", "atom"], ["--group", "sandbox"], ["--cause", "legal"],
                 ["--kind", "hidden"], ["--target", feed]):
        assert invoke(checked, "events", *args).endswith(" event(s)\n")
    rss = [json.loads(x) for x in invoke(checked, "events", "--platform", "atom", "--format",
                                         "json").splitlines()]
    assert rss and {r["platform"] for r in rss} == {"rss"}


def test_json_csv_and_webhook_payload_share_field_names(checked: dict[str, str]) -> None:
    import psycopg
    from psycopg.rows import dict_row

    from alerts.store import event_views
    from alerts.webhook import event_json

    records = [json.loads(x) for x in invoke(checked, "events", "--format", "json").splitlines()]
    rows = list(csv.DictReader(io.StringIO(invoke(checked, "events", "--format", "csv"))))
    assert records and list(rows[0]) == list(records[0])
    assert "group" in records[0] and "lifetime_seconds" in records[0]
    assert "group_name" not in records[0] and "lifetime" not in records[0]
    with psycopg.connect(checked["url"], row_factory=dict_row) as conn:
        views = event_views(conn, [r["id"] for r in records])
    hooks = {h["id"]: h for h in (event_json(v) for v in views)}
    assert len(hooks) == len(records)
    gone = [r for r in records if r["lifetime_seconds"] is not None]
    assert gone
    for record, row in zip(records, rows, strict=True):
        hook = hooks[record["id"]]
        assert set(record) <= set(hook), set(record) - set(hook)
        for name in ("group", "target", "target_key", "post_key", "lifetime_seconds",
                     "platform", "kind", "cause", "title"):
            assert record[name] == hook[name], name
        assert row["group"] == record["group"]
        assert row["lifetime_seconds"] == ("" if record["lifetime_seconds"] is None
                                           else str(record["lifetime_seconds"]))


def test_watch_add_list_remove(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    runner = CliRunner()
    result = runner.invoke(cli, ["-w", str(path), "watch", "add", "mastodon",
                                 "alice@example.social", "--group", "hk"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["-w", str(path), "watch", "add", "rss",
                                 "https://news.example/feed.xml"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["-w", str(path), "watch", "list"]).output
    assert "alice@example.social" in listed and "https://news.example/feed.xml" in listed
    result = runner.invoke(cli, ["-w", str(path), "watch", "remove",
                                 "https://news.example/feed.xml"])
    assert result.exit_code == 0, result.output
    assert "feed.xml" not in runner.invoke(cli, ["-w", str(path), "watch", "list"]).output


def test_unknown_platform_and_broken_watchlist_give_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('[groups.x]\n[[groups.x.targets]]\nplatform = "tiktokk"\naccount = "a"\n',
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "spiders.cli", "-w", str(path), "check", "--once"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown platform 'tiktokk'" in done.stderr
    assert "mastodon, reddit, rednote, rss" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_once_names_failing_targets_and_status_shows_them(
        tmp_path: Path, db_url: str) -> None:
    with Sandbox(seed=2, scenario="demo") as sb:
        typo = f"{sb.base_url}/feeds/no-such-feed.xml"  # the sandbox answers 404
        dead = "http://127.0.0.1:9/feed.xml"  # nothing listens there
        watchlist = tmp_path / "w.toml"
        watchlist.write_text('[settings]\nretry_times = 0\n\n[groups.g]\n'
                             f'[[groups.g.targets]]\nplatform = "rss"\nfeed = "{typo}"\n'
                             f'[[groups.g.targets]]\nplatform = "rss"\nfeed = "{dead}"\n',
                             encoding="utf-8")
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url,
               "TAKEDOWN_WATCHLIST": str(watchlist)}
        done = subprocess.run([sys.executable, "-m", "spiders.cli", "check", "--once"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith("; 2 target(s) failing"), done.stdout
    failing = {line.split()[1]: line for line in lines[1:] if line.startswith("failing: ")}
    assert set(failing) == {f"rss:feed:{typo}", f"rss:feed:{dead}"}, done.stdout
    assert "404" in failing[f"rss:feed:{typo}"]
    assert f"`takedown watch remove rss:feed:{typo}`" in failing[f"rss:feed:{typo}"]
    assert "connection_error" in failing[f"rss:feed:{dead}"]
    assert "check the address and the network" in failing[f"rss:feed:{dead}"]
    status = CliRunner().invoke(cli, ["status"], env=env)
    assert status.exit_code == 0, status.output
    rows = {r["target"]: r for r in table_rows(status.output)}
    assert {r["state"] for r in rows.values()} == {"failing"}
    assert all(r["last_ok"] == "-" and r["errors"] == "1" for r in rows.values())
    assert "2 target(s), 2 failing" in status.output


def test_run_prints_one_startup_line(tmp_path: Path, db_url: str) -> None:
    watchlist = tmp_path / "w.toml"
    watchlist.write_text('[groups.a]\n[[groups.a.targets]]\nplatform = "rss"\n'
                         'feed = "http://127.0.0.1:9/a.xml"\n[[groups.a.targets]]\n'
                         'platform = "mastodon"\naccount = "alice@127.0.0.1:9"\n'
                         '[groups.b]\n[[groups.b.targets]]\nplatform = "rss"\n'
                         'feed = "http://127.0.0.1:9/b.xml"\n', encoding="utf-8")
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url, "TAKEDOWN_WATCHLIST": str(watchlist),
           "TAKEDOWN_METRICS_ADDRESS": "", "TAKEDOWN_TICK": "1h"}
    proc = subprocess.Popen([sys.executable, "-m", "spiders.cli", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        # wait for the first line, but not forever: an old `run` printed nothing
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        first = proc.stdout.readline() if ready else ""
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    place = {"process": "a process of its own; a thread once other workers share this "
                        "machine",
             "thread": "a thread; the machine's workers counted again as they come",
             }[recording_for("auto")]
    place = place.replace("; ", " (RECORDER = auto; ", 1)
    assert first == ("takedown run: watching 3 target(s) in 2 group(s) (1 mastodon, 2 rss); "
                     f"database {redact_url(db_url)}; no metrics endpoint "
                     f"(METRICS_ADDRESS is empty); recording in {place})\n"), err
    assert "takedown run:" not in out  # one line, once
    assert "Traceback" not in err
    # Printed once the daemon stops cleanly on SIGINT: a Ctrl-C sent on seeing the line
    # used to land in the start-up (KeyboardInterrupt, exit 130, now and then a hang).
    assert proc.returncode == 0, err


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://mon:s3cret@db.example:5432/takedown",
     "postgresql://mon:***@db.example:5432/takedown"),
    ("postgres://mon@db.example/takedown?password=s3cret&sslmode=require",
     "postgres://mon@db.example/takedown?password=***&sslmode=require"),
    ("host=db.example user=mon password=s3cret dbname=takedown",
     "user=mon password=*** dbname=takedown host=db.example"),
    ("postgresql:///takedown", "postgresql:///takedown"),
])
def test_the_startup_line_hides_the_database_password(url: str, shown: str) -> None:
    from monitor.settings import Settings
    from monitor.watchlist import parse_watchlist

    wl = parse_watchlist('[groups.g]\n[[groups.g.targets]]\nplatform = "rss"\n'
                         'feed = "https://news.example/feed.xml"\n')
    line = startup_line(wl, Settings.load({"database_url": url,
                                           "metrics_address": "127.0.0.1:9464"}, environ={}))
    assert "s3cret" not in line
    assert line == ("takedown run: watching 1 target(s) in 1 group(s) (1 rss); "
                    f"database {shown}; metrics at http://127.0.0.1:9464/metrics")


@pytest.mark.parametrize(("recording", "place", "auto_note"), [
    ("process", "a process of its own", "a thread once other workers share this machine"),
    ("thread", "a thread", "the machine's workers counted again as they come")])
def test_the_startup_line_says_where_auto_records(recording: str, place: str,
                                                  auto_note: str) -> None:
    from monitor.settings import Settings
    from monitor.watchlist import parse_watchlist

    def line(settings: dict[str, str]) -> str:
        return startup_line(parse_watchlist(""), Settings.load(
            {"metrics_address": "", **settings}, environ={}), recording)

    assert line({}).endswith(f"(METRICS_ADDRESS is empty); recording in {place} "
                             f"(RECORDER = auto; {auto_note})")
    # Chosen, not placed: nothing will move it.
    assert line({"recorder": recording}).endswith(
        f"(METRICS_ADDRESS is empty); recording in {place} (RECORDER = {recording})")


def test_the_startup_line_names_the_embedded_database(tmp_path: Path) -> None:
    from monitor.settings import Settings
    from monitor.watchlist import parse_watchlist

    line = startup_line(parse_watchlist(""), Settings.load(
        {"database_url": "", "data_dir": str(tmp_path), "metrics_address": ""}, environ={}))
    assert f"watching 0 target(s) in 0 group(s) (none); database embedded at {tmp_path};" in line


def test_check_once_is_documented_as_the_default() -> None:
    """``check`` always makes one pass: ``--once`` is accepted for scripts, and its help
    does not pretend that leaving it out does anything else."""
    helped = CliRunner().invoke(cli, ["check", "--help"])
    assert helped.exit_code == 0
    once = next(line for line in helped.output.splitlines() if "--once" in line)
    assert "default" in once and "one pass" in once


# --- a worker leaves when its command ends ----------------------------------------------


def seats(url: str) -> int:
    """Rows in ``workers``: the seats of the worker processes on the database."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM workers").fetchone()
    return int(row[0]) if row else -1


def test_check_gives_up_its_worker_seat(checked: dict[str, str]) -> None:
    """Four `check` runs each took a seat (they claimed work) and each gave it up."""
    assert "checked" in checked["output"]
    assert seats(checked["url"]) == 0


def leases(url: str) -> int:
    """Claims still held: listings and probes with a lease."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM targets WHERE lease_until IS NOT NULL)"
                           " + (SELECT count(*) FROM posts WHERE lease_until IS NOT NULL)"
                           ).fetchone()
    return int(row[0]) if row else -1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_check_stopped_mid_crawl_gives_back_its_claims_and_seat(
        tmp_path: Path, db_url: str, sig: signal.Signals) -> None:
    """A server that accepts and never answers holds the crawl; the signal ends
    `check` at once, as interrupted, with nothing left claimed."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed
                return
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    watchlist = tmp_path / "w.toml"
    watchlist.write_text('[settings]\ndownload_timeout = "2m"\n\n[groups.g]\n'
                         '[[groups.g.targets]]\nplatform = "rss"\n'
                         f'feed = "http://127.0.0.1:{port}/feed.xml"\n', encoding="utf-8")
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url, "TAKEDOWN_WATCHLIST": str(watchlist)}
    proc = subprocess.Popen([sys.executable, "-m", "spiders.cli", "check"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert accepted.wait(60), "the check never connected"
        assert leases(db_url) == 1 and seats(db_url) == 1  # in flight
        began = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.close()
        for conn in held:
            conn.close()
    assert proc.returncode == 130, err
    assert time.monotonic() - began < 15  # not the download timeout
    assert (leases(db_url), seats(db_url)) == (0, 0)
    assert "Traceback" not in err, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_stopped_by_a_signal_gives_up_its_worker_seat(
        tmp_path: Path, db_url: str, sig: signal.Signals) -> None:
    with Sandbox(seed=2, scenario="demo") as sb:
        watchlist = tmp_path / "w.toml"
        watchlist.write_text(sb.watchlist_toml(interval="1s"), encoding="utf-8")
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url,
               "TAKEDOWN_WATCHLIST": str(watchlist), "TAKEDOWN_METRICS_ADDRESS": "",
               "TAKEDOWN_TICK": "0.5s"}
        log = tmp_path / "run.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "spiders.cli", "run"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while seats(db_url) == 0 and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text(encoding="utf-8")[-3000:]
                time.sleep(0.1)
            assert seats(db_url) == 1  # the daemon claimed work: it holds a seat
            proc.send_signal(sig)
            assert proc.wait(timeout=60) == 0, log.read_text(encoding="utf-8")[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert seats(db_url) == 0
    # A cycle in flight at the signal has its recorder stopped (monitor.worker's
    # shutdown): that is said once per crawl, quietly; nothing ends in a traceback.
    logged = log.read_text(encoding="utf-8")
    assert "Traceback" not in logged, logged
    assert "Sink failed" not in logged and "job cycle failed" not in logged, logged


@pytest.mark.parametrize("command", ["check", "run"])
def test_the_program_settles_its_collector_once_start_up_is_done(
        tmp_path: Path, db_url: str, command: str) -> None:
    """``takedown check`` and ``run`` are the monitor's own processes: once the watchlist
    is synced, start-up's objects are frozen out of the collector's way (monitor.heap),
    once, before the first crawl; so does the worker's recorder process, where it has one
    (its log lines are the worker's)."""
    expected = 2 if recording_for("auto") == "process" else 1
    settled_line = "monitor.heap: collector settled"
    with Sandbox(seed=2, scenario="demo") as sb:
        watchlist = tmp_path / "w.toml"
        watchlist.write_text(sb.watchlist_toml(interval="1s"), encoding="utf-8")
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url,
               "TAKEDOWN_WATCHLIST": str(watchlist), "TAKEDOWN_METRICS_ADDRESS": ""}
        log = tmp_path / "run.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "spiders.cli", "-vv", command],
                                    env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            if command == "run":  # the daemon: stopped once both have settled
                deadline = time.monotonic() + 60
                while log.read_text(encoding="utf-8").count(settled_line) < expected \
                        and time.monotonic() < deadline:
                    assert proc.poll() is None, log.read_text(encoding="utf-8")[-3000:]
                    time.sleep(0.1)
                proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 0, log.read_text(encoding="utf-8")[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = log.read_text(encoding="utf-8").splitlines()
    settled = [i for i, line in enumerate(lines) if settled_line in line]
    assert len(settled) == expected, "\n".join(lines[-40:])
    crawls = [i for i, line in enumerate(lines) if "spiders.crawl: Crawling" in line]
    assert crawls and settled[0] < crawls[0], "\n".join(lines[-40:])


# --- a watchlist's problems, all at once -----------------------------------------------

#: A bad setting, a bad target and a bad alert channel in one file.
THREE_PROBLEMS = '''
[settings]
confirm_spacing = "soon"

[groups.g]
[[groups.g.targets]]
platform = "rss"
feed = "not a url"

[alerts.channels.news]
url_env = "TAKEDOWN_TEST_NO_SUCH_VARIABLE"
'''


@pytest.mark.parametrize("command", ["check", "run"])
def test_every_problem_of_the_watchlist_file_in_one_error(tmp_path: Path, command: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(THREE_PROBLEMS, encoding="utf-8")
    env = {"TAKEDOWN_TEST_NO_SUCH_VARIABLE": None, "TAKEDOWN_DATABASE_URL": "postgresql:///x"}
    result = CliRunner().invoke(cli, ["-w", str(path), command], env=env)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # reported, not raised
    assert result.stderr.startswith(f"error: {path}: 3 problems:"), result.stderr
    for key in ("settings.confirm_spacing: bad value 'soon'", "groups.g.targets[0].feed:",
                "alerts.channels.news.url_env: environment variable "
                "TAKEDOWN_TEST_NO_SUCH_VARIABLE is not set"):
        assert f"\n  {key}" in result.stderr, key
    assert "Traceback" not in result.output


def test_the_console_script_reports_them_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(THREE_PROBLEMS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TAKEDOWN_TEST_NO_SUCH_VARIABLE"}
    done = subprocess.run([sys.executable, "-m", "spiders.cli", "-w", str(path), "check"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {path}: 3 problems:") and done.stdout == ""
    assert "alerts.channels.news.url_env" in done.stderr and "Traceback" not in done.stderr


# --- takedown platforms ------------------------------------------------------------------


def test_platforms_shows_what_each_contract_declares() -> None:
    from monitor.platforms import PLATFORMS
    from spiders.crawl import spider_class

    text = CliRunner().invoke(cli, ["platforms"], catch_exceptions=False)
    assert text.exit_code == 0 and text.stderr == ""
    cards = {card.split(":")[0]: card for card in text.output.split("\n\n")}
    assert set(cards) == set(PLATFORMS)
    assert cards["mastodon"].splitlines() == [
        "mastodon: Mastodon (any instance)",
        "  kinds           account, post (single post)",
        "  aliases         -",
        "  probe_token     -",
        "  sandbox fake    spiders.mastodon.fake.FAKE",
        f"  fingerprints    {len(PLATFORMS['mastodon'].words)}",
        "  probe_batch     1",
        "  second_signals  account, profile, history",
    ]
    assert "\n  probe_token     xsec_token\n" in cards["rednote"]
    assert "\n  kinds           post (single post), account\n" in cards["rednote"]
    lines = CliRunner().invoke(cli, ["platforms", "--json"]).output.splitlines()
    described = {d["name"]: d for d in map(json.loads, lines)}
    assert set(described) == set(PLATFORMS)
    for name, d in described.items():
        p, spider = PLATFORMS[name], spider_class(name)
        assert d["fingerprints"] == len(p.words) and d["probe_token"] == p.probe_token
        assert d["kinds"] == list(p.kinds) and d["fake"] == p.fake
        assert (d["probe_batch"], d["second_signals"]) == (spider.probe_batch,
                                                           list(spider.second_signals))
        assert d["spider_error"] is None
        assert f"\n  fingerprints    {len(p.words)}\n" in cards[name]
    assert described["rednote"]["single_post_kind"] == "post"
    assert described["rednote"]["fingerprints"] > 10


def test_a_platform_whose_spider_is_broken_is_shown_as_broken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from monitor.platforms import registry

    reg = registry()
    monkeypatch.setitem(reg.platforms, "rss", dataclasses.replace(
        reg.platforms["rss"], spider="spiders.rss.spider.NoSuchSpider", fake=None))
    result = CliRunner().invoke(cli, ["platforms"])
    assert result.exit_code == 0, result.output
    rss = next(c for c in result.output.split("\n\n") if c.startswith("rss:"))
    assert "\n  sandbox fake    none\n" in rss
    assert "\n  spider          broken: platform plug-in 'rss (spider " \
           "spiders.rss.spider.NoSuchSpider)'" in rss
    assert "probe_batch" not in rss
    assert "\n  second_signals  account, profile, history" in result.output  # the others
    broken = json.loads(next(line for line in CliRunner().invoke(
        cli, ["platforms", "--json"]).output.splitlines() if '"rss"' in line))
    assert broken["probe_batch"] is None and "NoSuchSpider" in broken["spider_error"]
