"""The web interface where users start it: ``takedown run`` with ``API_IN_RUN`` and
``takedown demo --serve``, as real processes on 127.0.0.1."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.db import Database
from monitor.db.access import create_token

pytestmark = pytest.mark.slow


def free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def wait_for(check: Any, timeout: float = 60.0) -> Any:
    """Poll ``check`` (a real server in another process) until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting: {last!r}")


class Lines:
    """``proc``'s stdout, read by a thread: ``select`` on a text pipe misses lines already
    in Python's buffer."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        stdout = proc.stdout
        self.thread = threading.Thread(
            target=lambda: [self.queue.put(line) for line in stdout], daemon=True)
        self.thread.start()

    def text(self) -> str:
        """Every line, once the process ended (its stdout read by this reader alone)."""
        self.thread.join(10)
        while not self.queue.empty():
            self.seen.append(self.queue.get())
        return "".join(self.seen)

    def until(self, marker: str, timeout: float = 90.0) -> str:
        """The next line holding ``marker``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if marker in line:
                return line
        raise AssertionError(f"no {marker!r} in: {''.join(self.seen)}")


def test_run_serves_the_api_and_syncs_review_groups(tmp_path: Path, db_url: str) -> None:
    watchlist = tmp_path / "w.toml"
    watchlist.write_text('[groups.desk]\nreview = true\n[[groups.desk.targets]]\n'
                         'platform = "rss"\nfeed = "http://127.0.0.1:9/a.xml"\n'
                         '[groups.open]\n[[groups.open.targets]]\nplatform = "rss"\n'
                         'feed = "http://127.0.0.1:9/b.xml"\n', encoding="utf-8")
    with Database(db_url) as db:
        db.migrate()
        with db.transaction() as conn:
            _, token = create_token(conn, "tester", "viewer")
    address = free_address()
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url, "TAKEDOWN_WATCHLIST": str(watchlist),
           "TAKEDOWN_METRICS_ADDRESS": "", "TAKEDOWN_TICK": "1h",
           "TAKEDOWN_API_IN_RUN": "true", "TAKEDOWN_API_ADDRESS": address}
    proc = subprocess.Popen([sys.executable, "-m", "spiders.cli", "run"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        Lines(proc).until("takedown run:")
        answer = wait_for(lambda: httpx.get(
            f"http://{address}/api/v1/targets", headers={"Authorization": f"Bearer {token}"}))
        assert answer.status_code == 200, answer.text
        assert httpx.get(f"http://{address}/api/v1/targets").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    with Database(db_url) as db, db.transaction() as conn:
        rows = conn.execute("SELECT name, review FROM review_groups ORDER BY name").fetchall()
    assert [(r["name"], r["review"]) for r in rows] == [("desk", True), ("open", False)]


def test_run_with_the_api_port_taken_says_so(tmp_path: Path, db_url: str) -> None:
    watchlist = tmp_path / "w.toml"
    watchlist.write_text('[groups.a]\n[[groups.a.targets]]\nplatform = "rss"\n'
                         'feed = "http://127.0.0.1:9/a.xml"\n', encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url,
               "TAKEDOWN_WATCHLIST": str(watchlist), "TAKEDOWN_METRICS_ADDRESS": "",
               "TAKEDOWN_TICK": "1h", "TAKEDOWN_API_IN_RUN": "true",
               "TAKEDOWN_API_ADDRESS": address}
        done = subprocess.run([sys.executable, "-m", "spiders.cli", "run"], env=env, text=True,
                              capture_output=True, timeout=120)
    assert done.returncode != 0
    assert f"cannot serve on {address}: the port is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_serve_opens_the_web_interface_over_the_demo(tmp_path: Path, db_url: str) -> None:
    address = free_address()
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url}
    proc = subprocess.Popen([sys.executable, "-m", "spiders.cli", "demo", "--seconds", "40",
                             "--serve", address], env=env, text=True, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = Lines(proc)
    try:
        line = lines.until("web interface:")
        assert f"http://{address}/login" in line
        token = line.rsplit("shown once: ", 1)[1].rstrip(")\n")
        auth = {"Authorization": f"Bearer {token}"}
        page = wait_for(lambda: httpx.get(f"http://{address}/login"))
        assert page.status_code == 200 and "Content-Security-Policy" in page.headers
        # The demo records events while it serves them.
        events = wait_for(lambda: httpx.get(f"http://{address}/api/v1/events",
                                            headers=auth).json()["events"], timeout=90)
        assert {e["group"] for e in events} == {"demo"}
        # The demo group waits for review, so the queue has work for the operator.
        queue = httpx.get(f"http://{address}/api/v1/review", headers=auth).json()
        assert queue["events"], queue
        lines.until("still serving")
        assert httpx.get(f"http://{address}/", headers=auth).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize("serve", [False, True], ids=["plain", "serving"])
def test_sigterm_during_the_demo_stops_it_cleanly(tmp_path: Path, db_url: str,
                                                  serve: bool) -> None:
    """SIGTERM (or Ctrl-C) while the demo watches its sandbox stops its daemon the way
    ``takedown run`` stops: the cycle under way ends and records what it holds, the
    summary is printed, and the process exits 0. It used to unwind by KeyboardInterrupt
    from wherever the crawl stood: exit 130, no summary, and (CI, 2026-12-02) once the
    database closed under a recorder still holding a batch, which then waited 60 s for
    "PostgreSQL" to come back."""
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": db_url}
    args = ["--serve", free_address()] if serve else []
    with (tmp_path / "stderr").open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "spiders.cli", "demo", "--seconds",
                                 "120", *args], env=env, text=True, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=stderr)
    lines = Lines(proc)
    try:
        # Printed once SIGTERM stops the daemon cleanly (before, start-up ends at once).
        lines.until("tracking ")
        time.sleep(3)  # a few cycles in: one is crawling and recording
    finally:
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        proc.wait(timeout=90)
    took = time.monotonic() - stopped
    out, err = lines.text(), (tmp_path / "stderr").read_text()
    assert proc.returncode == 0, err
    assert took < 30, err  # not a recorder's 60 s close timeout
    assert "Traceback" not in err
    assert "went away" not in err and "spooled" not in err, err
    assert "scripted changes detected so far" in out
    assert "still serving" not in out  # stopped: not serving on


def test_two_demos_started_in_one_second_each_get_a_token(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's operator token was named by the second alone: a second demo on the
    same database within that second failed ("a token named 'demo-…' exists")."""
    from spiders.cli import demo

    monkeypatch.setattr(demo.time, "time", lambda: 1796278874.0)
    settings = demo.demo_settings({"TAKEDOWN_DATABASE_URL": db.url})
    tokens = {demo._web(settings, db, "127.0.0.1:0")[2] for _ in range(2)}
    assert len(tokens) == 2
    with db.transaction() as conn:
        names = [r["name"] for r in conn.execute("SELECT name FROM api_tokens")]
    assert len(names) == 2 and all(n.startswith("demo-1796278874-") for n in names), names
