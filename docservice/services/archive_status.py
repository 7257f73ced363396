"""Where the archive stands: each document's archiving state, counts, and whether an archived
entry and the trail are still intact.

Every function takes the caller's session (and the archive store as a keyword); none commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docservice.archive import records
from docservice.archive.records import object_keys
from docservice.archive.store import ArchiveStore, StoreUnavailable
from docservice.domain import EnvelopeStatus, sha256_hex
from docservice.errors import NotFound
from docservice.models import (
    ArchiveEntry,
    ArchiveState,
    ArchiveStatusRow,
    AuditEvent,
    Document,
    Envelope,
    utcnow,
)
from docservice.signing import ltv
from docservice.signing.verify.verdict import verify_bytes


@dataclass(frozen=True)
class ArchiveStatus:
    """What the dashboard shows about one document's archiving."""

    state: str  # "not_completed", "pending", "archived", "failed"
    reason: str | None = None
    attempts: int = 0
    updated_at: datetime | None = None
    sha256: str | None = None
    version: int | None = None
    archived_at: datetime | None = None
    retention_until: date | None = None
    long_term_ok: bool | None = None

    @property
    def archived(self) -> bool:
        return self.state == ArchiveState.ARCHIVED.value


def archive_status(session: Session, document_id: int) -> ArchiveStatus:
    """Whether a document is archived (and which version), pending, or failed and why."""
    return archive_statuses(session, [document_id])[document_id]


def archive_statuses(session: Session, document_ids: Sequence[int]) -> dict[int, ArchiveStatus]:
    """`archive_status` for many documents in three queries (for a dashboard)."""
    ids = list(dict.fromkeys(document_ids))
    if not ids:
        return {}
    docs: dict[int, str | None] = {
        document_id: status for document_id, status in session.execute(
            select(Document.id, Envelope.status)
            .outerjoin(Envelope, Document.envelope_id == Envelope.id)
            .where(Document.id.in_(ids)))}
    rows = {r.document_id: r for r in session.scalars(
        select(ArchiveStatusRow).where(ArchiveStatusRow.document_id.in_(ids)))}
    entries: dict[int, ArchiveEntry] = {}
    for entry in session.scalars(select(ArchiveEntry).where(
            ArchiveEntry.document_id.in_(ids), ArchiveEntry.superseded_at.is_(None),
            ArchiveEntry.purged_at.is_(None))):
        entries[entry.document_id] = entry
    result = {}
    for document_id in ids:
        if document_id not in docs:
            raise NotFound(f"document {document_id}")
        row, found = rows.get(document_id), entries.get(document_id)
        if found is not None:
            entry = found
            result[document_id] = ArchiveStatus(
                state=ArchiveState.ARCHIVED.value, attempts=row.attempts if row else 1,
                updated_at=row.updated_at if row else entry.archived_at, sha256=entry.sha256,
                version=entry.version, archived_at=entry.archived_at,
                retention_until=entry.retention_until, long_term_ok=entry.long_term_ok)
        elif row is not None and row.state == ArchiveState.FAILED.value:
            result[document_id] = ArchiveStatus(state=row.state, reason=row.reason,
                                                attempts=row.attempts, updated_at=row.updated_at)
        elif docs[document_id] == EnvelopeStatus.COMPLETED.value:
            result[document_id] = ArchiveStatus(
                state=ArchiveState.PENDING.value, attempts=row.attempts if row else 0,
                updated_at=row.updated_at if row else None)
        else:
            result[document_id] = ArchiveStatus(state="not_completed")
    return result


def set_state(session: Session, document_id: int, state: str, *, reason: str | None = None,
              entry_id: int | None = None, attempt: bool = False) -> None:
    """Record a document's archiving state (an attempt counted if `attempt`)."""
    row = session.get(ArchiveStatusRow, document_id)
    if row is None:
        row = ArchiveStatusRow(document_id=document_id, attempts=0)
        session.add(row)
    row.state = state
    row.reason = reason
    row.entry_id = entry_id
    row.updated_at = utcnow()
    if attempt:
        row.attempts = (row.attempts or 0) + 1


def current_entry(session: Session, document_id: int) -> ArchiveEntry | None:
    """The document's current archived version (not superseded, not purged), if any."""
    return session.scalars(select(ArchiveEntry).where(
        ArchiveEntry.document_id == document_id, ArchiveEntry.superseded_at.is_(None),
        ArchiveEntry.purged_at.is_(None)).order_by(ArchiveEntry.version.desc())).first()


def documents_to_archive(session: Session) -> list[int]:
    """Documents of completed envelopes that have no archived version (yet)."""
    archived = select(ArchiveEntry.document_id).where(ArchiveEntry.purged_at.is_(None))
    return list(session.scalars(
        select(Document.id).join(Envelope, Document.envelope_id == Envelope.id)
        .where(Envelope.status == EnvelopeStatus.COMPLETED.value,
               Document.superseded_at.is_(None), Document.id.not_in(archived))
        .order_by(Document.id)))


def counts(session: Session) -> dict[str, int]:
    """How many entries are current, superseded, purged; documents failed and pending."""
    total = session.scalar(select(func.count()).select_from(ArchiveEntry)) or 0
    purged = session.scalar(select(func.count()).select_from(ArchiveEntry)
                            .where(ArchiveEntry.purged_at.is_not(None))) or 0
    failed = session.scalar(select(func.count()).select_from(ArchiveStatusRow)
                            .where(ArchiveStatusRow.state == ArchiveState.FAILED.value)) or 0
    return {"entries": total, "purged": purged, "failed": failed,
            "pending": len(documents_to_archive(session)) - failed}


# --- integrity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryCheck:
    """The result of re-verifying one archived document."""

    sha256: str
    ok: bool
    problems: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()


def present(store: ArchiveStore, keys: Iterable[str]) -> tuple[str, ...]:
    """The keys of `keys` the store holds (the ETSI and PDF reports: entries archived before
    they came lack them)."""
    return tuple(key for key in keys if store.exists(key))


def check_entry(entry: ArchiveEntry, *, store: ArchiveStore, sources: ltv.LtvSources | None = None,
                now: datetime | None = None,
                current_crls: Sequence[asn1_crl.CertificateList] | None = None) -> EntryCheck:
    """Re-read an archived document and everything beside it; with `sources`, re-verify its
    signatures too. A missing retention lock is set again (and named in `repaired`)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    pdf_key, manifest_key, report_key, html_key = object_keys(entry.sha256)
    problems: list[str] = []
    repaired: list[str] = []
    signers: Sequence[Mapping[str, Any]] = ()
    pdf = _read(store, pdf_key, problems)
    if pdf is not None and sha256_hex(pdf) != entry.sha256:
        problems.append(f"{pdf_key}: the stored bytes changed (SHA-256 {sha256_hex(pdf)})")
        pdf = None
    manifest_bytes = _read(store, manifest_key, problems)
    if manifest_bytes is not None:
        if sha256_hex(manifest_bytes) != entry.manifest_sha256:
            problems.append(f"{manifest_key}: the manifest changed")
        else:
            manifest = json.loads(manifest_bytes)
            signers = manifest.get("signers", ())
            if manifest["pdf"]["sha256"] != entry.sha256:
                problems.append(f"{manifest_key}: names another PDF")
            report_bytes = _read(store, report_key, problems)
            if report_bytes is not None and sha256_hex(report_bytes) != manifest["report"]["sha256"]:
                problems.append(f"{report_key}: the report changed")
            problems += _check_readable_reports(store, entry.sha256, manifest["report"], pdf)
    if not store.exists(html_key):
        problems.append(f"{html_key}: missing")
    if not problems:
        try:
            for key in object_keys(entry.sha256) + present(store,
                                                           records.report_keys(entry.sha256)):
                until = store.retention(key)
                if until is None or until < entry.retention_until:
                    store.lock(key, entry.retention_until)
                    repaired.append(f"{key}: retention lock set until {entry.retention_until}")
        except (StoreUnavailable, NotFound) as e:
            problems.append(f"retention lock: {e}")
    if pdf is not None and sources is not None and not problems:
        report = verify_bytes(pdf, sources, now=now, current_crls=current_crls,
                              signers=signers)
        problems += report.problems
    return EntryCheck(entry.sha256, not problems, tuple(problems), tuple(repaired))


def _check_readable_reports(store: ArchiveStore, sha: str, named: Mapping[str, Any],
                            pdf: bytes | None) -> list[str]:
    """The ETSI and PDF reports the manifest names: there, unchanged, and about this PDF."""
    from docservice.archive.report_pdf import read_subject, report_subject
    from docservice.signing.etsi_report import EtsiReportError, check_report

    problems: list[str] = []
    etsi_key, pdf_report_key = records.report_keys(sha)
    if named.get("etsi_sha256"):
        xml = _read(store, etsi_key, problems)
        if xml is not None and sha256_hex(xml) != named["etsi_sha256"]:
            problems.append(f"{etsi_key}: the ETSI report changed")
        elif xml is not None and pdf is not None:
            try:
                check_report(xml, pdf)
            except EtsiReportError as e:
                problems.append(f"{etsi_key}: {e}")
    if named.get("pdf_sha256"):
        rendered = _read(store, pdf_report_key, problems)
        if rendered is not None and sha256_hex(rendered) != named["pdf_sha256"]:
            problems.append(f"{pdf_report_key}: the PDF report changed")
        elif rendered is not None and read_subject(rendered) != report_subject(sha):
            problems.append(f"{pdf_report_key}: reports on another document")
    return problems


def _read(store: ArchiveStore, key: str, problems: list[str]) -> bytes | None:
    try:
        return store.get(key)
    except NotFound:
        problems.append(f"{key}: missing")
    except StoreUnavailable as e:
        problems.append(f"{key}: {e}")
    return None


def trail_witness(session: Session, *, store: ArchiveStore) -> str | None:
    """What the newest trail checkpoint in the archive store says is missing, or None.

    Archiving writes a checkpoint (id and hash of the trail's last entry) into the write-once
    store; entries removed from the end of the trail, which the hash chain alone cannot show,
    are found here as long as they were made before the newest archiving.
    """
    newest: tuple[int, str] | None = None
    for key, _modified in store.objects(records.CHECKPOINT_PREFIX):
        found = records.checkpoint_of_key(key)
        if found is not None and (newest is None or found[0] > newest[0]):
            newest = found
    if newest is None:
        return None
    entry_id, entry_hash = newest
    stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == entry_id))
    if stored is None:
        last = session.scalar(select(func.max(AuditEvent.id))) or 0
        return (f"audit trail entry #{entry_id} removed: the archive recorded it (hash "
                f"{entry_hash[:16]}...) but the trail ends at #{last}")
    if stored != entry_hash:
        return (f"audit trail entry #{entry_id} changed: the archive recorded hash "
                f"{entry_hash[:16]}..., the trail holds {stored[:16]}...")
    return None
