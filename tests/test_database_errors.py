"""The database under faults: wrong URLs fail at once with the server's reason, an
outage is logged once each way and loses nothing (issue 6, database items).

Outages are real: a small TCP proxy on 127.0.0.1 sits in front of the test
server and can be cut (every connection dropped, new ones refused) and restored.
Retry waits are injected, so the tests never sleep through a back-off.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import PoolClosed, PoolTimeout

import monitor.db as dbmod
from monitor.continuous import run_continuous
from monitor.db import Database, Health, is_transient
from monitor.db import tracking as store
from monitor.errors import ConfigError, StorageClosed, StorageError, StorageUnavailable
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.snapshot import RETRY_BACKOFF, BackgroundRecorder, Recorder
from monitor.spool import Spool
from monitor.watchlist import Target
from monitor.worker import Worker, run_daemon

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings.load({}, environ={})


# --- a wrong URL --------------------------------------------------------------


@pytest.fixture
def no_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """The error must come before any pool wait (the old code waited 30 s)."""

    def refuse(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the pool was tried: the error was not found up front")

    monkeypatch.setattr(dbmod, "ConnectionPool", refuse)


@pytest.mark.parametrize("url", ["postgresql://127.0.0.1:notaport/x", "host=127.0.0.1 port",
                                 "postgresql://[::1"])
def test_an_unparseable_url_fails_at_once_naming_the_setting(url: str, no_pool: None) -> None:
    with pytest.raises(ConfigError) as err:
        Database(url)
    message = str(err.value)
    assert "TAKEDOWN_DATABASE_URL" in message and "database_url" in message
    assert "postgresql://USER:PASSWORD@HOST:5432/DBNAME" in message


def test_a_missing_database_says_so_at_default_verbosity(pg_server_url: str,
                                                         no_pool: None) -> None:
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname="takedown_no_such_db")
    with pytest.raises(StorageError) as err:
        Database(url)
    message = str(err.value)
    assert 'database "takedown_no_such_db" does not exist' in message
    assert "TAKEDOWN_DATABASE_URL" in message


def test_a_closed_port_says_connection_refused(no_pool: None) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StorageError) as err:
        Database(f"postgresql://postgres:secret@127.0.0.1:{port}/x")
    message = str(err.value)
    assert "refused" in message.lower()
    assert "secret" not in message  # the password is redacted


# --- the health tracker -------------------------------------------------------


@pytest.mark.parametrize("exc, transient", [
    (psycopg.OperationalError("connection refused"), True),  # no SQLSTATE: the client's
    (psycopg.errors.AdminShutdown("terminating connection"), True),
    (psycopg.errors.DeadlockDetected("deadlock detected"), True),
    (psycopg.errors.SerializationFailure("could not serialize"), True),
    (StorageUnavailable("the database is unavailable"), True),
    # An OperationalError by the driver's filing, but the same statement fails again:
    (psycopg.errors.ProgramLimitExceeded("index row requires 100048 bytes"), False),
    (psycopg.DataError("bad data"), False),
    (ValueError("a bug"), False),
    # An OperationalError too, but the pool was closed by this process: it never reopens.
    (PoolClosed("the pool 'takedown' is already closed"), False),
    (StorageClosed("the database was closed by this process"), False),
])
def test_only_faults_a_retry_can_cure_are_transient(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_health_logs_one_line_each_way_with_duration_and_count(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    health = Health(clock=lambda: now[0])
    lost = psycopg.OperationalError("connection refused\nIs the server running?")
    for _ in range(5):
        health.failed(lost)
        now[0] += 2.0
    health.failed(psycopg.errors.DeadlockDetected("deadlock"))  # the server is there
    health.failed(psycopg.DataError("bad data"))  # not an outage at all
    assert health.down and health.failures == 5
    health.ok()
    health.ok()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        "PostgreSQL went away: connection refused; retrying with back-off until it returns",
        "PostgreSQL is back after 10.0 s and 5 failed attempt(s)",
    ]
    assert not health.down and health.outages == 1


def test_a_pool_still_refilling_after_an_outage_is_not_a_second_outage(
        caplog: pytest.LogCaptureFixture) -> None:
    """Right after the database is back, the pool reconnects with its own back-off: a
    caller may time out waiting for a connection while it refills. That is the same
    outage ending, not a new one (CI saw went/back/went/back within a second). A pool
    timeout later on, or the connection failing outright, is a new outage."""
    now = [100.0]
    health = Health(clock=lambda: now[0])
    refused = psycopg.OperationalError("connection refused")
    health.failed(refused)
    now[0] += 3.0
    health.ok()
    now[0] += 0.5
    health.failed(PoolTimeout("couldn't get a connection after 0.50 sec"))
    assert not health.down and health.outages == 1
    now[0] += 0.5
    health.ok()
    now[0] += Health.SETTLE + 1
    health.failed(PoolTimeout("couldn't get a connection after 0.50 sec"))
    assert health.down and health.outages == 2
    health.ok()
    now[0] += 0.5
    health.failed(refused)  # a refused connection is never the pool catching up
    assert health.down and health.outages == 3
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [line.split(":")[0].split(" after")[0] for line in lines] == [
        "PostgreSQL went away", "PostgreSQL is back",
        "PostgreSQL went away", "PostgreSQL is back", "PostgreSQL went away"]


# --- a real outage ------------------------------------------------------------


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of the test server (TCP or, for the
    embedded server, its Unix socket), with a switch."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.refused = 0
        #: When each refused connection attempt came (time.monotonic()).
        self.refusals: list[float] = []
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self.up = False
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._socks.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                self.refused += 1
                self.refusals.append(time.monotonic())
                client.close()
                continue
            host, port = self.upstream
            if host.startswith("/"):  # the embedded server listens on a Unix socket
                server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                server.connect(f"{host}/.s.PGSQL.{port}")
            else:
                server = socket.create_connection(self.upstream)
            with self._lock:
                self._socks |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def proxy(db_url: str) -> Iterator[Proxy]:
    info = psycopg.conninfo.conninfo_to_dict(db_url)
    p = Proxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
    yield p
    p.close()


class Site:
    """Targets set up directly; a Database reached through the proxy for the recorder."""

    def __init__(self, db: Database, db_url: str, proxy: Proxy) -> None:
        self.direct = db
        targets = [Target(group="g", platform="mastodon", kind="account", value=f"a{i}",
                          base_url="https://ex.social", interval=60.0, tags=())
                   for i in range(6)]
        with db.transaction() as conn:
            store.sync_targets(conn, targets, 600)
            conn.execute("UPDATE targets SET lease_until = now() + interval '1 hour'")
            self.rows = conn.execute("SELECT id, key FROM targets ORDER BY id").fetchall()
        url = psycopg.conninfo.make_conninfo(db_url, host="127.0.0.1", port=str(proxy.port))
        self.proxied = Database(url, timeout=0.5)

    def observations(self, at: datetime = T0) -> list[Observation]:
        return [Observation(mode="listing", platform="mastodon", target_key=r["key"],
                            url="x", outcome=Outcome.OK, row_id=r["id"], observed_at=at,
                            entries=[PostContent(key=f"{r['id']}-p", text="hello",
                                                 published_at=at - timedelta(minutes=1))])
                for r in self.rows]

    def counts(self) -> dict[str, int]:
        with self.direct.transaction() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM posts) AS posts, "
                "(SELECT count(*) FROM versions) AS versions, "
                "(SELECT count(*) FROM observations WHERE post_id IS NULL) AS listings, "
                "(SELECT count(*) FROM targets WHERE lease_until IS NOT NULL) AS leased"
            ).fetchone()
        assert row is not None
        return dict(row)


@pytest.fixture
def site(db: Database, db_url: str, proxy: Proxy) -> Iterator[Site]:
    s = Site(db, db_url, proxy)
    yield s
    s.proxied.close()


def outage_lines(caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    messages = [r.getMessage() for r in caplog.records]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    return ([m for m in messages if "went away" in m], [m for m in messages if "is back" in m])


def test_an_outage_leaves_the_database_layer_as_storage_unavailable(
        site: Site, proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    """Callers see the project's own error (the driver's is its cause); an error in the
    data or the SQL is not an outage and passes unchanged."""
    with site.proxied.transaction() as conn:
        conn.execute("SELECT 1")  # the pool holds a live connection
    proxy.cut()
    with pytest.raises(StorageUnavailable) as raised:
        with site.proxied.transaction() as conn:
            conn.execute("SELECT 1")
    assert isinstance(raised.value, StorageError)
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert str(raised.value).startswith("the database is unavailable (")
    assert "check that PostgreSQL is running" in str(raised.value)
    went, _ = outage_lines(caplog)
    assert len(went) == 1 and "the database is unavailable" not in went[0]  # driver's words
    proxy.restore()
    with pytest.raises(psycopg.errors.UndefinedTable):
        with site.proxied.transaction() as conn:
            conn.execute("SELECT * FROM no_such_table")


def test_the_recorder_keeps_its_batch_through_an_outage(site: Site, proxy: Proxy,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 6:
            proxy.restore()

    recorder = Recorder(site.proxied, SETTINGS, sleep=sleep, backoff=(0.5, 4.0))
    recorder.record(site.observations()[:1])  # the pool holds a live connection
    proxy.cut()
    recorder.record(site.observations()[1:])
    assert waits[:6] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # capped back-off
    assert proxy.refused > 0  # the outage was real: connections were refused
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}
    went, back = outage_lines(caplog)
    assert len(went) == 1 and len(back) == 1
    assert "failed attempt(s)" in back[0]
    # And it goes on recording normally, with no new outage line.
    recorder.record(site.observations(T0 + timedelta(minutes=1)))
    assert outage_lines(caplog) == (went, back)


def test_the_recorder_retries_every_few_seconds_however_long_the_outage(
        site: Site, proxy: Proxy) -> None:
    """The recorder's own pause between attempts stays short: each attempt already
    waits out the pool's timeout (30 s by default) while the pool reconnects, so a
    long pause only delays the batch after the server is back. With the old cap of
    30 s a worker holding a batch stalled up to 30 s more after a long outage (the
    crawl waits on the recorder's bounded queue)."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 12:  # minutes, at the default pool timeout
            proxy.restore()

    recorder = Recorder(site.proxied, SETTINGS, sleep=sleep)  # the default back-off
    recorder.record(site.observations()[:1])
    proxy.cut()
    recorder.record(site.observations()[1:])
    assert len(waits) >= 12 and max(waits) <= RETRY_BACKOFF[1] == 5.0
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0]  # short faults are still retried quickly
    assert site.counts()["listings"] == 6


def test_closing_during_an_outage_spools_and_the_next_start_replays(
        site: Site, proxy: Proxy, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool")
    recorder = Recorder(site.proxied, SETTINGS, backoff=(0.05, 0.2))
    writer = BackgroundRecorder(recorder, batch_size=4, max_wait=0.01, spool=spool)
    for obs in site.observations()[:1]:
        assert writer.put(obs)
    writer.close()
    assert site.counts()["listings"] == 1
    proxy.cut()
    writer = BackgroundRecorder(recorder, batch_size=4, max_wait=0.01, spool=spool)
    for obs in site.observations()[1:]:
        assert writer.put(obs)
    writer.close(timeout=0.5)  # does not hang: spools what it holds
    assert writer.spooled == 5
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
    assert site.counts()["listings"] == 1
    proxy.restore()
    # The next start: a writer with the same spool replays it before anything else.
    later = BackgroundRecorder(Recorder(site.proxied, SETTINGS), spool=spool)
    later.close()
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}
    assert list((tmp_path / "spool").iterdir()) == []
    # Replaying the same file again (a crash before it was deleted) adds nothing.
    Spool(tmp_path / "spool").write(site.observations()[1:])
    BackgroundRecorder(Recorder(site.proxied, SETTINGS), spool=spool).close()
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}
    went, back = outage_lines(caplog)
    assert len(went) == 1 and len(back) == 1


def test_spool_is_bounded(tmp_path: Path, site: Site) -> None:
    spool = Spool(tmp_path, max_bytes=1500)
    kept = spool.write(site.observations())
    assert 0 < kept < 6
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 1500
    assert spool.write(site.observations()) == 0


def test_the_pool_keeps_trying_every_few_seconds_however_long_the_outage(
        site: Site, proxy: Proxy) -> None:
    """After an outage of any length, the work resumes within seconds of the database's
    return. psycopg's pool doubles the pause between reconnection attempts (1, 2, 4,
    8, 16 s ... for five minutes), so after an outage of a minute it tried again only
    half a minute after the server was back (measured: 20 s after a 40 s outage).
    Each chain of attempts now gives up after RECONNECT_TIMEOUT, and the next request
    for a connection (the next tick) starts a new one, from a 1 s pause."""
    with site.proxied.transaction() as conn:
        conn.execute("SELECT 1")
    proxy.cut()

    def attempt() -> bool:
        try:
            with site.proxied.transaction() as conn:
                conn.execute("SELECT 1")
            return True
        except StorageUnavailable:
            time.sleep(0.25)  # a tick: the daemon asks again
            return False

    cut = time.monotonic()
    while time.monotonic() - cut < 17.5:
        assert not attempt()
    tries = [t - cut for t in proxy.refusals]
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert tries and max(gaps) < dbmod.Database.RECONNECT_TIMEOUT + 1.5, tries
    assert tries[-1] > 17.5 - dbmod.Database.RECONNECT_TIMEOUT - 1.5, tries
    proxy.restore()
    back = time.monotonic()
    while not attempt():
        assert time.monotonic() - back < dbmod.Database.RECONNECT_TIMEOUT + 2, tries


def test_the_daemon_rides_out_an_outage_without_a_traceback(
        site: Site, proxy: Proxy, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crawled: list[str] = []

    async def crawl(work: Any, sink: Any, settings: Any) -> None:
        for items in work.values():
            async for item in items:
                crawled.append(item.target_key)

    settings = Settings.load({"tick": "0.1s"}, environ={})
    worker = Worker(site.proxied, settings, crawl, spool_dir=tmp_path)
    reloads: list[int] = []

    busy = threading.Event()  # a reload in flight: stopping now would cancel it
    sync = worker.sync

    def reload() -> list[Any]:
        busy.set()
        reloads.append(1)
        return [Target(group="g", platform="mastodon", kind="account", value="new",
                       base_url="https://ex.social", interval=60.0, tags=())]

    cycle = worker.cycle
    results: list[dict[str, Any]] = []

    async def main() -> None:
        stop = asyncio.Event()

        async def counted() -> dict[str, Any]:
            results.append(await cycle())
            if len(results) >= 3 and reloads and not busy.is_set():
                stop.set()  # between jobs, so none is cut short
            return results[-1]

        def synced(targets: Any) -> Any:
            try:
                return sync(targets)
            finally:
                busy.clear()

        worker.cycle = counted  # type: ignore[method-assign]
        worker.sync = synced  # type: ignore[method-assign]
        await run_daemon(worker, reload=reload, stop=stop, reload_every=0.1)

    proxy.cut()
    asyncio.run(main())
    worker.cycle = cycle  # type: ignore[method-assign]
    assert [r.get("database") for r in results] == ["unavailable"] * len(results)
    assert crawled == [] and reloads  # both jobs ran, and failed quietly
    went, back = outage_lines(caplog)
    assert len(went) == 1 and back == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    proxy.restore()
    with site.direct.transaction() as conn:
        conn.execute("UPDATE targets SET lease_until = NULL, next_due = now()")
    # While the pool refills, a claim can still time out after a tick has begun (CI,
    # 2026-12-04: the tick got past its first query, its claims failed, it crawled
    # nothing). That tick is not reported as unavailable; the next ones take the work.
    # The first claim after the outage fails here on purpose, so that path always runs.
    claim, refused = worker._claim, []

    def refilling(*args: Any) -> Any:
        if not refused:
            refused.append(args[0])
            raise StorageUnavailable("the pool is still refilling (injected)")
        return claim(*args)

    worker._claim = refilling  # type: ignore[method-assign]
    deadline = time.monotonic() + 60  # the pool reconnects with its own back-off
    while len(crawled) < 6 and time.monotonic() < deadline:
        asyncio.run(worker.cycle())
    assert refused and sorted(crawled) == sorted(r["key"] for r in site.rows)
    assert len(outage_lines(caplog)[1]) == 1


def test_the_continuous_loop_rides_out_an_outage_and_resumes(
        site: Site, proxy: Proxy, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``takedown run``'s loop (run_continuous) through an outage: no traceback, no
    error, one line when it starts and one when it ends, and the work due during it
    is checked once the database is back, without a restart."""
    crawled: list[str] = []
    progress = asyncio.Event()

    async def crawl(work: Any, sink: Any, settings: Any) -> None:
        async def drain(items: Any) -> None:
            async for item in items:
                crawled.append(item.target_key)
                progress.set()
        await asyncio.gather(*(drain(items) for items in work.values()))

    worker = Worker(site.proxied, Settings.load({"tick": "0.1s"}, environ={}), crawl,
                    spool_dir=tmp_path)
    with site.direct.transaction() as conn:
        conn.execute("UPDATE targets SET lease_until = NULL, next_due = now()")
    proxy.cut()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(run_continuous(worker, stop=stop))
        await asyncio.sleep(1.5)  # some ticks into the outage: nothing may be claimed
        assert crawled == [] and not task.done()
        assert len(outage_lines(caplog)[0]) == 1
        proxy.restore()
        async with asyncio.timeout(30):  # the pool reconnects with its own back-off
            while len(set(crawled)) < 6:
                progress.clear()
                await asyncio.wait([asyncio.ensure_future(progress.wait()), task],
                                   timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                assert not task.done()
        stop.set()
        await task

    try:
        asyncio.run(main())
    finally:
        proxy.restore()
        worker.close()
    assert sorted(set(crawled)) == sorted(r["key"] for r in site.rows)
    went, back = outage_lines(caplog)
    assert len(went) == 1 and len(back) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- a database this process closed -------------------------------------------


def test_a_closed_database_is_not_an_outage(db_url: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """Closed by its own process (shutting down), a database fails at once with an error
    that says so: no outage is logged, and no caller retries it (it never comes back)."""
    closed = Database(db_url)
    closed.close()
    with pytest.raises(StorageClosed, match="closed by this process") as raised:
        with closed.transaction() as conn:
            conn.execute("SELECT 1")
    # A caller that skips an attempt on StorageUnavailable skips it quietly; none waits.
    assert isinstance(raised.value, StorageUnavailable)
    assert not is_transient(raised.value)
    assert not closed.health.down
    assert outage_lines(caplog) == ([], [])


def test_a_writer_whose_database_was_closed_spools_at_once(
        site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The database closed under a writer still holding observations (a command
    unwinding in the wrong order): it spools them at once rather than wait out its
    close timeout on a pool that never reopens (CI, 2026-12-02: a demo stopped by
    SIGTERM took 60 s to exit, logging "PostgreSQL went away")."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        threading.Event().wait(0.01)

    spool = Spool(tmp_path / "spool")
    db = Database(site.proxied.url, timeout=0.5)
    writer = BackgroundRecorder(Recorder(db, SETTINGS, sleep=sleep), batch_size=4,
                                max_wait=0.01, spool=spool)
    db.close()
    for obs in site.observations():
        assert writer.put(obs)
    writer.close(timeout=2.0)
    assert waits == []  # not retried
    assert writer.spooled == 6
    assert outage_lines(caplog) == ([], [])
    # The next start replays them.
    BackgroundRecorder(Recorder(site.proxied, SETTINGS), spool=spool).close()
    assert site.counts() == {"posts": 6, "versions": 6, "listings": 6, "leased": 0}
