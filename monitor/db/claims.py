"""SQL of the work queue: what is due, claiming it under a lease, giving leases back.

Several workers share one queue: each claim is one ``UPDATE`` over ``FOR UPDATE SKIP
LOCKED`` rows that sets the lease and its holder together (:func:`claim_due`); a lease
that runs out (its worker died) makes the item due again, and a worker gives back what
it could not answer (:func:`release`, :func:`release_rows`), each lease only while the
seat it was claimed under still holds it.

The crawl's side of the store: a worker whose recording runs in a process of its own
(``RECORDER = process``) loads this and not :mod:`monitor.db.tracking`, whose recording
code (the lifecycle, the diff engine, the evidence archive) it never runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from ..geo import GEO_KEY, fan_out
from ..observation import WorkItem
from ..platforms import value_is_url
from ..rows import SOURCES_KEY
from ..vantage import Vantage, unknown_vantages
from ..vantage import resolve as resolve_vantages

__all__ = ["Lease", "by_seat", "claim_due", "platforms_due", "release", "release_leases",
           "release_rows"]

Conn = psycopg.Connection[Any]
log = logging.getLogger(__name__)

#: A claim's lease: (mode, row id, the seat it was claimed under).
Lease = tuple[str, int, int | None]


def by_seat(leases: Iterable[Lease]) -> dict[tuple[str, int | None], list[int]]:
    """Row ids by (mode, the seat they were claimed under): what one statement gives
    back or renews."""
    held: dict[tuple[str, int | None], list[int]] = {}
    for mode, row_id, seat in leases:
        held.setdefault((mode, seat), []).append(row_id)
    return held


def release(conn: Conn, items: Iterable[WorkItem]) -> None:
    """Give back leases of items that produced no observation (a crawl was cut short),
    each only while the seat it was claimed under still holds it (:func:`release_rows`)."""
    release_leases(conn, ((i.mode, i.row_id, i.seat) for i in items))


def release_leases(conn: Conn, leases: Iterable[Lease]) -> None:
    """:func:`release_rows` for each (mode, seat) of ``leases``."""
    for (mode, seat), row_ids in by_seat(leases).items():
        release_rows(conn, mode, row_ids, seat=seat)


def platforms_due(conn: Conn, now: datetime, groups: Sequence[str] | None = None) -> list[str]:
    """The platforms with a target or post due at ``now`` (of ``groups``, if given), sorted."""
    rows = conn.execute(
        """
        SELECT DISTINCT platform FROM (
          SELECT platform FROM targets WHERE active AND next_due <= %(now)s
                 AND (%(g)s::text[] IS NULL OR group_name = ANY(%(g)s))
          UNION
          SELECT p.platform FROM posts p JOIN targets t ON t.id = p.target_id
          WHERE t.active AND p.next_check <= %(now)s
                 AND (%(g)s::text[] IS NULL OR t.group_name = ANY(%(g)s))) due
        """,
        {"now": now, "g": list(groups) if groups else None},
    ).fetchall()
    return sorted(r["platform"] for r in rows)


def claim_due(
    conn: Conn, now: datetime, limit: int, lease: float,
    platforms: Sequence[str] | None = None, groups: Sequence[str] | None = None,
    *, worker: int | None = None, vantages: Mapping[str, Vantage] | None = None,
) -> list[WorkItem]:
    """Claim up to ``limit`` due items (listings first), leasing them for ``lease`` s
    to ``worker`` (its ``workers.id``, or a seatless worker's negative token; None: a
    holder nobody can tell, whose lease only runs out by time). Each item carries that
    seat (:attr:`WorkItem.seat`): what answers it is recorded, and its lease given
    back, only as that seat's.

    ``FOR UPDATE SKIP LOCKED`` lets several workers share the queue; an item whose
    lease ran out (its worker died) is due again. Each claim is one UPDATE that
    sets the lease and its holder together.

    A target's vantage points are stored by name: with ``vantages`` (the watchlist's),
    each item carries its :class:`~monitor.vantage.Vantage`, and an item naming one
    not in it is not handed out (fetched from here, it would record this network under
    that name): its row is given back unless another of its items is handed out.
    Without ``vantages``, items carry the names alone.
    """
    until = now + timedelta(seconds=lease)
    bounds = {"until": until, "now": now, "platforms": platforms, "groups": groups,
              "worker": worker}
    items = _claim_listings(conn, limit, bounds)
    if len(items) < limit:
        items += _claim_probes(conn, limit - len(items), bounds)
    if vantages is None:
        return items
    items, unknown = resolve_vantages(items, vantages)
    if unknown:
        log.error("%s: not fetched; reload the watchlist", unknown_vantages(unknown))
        kept = {(i.mode, i.row_id) for i in items}
        release(conn, [i for i in unknown if (i.mode, i.row_id) not in kept])
    return items


def _claim_listings(conn: Conn, limit: int, bounds: dict[str, Any]) -> list[WorkItem]:
    """Claim the due listings of active targets that are not single posts."""
    rows = conn.execute(
        """
        UPDATE targets t SET lease_until = %(until)s, leased_by = %(worker)s
        FROM (SELECT id FROM targets
              WHERE active AND NOT single_post AND next_due <= %(now)s
                AND (lease_until IS NULL OR lease_until < %(now)s)
                AND (%(platforms)s::text[] IS NULL OR platform = ANY(%(platforms)s))
                AND (%(groups)s::text[] IS NULL OR group_name = ANY(%(groups)s))
              ORDER BY next_due LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due
        WHERE t.id = due.id
        RETURNING t.id, t.key, t.platform, t.kind, t.value, t.base_url, t.allow_hosts,
                  t.single_post, t.options, t.vantages
        """,
        {**bounds, "limit": limit},
    ).fetchall()
    return [WorkItem(mode="listing", platform=r["platform"], target_key=r["key"],
                     url=r["value"], base_url=r["base_url"], row_id=r["id"],
                     known=dict(r["options"] or {}), vantage=vantage, seat=bounds["worker"],
                     **_policy(r))
            for r in rows for vantage in fan_out(r["vantages"], None, None)[:1]]


def _claim_probes(conn: Conn, limit: int, bounds: dict[str, Any]) -> list[WorkItem]:
    """Claim the due probes of the posts of active targets; ``known``: the post's (less
    its content sources' readings and its per-vantage answers, the core's own) with the
    target's options over it. A post probed from every vantage point of its target
    (:func:`monitor.geo.fan_out`) gives one work item per vantage point, same row."""
    rows = conn.execute(
        """
        UPDATE posts p SET lease_until = %(until)s, leased_by = %(worker)s
        FROM (SELECT p.id FROM posts p JOIN targets t ON t.id = p.target_id
              WHERE p.next_check <= %(now)s AND t.active
                AND (p.lease_until IS NULL OR p.lease_until < %(now)s)
                AND (%(platforms)s::text[] IS NULL OR p.platform = ANY(%(platforms)s))
                AND (%(groups)s::text[] IS NULL OR t.group_name = ANY(%(groups)s))
              ORDER BY p.next_check LIMIT %(limit)s FOR UPDATE OF p SKIP LOCKED) due,
             targets t
        WHERE p.id = due.id AND t.id = p.target_id
        RETURNING p.id, p.platform, p.post_key, p.url, p.probe_url,
                  p.known - %(core)s::text[] AS known, t.key AS target_key, t.base_url,
                  t.kind, t.value, t.allow_hosts, t.single_post, t.options, t.vantages,
                  p.state, p.gone_cause
        """,
        {**bounds, "limit": limit, "core": [SOURCES_KEY, GEO_KEY]},
    ).fetchall()
    return [WorkItem(mode="probe", platform=r["platform"], target_key=r["target_key"],
                     url=r["probe_url"] or r["url"], base_url=r["base_url"],
                     post_key=r["post_key"], row_id=r["id"],
                     known={**(r["known"] or {}), **(r["options"] or {})}, vantage=vantage,
                     seat=bounds["worker"], **_policy(r))
            for r in rows for vantage in fan_out(r["vantages"], r["state"], r["gone_cause"])]


def _policy(row: dict[str, Any]) -> dict[str, Any]:
    """The fetch policy's bounds for a work item: the target's own URL, its allowed hosts.

    A probe's URL came from content, so the spider must learn the target's own
    URL from here: the target's value when its kind's values are URLs (a feed, a
    post, a page: :attr:`monitor.platform.Kind.value_is_url`), else the base_url
    (an account's server).
    """
    own = row["value"] if _value_is_url(row) else row["base_url"]
    return {"target_url": own, "allow_hosts": tuple(row["allow_hosts"] or ())}


def _value_is_url(row: dict[str, Any]) -> bool:
    """Whether the target's value is a URL, as its platform declares the kind. A
    platform no longer installed cannot be crawled anyway; its single posts are
    still known to be URLs."""
    declared = value_is_url(row["platform"], row["kind"])
    return declared if declared is not None else bool(row["single_post"])


def release_rows(conn: Conn, mode: str, row_ids: Sequence[int], *, seat: int | None) -> None:
    """Give back the leases of targets (``listing``) or posts (``probe``) by row id that
    ``seat`` still holds: claimed under it (:attr:`WorkItem.seat`), and not taken back
    and claimed again by another worker since. ``seat`` None gives back only leases that
    name no holder (a seatless worker's claims; one seatless worker may so give back
    another's, which nothing can tell apart)."""
    table = "targets" if mode == "listing" else "posts"
    conn.execute(f"UPDATE {table} SET lease_until = NULL WHERE id = ANY(%s) "
                 "AND leased_by IS NOT DISTINCT FROM %s::integer", (list(row_ids), seat))
