"""``takedown evidence``: export an event's evidence bundle, verify a bundle or the hash
chain offline, stamp pending manifests, expire old raw captures."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .context import Ctx


@click.group("evidence")
def evidence() -> None:
    """Evidence bundles: export, verify, stamp, prune."""


@evidence.command("export")
@click.argument("event_id", metavar="EVENT", type=click.IntRange(min=1))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the bundle here (default: evidence-EVENT.zip in this folder).")
@click.pass_obj
def export_command(c: Ctx, event_id: int, output: Path | None) -> None:
    """Write EVENT's evidence bundle: its manifest (the event, its cause and rule, the
    observation timeline with every body's SHA-256, the hash-chain entries), the raw
    captures as WARC, and every RFC 3161 timestamp token stamped so far."""
    from monitor.evidence.collect import EvidenceError, bundle_bytes

    settings = c.settings()
    with c.database(settings) as db:
        try:
            with db.transaction() as conn:
                data = bundle_bytes(conn, event_id, datetime.now(UTC),
                                    settings["TIMESTAMP_AUTHORITIES"])
        except EvidenceError as exc:
            raise click.ClickException(str(exc)) from None
    target = output or Path(f"evidence-{event_id}.zip")
    partial = target.with_name(target.name + ".part")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"event {event_id}: {target} ({len(data)} bytes); check it with "
               f"`takedown evidence verify {target}`")


@evidence.command("verify")
@click.argument("bundle_path", metavar="[BUNDLE]", required=False,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tsa-ca", "tsa_ca", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM file of a timestamp authority's CA: every token must chain to one "
                   "(default: TIMESTAMP_CA_FILE). Repeatable.")
@click.option("--chain", "check_chain", is_flag=True,
              help="Also walk the database's whole hash chain (no BUNDLE needed).")
@click.pass_obj
def verify_command(c: Ctx, bundle_path: Path | None, tsa_ca: tuple[Path, ...],
                   check_chain: bool) -> None:
    """Check a bundle offline (captures, digests, chain entries, timestamps) and/or the
    database's hash chain. Exits 1 when anything is rejected."""
    if bundle_path is None and not check_chain:
        raise click.UsageError("give a BUNDLE to verify, or --chain (or both)")
    rejected = False
    if bundle_path is not None:
        rejected |= not _verify_bundle(c, bundle_path, tsa_ca)
    if check_chain:
        rejected |= not _verify_chain(c)
    if rejected:
        raise SystemExit(1)


def _verify_bundle(c: Ctx, path: Path, tsa_ca: tuple[Path, ...]) -> bool:
    from monitor.evidence.tsa import TimestampError, load_ca_file
    from monitor.evidence.verify import verify_bundle

    files = [str(p) for p in tsa_ca]
    if not files:
        configured = _configured_ca(c)
        files = [configured] if configured else []
    try:
        ca = [cert for f in files for cert in load_ca_file(f)]
    except (OSError, TimestampError) as exc:
        raise click.ClickException(f"cannot read the CA file: {exc}") from None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
    report = verify_bundle(data, ca_certs=ca)
    click.echo(f"{path}" + (f" (event {report.event_id})" if report.event_id else ""))
    for line in report.lines():
        click.echo(f"  {line}")
    return report.accepted


def _configured_ca(c: Ctx) -> str:
    """TIMESTAMP_CA_FILE, when the settings can be read (verify works without them)."""
    try:
        return str(c.settings()["TIMESTAMP_CA_FILE"])
    except Exception:  # noqa: BLE001 (offline: a broken watchlist must not stop verify)
        return ""


def _verify_chain(c: Ctx) -> bool:
    from monitor.db import chain

    with c.database() as db:
        with db.transaction() as conn:
            report = chain.verify(conn)
    head = f"head seq {report.head.seq}" if report.head else "empty"
    click.echo(f"hash chain: {report.entries} entries, {head}")
    for problem in report.problems:
        click.echo(f"  failed  {problem}")
    click.echo("  ACCEPTED" if report.ok else "  REJECTED")
    return report.ok


@evidence.command("stamp")
@click.pass_obj
def stamp_command(c: Ctx) -> None:
    """Build the manifests of new events and ask each TIMESTAMP_AUTHORITIES authority to
    stamp those it has not (the daemon does this on its own)."""
    from monitor.evidence.stamping import stamp_pending

    settings = c.settings()
    with c.database(settings) as db:
        run = stamp_pending(db, settings, datetime.now(UTC))
    if not settings["TIMESTAMP_AUTHORITIES"]:
        click.echo("no TIMESTAMP_AUTHORITIES configured: manifests are built, not stamped")
    click.echo(f"{run.built} manifest(s) built, {run.stamped} stamp(s) obtained, "
               f"{run.failed} failed (retried later)")
    for error in run.errors:
        click.echo(f"  {error}", err=True)
    if run.errors:
        raise SystemExit(1)


@evidence.command("prune")
@click.pass_obj
def prune_command(c: Ctx) -> None:
    """Delete raw captures older than ARCHIVE_RETENTION that no event rests on."""
    from monitor.archive_retention import expire_archive

    settings = c.settings()
    with c.database(settings) as db:
        deleted = expire_archive(db, settings, datetime.now(UTC))
    click.echo(f"{deleted} raw capture(s) expired")
