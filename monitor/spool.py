"""The recorder's spool: observations held when the process stopped during an outage.

When the recorder is told to stop while the database is away, the batch it
holds and whatever is still queued are written here as JSON lines (one file per
shutdown, written to a temporary name and renamed, so a file is whole or
absent). The next recorder that starts against the same database replays them
first. Bounded: the files of one database never exceed :data:`MAX_BYTES` in all;
what does not fit is dropped with a warning, and its leases are given back once
the process has exited (its presence lock is free), so the work is done again.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .observation import Observation, Outcome, PostContent, RawCapture, sanitise

log = logging.getLogger(__name__)

#: Most bytes of spool kept per database (about 30,000 typical observations).
MAX_BYTES = 64 * 1024 * 1024
#: A file being replayed by a process that died is taken over after this long.
STALE_CLAIM_SECONDS = 3600.0

_OBS_FIELDS = {f.name for f in dataclasses.fields(Observation)}
_POST_FIELDS = {f.name for f in dataclasses.fields(PostContent)}


class Spool:
    """JSON-lines files of unwritten observations in one directory."""

    def __init__(self, directory: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    def write(self, observations: Sequence[Observation]) -> int:
        """Spool ``observations``; returns how many were kept (the rest is over the bound)."""
        if not observations:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        room = self.max_bytes - sum(p.stat().st_size for p in self._files("*"))
        lines: list[str] = []
        for obs in observations:
            line = json.dumps(encode(obs), ensure_ascii=False) + "\n"
            room -= len(line.encode())
            if room < 0:
                break
            lines.append(line)
        if len(lines) < len(observations):
            log.warning("spool %s is full (%d bytes): %d observation(s) not kept; their "
                        "leases run out and the work is done again", self.directory,
                        self.max_bytes, len(observations) - len(lines))
        if lines:
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            tmp = self.directory / f".{name}.tmp"
            tmp.write_text("".join(lines), encoding="utf-8")
            tmp.replace(self.directory / f"{name}.jsonl")
        return len(lines)

    def take(self) -> Iterator[tuple[Path, list[Observation]]]:
        """Claim each spooled file in turn (so two workers never replay one twice)."""
        claimable = list(self._files("*.jsonl"))
        cutoff = time.time() - STALE_CLAIM_SECONDS
        claimable += [p for p in self._files("*.replaying") if p.stat().st_mtime < cutoff]
        for path in sorted(claimable):
            claimed = path.with_name(f"{path.name.split('.')[0]}.replaying")
            try:
                path.rename(claimed)
                os.utime(claimed)
            except OSError:  # another worker took it
                continue
            yield claimed, self._read(claimed)

    def done(self, claimed: Path) -> None:
        claimed.unlink(missing_ok=True)

    def give_back(self, claimed: Path) -> None:
        claimed.rename(claimed.with_suffix(".jsonl"))

    def _files(self, pattern: str) -> Iterator[Path]:
        if self.directory.is_dir():
            yield from (p for p in self.directory.glob(pattern) if p.is_file())

    @staticmethod
    def _read(path: Path) -> list[Observation]:
        out, bad = [], 0
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    out.append(decode(json.loads(line)))
                except (ValueError, TypeError, KeyError):
                    bad += 1
        if bad:
            log.warning("spool file %s: %d unreadable line(s) skipped", path, bad)
        return out


def encode(obs: Observation) -> dict[str, Any]:
    """An observation as plain JSON (its raw capture's body as base64)."""
    capture = obs.capture
    obs = sanitise(obs)
    d = {name: getattr(obs, name) for name in _OBS_FIELDS}
    d["outcome"] = obs.outcome.value
    d["observed_at"] = obs.observed_at.isoformat()
    d["post"] = _encode_post(obs.post) if obs.post is not None else None
    d["entries"] = [_encode_post(e) for e in obs.entries] if obs.entries is not None else None
    d["tombstones"] = [list(t) for t in obs.tombstones]
    d["capture"] = _encode_capture(capture) if capture is not None else None
    return d


def decode(d: dict[str, Any]) -> Observation:
    d = {k: v for k, v in d.items() if k in _OBS_FIELDS}
    d["outcome"] = Outcome(d["outcome"])
    d["observed_at"] = datetime.fromisoformat(d["observed_at"])
    d["post"] = _decode_post(d["post"]) if d.get("post") is not None else None
    if d.get("entries") is not None:
        d["entries"] = [_decode_post(e) for e in d["entries"]]
    d["tombstones"] = [tuple(t) for t in d.get("tombstones") or ()]
    d["capture"] = _decode_capture(d["capture"]) if d.get("capture") is not None else None
    return Observation(**d)


def _encode_capture(c: RawCapture) -> dict[str, Any]:
    return {"method": c.method, "url": c.url,
            "request_headers": [[_text(k), _text(v)] for k, v in c.request_headers],
            "status": c.status,
            "response_headers": [[_text(k), _text(v)] for k, v in c.response_headers],
            "body": base64.b64encode(c.body).decode("ascii"),
            "fetched_at": c.fetched_at.isoformat(), "vantage": _text(c.vantage)}


def _decode_capture(d: dict[str, Any]) -> RawCapture:
    return RawCapture(
        method=str(d["method"]), url=str(d["url"]),
        request_headers=tuple((str(k), str(v)) for k, v in d["request_headers"]),
        status=int(d["status"]),
        response_headers=tuple((str(k), str(v)) for k, v in d["response_headers"]),
        body=base64.b64decode(d["body"], validate=True),
        fetched_at=datetime.fromisoformat(d["fetched_at"]), vantage=str(d["vantage"]))


def _text(value: str) -> str:
    """Text JSON lines can hold: a lone surrogate (from a hostile header) becomes ``?``."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _encode_post(p: PostContent) -> dict[str, Any]:
    d = {name: getattr(p, name) for name in _POST_FIELDS}
    for key in ("published_at", "updated_at"):
        d[key] = d[key].isoformat() if d[key] is not None else None
    return d


def _decode_post(d: dict[str, Any]) -> PostContent:
    d = {k: v for k, v in d.items() if k in _POST_FIELDS}
    for key in ("published_at", "updated_at"):
        if d.get(key) is not None:
            d[key] = datetime.fromisoformat(d[key])
    return PostContent(**d)
