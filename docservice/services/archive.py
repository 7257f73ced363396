"""The archive: complete signed documents to B-LTA, verify, store write-once; find, check, purge.

Archiving one document (`archive_document`, run by the `archive_envelope` job after an
envelope completes, and by `docservice archive retry`):

1. read the document's final revision (a short read, no transaction held);
2. add the validation data and a document timestamp (`signing.ltv.complete_to_lta`);
3. verify the result: the verification engine's verdict and pyhanko's AdES long-term
   validation, offline, must both pass; a long-term outlook (validation simulated at the end
   of retention) is recorded beside them;
4. write the report, its HTML rendering, the manifest and the PDF to the write-once store,
   and read the PDF back: the stored bytes must be the verified ones;
5. commit the index row, the state and the trail entry in one transaction;
6. lock the objects until the end of retention.

A crash before 5 leaves objects nobody points at (`sweep` removes them after a grace
period), never a row without its objects. Nothing is shown "archived" unless 4 passed.
"""

from __future__ import annotations

import io
import json
import logging
import weakref
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docservice.archive import audit, records
from docservice.archive.records import canonical_json, object_keys, sha256_hex
from docservice.archive.store import (
    ArchiveSettings,
    ArchiveStore,
    RetentionActive,
    StoreUnavailable,
    make_store,
)
from docservice.db import keep_on_rollback, unit_of_work
from docservice.errors import DocserviceError, InvalidInput, NotFound
from docservice.jobs.runtime import Runtime
from docservice.jobs.tasks import job
from docservice.models import (
    ArchiveEntry,
    ArchiveState,
    ArchiveStatusRow,
    ArchiveTerm,
    AuditEvent,
    Document,
    Envelope,
    EnvelopeStatus,
    RequestStatus,
    utcnow,
)
from docservice.services.text import words
from docservice.signing import ltv

log = logging.getLogger(__name__)
BRUSSELS = ZoneInfo("Europe/Brussels")
ROLES = ("student", "company", "school")
WEAK_DIGESTS = frozenset({"md5", "sha1"})
MIN_KEY_BITS = {"rsa": 2048}
PACKAGE_FORMAT = "docservice-audit-package/1"


class ArchiveRefused(DocserviceError):
    """A document was not archived because it does not verify (the problems say why)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("the document does not verify: " + "; ".join(problems))
        self.problems = tuple(problems)


class ArchiveDamaged(DocserviceError):
    """An archived object is missing or is not what was archived.

    When it is about an indexed entry, says which (`entry_id`, `sha256`), which object
    (`key`) and what was found (`found_sha256`, None when the object is missing).
    """

    def __init__(self, message: str, *, entry_id: int | None = None,
                 placement_id: int | None = None, sha256: str | None = None,
                 key: str | None = None, expected_sha256: str | None = None,
                 found_sha256: str | None = None) -> None:
        super().__init__(message)
        self.entry_id = entry_id
        self.placement_id = placement_id
        self.sha256 = sha256
        self.key = key
        self.expected_sha256 = expected_sha256
        self.found_sha256 = found_sha256


# --- runtime wiring -------------------------------------------------------------------------

_stores: weakref.WeakKeyDictionary[Runtime, ArchiveStore] = weakref.WeakKeyDictionary()
_sources: weakref.WeakKeyDictionary[Runtime, tuple[int, ltv.LtvSources]] = (
    weakref.WeakKeyDictionary())


def archive_settings(rt: Runtime) -> ArchiveSettings:
    """The archive's settings (DOCSERVICE_ARCHIVE_*), the folder defaulting to the service's."""
    return ArchiveSettings.from_env(rt.settings.archive_path)


def archive_store(rt: Runtime) -> ArchiveStore:
    """The runtime's archive store, made on first use from the settings."""
    store = _stores.get(rt)
    if store is None:
        store = _stores[rt] = make_store(archive_settings(rt))
    return store


def use_store(rt: Runtime, store: ArchiveStore) -> None:
    """Make `rt` archive into `store` (tests, benchmarks, a migration between stores)."""
    _stores[rt] = store


def ltv_sources(rt: Runtime, *, now: datetime | None = None) -> ltv.LtvSources:
    """Trust roots, current CRLs, the TSA and the signer CA as status responder."""
    from docservice.signing.pades import load_trust_roots
    from docservice.signing.pki import Pki, refresh_crls

    now = now or datetime.now(UTC)
    signer = rt.signer
    pki = signer.pki
    cached = _sources.get(rt)
    if cached is not None and cached[0] == id(pki) and not _crls_stale(cached[1].crls, now):
        return cached[1]
    if _crls_stale(pki.crls, now) and rt.settings.env != "production":
        # The development CRLs live a week: a long-running process re-issues them.
        refresh_crls(pki.folder, now=now)
        pki_now = Pki.load(pki.folder)
    else:
        pki_now = pki
    signer_crl = next((c for c in pki_now.crls if c.issuer == pki_now.signer_ca.subject), None)
    sources = ltv.LtvSources(
        trust_roots=load_trust_roots(pki_now, signer.settings),
        crls=pki_now.crls,
        timestamper=signer.timestamper,
        responders=(ltv.StatusResponder(pki_now.signer_ca_x509, pki_now.signer_ca_key,
                                        signer_crl),),
    )
    _sources[rt] = (id(pki), sources)
    return sources


def _crls_stale(crls: Iterable[asn1_crl.CertificateList], now: datetime) -> bool:
    return any(c["tbs_cert_list"]["next_update"].native <= now + timedelta(hours=1)
               for c in crls)


# --- status ---------------------------------------------------------------------------------


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


def _set_state(session: Session, document_id: int, state: str, *, reason: str | None = None,
               entry_id: int | None = None, attempt: bool = False) -> None:
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


# --- archiving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveOutcome:
    """What happened to one document in one archiving attempt."""

    document_id: int
    state: str  # "archived", "already", "failed", "skipped"
    sha256: str | None = None
    reason: str | None = None


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
    signers: tuple[dict[str, Any], ...]
    signed_first_at: datetime
    signed_last_at: datetime


def _facts(document: Document) -> _Facts:
    envelope = document.envelope
    placement = document.placement
    if envelope is None or envelope.status != EnvelopeStatus.COMPLETED.value:
        raise ArchiveRefused([f"{document.reference} is not in a completed envelope"])
    signed = [r for r in envelope.requests if r.status == RequestStatus.SIGNED.value]
    if [r.role for r in signed] != list(ROLES) or any(r.signed_at is None for r in signed):
        raise ArchiveRefused([f"{document.reference} lacks a signature of "
                              + ", ".join(sorted(set(ROLES) - {r.role for r in signed}))])
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
    settings = archive_settings(rt)
    with rt.db.session() as session:
        document = session.get(Document, document_id)
        if document is None:
            raise NotFound(f"document {document_id}")
        current = _current_entry(session, document_id)
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
                copies.send_copies(session, rt, envelope_id, now=now)
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
    sources = ltv_sources(rt, now=now)
    until = retention_until(facts.end_date, settings.retention_years)
    if renew_from is None:
        pdf = ltv.complete_to_lta(source, sources, now=now)
    else:
        pdf = ltv.renew(source, sources, now=now)
    facts_of_pdf = ltv.lta_facts(pdf, sources.trust_roots)
    report = verify_bytes(pdf, sources, long_term_at=until, now=now, deep=False,
                          lta=facts_of_pdf, signers=facts.signers)
    if report["verdict"] != "passed":
        raise ArchiveRefused(report["problems"])
    sha = sha256_hex(pdf)
    store = archive_store(rt)
    pdf_key, manifest_key, report_key, html_key = object_keys(sha)
    report_bytes = canonical_json(report)
    etsi_bytes, report_pdf = _readable_reports(pdf, report, now=now)
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
        "signers": [dict(s, **_verified_signer(report, s["role"])) for s in facts.signers],
        "signed_first_at": facts.signed_first_at.isoformat(),
        "signed_last_at": facts.signed_last_at.isoformat(),
        "document_timestamps": [t.to_json() for t in timestamps],
        "verification": {"verdict": report["verdict"], "verified_at": report["verified_at"],
                         "engine": report["engine"]["name"], "pades_level": report["pades_level"],
                         "long_term_ok": report["long_term"]["passed"]},
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
        store.put(html_key, records.render_report_html(report), content_type="text/html")
        store.put(etsi_key, etsi_bytes, content_type="application/xml")
        store.put(report_pdf_key, report_pdf, content_type="application/pdf")
        store.put(manifest_key, manifest_bytes, content_type="application/json")
        store.put(pdf_key, pdf, content_type="application/pdf")
    if sha256_hex(store.get(pdf_key)) != sha:
        raise ArchiveDamaged(f"the store returned other bytes for {pdf_key}")
    return _Prepared(
        facts=facts, version=version, sha256=sha, size=len(pdf),
        manifest_sha256=sha256_hex(manifest_bytes), report_sha256=sha256_hex(report_bytes),
        retention_until=until, archived_at=now, long_term_ok=bool(report["long_term"]["passed"]),
        last_timestamp=timestamps[-1],
        supersedes_id=renew_from.id if renew_from else None,
        supersedes_sha256=renew_from.sha256 if renew_from else None)


def _verified_signer(report: dict[str, Any], role: str) -> dict[str, Any]:
    for sig in report["signatures"]:
        if sig.get("role") == role or sig["field_name"] == f"Signature_{role}":
            qualification = sig.get("qualification") or {}
            return {"certificate_sha256": sig.get("certificate_sha256"),
                    "timestamp_time": sig.get("timestamp_time"),
                    "claimed_signing_time": sig.get("claimed_signing_time"),
                    "qualification": {"level": qualification.get("level"),
                                      "reason": qualification.get("reason")}}
    return {}


def _readable_reports(pdf: bytes, report: dict[str, Any], *, now: datetime
                      ) -> tuple[bytes, bytes]:
    """The ETSI TS 119 102-2 XML report (from the engine's verdicts) and the PDF rendering of
    the human report, both written beside the JSON and the HTML."""
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
            _set_state(session, facts.document_id, ArchiveState.ARCHIVED.value,
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
    store = archive_store(rt)
    try:
        with store.batch():
            for key in object_keys(sha) + _present(store, records.report_keys(sha)):
                store.lock(key, until)
    except (StoreUnavailable, NotFound) as e:
        log.warning("locking %s failed (retry or verify locks it later): %s", sha, e)
        return False
    with unit_of_work(rt.db) as session:
        entry = session.get(ArchiveEntry, entry_id)
        if entry is not None:
            entry.retention_locked = True
    return True


def _present(store: ArchiveStore, keys: Iterable[str]) -> tuple[str, ...]:
    """The keys of `keys` the store holds (the ETSI and PDF reports: entries archived before
    they came lack them)."""
    return tuple(key for key in keys if store.exists(key))


def _record_failure(rt: Runtime, facts: _Facts, error: Exception, *,
                    actor: audit.Actor) -> ArchiveOutcome:
    reason = str(error) if isinstance(error, DocserviceError) else (
        f"unexpected error: {type(error).__name__}: {error}")
    with unit_of_work(rt.db) as session:
        _set_state(session, facts.document_id, ArchiveState.FAILED.value, reason=reason[:2000],
                   attempt=True)
        audit.record(session, "archive.failed", actor, placement_id=facts.placement_id,
                     document=facts.reference, reason=reason[:500])
    return ArchiveOutcome(facts.document_id, "failed", reason=reason)


def _current_entry(session: Session, document_id: int) -> ArchiveEntry | None:
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


# --- verification ---------------------------------------------------------------------------


def verify_bytes(pdf: bytes, sources: ltv.LtvSources, *, long_term_at: date | None = None,
                 now: datetime | None = None,
                 current_crls: Sequence[asn1_crl.CertificateList] | None = None,
                 deep: bool = True, lta: ltv.LtaFacts | None = None,
                 signers: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The verification report of an archived (or to-be-archived) PDF, as JSON.

    Always the verification engine's verdict. `deep` adds pyhanko's AdES long-term validation
    now and simulated at `long_term_at`; without it (archiving, where it would cost four times
    the rest) the long-term part is `ltv.dss_coverage`, the structural check that everything a
    future validation needs is embedded. `docservice archive verify` runs the deep one.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    problems: list[str] = []
    engine = _engine_verdict(pdf, sources, signers)
    if not engine["passed"]:
        problems += [f"verification engine: {r}" for r in engine["reasons"]] or [
            f"verification engine: {engine['indication']}"]
    if not deep:
        return _fast_report(pdf, sources, engine, problems, long_term_at=long_term_at, now=now,
                            lta=lta)
    crls = sources.crls if current_crls is None else current_crls
    try:
        lta = ltv.lta_validation(pdf, sources.trust_roots, current_crls=crls)
    except ltv.LtvError as e:
        lta = []
        problems.append(str(e))
    if not lta:
        problems.append("no approval signature to validate")
    for result in lta:
        if not result.passed:
            problems.append(f"{result.field_name}: long-term validation "
                            f"{result.indication} {result.sub_indication}"
                            + (f" ({result.message})" if result.message else ""))
    try:
        timestamps = ltv.document_timestamps(pdf)
        dss = ltv.dss_summary(pdf)
    except Exception as e:  # noqa: BLE001 - an unreadable file is a failed verification
        timestamps, dss = [], None
        problems.append(f"cannot read the document timestamps: {e}")
    if not timestamps:
        problems.append("no document timestamp: the document is not B-LTA")
    if dss is None:
        problems.append("no validation data (DSS): the document is not B-LT")
    long_term: dict[str, Any] = {"at": None, "passed": None, "signatures": []}
    if long_term_at is not None and not problems:
        at = datetime.combine(long_term_at, time(23, 59), tzinfo=UTC)
        try:
            future = ltv.simulate_future(pdf, sources.trust_roots, at=at)
            long_term = {"at": at.isoformat(), "passed": all(r.passed for r in future),
                         "signatures": [r.to_json() for r in future]}
        except ltv.LtvError as e:
            long_term = {"at": at.isoformat(), "passed": False, "signatures": [],
                         "error": str(e)}
    by_field = {s["field_name"]: s for s in engine.get("signatures", [])}
    signatures = []
    for result in lta:
        info = by_field.get(result.field_name, {})
        signatures.append({
            "field_name": result.field_name, "role": info.get("role"),
            "signer": info.get("signer_name") or result.signer,
            "certificate_subject": info.get("certificate_subject"),
            "certificate_sha256": info.get("certificate_sha256"),
            "claimed_signing_time": info.get("claimed_signing_time"),
            "timestamp_time": info.get("timestamp_time"),
            "engine_indication": info.get("indication"),
            "qualification": info.get("qualification"),
            "lta": result.to_json(),
        })
    return _report(pdf, sources, engine, problems, signatures=signatures, timestamps=timestamps,
                   dss=dss, long_term=long_term, now=now)


def _fast_report(pdf: bytes, sources: ltv.LtvSources, engine: dict[str, Any],
                 problems: list[str], *, long_term_at: date | None, now: datetime,
                 lta: ltv.LtaFacts | None = None) -> dict[str, Any]:
    try:
        lta = lta or ltv.lta_facts(pdf, sources.trust_roots)
        timestamps, dss, missing = lta.timestamps, lta.dss, list(lta.missing)
    except Exception as e:  # noqa: BLE001 - an unreadable file is a failed verification
        timestamps, dss, missing = [], None, [f"cannot read the validation data: {e}"]
    problems += missing
    if not any(s.get("role") in ROLES for s in engine.get("signatures", [])):
        problems.append("no approval signature to validate")
    at = (datetime.combine(long_term_at, time(23, 59), tzinfo=UTC).isoformat()
          if long_term_at else None)
    long_term = {"at": at, "passed": not missing, "method": "validation data embedded",
                 "missing": missing, "signatures": []}
    signatures = [{
        "field_name": info["field_name"], "role": info.get("role"),
        "signer": info.get("signer_name"),
        "certificate_subject": info.get("certificate_subject"),
        "certificate_sha256": info.get("certificate_sha256"),
        "claimed_signing_time": info.get("claimed_signing_time"),
        "timestamp_time": info.get("timestamp_time"),
        "engine_indication": info.get("indication"), "lta": None,
        "qualification": info.get("qualification"),
    } for info in engine.get("signatures", [])]
    return _report(pdf, sources, engine, problems, signatures=signatures, timestamps=timestamps,
                   dss=dss, long_term=long_term, now=now)


def _report(pdf: bytes, sources: ltv.LtvSources, engine: dict[str, Any], problems: list[str],
            *, signatures: list[dict[str, Any]], timestamps: list[ltv.DocumentTimestamp],
            dss: ltv.DssSummary | None, long_term: dict[str, Any], now: datetime
            ) -> dict[str, Any]:
    passed = not problems
    return {
        "format": records.REPORT_FORMAT,
        "pdf_sha256": sha256_hex(pdf), "size": len(pdf),
        "verified_at": now.isoformat(),
        "verdict": "passed" if passed else "failed",
        "problems": problems,
        "pades_level": "B-LTA" if passed else None,
        "signatures": signatures,
        "document_timestamps": [t.to_json() for t in timestamps],
        "dss": dss.to_json() if dss else None,
        "long_term": long_term,
        "trust_roots": [{"subject": c.subject.human_friendly, "sha256": c.sha256.hex()}
                        for c in sources.trust_roots],
        "engine": {key: engine[key] for key in ("name", "indication", "report")},
    }


def _engine_verdict(pdf: bytes, sources: ltv.LtvSources,
                    signers: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The verification engine's verdict on a final document: every party's signature there,
    each in the name of that party (or of the one the coordinator accepted)."""
    try:
        from docservice.signing.verify import Expected, Trust, verify_pdf
    except ImportError:
        return _fallback_verdict(pdf, sources)
    try:
        eu_roots, eu_lists = _eu_trusted_lists()
        report = verify_pdf(pdf, trust=Trust(roots=tuple(dict.fromkeys(sources.trust_roots
                                                                       + eu_roots)),
                                             crls=sources.crls, lists=eu_lists),
                            expected=Expected(roles_in_order=ROLES,
                                              field_names={r: f"Signature_{r}" for r in ROLES},
                                              signer_names=_certificate_names(signers),
                                              due=len(ROLES)))
        data = report.to_json()
    except Exception as e:  # noqa: BLE001 - the engine must not take the archive down with it
        log.exception("the verification engine failed")
        return {"name": "docservice.signing.verify", "passed": False, "indication": "ERROR",
                "reasons": [f"{type(e).__name__}: {e}"], "report": None, "signatures": []}
    sigs = [s for s in data.get("signatures", []) if s.get("kind") == "signature"]
    return {"name": "docservice.signing.verify", "passed": bool(report.passed),
            "indication": data.get("indication"), "reasons": list(data.get("reasons", [])),
            "report": data, "signatures": sigs}


_eu_lists: tuple[int, tuple[Any, ...], Any] | None = None


def _eu_trusted_lists() -> tuple[tuple[Any, ...], Any]:
    """The EU trusted lists' anchors and services (`signing.trust`), re-read when the store
    changes; none when it is empty or unreadable (logged: the service's own signatures are
    still verified, and qualifications then say no list was loaded)."""
    global _eu_lists
    from docservice.signing.trust import INDEX, load_trust_store, trust_store_path

    folder = trust_store_path()
    index = folder / INDEX
    key = index.stat().st_mtime_ns if index.exists() else 0
    cached = _eu_lists
    if cached is None or cached[0] != key:
        try:
            store = load_trust_store(folder)
            cached = (key, store.roots, store.trusted_lists)
        except DocserviceError as e:
            log.warning("the EU trusted-list store could not be loaded: %s", e)
            cached = (key, (), None)
        _eu_lists = cached
    return cached[1], cached[2]


def _certificate_names(signers: Sequence[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """The names a person's certificate may carry: the party's, or the name recorded when the
    signature was made (a certificate in another name that the coordinator accepted). The
    school signs with the organisation's seal, whose name is no person's."""
    return {s["role"]: tuple(n for n in (s.get("name"), s.get("typed_name")) if n)
            for s in signers if s.get("role") in ("student", "company")}


def _fallback_verdict(pdf: bytes, sources: ltv.LtvSources) -> dict[str, Any]:
    from docservice.signing.errors import SignatureCheckError
    from docservice.signing.validate import check_signatures

    try:
        checks = check_signatures(pdf, trust_roots=sources.trust_roots, crls=sources.crls)
    except SignatureCheckError as e:
        return {"name": "check_signatures", "passed": False, "indication": "TOTAL_FAILED",
                "reasons": [str(e)], "report": None, "signatures": []}
    reasons = [f"{c.field_name}: {p}" for c in checks for p in c.problems]
    sigs = [{"field_name": c.field_name, "role": c.signer_role, "signer_name": c.signer_name,
             "certificate_subject": c.certificate_subject,
             "certificate_sha256": c.certificate_sha256,
             "claimed_signing_time": c.signing_time.isoformat() if c.signing_time else None,
             "timestamp_time": c.timestamp_time.isoformat() if c.timestamp_time else None,
             "indication": "TOTAL_PASSED" if c.ok else "TOTAL_FAILED"} for c in checks]
    passed = bool(checks) and all(c.ok for c in checks)
    return {"name": "check_signatures", "passed": passed,
            "indication": "TOTAL_PASSED" if passed else "TOTAL_FAILED", "reasons": reasons,
            "report": {"signatures": sigs}, "signatures": sigs}


@dataclass(frozen=True)
class EntryCheck:
    """The result of re-verifying one archived document."""

    sha256: str
    ok: bool
    problems: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()


def check_entry(rt: Runtime, entry: ArchiveEntry, *, signatures: bool = True,
                now: datetime | None = None,
                current_crls: Sequence[asn1_crl.CertificateList] | None = None) -> EntryCheck:
    """Re-read an archived document and everything beside it; re-verify its signatures."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    store = archive_store(rt)
    pdf_key, manifest_key, report_key, html_key = object_keys(entry.sha256)
    problems: list[str] = []
    repaired: list[str] = []
    signers: Sequence[dict[str, Any]] = ()
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
            for key in object_keys(entry.sha256) + _present(store,
                                                            records.report_keys(entry.sha256)):
                until = store.retention(key)
                if until is None or until < entry.retention_until:
                    store.lock(key, entry.retention_until)
                    repaired.append(f"{key}: retention lock set until {entry.retention_until}")
        except (StoreUnavailable, NotFound) as e:
            problems.append(f"retention lock: {e}")
    if pdf is not None and signatures and not problems:
        sources = ltv_sources(rt, now=now)
        report = verify_bytes(pdf, sources, now=now, current_crls=current_crls,
                              signers=signers)
        problems += report["problems"]
    return EntryCheck(entry.sha256, not problems, tuple(problems), tuple(repaired))


def _check_readable_reports(store: ArchiveStore, sha: str, named: dict[str, Any],
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


@dataclass
class VerifySummary:
    """`docservice archive verify`: how many documents were checked and which failed."""

    checked: int = 0
    failed: list[EntryCheck] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def entries_query(shas: Sequence[str] = (), *, include_superseded: bool = True) -> Any:
    """Archived (not purged) entries, all or those with the given SHA-256 (or prefixes)."""
    query = select(ArchiveEntry).where(ArchiveEntry.purged_at.is_(None)).order_by(ArchiveEntry.id)
    if not include_superseded:
        query = query.where(ArchiveEntry.superseded_at.is_(None))
    if shas:
        query = query.where(ArchiveEntry.sha256.in_(list(shas)))
    return query


def verify_archive(rt: Runtime, shas: Sequence[str] = (), *, signatures: bool = True,
                   actor: audit.Actor = audit.SYSTEM,
                   progress: Callable[[EntryCheck], None] | None = None,
                   now: datetime | None = None) -> VerifySummary:
    """Re-verify archived documents (all, or `shas`), recording each verdict in the trail."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    summary = VerifySummary()
    with rt.db.session() as session:
        ids = [e.id for e in session.scalars(entries_query(shas))]
        if shas:
            found = {e.sha256 for e in session.scalars(entries_query(shas))}
            for sha in set(shas) - found:
                summary.failed.append(EntryCheck(sha, False, ("not in the archive index",)))
    current_crls = ltv_sources(rt, now=now).crls if signatures else None
    for entry_id in ids:
        with unit_of_work(rt.db) as session:
            entry = session.get(ArchiveEntry, entry_id)
            assert entry is not None
            check = check_entry(rt, entry, signatures=signatures, now=now,
                                current_crls=current_crls)
            entry.last_verified_at = now
            entry.last_verified_ok = check.ok
            audit.record(session, "archive.verified", actor, placement_id=entry.placement_id,
                         sha256=entry.sha256, ok=check.ok, signatures=signatures,
                         problems=list(check.problems)[:20])
        summary.checked += 1
        summary.repaired += list(check.repaired)
        if not check.ok:
            summary.failed.append(check)
        if progress:
            progress(check)
    return summary


def trail_witness(rt: Runtime, session: Session) -> str | None:
    """What the newest trail checkpoint in the archive store says is missing, or None.

    Archiving writes a checkpoint (id and hash of the trail's last entry) into the write-once
    store; entries removed from the end of the trail, which the hash chain alone cannot show,
    are found here as long as they were made before the newest archiving.
    """
    newest: tuple[int, str] | None = None
    for key, _modified in archive_store(rt).objects(records.CHECKPOINT_PREFIX):
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


# --- sweep, purge, renew --------------------------------------------------------------------


@dataclass
class SweepResult:
    """Objects no index row points at (removed unless dry run) and rows without objects."""

    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # locked orphans, or younger than the grace
    leftovers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # rows whose objects are gone: damage


def sweep(rt: Runtime, *, dry_run: bool = False, grace: timedelta = timedelta(hours=1),
          now: datetime | None = None) -> SweepResult:
    """Find what a crash left: orphans (objects without a row) and partial writes.

    Objects younger than `grace` are left alone: an archiving job may be about to commit
    the row that points at them.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    store = archive_store(rt)
    result = SweepResult()
    with rt.db.session() as session:
        known = set(session.scalars(select(ArchiveEntry.sha256)
                                    .where(ArchiveEntry.purged_at.is_(None))))
    seen: set[str] = set()
    for key, modified in sorted(store.objects()):
        if records.checkpoint_of_key(key) is not None:
            continue  # trail checkpoints belong to no document; they are kept for good
        sha = records.sha_of_key(key)
        if sha is not None and sha in known:
            seen.add(key)
            continue
        result.orphans.append(key)
        if dry_run or now - modified < grace:
            result.kept.append(key)
            continue
        try:
            store.delete(key, today=now.date())
            result.removed.append(key)
        except RetentionActive:
            result.kept.append(key)
    for name, modified in store.leftovers():
        result.leftovers.append(name)
        if not dry_run and now - modified >= grace:
            store.remove_leftover(name)
    # The blob store's too: a process killed while it stored a signed revision leaves one.
    for path, modified in rt.blobs.leftovers():
        result.leftovers.append(f"blobs/{path.parent.name}/{path.name}")
        if not dry_run and now - modified >= grace:
            path.unlink(missing_ok=True)
    for sha in sorted(known):
        for key in object_keys(sha):
            if key not in seen:
                result.missing.append(key)
    return result


@dataclass
class PurgeResult:
    purged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def purge(rt: Runtime, *, dry_run: bool = False, today: date | None = None,
          actor: audit.Actor = audit.SYSTEM) -> PurgeResult:
    """Remove archived documents whose retention has ended, each removal in the trail."""
    today = today or datetime.now(UTC).date()
    store = archive_store(rt)
    result = PurgeResult()
    with rt.db.session() as session:
        due = [(e.id, e.sha256) for e in session.scalars(
            select(ArchiveEntry).where(ArchiveEntry.purged_at.is_(None),
                                       ArchiveEntry.retention_until < today)
            .order_by(ArchiveEntry.id))]
    for entry_id, sha in due:
        if dry_run:
            result.purged.append(sha)
            continue
        try:
            for key in records.all_object_keys(sha):
                if store.exists(key):
                    store.delete(key, today=today)
        except RetentionActive as e:
            result.refused.append(f"{sha}: {e}")
            continue
        with unit_of_work(rt.db) as session:
            entry = session.get(ArchiveEntry, entry_id)
            assert entry is not None
            entry.purged_at = datetime.now(UTC)
            session.execute(delete(ArchiveTerm).where(ArchiveTerm.entry_id == entry_id))
            audit.record(session, "archive.purged", actor, placement_id=entry.placement_id,
                         sha256=sha, document=entry.reference,
                         retention_until=entry.retention_until.isoformat())
        result.purged.append(sha)
    return result


def renewal_due(rt: Runtime, *, within: timedelta = timedelta(days=365),
                now: datetime | None = None, check_algorithms: bool = True) -> list[tuple[int, str]]:
    """Current entries whose last timestamp's certificate expires within `within`, or weakens."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    due: dict[int, str] = {}
    with rt.db.session() as session:
        current = list(session.scalars(entries_query(include_superseded=False)))
        for entry in current:
            if entry.last_timestamp_expires_at <= now + within:
                due[entry.id] = (f"timestamp certificate expires "
                                 f"{entry.last_timestamp_expires_at:%Y-%m-%d}")
        if check_algorithms:
            store = archive_store(rt)
            for entry in current:
                if entry.id in due:
                    continue
                last = ltv.document_timestamps(store.get(records.pdf_key(entry.sha256)))[-1]
                weak = _weakness(last)
                if weak:
                    due[entry.id] = weak
    return sorted(due.items())


def _weakness(timestamp: ltv.DocumentTimestamp) -> str | None:
    if timestamp.digest_algorithm in WEAK_DIGESTS:
        return f"timestamp digest {timestamp.digest_algorithm} is weak"
    algorithm = timestamp.signature_algorithm.split("_")[0]
    minimum = MIN_KEY_BITS.get("rsa" if algorithm.startswith("rsa") else algorithm)
    if minimum and timestamp.key_bits < minimum:
        return f"timestamp key of {timestamp.key_bits} bits is weak"
    return None


def renew_entry(rt: Runtime, entry_id: int, *, now: datetime | None = None,
                actor: audit.Actor = audit.SYSTEM) -> ArchiveOutcome:
    """Archive a new version of an entry with one more document timestamp; the old one stays."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    settings = archive_settings(rt)
    with rt.db.session() as session:
        entry = session.get(ArchiveEntry, entry_id)
        if entry is None or not entry.current:
            raise NotFound(f"current archive entry {entry_id}")
        document = entry.document
        facts = replace(_facts(document), source_sha256=entry.sha256)
        pdf = archive_store(rt).get(records.pdf_key(entry.sha256))
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


# --- search ---------------------------------------------------------------------------------


def entry_terms(entry: ArchiveEntry) -> set[tuple[str, str]]:
    student = set(words(f"{entry.student_name} {entry.student_number}"))
    company = set(words(entry.company_name))
    company |= set(words(entry.company_number))
    digits = "".join(c for c in entry.company_number if c.isdigit())
    if digits:
        company.add(digits)
    return {("student", t) for t in student} | {("company", t) for t in company}


@dataclass(frozen=True)
class SearchCriteria:
    """What an auditor searches by; every given criterion must match."""

    student: str = ""  # name (any words, prefixes) or student number
    company: str = ""  # name or enterprise number
    year: str = ""
    kind: str = ""
    signed_from: date | None = None  # the last signature on or after this day (Brussels)
    signed_to: date | None = None  # ... and on or before this day
    sha256: str = ""  # the archived PDF's or the signed original's, or a prefix (8+ hex)

    @property
    def empty(self) -> bool:
        return not (self.student.strip() or self.company.strip() or self.year or self.kind
                    or self.signed_from or self.signed_to or self.sha256.strip())


@dataclass(frozen=True)
class SearchResult:
    entries: list[ArchiveEntry]
    more: bool  # more entries match than were returned


def search(session: Session, criteria: SearchCriteria, *, limit: int = 50,
           offset: int = 0) -> SearchResult:
    """Archived documents matching every criterion, newest signing first."""
    query = select(ArchiveEntry).where(ArchiveEntry.purged_at.is_(None))
    for field_name, text in (("student", criteria.student), ("company", criteria.company)):
        terms = words(text)
        if any(len(w) > 1 for w in terms):
            # A lone letter ("d" of D'Hondt) matches a large share of all words: skip it.
            terms = [w for w in terms if len(w) > 1]
        for word in terms:
            matching = select(ArchiveTerm.entry_id).where(
                ArchiveTerm.field == field_name, ArchiveTerm.term >= word,
                ArchiveTerm.term < word + "\uffff")
            query = query.where(ArchiveEntry.id.in_(matching))
    if criteria.year:
        query = query.where(ArchiveEntry.academic_year == criteria.year)
    if criteria.kind:
        query = query.where(ArchiveEntry.document_kind == criteria.kind)
    # Signed in the range: the day the last party signed (when the agreement took effect).
    # One indexed range, read newest first: no sorting of every match.
    if criteria.signed_from:
        start = datetime.combine(criteria.signed_from, time(0), tzinfo=BRUSSELS)
        query = query.where(ArchiveEntry.signed_last_at >= start)
    if criteria.signed_to:
        end = datetime.combine(criteria.signed_to + timedelta(days=1), time(0), tzinfo=BRUSSELS)
        query = query.where(ArchiveEntry.signed_last_at < end)
    sha = criteria.sha256.strip().lower()
    if sha:
        if not all(c in "0123456789abcdef" for c in sha) or not 8 <= len(sha) <= 64:
            raise InvalidInput("sha256", "give at least 8 hexadecimal digits of a SHA-256")
        if len(sha) == 64:
            query = query.where((ArchiveEntry.sha256 == sha) | (ArchiveEntry.source_sha256 == sha))
        else:
            upper = sha + "g"
            query = query.where(((ArchiveEntry.sha256 >= sha) & (ArchiveEntry.sha256 < upper))
                                | ((ArchiveEntry.source_sha256 >= sha)
                                   & (ArchiveEntry.source_sha256 < upper)))
    query = query.order_by(ArchiveEntry.signed_last_at.desc(), ArchiveEntry.id.desc())
    rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
    return SearchResult(rows[:limit], len(rows) > limit)


def entry_by_sha(session: Session, sha256: str) -> ArchiveEntry:
    """The archived (not purged) entry with this SHA-256."""
    entry = session.scalars(select(ArchiveEntry).where(
        ArchiveEntry.sha256 == sha256.lower(), ArchiveEntry.purged_at.is_(None))).first()
    if entry is None:
        raise NotFound(f"archived document {sha256[:64]}")
    return entry


def trail_of(session: Session, placement_id: int) -> list[AuditEvent]:
    """Every trail entry about a placement, oldest first."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.placement_id == placement_id)
                                .order_by(AuditEvent.id)))


def read_object(rt: Runtime, entry: ArchiveEntry, which: str) -> bytes:
    """One of an entry's objects ("pdf", "manifest", "report", "html", "etsi", "report_pdf"),
    checked if it is the PDF, the manifest or the JSON report."""
    keys = dict(zip(("pdf", "manifest", "report", "html", "etsi", "report_pdf"),
                    records.all_object_keys(entry.sha256), strict=True))
    expected = {"pdf": entry.sha256, "manifest": entry.manifest_sha256,
                "report": entry.report_sha256}.get(which)

    def damaged(message: str, found: str | None = None) -> ArchiveDamaged:
        return ArchiveDamaged(message, entry_id=entry.id, placement_id=entry.placement_id,
                              sha256=entry.sha256, key=keys[which], expected_sha256=expected,
                              found_sha256=found)

    try:
        data = archive_store(rt).get(keys[which])
    except NotFound as e:
        # The index says it was archived: a missing object is damage, not a wrong address.
        raise damaged(f"{keys[which]}: missing from the archive store") from e
    if expected is not None and (found := sha256_hex(data)) != expected:
        raise damaged(f"{keys[which]}: the stored bytes fail their integrity check (SHA-256 "
                      f"{found}, archived as {expected})", found)
    return data


def record_damage(session: Session, damage: ArchiveDamaged, *, actor: audit.Actor,
                  now: datetime | None = None) -> None:
    """Record a failed integrity check of an entry's object found while reading it, as
    `archive verify` does (the entry marked failed, `archive.verified` in the trail).

    The request that found it is refused and rolls back; this record outlives that.
    """
    if damage.entry_id is None:
        return
    now = (now or datetime.now(UTC)).astimezone(UTC)
    entry_id = damage.entry_id

    def mark(target: Session) -> None:
        entry = target.get(ArchiveEntry, entry_id)
        if entry is not None:
            entry.last_verified_at = now
            entry.last_verified_ok = False

    keep_on_rollback(session, mark)
    audit.record_refusal(session, "archive.verified", actor, placement_id=damage.placement_id,
                         sha256=damage.sha256, ok=False, signatures=False,
                         problems=[str(damage)], object=damage.key,
                         found_sha256=damage.found_sha256, found_by="reading it")


def download(session: Session, rt: Runtime, sha256: str, *, actor: audit.Actor) -> tuple[bytes, str]:
    """The archived PDF and a file name; the download is recorded in the trail."""
    entry = entry_by_sha(session, sha256)
    data = read_object(rt, entry, "pdf")
    audit.record(session, "archive.downloaded", actor, placement_id=entry.placement_id,
                 sha256=entry.sha256, document=entry.reference)
    return data, f"{entry.reference}-v{entry.version}.pdf"


# --- audit packages -------------------------------------------------------------------------


def export_package(session: Session, rt: Runtime, shas: Sequence[str], *,
                   actor: audit.Actor, now: datetime | None = None) -> bytes:
    """A ZIP an auditor can check offline: PDFs, manifests, reports, trail, SHA-256 sums."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    entries = [entry_by_sha(session, sha) for sha in dict.fromkeys(s.lower() for s in shas)]
    if not entries:
        raise InvalidInput("documents", "choose at least one archived document to export")
    files: dict[str, bytes] = {}
    for entry in entries:
        for which, suffix in (("pdf", ".pdf"), ("manifest", ".manifest.json"),
                              ("report", ".report.json"), ("html", ".report.html")):
            files[f"documents/{entry.sha256}{suffix}"] = read_object(rt, entry, which)
        store = archive_store(rt)
        for which, key in zip(("etsi", "report_pdf"), records.report_keys(entry.sha256),
                              strict=True):
            if store.exists(key):  # entries archived before issue 16 have neither
                files[f"documents/{key.rsplit('/', 1)[-1]}"] = read_object(rt, entry, which)
    placements = sorted({e.placement_id for e in entries})
    events = list(session.scalars(select(AuditEvent).where(AuditEvent.placement_id.in_(placements))
                                  .order_by(AuditEvent.id)))
    files["trail.jsonl"] = b"".join(canonical_json(audit.entry_json(e)) + b"\n" for e in events)
    sources = ltv_sources(rt, now=now)
    files["trust-roots.pem"] = b"".join(pem.armor("CERTIFICATE", c.dump())
                                        for c in sources.trust_roots)
    for index, crl in enumerate(sources.crls):
        files[f"revocation/crl-{index}.crl"] = crl.dump()
    head = session.execute(select(AuditEvent.id, AuditEvent.hash)
                           .order_by(AuditEvent.id.desc()).limit(1)).first()
    files["package.json"] = canonical_json({
        "format": PACKAGE_FORMAT, "created_at": now.isoformat(), "created_by": actor.name,
        "documents": [{"sha256": e.sha256, "reference": e.reference, "version": e.version,
                       "manifest_sha256": e.manifest_sha256} for e in entries],
        "trail": {"entries": len(events), "placements": placements,
                  "head": {"id": head[0], "hash": head[1]} if head else None},
    })
    sums = "".join(f"{sha256_hex(data)}  {name}\n" for name, data in sorted(files.items()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
        archive.writestr("SHA256SUMS", sums)
    for placement_id in placements:
        audit.record(session, "archive.exported", actor, placement_id=placement_id,
                     sha256s=[e.sha256 for e in entries if e.placement_id == placement_id])
    return out.getvalue()


@dataclass
class PackageCheck:
    """What `docservice audit verify-package` found."""

    documents: int = 0
    trail_entries: int = 0
    problems: list[str] = field(default_factory=list)
    signatures: dict[str, str] = field(default_factory=dict)  # sha -> verdict

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_package(data: bytes, *, trust_roots_pem: bytes | None = None,
                   signatures: bool = True) -> PackageCheck:
    """Check an audit package offline: sums, manifests, trail hashes, and the signatures."""
    check = PackageCheck()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        check.problems.append(f"not a ZIP file: {e}")
        return check
    with archive:
        names = set(archive.namelist())
        if "SHA256SUMS" not in names:
            check.problems.append("SHA256SUMS is missing")
            return check
        listed: dict[str, str] = {}
        for line in archive.read("SHA256SUMS").decode().splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
        for name in sorted(names - set(listed) - {"SHA256SUMS"}):
            check.problems.append(f"{name}: not listed in SHA256SUMS")
        contents: dict[str, bytes] = {}
        for name, digest in sorted(listed.items()):
            if name not in names:
                check.problems.append(f"{name}: listed in SHA256SUMS but missing")
                continue
            contents[name] = archive.read(name)
            if sha256_hex(contents[name]) != digest:
                check.problems.append(f"{name}: SHA-256 does not match SHA256SUMS")
    try:
        package = json.loads(contents.get("package.json", b"{}"))
    except ValueError:
        package = {}
        check.problems.append("package.json is not JSON")
    for doc in package.get("documents", []):
        _check_package_document(doc, contents, check)
    _check_package_trail(contents.get("trail.jsonl", b""), check)
    if signatures:
        _check_package_signatures(package, contents, trust_roots_pem, check)
    return check


def _check_package_document(doc: dict[str, Any], contents: dict[str, bytes],
                            check: PackageCheck) -> None:
    sha = doc.get("sha256", "")
    pdf = contents.get(f"documents/{sha}.pdf")
    manifest_bytes = contents.get(f"documents/{sha}.manifest.json")
    report_bytes = contents.get(f"documents/{sha}.report.json")
    check.documents += 1
    if pdf is None or manifest_bytes is None or report_bytes is None:
        check.problems.append(f"{sha}: PDF, manifest or report missing")
        return
    if sha256_hex(pdf) != sha:
        check.problems.append(f"documents/{sha}.pdf: its SHA-256 is not its name")
    if sha256_hex(manifest_bytes) != doc.get("manifest_sha256"):
        check.problems.append(f"documents/{sha}.manifest.json: not the archived manifest")
    manifest = json.loads(manifest_bytes)
    if manifest.get("pdf", {}).get("sha256") != sha:
        check.problems.append(f"documents/{sha}.manifest.json: names another PDF")
    if manifest.get("report", {}).get("sha256") != sha256_hex(report_bytes):
        check.problems.append(f"documents/{sha}.report.json: not the report the manifest names")
    _check_package_reports(sha, manifest.get("report", {}), pdf, contents, check)


def _check_package_reports(sha: str, named: dict[str, Any], pdf: bytes,
                           contents: dict[str, bytes], check: PackageCheck) -> None:
    """Each ETSI and PDF report the manifest names: in the package, unchanged, and about the
    PDF with this SHA-256 (the ETSI report's signatures and signed-bytes digests are this
    PDF's; the PDF report's subject names it)."""
    from docservice.archive.report_pdf import read_subject, report_subject
    from docservice.signing.etsi_report import EtsiReportError, check_report

    for field_name, digest_name, suffix in (("etsi_file", "etsi_sha256", ".report.etsi.xml"),
                                            ("pdf_file", "pdf_sha256", ".report.pdf")):
        if not named.get(digest_name):
            continue
        name = f"documents/{sha}{suffix}"
        data = contents.get(name)
        if data is None:
            check.problems.append(f"{name}: missing (the manifest names it)")
            continue
        if sha256_hex(data) != named[digest_name] or named.get(field_name) != f"{sha}{suffix}":
            check.problems.append(f"{name}: not the report the manifest names")
            continue
        if suffix == ".report.pdf":
            if read_subject(data) != report_subject(sha):
                check.problems.append(f"{name}: does not report on the PDF with this SHA-256")
            continue
        try:
            check_report(data, pdf)
        except EtsiReportError as e:
            check.problems.append(f"{name}: {e}")


def _check_package_trail(trail: bytes, check: PackageCheck) -> None:
    previous: dict[str, Any] | None = None
    for number, line in enumerate(trail.decode().splitlines(), start=1):
        entry = json.loads(line)
        check.trail_entries += 1
        if audit.entry_digest(entry) != entry["hash"]:
            check.problems.append(f"trail.jsonl line {number}: entry #{entry['id']} changed "
                                  "(its content does not match its hash)")
        if previous is not None and entry["id"] <= previous["id"]:
            check.problems.append(f"trail.jsonl line {number}: entries out of order")
        previous = entry


def _check_package_signatures(package: dict[str, Any], contents: dict[str, bytes],
                              trust_roots_pem: bytes | None, check: PackageCheck) -> None:
    from asn1crypto import x509 as asn1_x509

    roots_pem = trust_roots_pem or contents.get("trust-roots.pem", b"")
    roots = [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(roots_pem, multiple=True)]
    crls = [asn1_crl.CertificateList.load(data) for name, data in sorted(contents.items())
            if name.startswith("revocation/")]
    created = package.get("created_at")
    # Judged as of the package's creation, with the revocation data current then: offline,
    # years later, nothing newer is at hand.
    at = datetime.fromisoformat(created) if created else None
    for doc in package.get("documents", []):
        sha = doc.get("sha256", "")
        pdf = contents.get(f"documents/{sha}.pdf")
        if pdf is None or not roots:
            continue
        try:
            results = ltv.lta_validation(pdf, roots, at=at, current_crls=crls)
        except ltv.LtvError as e:
            check.problems.append(f"{sha}: {e}")
            continue
        bad = [f"{r.field_name} {r.indication} {r.sub_indication}" for r in results
               if not r.passed]
        check.signatures[sha] = "passed" if results and not bad else "failed"
        if bad or not results:
            check.problems.append(f"{sha}: signatures do not validate: " + "; ".join(bad))


def iter_entries(session: Session, *, batch: int = 500) -> Iterator[ArchiveEntry]:
    """Every archived entry, in id order."""
    yield from session.scalars(entries_query().execution_options(yield_per=batch))


def counts(session: Session) -> dict[str, int]:
    """How many entries are current, superseded, purged; documents failed and pending."""
    total = session.scalar(select(func.count()).select_from(ArchiveEntry)) or 0
    purged = session.scalar(select(func.count()).select_from(ArchiveEntry)
                            .where(ArchiveEntry.purged_at.is_not(None))) or 0
    failed = session.scalar(select(func.count()).select_from(ArchiveStatusRow)
                            .where(ArchiveStatusRow.state == ArchiveState.FAILED.value)) or 0
    return {"entries": total, "purged": purged, "failed": failed,
            "pending": len(documents_to_archive(session)) - failed}

