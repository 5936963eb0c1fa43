"""Checking an evidence bundle offline (pure: bytes in, a report out).

Each check is ``ok``, ``failed`` or ``skipped`` (nothing to check, e.g. a bundle
not stamped yet); one failure rejects the bundle:

- ``container``: the zip reads, holds only bundle members, and is byte for byte
  the canonical zip of its members (a changed header byte shows too);
- ``readme``: README.txt is the text of this format;
- ``manifest``: manifest.json parses and is of a known format;
- ``captures``: the WARC file is exactly the captures' byte ranges; each range
  hashes to its ``warc_sha256``, its WARC records' digests hold, and its payload's
  SHA-256 is the manifest's and the observation's body hash;
- ``chain``: the chain entries recompute (:func:`monitor.chain.verify_entries`),
  link to each other and to the rows copied in the manifest, and the head's hash
  holds; ``chain coverage`` names rows without an entry (recorded before the chain
  began: skipped, not failed);
- ``rows``: the event, timeline and captures agree with the chained rows;
- ``timestamp <name>``: the token stamps SHA-256(manifest.json), its signature
  verifies and, given CA certificates, it chains to one of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509

from ..archive import ArchiveError, read_exchanges
from ..chain import ChainEntry, entry_hash, verify_entries
from . import bundle as bundle_format
from .manifest import loads, row_key, rule_of
from .tsa import TimestampError, verify_token

__all__ = ["Check", "Report", "verify_bundle"]

Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str = ""


@dataclass
class Report:
    """Every check made; the bundle is accepted when none failed."""

    checks: list[Check] = field(default_factory=list)
    event_id: int | None = None

    @property
    def accepted(self) -> bool:
        return bool(self.checks) and all(c.status != "failed" for c in self.checks)

    def add(self, name: str, problems: Sequence[str], ok: str = "",
            skipped: str | None = None) -> None:
        if problems:
            shown = "; ".join(problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            self.checks.append(Check(name, "failed", shown + more))
        elif skipped is not None:
            self.checks.append(Check(name, "skipped", skipped))
        else:
            self.checks.append(Check(name, "ok", ok))

    def lines(self) -> list[str]:
        out = [f"{c.status:<7} {c.name}" + (f": {c.detail}" if c.detail else "")
               for c in self.checks]
        out.append("ACCEPTED" if self.accepted else "REJECTED")
        return out


def verify_bundle(data: bytes, *, ca_certs: Sequence[x509.Certificate] = ()) -> Report:
    """Check a bundle's bytes; with ``ca_certs`` every token must chain to one of them
    and at least one token must be present."""
    report = Report()
    try:
        found = bundle_format.read(data)
    except bundle_format.BundleError as exc:
        report.add("container", [str(exc)])
        return report
    canonical = bundle_format.write(found) == data
    report.add("container", [] if canonical else [
        "the zip differs from the canonical zip of its members (altered headers)"],
        ok=f"{len(found.tokens)} timestamp token(s)")
    report.add("readme", [] if found.readme == bundle_format.README_TEXT else [
        "README.txt is not this format's text"])
    try:
        manifest = loads(found.manifest)
        report.event_id = int(manifest["event"]["id"])
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        report.add("manifest", [f"manifest.json cannot be read ({type(exc).__name__}: "
                                f"{str(exc)[:200]})"])
        _timestamps(report, found, ca_certs)
        return report
    report.add("manifest", [], ok=f"event {report.event_id}, "
               f"sha256 {hashlib.sha256(found.manifest).hexdigest()}")
    for name, check in (("captures", _captures), ("chain", _chain), ("rows", _rows)):
        try:
            check(report, manifest, found.warc)
        except Exception as exc:  # noqa: BLE001 (hostile input: a failed check, never a crash)
            report.add(name, [f"the manifest's {name} cannot be read "
                              f"({type(exc).__name__}: {str(exc)[:200]})"])
    _timestamps(report, found, ca_certs)
    return report


def _captures(report: Report, manifest: Mapping[str, Any], warc: bytes) -> None:
    problems: list[str] = []
    bodies = _body_hashes(manifest)
    offset = matched = 0
    captures = manifest["captures"]
    for cap in captures:
        where = f"capture {cap['record_id']}"
        start, length = int(cap["offset"]), int(cap["length"])
        if start != offset or length <= 0:
            problems.append(f"{where}: its byte range does not follow the previous one")
            break
        part = warc[start:start + length]
        offset = start + length
        if hashlib.sha256(part).hexdigest() != cap["warc_sha256"]:
            problems.append(f"{where}: the WARC bytes do not hash to its warc_sha256 (altered)")
            continue
        try:
            exchanges = read_exchanges(part)
        except Exception as exc:  # noqa: BLE001 (ArchiveError, or any reader failure)
            problems.append(f"{where}: {exc if isinstance(exc, ArchiveError) else repr(exc)}")
            continue
        if len(exchanges) != 1:
            problems.append(f"{where}: {len(exchanges)} responses where one was stored")
            continue
        ex = exchanges[0]
        if not ex.digests_ok or ex.problems:
            problems.append(f"{where}: WARC digests do not hold ({'; '.join(ex.problems)})")
        if ex.observation_ids and int(cap["observation_id"]) not in ex.observation_ids:
            problems.append(f"{where}: the WARC record was not stored for observation "
                            f"{cap['observation_id']}")
        if ex.payload_sha256 != cap["payload_sha256"]:
            problems.append(f"{where}: the payload's SHA-256 is not the manifest's")
        if ex.payload_sha256 in bodies.get(int(cap["observation_id"]), ()):
            matched += 1
    if offset != len(warc):
        problems.append(f"the WARC file holds {len(warc) - offset} byte(s) no capture names")
    # An observation row is a run of identical re-checks and keeps its latest body
    # hash; a capture of an earlier fetch of the run is bound by its chained row.
    report.add("captures", problems, ok=(
        f"{len(captures)} capture(s): WARC digests hold, payloads are the manifest's; "
        f"{matched} equal their observation's recorded body hash") if captures
        else "no capture (none kept for this event)")


def _body_hashes(manifest: Mapping[str, Any]) -> dict[int, set[str]]:
    """Per observation id, the body hashes recorded for it: its row's (the run's latest)
    and the probes' the event's evidence recorded."""
    out: dict[int, set[str]] = {}
    for obs in manifest["timeline"]:
        if obs.get("body_sha256"):
            out.setdefault(int(obs["id"]), set()).add(obs["body_sha256"])
    # From the event row itself (checked against its chained row), not the summary.
    for probe in rule_of(manifest["event"])["probes"]:
        if isinstance(probe, Mapping) and probe.get("obs") and probe.get("body_hash"):
            out.setdefault(int(probe["obs"]), set()).add(str(probe["body_hash"]))
    return out


def _chain(report: Report, manifest: Mapping[str, Any], warc: bytes) -> None:
    chain = manifest["chain"]
    entries = [ChainEntry.from_json(e) for e in chain["entries"]]
    rows: dict[tuple[str, int], Mapping[str, Any]] = {}
    for key, fields in chain["rows"].items():
        kind, _, row_id = key.partition(":")
        rows[(kind, int(row_id))] = fields
    problems = list(verify_entries(sorted(entries, key=lambda e: e.seq), rows))
    head = chain.get("head")
    if head is not None:
        h = ChainEntry.from_json(head)
        if h.hash != entry_hash(h.prev, h.seq, h.kind, h.row_id, h.digest):
            problems.append("the chain head's hash does not match its fields")
        if entries and max(e.seq for e in entries) > h.seq:
            problems.append("an entry is newer than the chain head it was built with")
    elif entries:
        problems.append("entries without a chain head")
    report.add("chain", problems, ok=f"{len(entries)} entries recompute and link to their "
               f"rows; head seq {head['seq'] if head else '-'}",
               skipped=None if entries else "no entries: the rows predate the hash chain")
    covered = {(e.kind, e.row_id) for e in entries}
    since = chain.get("since") or {}
    loose = [k for k in rows if k not in covered]
    # A row newer than the chain's start must have its entry: one left out is a forgery.
    missing = [row_key(*k) for k in loose if k[1] > int(since.get(k[0], 0))]
    old = [row_key(*k) for k in loose if k[1] <= int(since.get(k[0], 0))]
    report.add("chain coverage", [f"row(s) recorded after the chain began have no entry: "
                                  f"{', '.join(missing[:5])}"] if missing else [],
               ok="every row named is chained",
               skipped=(f"{len(old)} row(s) without an entry (recorded before the chain "
                        f"began): {', '.join(old[:5])}") if old else None)


_SAME = (("outcome", "outcome"), ("http_status", "http_status"), ("url", "url"),
         ("vantage", "vantage"), ("mode", "mode"), ("first_at", "first_at"),
         ("words", "message"))


def _rows(report: Report, manifest: Mapping[str, Any], warc: bytes) -> None:
    rows = manifest["chain"]["rows"]
    event = manifest["event"]
    problems: list[str] = []
    if rows.get(row_key("event", event["id"])) != event:
        problems.append("the event differs from its chained row")
    for name in ("cause", "cause_detail", "candidates"):
        if manifest[name] != event[name]:
            problems.append(f"{name} differs from the event row's")
    if manifest["rule"] != rule_of(event):
        problems.append("the rule differs from the event row's evidence")
    for obs in manifest["timeline"]:
        row = rows.get(row_key("observation", obs["id"]))
        if row is None:
            problems.append(f"observation {obs['id']}: its row is not in the manifest")
            continue
        if row["post_id"] != event["post_id"]:
            problems.append(f"observation {obs['id']} is about another post")
        for mine, theirs in _SAME:
            if obs[mine] != row[theirs]:
                problems.append(f"observation {obs['id']}: {mine} differs from its row")
    for cap in manifest["captures"]:
        row = rows.get(row_key("capture", cap["record_id"]))
        if row is None:
            problems.append(f"capture {cap['record_id']}: its row is not in the manifest")
            continue
        for name in ("warc_sha256", "payload_sha256", "target_uri"):
            if row[name] != cap[name]:
                problems.append(f"capture {cap['record_id']}: {name} differs from its row")
    report.add("rows", problems, ok="event, timeline and captures agree with their rows")


def _timestamps(report: Report, found: bundle_format.Bundle,
                ca_certs: Sequence[x509.Certificate]) -> None:
    if not found.tokens:
        report.add("timestamps", ["no timestamp token, and a CA was given"] if ca_certs
                   else [], skipped="no timestamp token (not stamped yet)")
        return
    for name, token in sorted(found.tokens.items()):
        try:
            info = verify_token(token, found.manifest, ca_certs)
        except TimestampError as exc:
            report.add(f"timestamp {name}", [str(exc)])
            continue
        chained = ", chains to the CA given" if info.chained else ", CA not checked"
        report.add(f"timestamp {name}", [], ok=f"{info.gen_time.isoformat()} by "
                   f"{info.signer}{chained}")
