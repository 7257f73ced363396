"""The archive and the audit trail: status, retry, verify, sweep, purge, renew, export."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import func, select

from docservice.cli.root import CLI_ACTOR, command_work, current_runtime, main
from docservice.errors import DocserviceError


@main.group("archive")
def archive_group() -> None:
    """The write-once archive of signed documents (B-LTA PDFs, manifests, reports)."""


@archive_group.command("status")
def archive_status_command() -> None:
    """How many documents are archived, waiting, failed; where the archive is."""
    from docservice.services.archive_status import counts

    rt = current_runtime()
    with command_work() as session:
        numbers = counts(session)
    click.echo(f"Archive: {rt.archive_store.describe()}")
    click.echo(f"{numbers['entries'] - numbers['purged']} archived version(s), "
               f"{numbers['purged']} purged, {numbers['pending']} document(s) waiting, "
               f"{numbers['failed']} failed (`docservice archive retry`)")


@archive_group.command("retry")
def archive_retry() -> None:
    """Archive every completed document not archived yet (failed earlier, or never tried)."""
    from docservice.jobs import archiving

    rt = current_runtime()
    try:
        outcomes = archiving.retry(rt, progress=lambda o: click.echo(
            f"document {o.document_id}: {o.state}" + (f" ({o.reason})" if o.reason else "")))
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    failed = [o for o in outcomes if o.state == "failed"]
    click.echo(f"{len(outcomes) - len(failed)} archived, {len(failed)} failed.")
    if failed:
        sys.exit(1)


@archive_group.command("verify")
@click.argument("sha256", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every archived document.")
@click.option("--hash-only", is_flag=True,
              help="Check stored bytes, manifests and locks only, not the signatures.")
def archive_verify(sha256: tuple[str, ...], all_: bool, hash_only: bool) -> None:
    """Re-verify archived documents: bytes, manifest, report, lock and signatures.

    Exits 1 if any document fails. Each verdict is recorded in the audit trail.
    """
    from docservice.jobs.archive_maintenance import verify_archive
    from docservice.services.archive_search import entries_query

    if not sha256 and not all_:
        raise click.UsageError("name documents by SHA-256, or give --all")
    rt = current_runtime()
    with command_work() as session:
        total = session.scalar(select(func.count()).select_from(
            entries_query(sha256).subquery()))
    try:
        with click.progressbar(length=total or 0, label="Verifying",
                               show_pos=True, file=sys.stderr) as bar:
            summary = verify_archive(rt, sha256, signatures=not hash_only,
                                     actor=CLI_ACTOR, progress=lambda _c: bar.update(1))
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    for line in summary.repaired:
        click.echo(f"repaired: {line}")
    for check in summary.failed:
        click.echo(f"FAILED {check.sha256}:", err=True)
        for problem in check.problems:
            click.echo(f"  - {problem}", err=True)
    click.echo(f"{summary.checked} checked, {summary.checked - len(summary.failed)} passed, "
               f"{len(summary.failed)} failed.")
    if not summary.ok:
        sys.exit(1)


@archive_group.command("sweep")
@click.option("--dry-run", is_flag=True, help="Report only; remove nothing.")
@click.option("--grace-minutes", default=60, show_default=True,
              help="Leave objects younger than this (an archiving job may be committing).")
def archive_sweep(dry_run: bool, grace_minutes: int) -> None:
    """Report and remove what a crash left: objects without an index row, partial writes."""
    from datetime import timedelta

    from docservice.jobs.archive_maintenance import sweep

    result = sweep(current_runtime(), dry_run=dry_run, grace=timedelta(minutes=grace_minutes))
    for key in result.orphans:
        state = "removed" if key in result.removed else "kept"
        click.echo(f"orphan {key} ({state})")
    for name in result.leftovers:
        click.echo(f"partial write {name}")
    for key in result.missing:
        click.echo(f"MISSING {key}: an index row points at nothing", err=True)
    click.echo(f"{len(result.orphans)} orphan(s), {len(result.removed)} removed, "
               f"{len(result.leftovers)} partial write(s), {len(result.missing)} missing.")
    if result.missing:
        sys.exit(1)


@archive_group.command("purge")
@click.option("--dry-run", is_flag=True, help="List what is past retention; remove nothing.")
def archive_purge(dry_run: bool) -> None:
    """Remove archived documents whose retention has ended (each removal in the trail)."""
    from docservice.jobs.archive_maintenance import purge

    result = purge(current_runtime(), dry_run=dry_run, actor=CLI_ACTOR)
    for sha in result.purged:
        click.echo(f"{'would purge' if dry_run else 'purged'} {sha}")
    for line in result.refused:
        click.echo(f"refused {line}", err=True)
    click.echo(f"{len(result.purged)} {'due' if dry_run else 'purged'}, "
               f"{len(result.refused)} refused.")


@archive_group.command("renew")
@click.option("--within-days", default=365, show_default=True,
              help="Renew when the last timestamp's certificate expires within this many days.")
@click.option("--dry-run", is_flag=True, help="List what is due; change nothing.")
def archive_renew(within_days: int, dry_run: bool) -> None:
    """Add a fresh document timestamp to documents whose last one nears expiry or weakens.

    The renewed version is archived beside the old one, which stays.
    """
    from datetime import timedelta

    from docservice.jobs.archive_maintenance import renewal_due
    from docservice.jobs.archiving import renew_entry

    rt = current_runtime()
    due = renewal_due(rt, within=timedelta(days=within_days))
    failed = 0
    for entry_id, why in due:
        if dry_run:
            click.echo(f"entry {entry_id}: due ({why})")
            continue
        outcome = renew_entry(rt, entry_id, actor=CLI_ACTOR)
        failed += outcome.state == "failed"
        click.echo(f"entry {entry_id}: {why}: {outcome.state}"
                   + (f" {outcome.sha256}" if outcome.sha256 else "")
                   + (f" ({outcome.reason})" if outcome.reason else ""))
    click.echo(f"{len(due)} due, {len(due) - failed if not dry_run else 0} renewed.")
    if failed:
        sys.exit(1)


@archive_group.command("export")
@click.argument("sha256", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The ZIP file to write.")
def archive_export(sha256: tuple[str, ...], out: Path) -> None:
    """Write an audit package (PDFs, reports, trail, SHA-256 sums) for these documents."""
    from docservice.services.archive_search import export_package

    rt = current_runtime()
    with command_work() as session:
        data = export_package(session, sha256, store=rt.archive_store,
                              sources=rt.ltv_sources(), actor=CLI_ACTOR)
    out.write_bytes(data)
    click.echo(f"Audit package with {len(set(sha256))} document(s) in {out}")


@main.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Recompute the trail's hash chain; name the first changed, removed or inserted entry."""
    from docservice.archive import audit as audit_trail
    from docservice.models import AuditEvent
    from docservice.services.archive_status import trail_witness

    rt = current_runtime()
    with rt.db.session() as session:
        total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        with click.progressbar(length=total, label="Checking the trail", show_pos=True,
                               file=sys.stderr) as bar:
            checked, broken = audit_trail.verify_chain(session, progress=bar.update)
        if broken is not None:
            click.echo(f"BROKEN: {broken}", err=True)
            click.echo(f"{broken.checked} entries before it are intact.", err=True)
            sys.exit(1)
        missing = trail_witness(session, store=rt.archive_store)
    if missing is not None:
        click.echo(f"BROKEN: {missing}", err=True)
        sys.exit(1)
    click.echo(f"The audit trail is intact: {checked} entries.")


@audit_group.command("verify-package")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust-roots", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM file of the roots you trust (default: the package's own, shown below).")
@click.option("--no-signatures", is_flag=True, help="Check sums, manifests and trail only.")
def audit_verify_package(file: Path, trust_roots: Path | None, no_signatures: bool) -> None:
    """Check an audit package offline, without the database: exit 1 if anything is off."""
    from docservice.archive.package import verify_package

    check = verify_package(
        file.read_bytes(), trust_roots_pem=trust_roots.read_bytes() if trust_roots else None,
        signatures=not no_signatures)
    for sha, verdict in sorted(check.signatures.items()):
        click.echo(f"signatures of {sha}: {verdict}")
    for problem in check.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    click.echo(f"{check.documents} document(s), {check.trail_entries} trail entries: "
               + ("all checks pass." if check.ok else f"{len(check.problems)} problem(s)."))
    if not check.ok:
        sys.exit(1)
