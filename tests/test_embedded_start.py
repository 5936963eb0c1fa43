"""The embedded PostgreSQL on a fresh machine: pgserver, started by root, first creates
a system user of its own with ``useradd``, outside its own lock. Processes starting
embedded servers at once (the test suite's workers on a fresh machine, two ``takedown``
commands) raced: each looked, found no user, ran ``useradd``, and all but the first
failed with exit status 9 (the user exists). ``ensure_server_user`` creates it one
process at a time."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from monitor.db._embedded import SERVER_USER, ensure_server_user


class FakeUsers:
    """A user database and a ``useradd`` that behave as the real ones: the look-up and
    the creation are two steps, and creating a user that exists fails with status 9."""

    def __init__(self) -> None:
        self.users: set[str] = set()
        self.added = 0
        self._guard = threading.Lock()

    def ensure_user_exists(self, name: str) -> None:  # pgserver's, step by step
        if name in self.users:
            return
        time.sleep(0.05)  # useradd runs a while: another process may look meanwhile
        with self._guard:
            if name in self.users:
                raise subprocess.CalledProcessError(9, ["useradd", "-s", "/bin/bash", name])
            self.users.add(name)
            self.added += 1


def start_together(starts: int, start: object) -> list[BaseException]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(starts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_servers_starting_at_once_on_a_fresh_machine_create_the_user_once(
        tmp_path: Path) -> None:
    fake = FakeUsers()
    lock = tmp_path / "user.lock"
    failures = start_together(3, lambda: ensure_server_user(fake.ensure_user_exists, lock))
    assert failures == []
    assert fake.users == {SERVER_USER} and fake.added == 1


def test_without_the_lock_the_same_starts_fail_as_they_did() -> None:
    fake = FakeUsers()
    failures = start_together(3, lambda: fake.ensure_user_exists(SERVER_USER))
    assert len(failures) == 2  # the race this module's lock removes
    assert all(isinstance(f, subprocess.CalledProcessError) and f.returncode == 9
               for f in failures)
