"""The archiving pipeline: complete signed documents to B-LTA, verify, store write-once.

Archiving one document (`archive_document`, run by the `archive_envelope` job after an
envelope completes, and by `docservice archive retry`):

1. read the document's final revision (a short read, no transaction held);
2. add the validation data and a document timestamp (`signing.ltv.complete_to_lta`);
3. verify the result: the verification engine's verdict and the validation data a long-term
   validation needs (`signing.verify.verdict`); a long-term outlook is recorded beside them;
4. write the report, its HTML and PDF renderings, the ETSI report, the manifest and the PDF to
   the write-once store, and read the PDF back: the stored bytes must be the verified ones;
5. commit the index row, the state and the trail entry in one unit of work;
6. lock the objects until the end of retention.

A crash before 5 leaves objects nobody points at (`sweep` removes them after a grace
period), never a row without its objects. Nothing is shown "archived" unless 4 passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from docservice.archive import audit, records
from docservice.archive.records import canonical_json, object_keys
from docservice.archive.store import StoreUnavailable
from docservice.config import ArchiveSettings
from docservice.db import unit_of_work
from docservice.domain import SIGNER_ROLES, EnvelopeStatus, RequestStatus, sha256_hex
from docservice.errors import DocserviceError, NotFound
from docservice.jobs.registry import job
from docservice.models import (
    ArchiveEntry,
    ArchiveState,
    ArchiveTerm,
    AuditEvent,
    Document,
    Envelope,
)
from docservice.services.archive_search import ArchiveDamaged, entry_terms
from docservice.services.archive_status import (
    current_entry,
    documents_to_archive,
    present,
    set_state,
)
from docservice.signing import ltv
from docservice.signing.verify.engine import drawing_signed_revisions_ahead
from docservice.signing.verify.verdict import verify_bytes

if TYPE_CHECKING:
    from docservice.jobs.runtime import Runtime

log = logging.getLogger(__name__)


class ArchiveRefused(DocserviceError):
    """A document was not archived because it does not verify (the problems say why)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("the document does not verify: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class ArchiveOutcome:
    """What happened to one document in one archiving attempt."""

    document_id: int
    state: str  # "archived", "already", "failed", "skipped"
    sha256: str | None = None
    reason: str | None = None


#: A signer as the manifest records it.
SignerFacts = dict[str, str | None]


@dataclass(frozen=True)
class _Facts:
    """Everything about a document the manifest and the index need, read in one go."""

    document_id: int
    placement_id: int
    reference: str
    kind: str
    language: str
    source_sha256: str
    academic_year: str
    student_number: str
    student_first_name: str
    student_last_name: str
    company_name: str
    company_number: str
    start_date: date
    end_date: date
    signers: tuple[SignerFacts, ...]
    signed_first_at: datetime
    signed_last_at: datetime


def _facts(document: Document) -> _Facts:
    envelope = document.envelope
    placement = document.placement
    if envelope is None or envelope.status != EnvelopeStatus.COMPLETED.value:
        raise ArchiveRefused([f"{document.reference} is not in a completed envelope"])
    signed = [r for r in envelope.requests if r.status == RequestStatus.SIGNED.value]
    if [r.role for r in signed] != list(SIGNER_ROLES) or any(r.signed_at is None for r in signed):
        raise ArchiveRefused([f"{document.reference} lacks a signature of "
                              + ", ".join(sorted(set(SIGNER_ROLES) - {r.role for r in signed}))])
    signers = tuple({
        "role": r.role, "name": r.signer_name, "typed_name": r.signed_name,
        "email": r.signer_email, "organisation": r.organisation,
        "certificate_subject": r.certificate_subject,
        "signed_at": r.signed_at.isoformat() if r.signed_at else None,
    } for r in signed)
    times = [r.signed_at for r in signed if r.signed_at is not None]
    return _Facts(
        document_id=document.id, placement_id=placement.id, reference=document.reference,
        kind=document.kind, language=document.language,
        source_sha256=document.current_revision.sha256,
        academic_year=placement.academic_year.code, student_number=placement.student_number,
        student_first_name=placement.student_first_name,
        student_last_name=placement.student_last_name, company_name=placement.company_name,
        company_number=placement.company_number, start_date=placement.start_date,
        end_date=placement.end_date, signers=signers, signed_first_at=min(times),
        signed_last_at=max(times))


def retention_until(end_date: date, years: int) -> date:
    """The last day an archived document must be kept: the internship's end plus `years`."""
    return records.add_years(end_date, years)


@job("archive_envelope")
def archive_envelope(rt: Runtime, envelope_id: int) -> list[ArchiveOutcome]:
    """Archive every document of a completed envelope (idempotent; each in its own step)."""
    with unit_of_work(rt.db) as session:
        envelope = session.get(Envelope, envelope_id)
        if envelope is None:
            raise NotFound(f"envelope {envelope_id}")
        ids = [d.id for d in envelope.documents if d.superseded_at is None]
    return [archive_document(rt, document_id) for document_id in ids]


def archive_document(rt: Runtime, document_id: int, *, now: datetime | None = None,
                     actor: audit.Actor = audit.SYSTEM) -> ArchiveOutcome:
    """Complete, verify and store one document; record the outcome (never raises for it)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    settings = rt.settings.archive
    with rt.db.session() as session:
        document = session.get(Document, document_id)
        if document is None:
            raise NotFound(f"document {document_id}")
        current = current_entry(session, document_id)
        if current is not None:
            return ArchiveOutcome(document_id, "already", current.sha256)
        try:
            facts = _facts(document)
        except ArchiveRefused as e:
            return ArchiveOutcome(document_id, "skipped", reason=str(e))
        source = rt.blobs.get(facts.source_sha256)
    try:
        entry_data = _prepare(rt, facts, source, settings=settings, now=now)
    except Exception as e:  # noqa: BLE001 - any failure is recorded and retried later
        if not isinstance(e, DocserviceError):
            log.exception("archiving document %s failed", document_id)
        return _record_failure(rt, facts, e, actor=actor)
    outcome = _commit(rt, entry_data, actor=actor)
    if outcome.state == "archived":
        _send_copies_when_all_archived(rt, document_id, now=now)
    return outcome


def _send_copies_when_all_archived(rt: Runtime, document_id: int, *, now: datetime) -> None:
    """The last document of an envelope is archived: each party gets its copies (issue 15).

    After the archive's commit, so the copies are the archived bytes; a failure here leaves
    the archive as it is and is logged (the signers can ask for a link from their old one).
    """
    from docservice.services import copies

    try:
        with unit_of_work(rt.db) as session:
            envelope_id = session.scalar(select(Document.envelope_id)
                                         .where(Document.id == document_id))
            if envelope_id is not None:
                copies.send_copies(session, envelope_id, now=now, mailer=rt.mail,
                                   settings=rt.settings)
    except Exception:  # noqa: BLE001 - the archiving stands whatever the mail does
        log.exception("sending the copies of document %s failed", document_id)


@dataclass
class _Prepared:
    facts: _Facts
    version: int
    sha256: str
    size: int
    manifest_sha256: str
    report_sha256: str
    retention_until: date
    archived_at: datetime
    long_term_ok: bool
    last_timestamp: ltv.DocumentTimestamp
    supersedes_id: int | None = None
    supersedes_sha256: str | None = None


def _prepare(rt: Runtime, facts: _Facts, source: bytes, *, settings: ArchiveSettings,
             now: datetime, version: int = 1, renew_from: ArchiveEntry | None = None
             ) -> _Prepared:
    """Steps 2-4: complete (or renew), verify, write the objects, read the PDF back."""
    sources = rt.ltv_sources(now=now)
    until = retention_until(facts.end_date, settings.retention_years)
    # The engine draws every signed revision and the result: those drawings (child processes)
    # start now, beside the completion and the validation, not after them.
    with drawing_signed_revisions_ahead(source) as drawing:
        if renew_from is None:
            pdf = ltv.complete_to_lta(source, sources, now=now)
        else:
            pdf = ltv.renew(source, sources, now=now)
        drawing.draw([pdf])
        facts_of_pdf = ltv.lta_facts(pdf, sources.trust_roots)
        report = verify_bytes(pdf, sources, long_term_at=until, now=now, deep=False,
                              lta=facts_of_pdf, signers=facts.signers)
    if not report.passed:
        raise ArchiveRefused(report.problems)
    report_json = report.to_json()
    sha = sha256_hex(pdf)
    store = rt.archive_store
    pdf_key, manifest_key, report_key, html_key = object_keys(sha)
    report_bytes = canonical_json(report_json)
    etsi_bytes, report_pdf = readable_reports(pdf, report_json, now=now)
    etsi_key, report_pdf_key = records.report_keys(sha)
    timestamps = facts_of_pdf.timestamps
    with rt.db.session() as session:
        anchor = session.execute(select(AuditEvent.id, AuditEvent.hash)
                                 .order_by(AuditEvent.id.desc()).limit(1)).first()
    manifest = {
        "format": records.MANIFEST_FORMAT,
        "pdf": {"file": pdf_key.rsplit("/", 1)[-1], "sha256": sha, "size": len(pdf),
                "media_type": "application/pdf"},
        "report": {"file": report_key.rsplit("/", 1)[-1], "sha256": sha256_hex(report_bytes),
                   "html_file": html_key.rsplit("/", 1)[-1],
                   "etsi_file": etsi_key.rsplit("/", 1)[-1], "etsi_sha256": sha256_hex(etsi_bytes),
                   "pdf_file": report_pdf_key.rsplit("/", 1)[-1],
                   "pdf_sha256": sha256_hex(report_pdf)},
        "document": {"reference": facts.reference, "kind": facts.kind,
                     "language": facts.language, "version": version,
                     "source_sha256": facts.source_sha256,
                     "supersedes_sha256": renew_from.sha256 if renew_from else None},
        "placement": {"academic_year": facts.academic_year,
                      "student_number": facts.student_number,
                      "student_name": f"{facts.student_first_name} {facts.student_last_name}",
                      "company_name": facts.company_name, "company_number": facts.company_number,
                      "start_date": facts.start_date.isoformat(),
                      "end_date": facts.end_date.isoformat()},
        "signers": [dict(s, **report.signer_facts(str(s["role"]))) for s in facts.signers],
        "signed_first_at": facts.signed_first_at.isoformat(),
        "signed_last_at": facts.signed_last_at.isoformat(),
        "document_timestamps": [t.to_json() for t in timestamps],
        "verification": {"verdict": report.verdict,
                         "verified_at": report.verified_at.isoformat(),
                         "engine": report.engine.name, "pades_level": report.pades_level,
                         "long_term_ok": report.long_term.passed},
        "archived_at": now.isoformat(),
        "retention_until": until.isoformat(),
        "retention_years": settings.retention_years,
        "trail_anchor": {"id": anchor[0], "hash": anchor[1]} if anchor else None,
    }
    manifest_bytes = canonical_json(manifest)
    # Beside-objects first, the PDF last: whatever a crash leaves, it is swept as one orphan.
    # All durable before the row is committed, written together (see `store.batch`).
    with store.batch():
        if anchor:
            # A witness of the trail's length outside the database: `audit verify` finds
            # entries removed from the end of the trail by comparing with the newest one.
            store.put(records.checkpoint_key(anchor[0], anchor[1]),
                      canonical_json({"id": anchor[0], "hash": anchor[1]}),
                      content_type="application/json")
        store.put(report_key, report_bytes, content_type="application/json")
        store.put(html_key, records.render_report_html(report_json), content_type="text/html")
        store.put(etsi_key, etsi_bytes, content_type="application/xml")
        store.put(report_pdf_key, report_pdf, content_type="application/pdf")
        store.put(manifest_key, manifest_bytes, content_type="application/json")
        store.put(pdf_key, pdf, content_type="application/pdf")
    if sha256_hex(store.get(pdf_key)) != sha:
        raise ArchiveDamaged(f"the store returned other bytes for {pdf_key}")
    return _Prepared(
        facts=facts, version=version, sha256=sha, size=len(pdf),
        manifest_sha256=sha256_hex(manifest_bytes), report_sha256=sha256_hex(report_bytes),
        retention_until=until, archived_at=now, long_term_ok=bool(report.long_term.passed),
        last_timestamp=timestamps[-1],
        supersedes_id=renew_from.id if renew_from else None,
        supersedes_sha256=renew_from.sha256 if renew_from else None)


def readable_reports(pdf: bytes, report: Mapping[str, Any], *, now: datetime
                     ) -> tuple[bytes, bytes]:
    """The ETSI TS 119 102-2 XML report (from the engine's verdicts in the JSON `report`) and
    the PDF rendering of the human report, both written beside the JSON and the HTML."""
    from docservice.archive.report_pdf import render_report_pdf
    from docservice.signing.etsi_report import etsi_validation_report

    engine = (report.get("engine") or {}).get("report") or {}
    etsi = etsi_validation_report(pdf, engine.get("signatures", []), validation_time=now)
    return etsi, render_report_pdf(report)


def _commit(rt: Runtime, prepared: _Prepared, *, actor: audit.Actor) -> ArchiveOutcome:
    """Step 5 and 6: index row, state and trail in one transaction, then the retention lock."""
    facts = prepared.facts
    try:
        with unit_of_work(rt.db) as session:
            entry = ArchiveEntry(
                document_id=facts.document_id, placement_id=facts.placement_id,
                version=prepared.version, sha256=prepared.sha256, size=prepared.size,
                source_sha256=facts.source_sha256, manifest_sha256=prepared.manifest_sha256,
                report_sha256=prepared.report_sha256, academic_year=facts.academic_year,
                document_kind=facts.kind, reference=facts.reference,
                student_number=facts.student_number,
                student_name=f"{facts.student_first_name} {facts.student_last_name}",
                company_name=facts.company_name, company_number=facts.company_number,
                signed_first_at=facts.signed_first_at, signed_last_at=facts.signed_last_at,
                archived_at=prepared.archived_at, retention_until=prepared.retention_until,
                verdict="passed", long_term_ok=prepared.long_term_ok,
                last_timestamp_at=prepared.last_timestamp.time,
                last_timestamp_expires_at=prepared.last_timestamp.tsa_expires_at,
                retention_locked=False, supersedes_id=prepared.supersedes_id,
                last_verified_at=prepared.archived_at, last_verified_ok=True)
            entry.terms = [ArchiveTerm(field=f, term=t) for f, t in entry_terms(entry)]
            session.add(entry)
            if prepared.supersedes_id is not None:
                old = session.get(ArchiveEntry, prepared.supersedes_id)
                if old is None or not old.current:
                    raise _Superseded
                old.superseded_at = prepared.archived_at
            session.flush()
            set_state(session, facts.document_id, ArchiveState.ARCHIVED.value,
                      entry_id=entry.id, attempt=True)
            action = "archive.renewed" if prepared.supersedes_id else "archive.stored"
            audit.record(session, action, actor, placement_id=facts.placement_id,
                         document=facts.reference, sha256=prepared.sha256,
                         manifest_sha256=prepared.manifest_sha256, version=prepared.version,
                         source_sha256=facts.source_sha256,
                         supersedes=prepared.supersedes_sha256,
                         retention_until=prepared.retention_until.isoformat())
            entry_id = entry.id
    except (IntegrityError, _Superseded):
        # Another worker archived this version first; our objects are orphans for `sweep`.
        return ArchiveOutcome(facts.document_id, "already", reason="archived concurrently")
    lock_entry(rt, entry_id)
    return ArchiveOutcome(facts.document_id, "archived", prepared.sha256)


class _Superseded(Exception):
    """The entry being renewed was renewed or purged meanwhile."""


def lock_entry(rt: Runtime, entry_id: int) -> bool:
    """Lock an entry's objects until the end of its retention; False if the store refused."""
    with rt.db.session() as session:
        entry = session.get(ArchiveEntry, entry_id)
        if entry is None:
            raise NotFound(f"archive entry {entry_id}")
        sha, until = entry.sha256, entry.retention_until
    store = rt.archive_store
    try:
        with store.batch():
            for key in object_keys(sha) + present(store, records.report_keys(sha)):
                store.lock(key, until)
    except (StoreUnavailable, NotFound) as e:
        log.warning("locking %s failed (retry or verify locks it later): %s", sha, e)
        return False
    with unit_of_work(rt.db) as session:
        locked = session.get(ArchiveEntry, entry_id)
        if locked is not None:
            locked.retention_locked = True
    return True


def _record_failure(rt: Runtime, facts: _Facts, error: Exception, *,
                    actor: audit.Actor) -> ArchiveOutcome:
    reason = str(error) if isinstance(error, DocserviceError) else (
        f"unexpected error: {type(error).__name__}: {error}")
    with unit_of_work(rt.db) as session:
        set_state(session, facts.document_id, ArchiveState.FAILED.value, reason=reason[:2000],
                  attempt=True)
        audit.record(session, "archive.failed", actor, placement_id=facts.placement_id,
                     document=facts.reference, reason=reason[:500])
    return ArchiveOutcome(facts.document_id, "failed", reason=reason)


def retry(rt: Runtime, *, progress: Callable[[ArchiveOutcome], None] | None = None
          ) -> list[ArchiveOutcome]:
    """Archive what is missing (failed or never tried) and lock what is not locked yet."""
    with rt.db.session() as session:
        ids = documents_to_archive(session)
        unlocked = list(session.scalars(select(ArchiveEntry.id).where(
            ArchiveEntry.retention_locked.is_(False), ArchiveEntry.purged_at.is_(None))))
    outcomes = []
    for document_id in ids:
        outcome = archive_document(rt, document_id)
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    for entry_id in unlocked:
        lock_entry(rt, entry_id)
    return outcomes


def renew_entry(rt: Runtime, entry_id: int, *, now: datetime | None = None,
                actor: audit.Actor = audit.SYSTEM) -> ArchiveOutcome:
    """Archive a new version of an entry with one more document timestamp; the old one stays."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    settings = rt.settings.archive
    with rt.db.session() as session:
        entry = session.get(ArchiveEntry, entry_id)
        if entry is None or not entry.current:
            raise NotFound(f"current archive entry {entry_id}")
        document = entry.document
        facts = replace(_facts(document), source_sha256=entry.sha256)
        pdf = rt.archive_store.get(records.pdf_key(entry.sha256))
        if sha256_hex(pdf) != entry.sha256:
            raise ArchiveDamaged(f"{entry.sha256}: the stored bytes changed; not renewing them")
        session.expunge(entry)
    try:
        prepared = _prepare(rt, facts, pdf, settings=settings, now=now,
                            version=entry.version + 1, renew_from=entry)
    except Exception as e:  # noqa: BLE001 - recorded, the old version stays valid
        if not isinstance(e, DocserviceError):
            log.exception("renewing archive entry %s failed", entry_id)
        return _record_failure(rt, facts, e, actor=actor)
    # A renewal keeps the original retention: it is a new proof for the same document.
    return _commit(rt, prepared, actor=actor)
