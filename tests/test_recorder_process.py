"""Recording in a process of its own (RECORDER = process), against real PostgreSQL.

The child records what the thread would; the parent hears every committed batch
(``batch_committed``) and the child's log lines; a child killed with work in hand
gives that work back as leases; a stop during an outage spools in the child and
the next recorder replays it; an events_stored receiver that cannot be sent to
the child is refused with what to do.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import TakedownError
from monitor.events import Event
from monitor.observation import Observation, Outcome, RawCapture
from monitor.recorder_process import RecorderProcess
from monitor.settings import Settings
from monitor.signals import SignalManager, batch_committed, events_stored
from monitor.snapshot import BackgroundRecorder, Recorder
from monitor.spool import Spool
from tests import test_database_errors
from tests.test_database_errors import T0, Proxy, Site

#: The proxy in front of the test database and the six leased targets behind it.
proxy = test_database_errors.proxy
site = test_database_errors.site

SETTINGS = Settings.load({}, environ={})


def captured(obs: Observation) -> Observation:
    """``obs`` with a raw capture, as a spider sends it."""
    from dataclasses import replace

    return replace(obs, capture=RawCapture(
        url="https://ex.social/api", status=200, body=b'{"ok": 1}', method="GET",
        request_headers=(("Accept", "json"),), response_headers=(("Content-Type", "json"),),
        fetched_at=T0))


def recorder(site: Site, tmp_path: Path, signals: SignalManager | None = None,
             **kw: Any) -> RecorderProcess:
    return RecorderProcess(site.proxied, SETTINGS, signals=signals or SignalManager(),
                           spool=Spool(tmp_path / "spool"), batch_size=4, **kw)


def healthy(site: Site) -> bool:
    try:
        with site.proxied.transaction() as conn:
            conn.execute("SELECT 1")
    except Exception:
        return False
    return True


def exited(pid: int) -> bool:
    """Whether process ``pid`` (not ours to reap) has exited: gone, or a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().split(") ", 1)[1].startswith("Z")


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_child_records_and_the_parent_hears_each_committed_batch(
        site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    heard: list[tuple[list[Observation], list[Event]]] = []
    signals = SignalManager()
    signals.connect(lambda observations, events: heard.append((list(observations), events)),
                    batch_committed)  # parent-side receivers may be anything
    rec = recorder(site, tmp_path, signals).open()
    stray = Observation(mode="listing", platform="mastodon", target_key="nobody", url="x",
                        outcome=Outcome.OK, row_id=999_999, observed_at=T0)
    try:
        with caplog.at_level(logging.WARNING):
            for obs in [*map(captured, site.observations()), stray]:
                assert rec.put(obs)
            rec.close()
        assert rec.stats["observations"] == 7 and rec.stats["batches"] >= 2
        assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}
        got = [o for batch, _ in heard for o in batch]
        assert sorted(o.row_id for o in got) == sorted(r["id"] for r in site.rows) + [999_999]
        # The raw bytes and the parsed content stay in the child; the outcome comes back.
        assert all(o.capture is None and o.post is None and o.entries is None for o in got)
        assert {o.outcome for o in got} == {Outcome.OK}
        assert rec._child is not None and not rec._child.unsettled  # nothing kept for them
        # The child's log lines are the parent's: the stray target's warning arrived.
        assert any("unknown target nobody dropped" in r.getMessage() for r in caplog.records)
        # A second span reuses the child; its counts are its own.
        child = rec._child
        assert rec.open()._child is child
        rec.close()
        assert rec.stats["observations"] == 0
    finally:
        rec.shutdown()
    assert rec._child is None


def test_the_child_records_without_loading_pydantic(site: Site, tmp_path: Path) -> None:
    """The settings reach the child as a plain dict, and nothing the recorder imports
    needs pydantic, nor does the alerts outbox it is sent (its config is plain
    dataclasses): pydantic's extension (about 9 MiB with the models) is never mapped
    into the child, and a worker holds one child."""
    from alerts import Outbox
    from alerts.config import load_config

    signals = SignalManager()
    config = load_config({"channels": {"desk": {"url": "json://127.0.0.1:9/hook"}}})
    Outbox(config).connect(signals)
    rec = recorder(site, tmp_path, signals).open()
    try:
        for obs in map(captured, site.observations()):
            assert rec.put(obs)
        rec.close()
        assert rec.stats["observations"] == 6  # every recording module is loaded by now
        assert rec._child is not None
        maps = Path(f"/proc/{rec._child.proc.pid}/maps").read_text(encoding="ascii")
        assert "/psycopg" in maps  # the check reads the right process
        assert "pydantic" not in maps
    finally:
        rec.shutdown()


@pytest.mark.parametrize(("priority", "policy"), [("normal", os.SCHED_OTHER),
                                                   ("idle", os.SCHED_IDLE)])
def test_recorder_priority_sets_the_childs_scheduling_and_every_thread_of_it(
        site: Site, tmp_path: Path, priority: str, policy: int) -> None:
    """RECORDER_PRIORITY = idle: the child, once started, and its threads (the writer, the
    pool's, the watch) run under SCHED_IDLE, and it records as before; the worker (this
    process) keeps its own scheduling."""
    settings = SETTINGS.replace(RECORDER_PRIORITY=priority)
    rec = RecorderProcess(site.proxied, settings, signals=SignalManager(),
                          spool=Spool(tmp_path / "spool"), batch_size=4).open()
    try:
        for obs in map(captured, site.observations()):
            assert rec.put(obs)
        rec.close()  # the writer and the pool's threads are up by now
        assert rec._child is not None
        pid = rec._child.proc.pid
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        assert len(tids) >= 3
        assert {os.sched_getscheduler(tid) for tid in tids} == {policy}
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
    finally:
        rec.shutdown()
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


def test_a_refused_priority_is_reported_and_normal_asks_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system refuses SCHED_IDLE (a sandbox, another OS) the child says why and
    records at normal priority; ``normal`` never calls the scheduler."""
    from monitor import recorder_child

    calls: list[Any] = []

    def refuse(*args: Any) -> None:
        calls.append(args)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    assert recorder_child.prioritise("normal") is None and calls == []
    assert recorder_child.prioritise("idle") == "sched_setscheduler: Operation not permitted"
    assert len(calls) == 1 and calls[0][1:] == (os.SCHED_IDLE, os.sched_param(0))
    assert str(calls[0][0]) in os.listdir(f"/proc/{os.getpid()}/task")  # one of ours
    monkeypatch.delattr(os, "SCHED_IDLE")
    assert recorder_child.prioritise("idle") == "this system has no SCHED_IDLE"


def _run_where_the_scheduler_refuses(*args: Any) -> None:
    """The recorder process's entry point in a system that forbids sched_setscheduler
    (run in the spawned child, so the refusal is the child's own)."""
    from monitor import recorder_child

    def refuse(*_: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    os.sched_setscheduler = refuse  # type: ignore[assignment]  # this child only
    recorder_child.run(*args)


def test_a_child_refused_idle_says_so_in_the_worker_and_records_at_normal_priority(
        site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor import recorder_child

    monkeypatch.setattr(recorder_child, "run", _run_where_the_scheduler_refuses)
    rec = RecorderProcess(site.proxied, SETTINGS.replace(RECORDER_PRIORITY="idle"),
                          signals=SignalManager(), spool=Spool(tmp_path / "spool"),
                          batch_size=4).open()
    try:
        with caplog.at_level(logging.WARNING):
            for obs in map(captured, site.observations()):
                assert rec.put(obs)
            rec.close()
        assert rec._child is not None
        pid = rec._child.proc.pid
        assert {os.sched_getscheduler(int(t)) for t in os.listdir(f"/proc/{pid}/task")} == {
            os.SCHED_OTHER}
    finally:
        rec.shutdown()
    said = [r.getMessage() for r in caplog.records if r.name == "monitor.recorder_child"]
    assert said == ["RECORDER_PRIORITY = idle not applied (sched_setscheduler: Operation not "
                    "permitted); the recorder process runs at normal priority. Set "
                    "RECORDER_PRIORITY = normal to silence this"]
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


def test_an_unpicklable_events_stored_receiver_is_refused_saying_what_to_do(
        site: Site, tmp_path: Path) -> None:
    signals = SignalManager()
    signals.connect(lambda conn, events: None, events_stored)
    with pytest.raises(TakedownError, match='RECORDER = "thread"') as raised:
        recorder(site, tmp_path, signals)
    assert "cannot be sent to the recorder process" in str(raised.value)


def test_a_killed_child_gives_its_unrecorded_work_back_and_the_next_span_starts_anew(
        site: Site, proxy: Proxy, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The database is cut so the child holds the work; SIGKILL; the leases come back
    at once (not after LEASE), and a new child records the work again."""
    rec = recorder(site, tmp_path).open()
    try:
        proxy.cut()
        for obs in site.observations():
            assert rec.put(obs)
        child = rec._child
        assert child is not None
        wait_for(lambda: sum(child.unsettled.values()) == 6)  # all in the child's hands
        assert site.counts()["leased"] == 6
        proxy.restore()  # the parent gives the leases back through the database
        wait_for(lambda: healthy(site))
        with caplog.at_level(logging.ERROR):
            os.kill(child.proc.pid, signal.SIGKILL)
            wait_for(child.gone.is_set)
            # The reader gives the leases back once it saw the child gone (after it set
            # ``gone``: a put() fails from then on); well within the test's wait, long
            # before LEASE would run out.
            wait_for(lambda: site.counts()["leased"] == 0)
        assert site.counts() == {"posts": 0, "versions": 0, "listings": 0, "leased": 0}
        assert any("6 observation(s) not recorded; their leases are given back" in
                   r.getMessage() for r in caplog.records)
        with pytest.raises(RuntimeError, match="recorder process failed"):
            rec.put(site.observations()[0])
        records_anew(rec, child, site)
    finally:
        rec.shutdown()


def records_anew(rec: RecorderProcess, gone: Any, site: Site) -> None:
    """The next span (the next cycle) starts a new child, in place of ``gone``, and it
    records the work claimed again."""
    rec.open()
    assert rec._child is not gone
    for obs in site.observations():
        assert rec.put(obs)
    rec.close()
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


@pytest.mark.parametrize("killer", ["grace", "system"])
def test_a_child_killed_during_its_stop_gives_its_unrecorded_work_back(
        site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture, killer: str) -> None:
    """A stop asks the child to spool what it holds; one that cannot (frozen here: a
    starved SCHED_IDLE recorder, a hung call) is killed after the grace, having spooled
    nothing; or the system kills it (the OOM killer) while the stop waits. What it held
    is given back at once, as for any child that died, not left for LEASE to run out
    (the work would wait up to ten minutes to be checked again)."""
    rec = recorder(site, tmp_path).open()
    try:
        child = rec._child
        assert child is not None
        os.kill(child.proc.pid, signal.SIGSTOP)  # it reads nothing from now on
        for obs in site.observations():
            assert rec.put(obs)
        wait_for(lambda: sum(child.unsettled.values()) == 6)  # sent, unread
        assert site.counts()["leased"] == 6
        with caplog.at_level(logging.ERROR):
            if killer == "system":
                threading.Timer(0.3, os.kill, (child.proc.pid, signal.SIGKILL)).start()
            rec.stop(grace=0.5 if killer == "grace" else 30.0)
            assert child.gone.is_set() and child.proc.exitcode == -signal.SIGKILL
            wait_for(lambda: site.counts()["leased"] == 0)
        assert site.counts() == {"posts": 0, "versions": 0, "listings": 0, "leased": 0}
        assert rec.spooled == 0 and not list((tmp_path / "spool").glob("*.jsonl"))
        assert any("6 observation(s) not recorded; their leases are given back" in
                   r.getMessage() for r in caplog.records)
        records_anew(rec, child, site)
    finally:
        rec.shutdown()

def test_a_stop_during_an_outage_spools_in_the_child_and_the_next_start_replays(
        site: Site, proxy: Proxy, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rec = recorder(site, tmp_path).open()
    try:
        assert rec.put(site.observations()[0])
        rec.close()
        assert site.counts()["listings"] == 1
        proxy.cut()
        for obs in site.observations()[1:]:
            assert rec.put(obs)
        rec.close(timeout=1.0)  # does not hang: the child stops and spools what it holds
        assert rec.spooled == 5
        assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
        assert site.counts()["listings"] == 1
        assert site.counts()["leased"] == 5  # spooled, not given back: the replay records
    finally:
        rec.shutdown()
    proxy.restore()
    # The next recorder on this spool (a thread here: the same spool, either mode) replays.
    BackgroundRecorder(Recorder(site.proxied, SETTINGS), spool=Spool(tmp_path / "spool")
                       ).close()
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_stop_before_the_database_was_ever_reachable_spools_everything(
        site: Site, proxy: Proxy, tmp_path: Path) -> None:
    """The child starts during an outage: it waits to connect (back-off), and a stop
    spools what reached it, nothing lost and no lease given back."""
    proxy.cut()
    rec = recorder(site, tmp_path).open()
    try:
        for obs in site.observations():
            assert rec.put(obs)
        child = rec._child
        assert child is not None
        wait_for(lambda: sum(child.unsettled.values()) == 6)  # in the pipe
        rec.stop(grace=30)
        assert child.gone.is_set() and rec.error is None
        assert rec.spooled == 6 and not child.unsettled
        assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
    finally:
        rec.shutdown()
    proxy.restore()
    assert site.counts()["leased"] == 6  # spooled, to be replayed: not given back


def test_backpressure_the_parent_queue_fills_while_the_child_cannot_write(
        site: Site, proxy: Proxy, tmp_path: Path) -> None:
    """A database that is away fills the child and then the parent's queue: put says
    False (the crawl waits) instead of holding everything in memory."""
    rec = recorder(site, tmp_path, max_queue=100).open()
    try:
        rec.put(site.observations()[0])
        rec.close()
        proxy.cut()
        taken = 0
        while taken < 5000 and rec.put(site.observations(T0 + timedelta(seconds=taken))[
                taken % 6]):
            taken += 1
        assert taken < 5000  # bounded: the queue said "full" long before the end
    finally:
        rec.stop(grace=10)
        rec.shutdown()


#: A child script's work: a listing of each row, put until all of it is in the pipe.
SEND_ROWS = """\
    for row_id, key in rows:
        rec.put(Observation(mode="listing", platform="mastodon", target_key=key, url="x",
                            outcome=Outcome.OK, row_id=row_id, observed_at=at, seat=seat,
                            entries=[PostContent(key=f"{row_id}-p", text="hello",
                                                 published_at=at - timedelta(minutes=1))]))
    while sum(rec._child.unsettled.values()) < len(rows):  # all in the pipe
        time.sleep(0.01)
"""

ORPHAN = """
import json, sys, time
from datetime import datetime, timedelta
from monitor.db import Database
from monitor.observation import Observation, Outcome, PostContent
from monitor.recorder_process import RecorderProcess
from monitor.settings import Settings
from monitor.signals import SignalManager
from monitor.spool import Spool

if __name__ == "__main__":
    url, spool, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    at = datetime.fromisoformat(sys.argv[4])
    db = Database(url)
    rec = RecorderProcess(db, Settings.load({}, environ={}), signals=SignalManager(),
                          spool=Spool(spool), batch_size=4).open()
    seat = None  # no worker seat: nothing is fenced
""" + SEND_ROWS + """\
    print(rec._child.proc.pid, flush=True)
    time.sleep(3600)
"""


def test_a_child_whose_parent_was_killed_records_what_it_had_and_exits(
        site: Site, db_url: str, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    rows = [[r["id"], r["key"]] for r in site.rows]
    parent = subprocess.Popen(
        [sys.executable, str(script), db_url, str(tmp_path / "spool"), json.dumps(rows),
         T0.isoformat()], stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()

    wait_for(lambda: exited(child), timeout=60)
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


def test_the_child_ignores_ctrl_c_and_sigterm_its_worker_ends_it(
        site: Site, tmp_path: Path) -> None:
    """A terminal's Ctrl-C (and a service manager's SIGTERM) reaches the whole process
    group: the child carries on, and the worker's own shutdown flushes and ends it."""
    rec = recorder(site, tmp_path).open()
    try:
        assert rec.put(site.observations()[0])
        rec.close()  # the child is up and has recorded
        child = rec._child
        assert child is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            os.kill(child.proc.pid, signum)
        time.sleep(0.3)
        assert child.proc.is_alive() and not child.gone.is_set()
        for obs in site.observations()[1:]:
            assert rec.put(obs)
    finally:
        rec.shutdown()
    assert child.gone.is_set() and child.proc.exitcode == 0
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


def test_a_script_that_never_closes_its_worker_still_exits_and_records(
        site: Site, db_url: str, tmp_path: Path) -> None:
    """The child ignores SIGTERM, which multiprocessing's exit handler sends: an exit
    handler of ours closes the pipe first, after committing what the child holds."""
    import json
    import subprocess
    import sys

    script = tmp_path / "unclosed.py"
    # Half the work flushed (the child is up, past its signal set-up), half not.
    script.write_text(ORPHAN.replace("    for row_id, key in rows:",
                                     "    for n, (row_id, key) in enumerate(rows):\n"
                                     "        if n == 3:\n"
                                     "            rec.close()")
                      .split("    while sum(")[0])
    rows = [[r["id"], r["key"]] for r in site.rows]
    done = subprocess.run(
        [sys.executable, str(script), db_url, str(tmp_path / "spool"), json.dumps(rows),
         T0.isoformat()], cwd=Path(__file__).parent.parent, timeout=30, check=False)
    assert done.returncode == 0
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}


class _Abort:
    """The abort event of :func:`monitor.recorder_child._connect`: records each wait
    and says "stop" at the ``stop_at``-th."""

    def __init__(self, stop_at: int) -> None:
        self.waits: list[float] = []
        self.stop_at = stop_at

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return len(self.waits) >= self.stop_at


def test_a_child_that_cannot_connect_retries_with_the_recorders_back_off_and_warns_once(
        site: Site, proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    """A recorder process started during an outage connects with the recorder's short
    back-off (RETRY_BACKOFF), says so once as a warning and then at debug level only,
    and connects as soon as the database is there."""
    from monitor.recorder_child import Start, _connect
    from monitor.snapshot import RETRY_BACKOFF

    start = Start(url=site.proxied.url, settings=Settings.load({}, environ={}), receivers=(),
                  spool_dir="", batch_size=10, max_queue=10, log_level=logging.DEBUG,
                  timeout=0.5)
    proxy.cut()
    caplog.set_level(logging.DEBUG, logger="monitor.recorder_child")
    abort = _Abort(stop_at=8)
    assert _connect(start, abort, os.getppid()) is None  # stopped while still away
    assert abort.waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    assert max(abort.waits) == RETRY_BACKOFF[1]
    said = [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "monitor.recorder_child"]
    assert [level for level, _ in said] == [logging.WARNING] + [logging.DEBUG] * 7
    assert said[0][1].startswith("the recorder process cannot reach the database yet (")
    proxy.restore()
    db = _connect(start, _Abort(stop_at=1), os.getppid())
    assert db is not None
    db.close()


#: The child's imports that belong to the command line, not to recording.
COMMAND_LINE_ONLY = ("pydantic", "click", "monitor.settings", "monitor.watchlist", "scrapy")


def console_script_import() -> str:
    """The one import of the ``takedown`` console script pip writes, read from the installed
    entry point (``spiders.cli:main`` gives ``from spiders.cli import main``): moving the
    entry point moves what these tests check."""
    from importlib.metadata import entry_points

    (point,) = entry_points(group="console_scripts", name="takedown")
    return f"from {point.module} import {point.attr}"


#: A ``takedown`` worker in miniature: the console script's top-level imports, then a
#: main that starts a recorder process, waits until it has answered a flush, and prints
#: what the child has mapped.
CONSOLE_SCRIPT = """\
import sys
{entry}
if __name__ == "__main__":
    from pathlib import Path
    from monitor.db import Database
    from monitor.recorder_process import RecorderProcess
    from monitor.settings import Settings
    from monitor.signals import SignalManager
    from monitor.spool import Spool
    db = Database(sys.argv[1])
    rec = RecorderProcess(db, Settings.load({}, environ={}), signals=SignalManager(),
                          spool=Spool(Path(sys.argv[2])), batch_size=4).open()
    rec.close()  # the child has answered: it runs recorder_child.run
    maps = Path(f"/proc/{rec._child.proc.pid}/maps").read_text(encoding="ascii")
    print("psycopg" if "/psycopg" in maps else "-", "pydantic" if "pydantic" in maps else "-")
    rec.shutdown()
    db.close()
"""


def test_a_recorder_spawned_under_the_takedown_script_loads_no_command_line(
        db_url: str, tmp_path: Path) -> None:
    """A spawned child runs the parent's main script again before its target (as
    ``__mp_main__``): under ``takedown`` that is the console script, whose one import
    is ``from spiders.cli import main``. That import stays light, so the recorder
    process never maps pydantic (about 9 MiB with the models) or the command line's
    other libraries, whichever command started it."""
    import subprocess
    import sys

    script = tmp_path / "takedown"
    script.write_text(CONSOLE_SCRIPT.replace("{entry}", console_script_import()),
                      encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), db_url, str(tmp_path / "spool")],
                          capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["psycopg", "-"], done.stdout  # psycopg: the right process


def test_the_console_script_import_is_light() -> None:
    """What the console script imports at its top (and so what every spawned child of a
    ``takedown`` process imports again): the command line's package, not its app."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{console_script_import()}\n"
         f"print([m for m in {COMMAND_LINE_ONLY!r} if m in sys.modules])"],
        capture_output=True, text=True, check=True, timeout=60,
        cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.strip() == "[]", out
