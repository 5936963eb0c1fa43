"""Leases for the continuous loop: renew the claims of work not yet observed.

:func:`monitor.db.claims.claim_due` claims; a long-lived crawl then holds some
items longer than one cycle did (a hanging host's requests, a paused host's
queue, work waiting for its host's share of the in-flight window), so their
leases are renewed until their observations are recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from ..observation import WorkItem
from .claims import by_seat

Conn = psycopg.Connection[Any]


def renew(conn: Conn, items: Iterable[WorkItem], until: datetime) -> int:
    """Extend the leases of ``items`` to ``until``, each only while the seat it was
    claimed under (:attr:`WorkItem.seat`) still holds it; returns how many were. A
    lease given up meanwhile (the observation was recorded, or the lease was taken
    back) is not taken again."""
    renewed = 0
    for (mode, seat), ids in by_seat((i.mode, i.row_id, i.seat) for i in items).items():
        table = "targets" if mode == "listing" else "posts"
        cur = conn.execute(
            sql.SQL("UPDATE {} SET lease_until = %s WHERE id = ANY(%s) AND lease_until "
                    "IS NOT NULL AND leased_by IS NOT DISTINCT FROM %s").format(
                sql.Identifier(table)),
            (until, ids, seat))
        renewed += cur.rowcount
    return renewed


#: One platform's next due time: its first unleased listing or probe, each read in due
#: order along the platform's own index.
_NEXT_DUE = """
SELECT {p}::text AS platform, least(
  (SELECT next_due FROM targets
   WHERE active AND NOT single_post AND next_due IS NOT NULL AND platform = {p}
     AND (lease_until IS NULL OR lease_until < %(now)s)
     AND (%(groups)s::text[] IS NULL OR group_name = ANY(%(groups)s))
   ORDER BY next_due LIMIT 1),
  (SELECT p.next_check FROM posts p JOIN targets t ON t.id = p.target_id
   WHERE p.next_check IS NOT NULL AND t.active AND p.platform = {p}
     AND (p.lease_until IS NULL OR p.lease_until < %(now)s)
     AND (%(groups)s::text[] IS NULL OR t.group_name = ANY(%(groups)s))
   ORDER BY p.next_check LIMIT 1)) AS due
"""


def next_due(conn: Conn, now: datetime, platforms: Sequence[str],
             groups: Sequence[str] | None = None) -> dict[str, datetime | None]:
    """When each platform's next unleased listing or probe falls due (None: nothing
    scheduled), so an idle claimer sleeps until then rather than a whole tick. The
    same conditions as the claims, read in due order along their indexes; every
    platform in one statement, so a daemon whose platforms are idle reads them all in
    one round trip a tick.

    Each platform is its own branch with its name as a parameter, and the statement
    is never prepared: planned with the names themselves (about 0.3 ms a platform),
    each branch reads its platform's indexes (migration 019). A plan that cannot know
    the name (a prepared statement's generic plan, psycopg's from the fifth call, or
    one branch joined to a list of names) may walk the all-platform index instead,
    every entry for a platform with no targets: 15–30 ms at 100,000 targets, per
    platform and tick, the most of an idle daemon's database time."""
    names = list(dict.fromkeys(platforms))
    if not names:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL(_NEXT_DUE).format(p=sql.Placeholder(f"p{i}")) for i in range(len(names)))
    params: dict[str, Any] = {f"p{i}": name for i, name in enumerate(names)}
    params.update(now=now, groups=list(groups) if groups else None)
    rows = conn.execute(query, params, prepare=False).fetchall()
    due: dict[str, datetime | None] = dict.fromkeys(names)
    for row in rows:
        platform, at = (row["platform"], row["due"]) if isinstance(row, dict) else row
        due[platform] = at if isinstance(at, datetime) else None
    return due
