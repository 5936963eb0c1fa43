"""Where a worker records (RECORDER): ``auto``, the default, is a process of its own
where the worker may use two CPUs or more, its affinity capped by a cgroup v2 or v1
quota (a container's ``--cpus``); else a thread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor import recording
from monitor.cpus import usable_cpus
from monitor.db import Database
from monitor.errors import ConfigError
from monitor.recording import recording_for
from monitor.settings import Settings
from monitor.worker import Worker

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("choice", "cpus", "mode"), [
    ("auto", 2, "process"), ("auto", 16, "process"),
    ("auto", 1, "thread"), ("auto", 1.5, "thread"),  # a container given --cpus=1.5
    ("thread", 16, "thread"), ("process", 1, "process"),  # as given, whatever the CPUs
])
def test_auto_records_in_a_process_only_where_two_cpus_are_there(
        choice: str, cpus: float, mode: str) -> None:
    assert recording_for(choice, cpus) == mode


def test_the_default_is_auto_and_a_wrong_choice_names_the_right_ones() -> None:
    assert Settings.load({}, environ={})["RECORDER"] == "auto"
    with pytest.raises(ConfigError, match="use auto, process or thread"):
        Settings.load({"recorder": "fork"}, environ={})


def cgroup_tree(tmp_path: Path, place: str, quotas: dict[str, str]) -> tuple[Path, Path]:
    """A /proc/self/cgroup naming ``place`` and a cgroup v2 tree with each directory's
    ``cpu.max``."""
    root = tmp_path / "cgroup"
    (root / place.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for where, quota in quotas.items():
        (root / where.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (root / where.lstrip("/") / "cpu.max").write_text(quota + "\n", encoding="ascii")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{place}\n", encoding="ascii")
    return proc, root


def test_a_quota_on_the_process_cgroup_caps_its_cpus(tmp_path: Path) -> None:
    proc, root = cgroup_tree(tmp_path, "/docker/abc", {"/docker/abc": "50000 100000"})
    assert usable_cpus(proc, root) == 0.5
    assert recording_for("auto", usable_cpus(proc, root)) == "thread"


def test_a_quota_above_the_process_cgroup_caps_it_too(tmp_path: Path) -> None:
    proc, root = cgroup_tree(tmp_path, "/system.slice/takedown.service",
                             {"/system.slice": "100000 100000",
                              "/system.slice/takedown.service": "max 100000"})
    assert usable_cpus(proc, root) == 1.0


@pytest.mark.parametrize("quota", ["max 100000", "", "banana", "100000 0", "\xff\xfe"])
def test_no_quota_or_an_unreadable_one_leaves_the_affinity(tmp_path: Path,
                                                           quota: str) -> None:
    proc, root = cgroup_tree(tmp_path, "/a", {})
    (root / "a" / "cpu.max").write_bytes(quota.encode("latin-1"))
    assert usable_cpus(proc, root) == AFFINITY


def test_a_process_outside_the_tree_or_without_cgroup_v2_keeps_its_affinity(
        tmp_path: Path) -> None:
    proc, root = cgroup_tree(tmp_path, "/a", {"/a": "50000 100000"})
    # Only cgroup v1 lines (no "0::"), or no file at all.
    proc.write_text("4:memory:/a\n1:cpu:/\n", encoding="ascii")
    assert usable_cpus(proc, root) == AFFINITY
    assert usable_cpus(tmp_path / "missing", root) == AFFINITY
    # A place that climbs out of the tree reads nothing outside it.
    (tmp_path / "cpu.max").write_text("50000 100000\n", encoding="ascii")
    proc.write_text("0::/..\n", encoding="ascii")  # the tree's parent holds a cpu.max
    assert usable_cpus(proc, root) == AFFINITY


def cgroup_v1_tree(tmp_path: Path, mount: str, place: str,
                   quotas: dict[str, tuple[str, str]]) -> tuple[Path, Path]:
    """A /proc/self/cgroup with cgroup v1 lines, the ``cpu`` controller's naming
    ``place``, and its hierarchy mounted at ``mount`` with each directory's
    ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``."""
    root = tmp_path / "cgroup"
    (root / "memory").mkdir(parents=True)
    for where, (quota, period) in quotas.items():
        group = root / mount / where.lstrip("/")
        group.mkdir(parents=True, exist_ok=True)
        (group / "cpu.cfs_quota_us").write_text(quota + "\n", encoding="ascii")
        (group / "cpu.cfs_period_us").write_text(period + "\n", encoding="ascii")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"12:memory:{place}\n4:cpu,cpuacct:{place}\n1:name=systemd:/\n",
                    encoding="ascii")
    return proc, root


@pytest.mark.parametrize("mount", ["cpu,cpuacct", "cpu"])
def test_a_cgroup_v1_quota_caps_the_cpus_like_a_v2_one(tmp_path: Path, mount: str) -> None:
    proc, root = cgroup_v1_tree(tmp_path, mount, "/docker/abc",
                                {"/": ("-1", "100000"), "/docker": ("-1", "100000"),
                                 "/docker/abc": ("150000", "100000")})
    assert usable_cpus(proc, root) == min(AFFINITY, 1.5)
    assert recording_for("auto", usable_cpus(proc, root)) == "thread"


def test_a_container_seeing_its_v1_group_as_the_root_reads_the_root(tmp_path: Path) -> None:
    # Docker on cgroup v1: /proc/self/cgroup names the host's path, the container's
    # mount shows its own group at the root.
    proc, root = cgroup_v1_tree(tmp_path, "cpu,cpuacct", "/docker/abc",
                                {"/": ("50000", "100000")})
    assert usable_cpus(proc, root) == 0.5


@pytest.mark.parametrize(("quota", "period"), [("-1", "100000"), ("banana", "100000"),
                                               ("50000", "0"), ("", "")])
def test_no_v1_quota_or_an_unreadable_one_leaves_the_affinity(
        tmp_path: Path, quota: str, period: str) -> None:
    proc, root = cgroup_v1_tree(tmp_path, "cpu", "/a", {"/a": (quota, period)})
    assert usable_cpus(proc, root) == AFFINITY
    # A place that climbs out of the hierarchy reads nothing outside it.
    proc.write_text("4:cpu:/../..\n", encoding="ascii")
    (tmp_path / "cpu.cfs_quota_us").write_text("50000\n", encoding="ascii")
    (tmp_path / "cpu.cfs_period_us").write_text("100000\n", encoding="ascii")
    assert usable_cpus(proc, root) == AFFINITY


@pytest.mark.parametrize(("cpus", "mode"), [(1, "thread"), (2, "process")])
def test_a_worker_on_auto_records_as_its_cpus_allow(
        db: Database, monkeypatch: pytest.MonkeyPatch, cpus: int, mode: str) -> None:
    monkeypatch.setattr(recording, "usable_cpus", lambda: cpus)
    worker = Worker(db, Settings.load({}, environ={}), crawl=None)  # type: ignore[arg-type]
    assert worker.recording == mode
    forced = Worker(db, Settings.load({"recorder": "thread"}, environ={}),
                    crawl=None)  # type: ignore[arg-type]
    assert forced.recording == "thread"
