"""Researchers' browser captures as evidence that a post existed: the import step.

A researcher browsing RedNote (or Douyin…) with the Zeeschuimer extension
records what the platform sent to *their logged-in browser*, and exports it as
NDJSON, directly or through 4CAT. Importing such a file records, for each post
in it, one "seen visible" observation at its capture time. A capture sidesteps
``xsec_token`` and anti-bot trouble, but it is a logged-in view, so it is only
ever evidence that the post **existed at time T**:

- it never produces an event and never makes a post suspect;
- it never moves a post's state backwards: a post already suspect, gone or
  hidden stays so (its ``first_seen`` still moves back to T when T is earlier);
  an ``unseen`` post (watched but never served to us) becomes ``visible`` as of T;
- its content is stored as a version the observation points at, never as the
  post's current version (search and feed cards carry a title but no body: the
  first probe that reads the note is the baseline edits are compared with).

The post is tracked from then on (the monitor probes it): under an active
target that already tracks it; else under its author's watched account target
(no watchlist change); else, when a watchlist file is given, as a new
single-post target added to the watchlist's group (``--group``, default
``captures``), so that the next ``takedown check`` keeps it (targets come from
the watchlist; one found only in the database would be deactivated).

The shape assumed, from Zeeschuimer's source (``js/zs-background.js``: the
item it stores and exports) and 4CAT's importer (``__import_meta``)::

    Zeeschuimer export, one JSON object per line:
      {"nav_index": "1:2:0", "item_id": "<id>", "timestamp_collected": <ms epoch>,
       "source_platform": "xiaohongshu.com" | "douyin.com" | …,
       "source_platform_url": <page URL>, "source_url": <URL of the response read>,
       "user_agent": <browser UA>, "data": {<the platform's own item>}}
    4CAT export: the item itself with that envelope under "__import_meta".

What the item is (a note, a video…) is the platform's business: the caller
passes one :data:`ItemReader` per source platform (the application maps
``xiaohongshu.com`` to the RedNote spider's own parser); an item of a source
platform without one is counted as skipped ("no platform to track it").

Reading is streaming and bounded: a line longer than ``max_line_bytes`` is
skipped without being held in memory, and every other bad line (not UTF-8, not
JSON, nested too deeply, no capture time, a time in the future, an item its
reader refuses) is reported with its line number and skipped; the rest of the
file is recorded. Each observation carries the file name, line number, line
SHA-256, ``source_url``, user agent and capture time; the SHA-256 makes a
re-import of the same file (or of the same line in another file) a no-op.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import diff
from .clock import SYSTEM_CLOCK, Clock
from .db import Database, is_transient, tracking
from .db import captures as store
from .db import chain as chain_store
from .errors import ConfigError, ParseError, TakedownError
from .observation import Observation, Outcome, PostContent, sanitise
from .platforms import get_platform, single_post_kind
from .settings import Settings

log = logging.getLogger(__name__)

#: The setting that allows imports (off by default).
SETTING = "IMPORT_CAPTURES"
#: ``observations.mode`` of an imported capture (the monitor's own are listing/probe).
MODE = "import"
#: ``observations.vantage`` of an imported capture: a researcher's logged-in browser.
VANTAGE = "browser-capture"
#: ``observations.detail`` of an imported capture.
DETAIL = ("imported browser capture (a logged-in view): evidence that the post existed "
          "at this time, never of its removal")
#: Lines longer than this are skipped unread (a note page item with its comments is
#: well under 1 MB; Zeeschuimer holds each in the browser's memory anyway).
MAX_LINE_BYTES = 16 * 1024 * 1024
#: A capture time after the clock's now by more than this is refused (a wrong clock).
FUTURE_SLACK = timedelta(minutes=10)
#: The earliest capture time believed (Zeeschuimer appeared in 2021).
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)
#: Evidence strings (URLs, user agent) are kept up to this many characters.
_EVIDENCE_CHARS = 2048
#: Problems kept in a report with their line (more are only counted).
_PROBLEMS_KEPT = 1000


@dataclass(slots=True)
class CapturedPost:
    """What an :data:`ItemReader` makes of one item: the post, and the value an
    account target of its author has on the platform (None when unknown)."""

    post: PostContent
    account: str | None = None


#: Turns a platform's own item (the capture's ``data``) into a post; raises
#: :class:`~monitor.errors.ParseError` (or ValueError) for an item it cannot use.
ItemReader = Callable[[dict[str, Any]], CapturedPost]


@dataclass(frozen=True, slots=True)
class Reader:
    """How the items of one source platform (``xiaohongshu.com``) are read."""

    platform: str  # the monitor's platform name its posts are tracked under
    read: ItemReader


@dataclass(slots=True)
class Capture:
    """One line of a capture file: its envelope and the platform's own item."""

    file: str
    line: int
    sha256: str
    captured_at: datetime
    source_platform: str
    data: dict[str, Any]
    source_url: str | None = None
    source_platform_url: str | None = None
    user_agent: str | None = None
    nav_index: str | None = None
    item_id: str | None = None
    #: ``zeeschuimer`` (envelope around ``data``) or ``4cat`` (``__import_meta``).
    shape: str = "zeeschuimer"

    def evidence(self) -> dict[str, Any]:
        """What the observation records about where the capture came from."""
        return {"file": self.file, "line": self.line, "sha256": self.sha256,
                "captured_at": self.captured_at.isoformat(),
                "source_platform": self.source_platform, "source_url": self.source_url,
                "source_platform_url": self.source_platform_url,
                "user_agent": self.user_agent, "nav_index": self.nav_index,
                "item_id": self.item_id, "shape": self.shape}


class LineProblem(ParseError):
    """One line of a capture file cannot be used; the import goes on without it."""


@dataclass(slots=True)
class ImportReport:
    """What an import did, for the command's summary."""

    lines: int = 0
    #: New observations recorded.
    recorded: int = 0
    #: Lines whose observation was already recorded (a re-import).
    already: int = 0
    #: Posts first tracked because of this import.
    new_posts: int = 0
    #: Watchlist keys of the single-post targets this import added.
    added_targets: list[str] = field(default_factory=list)
    #: Lines skipped for a reason that is not a fault of the line (no platform for
    #: the source, nothing watching the post), by reason.
    skipped: Counter[str] = field(default_factory=Counter)
    #: Bad lines: (line number, what was wrong), the first ``_PROBLEMS_KEPT`` of them.
    problems: list[tuple[int, str]] = field(default_factory=list)
    bad_lines: int = 0

    def problem(self, line: int, reason: str) -> None:
        self.bad_lines += 1
        if len(self.problems) < _PROBLEMS_KEPT:
            self.problems.append((line, reason))
        log.info("capture line %d skipped: %s", line, reason)


def require_enabled(settings: Settings) -> None:
    """Raise ConfigError, naming the setting, unless imports are switched on."""
    if not settings[SETTING]:
        raise ConfigError(
            f"importing browser captures is off ({SETTING} = false). They are a logged-in "
            "view, recorded only as evidence that a post existed at its capture time; to "
            f"allow them set {SETTING.lower()} = true in the watchlist's [settings], or "
            f"TAKEDOWN_{SETTING}=true in the environment")


# --- reading ---------------------------------------------------------------------


def read_lines(path: Path, max_line_bytes: int = MAX_LINE_BYTES
               ) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes without the line ending)``, streaming; ``None`` for a line
    longer than ``max_line_bytes``, which is read past in chunks, never held whole.
    Blank lines are left out."""
    with open(path, "rb") as fh:
        number = 0
        while True:
            chunk = fh.readline(max_line_bytes + 2)  # room for the line's own CR LF
            if not chunk:
                return
            number += 1
            line = chunk
            if line.endswith(b"\n"):
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            if len(line) > max_line_bytes:
                while chunk and not chunk.endswith(b"\n"):
                    chunk = fh.readline(1 << 20)
                yield number, None
                continue
            if line.strip():
                yield number, line


def parse_line(raw: bytes, *, file: str, line: int, now: datetime) -> Capture:
    """The capture on one line; LineProblem says why it cannot be used."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineProblem(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        obj = json.loads(text)
    except RecursionError:
        raise LineProblem("JSON nested too deeply to read") from None
    except ValueError as exc:  # JSONDecodeError, and int strings beyond Python's limit
        raise LineProblem(f"not JSON ({_first(str(exc))})") from None
    if not isinstance(obj, dict):
        raise LineProblem(f"a JSON {type(obj).__name__}, not an object")
    data = obj.get("data")
    meta = obj.get("__import_meta")
    if isinstance(data, dict) and ("timestamp_collected" in obj or "source_platform" in obj):
        shape, envelope, item = "zeeschuimer", obj, data
    elif isinstance(meta, dict):
        shape, envelope, item = "4cat", meta, {k: v for k, v in obj.items()
                                               if k != "__import_meta"}
    else:
        raise LineProblem("neither a Zeeschuimer item (data, timestamp_collected) nor a "
                          "4CAT one (__import_meta): is this a Zeeschuimer or 4CAT export?")
    page_url = _text(envelope.get("source_platform_url"))
    source = _source_platform(envelope.get("source_platform"), page_url)
    if source is None:
        raise LineProblem("no source_platform (nor a source_platform_url to read it from)")
    return Capture(
        file=file, line=line, sha256=hashlib.sha256(raw).hexdigest(),
        captured_at=_capture_time(envelope.get("timestamp_collected"), now),
        source_platform=source, data=item, source_url=_text(envelope.get("source_url")),
        source_platform_url=page_url, user_agent=_text(envelope.get("user_agent")),
        nav_index=_text(envelope.get("nav_index")), item_id=_text(envelope.get("item_id")),
        shape=shape)


def _capture_time(value: Any, now: datetime) -> datetime:
    """``timestamp_collected`` (milliseconds since the epoch) as a UTC time."""
    if value is None:
        raise LineProblem("no timestamp_collected: without a capture time the line proves "
                          "nothing")
    if isinstance(value, str) and value.strip().isdecimal() and len(value) < 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise LineProblem(f"timestamp_collected {_show(value)} is not milliseconds since "
                          "1970: without a capture time the line proves nothing")
    try:
        when = datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        when = None
    if when is None or when < EARLIEST:
        raise LineProblem(f"timestamp_collected {_show(value)} is not a plausible capture "
                          "time (milliseconds since 1970)")
    if when > now + FUTURE_SLACK:
        raise LineProblem(f"captured at {when.isoformat()}, in the future: check the clock "
                          "of the computer that captured it")
    return when


def _source_platform(value: Any, page_url: str | None) -> str | None:
    name = _text(value)
    if name is None and page_url:
        try:
            name = urlsplit(page_url).hostname
        except ValueError:
            name = None
    if not name:
        return None
    name = name.strip().lower()
    return name.removeprefix("www.")[:200] or None


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value) if abs(value) < 10**30 else None
    return value[:_EVIDENCE_CHARS] if isinstance(value, str) and value else None


def _show(value: Any) -> str:
    return repr(value)[:60]


def _first(text: str) -> str:
    return text.splitlines()[0][:200] if text else "unreadable"


# --- importing ---------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    capture: Capture
    platform: str
    post: PostContent
    account: str | None
    version: diff.Normalised
    evidence: dict[str, Any]


class Importer:
    """Imports capture files into one database, as ``settings`` allow."""

    def __init__(self, db: Database, settings: Settings, readers: Mapping[str, Reader], *,
                 watchlist: Path | None = None, group: str = "captures",
                 clock: Clock = SYSTEM_CLOCK, max_line_bytes: int = MAX_LINE_BYTES,
                 batch_size: int = 200) -> None:
        require_enabled(settings)
        if not group.strip():
            raise ConfigError("the group name is empty; name it, like --group captures")
        self.db = db
        self.settings = settings
        self.readers = {k.lower(): v for k, v in readers.items()}
        self.watchlist = watchlist
        self.group = group
        self.clock = clock
        self.max_line_bytes = max_line_bytes
        self.batch_size = max(1, batch_size)

    def run(self, path: Path) -> ImportReport:
        """Import every usable line of ``path``; raises only for the file as a whole
        (it cannot be opened, the watchlist is broken, the database is away)."""
        report = ImportReport()
        if self.watchlist is not None and self.watchlist.exists():
            from .watchlist import load_watchlist

            # A broken watchlist fails now, not mid-file. Its targets are added as the
            # next check would add them (groups=[]: nothing is deactivated), so that a
            # note whose author the file watches joins that account's target.
            targets = load_watchlist(self.watchlist).targets
            with self.db.transaction() as conn:
                tracking.sync_targets(conn, targets, self.settings["DEFAULT_INTERVAL"],
                                      groups=[])
        now = self.clock.now()
        pending: list[_Pending] = []
        for number, raw in read_lines(path, self.max_line_bytes):
            report.lines += 1
            if raw is None:
                report.problem(number, f"longer than {self.max_line_bytes} bytes: skipped "
                                       "unread")
                continue
            item = self._read(raw, path.name, number, now, report)
            if item is not None:
                pending.append(item)
            if len(pending) >= self.batch_size:
                self._flush(pending, report)
                pending = []
        if pending:
            self._flush(pending, report)
        return report

    def _read(self, raw: bytes, file: str, number: int, now: datetime,
              report: ImportReport) -> _Pending | None:
        try:
            capture = parse_line(raw, file=file, line=number, now=now)
        except LineProblem as exc:
            report.problem(number, str(exc))
            return None
        reader = self.readers.get(capture.source_platform)
        if reader is None:
            report.skipped[f"{capture.source_platform}: no platform to track its items"] += 1
            return None
        try:
            found = reader.read(capture.data)
        except Exception as exc:  # hostile input may break a reader anywhere: this line only
            report.problem(number, f"{capture.source_platform} item not readable: "
                                   f"{_first(str(exc)) or type(exc).__name__}")
            return None
        # What PostgreSQL cannot store never reaches it (NUL, lone surrogates…).
        clean = sanitise(Observation(
            mode="probe", platform=reader.platform, target_key="", url=capture.source_url or "",
            outcome=Outcome.OK, post_key=found.post.key, post=found.post,
            signals={"capture": capture.evidence()}, vantage=VANTAGE,
            observed_at=capture.captured_at))
        assert clean.post is not None
        account = found.account if isinstance(found.account, str) and found.account else None
        return _Pending(capture, reader.platform, clean.post, account and account[:200],
                        diff.normalise(clean.post, reader.platform),
                        clean.signals["capture"])

    def _flush(self, batch: list[_Pending], report: ImportReport) -> None:
        """Record one batch: first make sure each post has a target, then record each
        capture in its own savepoint (one that fails is reported, the rest commit)."""
        with self.db.transaction() as conn:
            homeless = store.homeless(conn, [(p.platform, p.post.key, p.account)
                                             for p in batch])
        targets = self._watch(batch, homeless, report)
        with self.db.transaction() as conn:
            if targets:
                # groups=[]: add these targets, deactivate nothing (a sync of the
                # whole watchlist is the next check's business).
                tracking.sync_targets(conn, targets, self.settings["DEFAULT_INTERVAL"],
                                      groups=[])
            now = self.clock.now()
            chained: list[int] = []  # tamper evidence: chained after the batch's writes
            for p in batch:
                try:
                    with conn.transaction():
                        result = store.record_capture(conn, store.CaptureRow(
                            platform=p.platform, post=p.post, account=p.account,
                            group=self.group, at=p.capture.captured_at,
                            sha256=p.capture.sha256, url=p.evidence.get("source_url"),
                            evidence=p.evidence, detail=DETAIL, mode=MODE, vantage=VANTAGE,
                            content_hash=p.version.content_hash, content=p.version.to_json(),
                            counters=diff.counters(p.post)), now)
                except TakedownError:
                    raise
                except Exception as exc:  # a value the database refused: this line only
                    if is_transient(exc):
                        raise
                    report.problem(p.capture.line, f"not stored: {_first(str(exc))}")
                    continue
                chained += result.observations
                report.recorded += result.recorded
                report.already += result.already
                report.new_posts += result.new_posts
                if not result.homes:
                    report.skipped["not tracked: no target watches it or its author, and "
                                   "it was not added to a watchlist"] += 1
            chain_store.append(conn, [("observation", i) for i in chained])

    def _watch(self, batch: list[_Pending], homeless: set[tuple[str, str]],
               report: ImportReport) -> list[Any]:
        """Single-post targets for the posts nothing tracks yet, added to the watchlist
        in one edit (or found there already); none without a watchlist file."""
        if not homeless or self.watchlist is None:
            return []
        from .watchlist import read_watchlist, target_key
        from .watchlist_edit import add_targets

        _, current = read_watchlist(self.watchlist, missing_ok=True)
        listed = {t.key: t for t in current.targets}
        found: dict[str, Any] = {}
        new: dict[str, tuple[str, str, str]] = {}
        for p in batch:
            kind = single_post_kind(get_platform(p.platform))
            url = p.post.probe_url or p.post.url
            if (p.platform, p.post.key) not in homeless or kind is None or not url:
                continue
            try:  # the watchlist's own check: one bad value must not fail the edit
                url = kind.check(url, False)[0]
            except ValueError as exc:
                report.problem(p.capture.line, f"not added to the watchlist: {exc}")
                continue
            key = target_key(p.platform, kind.name, url, None)
            if key in listed:
                found[key] = listed[key]
            else:
                new.setdefault(key, (p.platform, kind.name, url))
        if new:
            added = add_targets(self.watchlist, self.group, new.values())
            report.added_targets += [t.key for t in added]
            found.update((t.key, t) for t in added)
        return list(found.values())


def import_captures(db: Database, settings: Settings, path: Path,
                    readers: Mapping[str, Reader], **options: Any) -> ImportReport:
    """Import one capture file (see :class:`Importer` for the options)."""
    return Importer(db, settings, readers, **options).run(path)


__all__ = ["DETAIL", "MODE", "SETTING", "VANTAGE", "Capture", "CapturedPost", "ImportReport",
           "Importer", "ItemReader", "LineProblem", "Reader", "import_captures", "parse_line",
           "read_lines", "require_enabled"]
