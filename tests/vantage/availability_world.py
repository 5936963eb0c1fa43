"""Helpers for the availability tests: one Mastodon account watched from two countries
through the real :class:`~monitor.snapshot.Recorder`, and exports read back. A module of
its own, not ``conftest``."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq

from monitor.db import Database
from monitor.db import tracking as store
from monitor.observation import Observation, Outcome, PostContent
from monitor.settings import Settings
from monitor.snapshot import Recorder
from monitor.watchlist import Target

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings.load({"confirm_probes": 2, "confirm_spacing": "5m", "confirm_retry": "2m"},
                         environ={})
#: Two vantage points and their countries.
BERLIN, PARIS = ("berlin", "DE"), ("paris", "FR")


def entry(key: str, text: str) -> PostContent:
    return PostContent(key=key, url=f"https://ex.social/@alice/{key}",
                       probe_url=f"https://ex.social/api/v1/statuses/{key}", text=text,
                       author="alice", published_at=T0 - timedelta(minutes=5))


class TwoCountries:
    """One account target; observations recorded as if fetched through a vantage point."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.recorder = Recorder(db, SETTINGS)
        target = Target(group="g", platform="mastodon", kind="account", value="alice",
                        base_url="https://ex.social", interval=60.0, tags=())
        with db.transaction() as conn:
            store.sync_targets(conn, [target], 600)
            row = conn.execute("SELECT id, key FROM targets").fetchone()
        assert row is not None
        self.target_id, self.target_key = row["id"], row["key"]

    @staticmethod
    def _where(vantage: tuple[str, str | None]) -> dict[str, Any]:
        name, country = vantage
        return {"vantage": name, "signals": {"country": country} if country else {}}

    def listing(self, at: datetime, entries: list[PostContent],
                vantage: tuple[str, str | None] = BERLIN) -> None:
        where = self._where(vantage)
        obs = Observation(mode="listing", platform="mastodon", target_key=self.target_key,
                          url="alice", outcome=Outcome.OK, row_id=self.target_id,
                          entries=entries, observed_at=at, http_status=200,
                          vantage=where["vantage"], signals=where["signals"])
        self.recorder.record([obs])

    def probe(self, key: str, at: datetime, outcome: Outcome, vantage: tuple[str, str | None],
              status: int | None = None, post: PostContent | None = None,
              **signals: Any) -> None:
        where = self._where(vantage)
        obs = Observation(mode="probe", platform="mastodon", target_key=self.target_key,
                          url=f"https://ex.social/api/v1/statuses/{key}", outcome=outcome,
                          row_id=self.post_id(key), post_key=key, post=post,
                          http_status=status, observed_at=at, body_hash="ab" * 32,
                          vantage=where["vantage"], signals={**where["signals"], **signals})
        self.recorder.record([obs])

    def post_id(self, key: str) -> int:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id FROM posts WHERE post_key = %s", (key,)).fetchone()
        assert row is not None
        return int(row["id"])


def read_back(data: bytes, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """An export's column names and rows, parsed as a user's tool would."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
        rows = list(reader)
        return list(reader.fieldnames or []), rows
    if fmt == "jsonl":
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        return (list(rows[0]) if rows else []), rows
    table = pq.read_table(io.BytesIO(data))
    return table.column_names, table.to_pylist()
