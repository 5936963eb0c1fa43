"""Claimed work in flight: what a worker holds between a claim and its observation.

A listing is claimed once; a suspect post once per vantage point of its target
(:func:`monitor.geo.fan_out`), so the work awaiting an observation is keyed by
(mode, row id, vantage name), and an observation finds its item by the vantage it
came from. :func:`host_of` is the host an item is fetched from, which the
continuous loop caps per host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .observation import Observation, WorkItem

__all__ = ["PendingKey", "host_of", "in_flight", "pending_key", "take_pending"]

#: A claimed item awaiting its observation: (mode, row id, vantage name or "").
PendingKey = tuple[str, int, str]


def in_flight(settings: Mapping[str, Any]) -> int:
    """How many work items a platform's spider keeps in flight (its
    ``MONITOR_MAX_IN_FLIGHT``): twice ``CONCURRENT_REQUESTS``. A claim takes no more,
    and the continuous loop hands a platform no more at a time."""
    return max(1, 2 * int(settings["CONCURRENT_REQUESTS"]))


def pending_key(item: WorkItem) -> PendingKey:
    """A suspect post is claimed once per vantage point: (mode, row id) is not unique."""
    return (item.mode, item.row_id, item.vantage.name if item.vantage else "")


def take_pending(pending: dict[PendingKey, WorkItem], obs: Observation) -> WorkItem | None:
    """The claimed item ``obs`` answers, taken out of ``pending``: its vantage point's,
    else the one fetched from this machine (whose observation carries VANTAGE's name).

    ``obs`` is given the seat that item was claimed under (:attr:`WorkItem.seat`): the
    recorder commits it only as that seat's work. An observation that answers no item
    here keeps the seat it has (a spider's answer to no claim: none)."""
    item = pending.pop((obs.mode, obs.row_id, obs.vantage), None)
    if item is None:
        item = pending.pop((obs.mode, obs.row_id, ""), None)
    if item is not None:
        obs.seat = item.seat
    return item


def host_of(item: WorkItem) -> str:
    """The host a work item is fetched from (``host:port``), as the spiders' slots key it."""
    for url in (item.url, item.base_url or "", item.target_url or ""):
        netloc = urlsplit(url).netloc if "://" in url else ""
        if netloc:
            return netloc.lower()
    return item.target_key
