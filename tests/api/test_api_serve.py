"""``takedown serve`` and :func:`serve_in_background`: the address, a port already taken,
a clean stop on SIGTERM, and the server as a task of another asyncio loop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from monitor.errors import ConfigError
from spiders.cli.context import Ctx
from spiders.cli.serve import bind, parse_address, serve, serve_in_background, serve_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    ("[::1]:9000", ("::1", 9000)),
    (" localhost:1 ", ("localhost", 1)),
])
def test_addresses(address: str, expected: tuple[str, int]) -> None:
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["8080", ":8080", "host:", "host:http", "::1:80",
                                     "127.0.0.1:70000", ""])
def test_bad_addresses_say_how_to_write_one(address: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_address(address)


@pytest.fixture
def taken() -> Iterator[str]:
    """An address whose port another socket holds."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield f"127.0.0.1:{holder.getsockname()[1]}"


def test_a_port_already_taken_is_a_clear_error(taken: str) -> None:
    with pytest.raises(ConfigError, match="already in use") as err:
        bind(taken)
    assert taken in str(err.value) and "--address" in str(err.value)
    result = CliRunner().invoke(serve, ["--address", taken],
                                obj=Ctx(Path("/nonexistent/watchlist.toml"), 0))
    assert result.exit_code == 1
    assert "already in use" in result.output and "Traceback" not in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_then_stops_cleanly_on_sigterm(shared_db_url: str) -> None:
    address = f"127.0.0.1:{_free_port()}"
    code = ("from pathlib import Path; from spiders.cli.context import Ctx; "
            "from spiders.cli.serve import serve; "
            f"serve.main(['--address', {address!r}], obj=Ctx(Path('/nonexistent/w.toml'), 0))")
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": shared_db_url}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the database is open
        assert f"http://{address}/" in first, first + proc.stderr.read()  # type: ignore[union-attr]
        r = httpx.get(f"http://{address}/api/v1/events", timeout=30)
        assert r.status_code == 401 and "Bearer" in r.json()["error"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


def test_serve_in_background_runs_on_the_callers_loop(app: FastAPI, viewer_token: str,
                                                      taken: str) -> None:
    async def scenario() -> tuple[int, int, bool]:
        handle = serve_in_background(app, f"127.0.0.1:{_free_port()}")
        async with httpx.AsyncClient(timeout=30) as http:
            url = f"http://{handle.address}/api/v1/status"
            for _ in range(600):  # binds at once, starts on later turns (a busy machine)
                try:
                    answer = await http.get(url, headers={
                        "Authorization": f"Bearer {viewer_token}"})
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            anonymous = await http.get(url)
        await handle.stop()
        return answer.status_code, anonymous.status_code, handle.task.done()

    assert asyncio.run(scenario()) == (200, 401, True)
    with pytest.raises(ConfigError, match="already in use"):
        asyncio.run(_background(app, taken))


async def _background(app: FastAPI, address: str) -> None:
    serve_in_background(app, address)


def test_serve_until_stops_with_the_daemon(app: FastAPI) -> None:
    async def scenario() -> tuple[int, bool]:
        stop = asyncio.Event()
        address = f"127.0.0.1:{_free_port()}"
        job = asyncio.ensure_future(serve_until(app, address, stop))
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(600):  # a real server starting on a busy machine
                try:
                    answer = await http.get(f"http://{address}/api/v1/events")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(job, 30)
        return answer.status_code, job.done()

    assert asyncio.run(scenario()) == (401, True)
