"""How many CPUs this process may use, and on which machine it runs.

Its CPUs: its affinity, capped by a CPU quota.

A container's ``--cpus`` or a unit's ``CPUQuota=`` is a quota on the process's
control group or one above it. Both cgroup versions are read: v2's ``cpu.max``
(``"<quota> <period>"`` or ``"max <period>"``) and v1's ``cpu.cfs_quota_us`` and
``cpu.cfs_period_us`` (a quota of -1 is none) in the ``cpu`` controller's
hierarchy. A group's quota caps everything under it, so the smallest on the way
up to the hierarchy's root counts. Nothing outside the hierarchy is read, and a
file that cannot be read or makes no sense caps nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

#: Where a cgroup v1 ``cpu`` controller is mounted, under the cgroup root.
V1_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def machine_id(boot_id: Path = Path("/proc/sys/kernel/random/boot_id")) -> str:
    """This machine, as the workers sharing its CPUs name it: the kernel's boot id (the
    same in every container on one host, whose host names differ), else the host name."""
    try:
        found = boot_id.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        found = ""
    return f"boot:{found}" if found else f"host:{socket.gethostname()}"


def usable_cpus(proc: Path = Path("/proc/self/cgroup"),
                cgroups: Path = Path("/sys/fs/cgroup")) -> float:
    """The CPUs this process may run on (its affinity), capped by a CPU quota of its
    control group or of one above it, cgroup v2 or v1."""
    try:
        cpus: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    try:
        lines = proc.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return cpus
    for line in lines:
        _, controllers, place = (line.split(":", 2) + ["", ""])[:3]
        if line.startswith("0::"):
            cpus = min(cpus, _smallest(cgroups, place, _v2_quota))
        elif "cpu" in controllers.split(","):
            for mount in V1_MOUNTS:
                if (cgroups / mount).is_dir():
                    cpus = min(cpus, _smallest(cgroups / mount, place, _v1_quota))
                    break
    return cpus


def _smallest(root: Path, place: str, quota: Callable[[Path], float | None]) -> float:
    """The smallest quota from ``place`` up to ``root``. (A container may see its own
    group at the root of the hierarchy while its cgroup file names the host's path to
    it: the directories that are not there are passed on the way up to the root.)"""
    root = root.resolve()
    here = (root / place.strip().lstrip("/")).resolve()
    if not here.is_relative_to(root):
        return float("inf")
    smallest = float("inf")
    while True:
        found = quota(here)
        if found is not None:
            smallest = min(smallest, found)
        if here == root:
            return smallest
        here = here.parent


def _v2_quota(group: Path) -> float | None:
    try:
        quota, period = (group / "cpu.max").read_text(encoding="ascii").split()[:2]
        if quota != "max" and int(quota) > 0 and int(period) > 0:
            return int(quota) / int(period)
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return None


def _v1_quota(group: Path) -> float | None:
    try:
        quota = int((group / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((group / "cpu.cfs_period_us").read_text(encoding="ascii"))
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return None
