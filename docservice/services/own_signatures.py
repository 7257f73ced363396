"""Signing with one's own certificate: check an uploaded, externally signed PDF, then accept it.

The signer downloads the revision the service hands out, signs their own field with their
own tool (eID middleware, a company certificate) and uploads the result. It is accepted only
when it is an incremental update of exactly that revision, the only new signature is in
that signer's field, nothing else changed, and the signature is intact and trusted. When
the certificate names someone else than the expected signer, the coordinator decides.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.archive.blobs import FilesystemBlobStore
from docservice.config import Settings
from docservice.domain import SIGNATURE_FIELD_NAMES, signature_field_name
from docservice.errors import N_, EnvelopeConflict, InvalidInput, NotFound, Reason, UploadRefused
from docservice.mail.delivery import Sender
from docservice.models import (
    Document,
    Envelope,
    EnvelopeStatus,
    ExternalSignature,
    RequestStatus,
    SignatureRequest,
)
from docservice.services import notifications
from docservice.services.envelopes import Enqueue, count_signatures, same_name, store_signatures
from docservice.signing.pades import PadesSigner
from docservice.signing.verify import Expected, Trust
from docservice.signing.verify.sandbox import verify_untrusted

AWAITING = "awaiting_confirmation"
#: A waiting upload that a newer one of the same signer replaced: it can no longer be accepted.
SUPERSEDED = "superseded"


@dataclass(frozen=True)
class UploadOutcome:
    """What happened to an upload: signed now, or waiting for the coordinator."""

    envelope: Envelope
    awaiting_confirmation: bool
    signer_name: str


def _expected(request: SignatureRequest) -> Expected:
    """Every signature of the envelope in order, this signer's the last one due; the earlier
    ones in the names the service recorded. This signer's own name is compared by the caller
    (another name goes to the coordinator, not back to the signer)."""
    requests = sorted(request.envelope.requests, key=lambda r: r.position)
    names = {r.role: tuple(n for n in (r.signer_name, r.signed_name) if n)
             for r in requests if r.position < request.position and r.role != "school"}
    return Expected(roles_in_order=tuple(r.role for r in requests),
                    field_names=dict(SIGNATURE_FIELD_NAMES),
                    signer_names=names,
                    due=sum(1 for r in requests if r.position <= request.position),
                    allow_untimestamped_last=True)


@dataclass(frozen=True)
class _Checked:
    """The verdict on one uploaded document."""

    reasons: list[Reason]
    signer_name: str = ""
    certificate_subject: str = ""
    qualified: bool = False
    timestamped: bool = False


def _timestamped(pdf: bytes, *, signer: PadesSigner, trust: Trust, settings: Settings) -> bytes:
    """`pdf` with a document timestamp after its last signature, if that one has none."""
    report = verify_untrusted(pdf, trust=trust, policy="standard",
                              memory_mb=settings.verify_memory_mb,
                              seconds=settings.verify_seconds)
    signatures = [s for s in report.signatures if s.kind == "signature"]
    if signatures and signatures[-1].timestamp_time is None:
        return signer.add_document_timestamp(pdf)
    return pdf


def _check(request: SignatureRequest, document: Document, upload: bytes, *,
           blobs: FilesystemBlobStore, trust: Trust, settings: Settings) -> _Checked:
    """Whether `upload` is `document` as handed out plus this signer's signature, and whose."""
    handed_out = blobs.get(document.current_revision.sha256)
    if not upload.startswith(b"%PDF"):
        return _Checked([Reason(N_("dit is geen PDF-bestand."))])
    if len(upload) <= len(handed_out) or not upload.startswith(handed_out):
        return _Checked([Reason(N_(
            "dit is niet het uitgereikte document met één handtekening erbij: onderteken de "
            "PDF die u op deze pagina downloadt, zonder hem eerst op een andere manier op te "
            "slaan."))])
    report = verify_untrusted(upload, trust=trust, policy="strict",
                              expected=_expected(request), memory_mb=settings.verify_memory_mb,
                              seconds=settings.verify_seconds)
    field = signature_field_name(request.role)
    signatures = [s for s in report.signatures if s.kind == "signature"]
    last = signatures[-1] if signatures else None
    # The verification's own reasons are technical English: said as they are.
    reasons = [] if report.passed else [Reason(r) for r in report.reasons]
    if last is None or last.field_name != field:
        reasons.append(Reason(N_("de nieuwe handtekening moet in het veld %(field)s staan."),
                              field=field))
    if reasons or last is None:
        return _Checked(reasons)
    return _Checked([], last.signer_name or "", last.certificate_subject or "", last.qualified,
                    last.timestamp_time is not None)


def sign_with_own_certificate(session: Session, request: SignatureRequest,
                              uploads: dict[int, bytes], *, now: datetime, actor: audit.Actor,
                              signer: PadesSigner, blobs: FilesystemBlobStore, trust: Trust,
                              mailer: Sender, settings: Settings,
                              enqueue: Enqueue) -> UploadOutcome:
    """Accept one externally signed PDF per document of the envelope, all or none."""
    request.check_turn()
    envelope = request.envelope
    documents = [d for d in envelope.documents if d.superseded_at is None]
    missing = [d.reference for d in documents if d.id not in uploads]
    if missing:
        raise InvalidInput("files", Reason(
            N_("laad elk document van de envelop ondertekend op: ontbrekend: %(missing)s"),
            missing=", ".join(missing)))
    problems: dict[str, list[Reason]] = {}
    found: dict[int, _Checked] = {}
    for document in documents:
        checked = _check(request, document, uploads[document.id], blobs=blobs, trust=trust,
                         settings=settings)
        if checked.reasons:
            problems[document.reference] = checked.reasons
        else:
            found[document.id] = checked
    if problems:
        refused = UploadRefused(problems)
        # The request is refused and rolled back: the refusal's record must outlive that.
        audit.record_refusal(session, "signer.upload_refused", actor,
                             placement_id=envelope.placement_id, envelope_id=envelope.id,
                             role=request.role, problems=refused.in_english())
        raise refused
    # One upload, one signer: the name and certificate recorded must be those of every file.
    first = found[documents[0].id]
    others = {d.reference: [Reason(
        N_("ondertekend met een ander certificaat (%(subject)s) dan %(first)s "
           "(%(first_subject)s): onderteken elk document met hetzelfde certificaat."),
        subject=found[d.id].certificate_subject, first=documents[0].reference,
        first_subject=first.certificate_subject)]
              for d in documents[1:]
              if (found[d.id].signer_name, found[d.id].certificate_subject)
              != (first.signer_name, first.certificate_subject)}
    if others:
        refused = UploadRefused(others)
        audit.record_refusal(session, "signer.upload_refused", actor,
                             placement_id=envelope.placement_id, envelope_id=envelope.id,
                             role=request.role, problems=refused.in_english())
        raise refused
    names = {checked.signer_name for checked in found.values()}
    signer_name = first.signer_name
    upload_id = uuid.uuid4().hex
    # A newer upload of this signer replaces any that still waits for the coordinator.
    superseded = _supersede_waiting(session, request, upload_id=upload_id, now=now)
    if all(same_name(n, request.signer_name) for n in names):
        request.claim(now=now)
        request.signed_name = signer_name
        request.certificate_subject = first.certificate_subject[:400]
        signed = [uploads[d.id] if found[d.id].timestamped
                  else _timestamped(uploads[d.id], signer=signer, trust=trust, settings=settings)
                  for d in documents]
        count_signatures(session, request.role, "own_certificate", len(documents))
        store_signatures(session, request, documents, signed, now=now, actor=actor, blobs=blobs,
                         mailer=mailer, settings=settings, enqueue=enqueue)
        return UploadOutcome(envelope, False, signer_name)
    # The certificate names someone else: keep the bytes, let the coordinator decide.
    stored: dict[str, str] = {}
    for document in documents:
        checked = found[document.id]
        stored[document.reference] = blobs.put(uploads[document.id])
        session.add(ExternalSignature(
            upload_id=upload_id, signature_request_id=request.id, document_id=document.id,
            base_sha256=document.current_revision.sha256, sha256=stored[document.reference],
            signer_name=checked.signer_name[:200],
            certificate_subject=checked.certificate_subject[:400], qualified=checked.qualified,
            status=AWAITING, uploaded_at=now))
    session.flush()
    audit.record(session, "signer.upload_awaiting_confirmation", actor,
                 placement_id=envelope.placement_id, envelope_id=envelope.id, role=request.role,
                 expected=request.signer_name, found=sorted(names), upload_id=upload_id,
                 certificate=first.certificate_subject[:400], files=stored,
                 superseded=superseded)
    notifications.send_confirmation_needed(session, request, sorted(names), mailer=mailer,
                                           settings=settings)
    return UploadOutcome(envelope, True, signer_name)


def _supersede_waiting(session: Session, request: SignatureRequest, *, upload_id: str,
                       now: datetime) -> list[str]:
    """Mark the uploads of `request` still waiting as replaced by `upload_id`; their ids."""
    waiting = sorted(set(session.scalars(select(ExternalSignature.upload_id).where(
        ExternalSignature.signature_request_id == request.id,
        ExternalSignature.status == AWAITING))))
    if waiting:
        # Conditional: a coordinator deciding at this moment either wins or finds it replaced.
        session.execute(update(ExternalSignature).where(
            ExternalSignature.signature_request_id == request.id,
            ExternalSignature.status == AWAITING,
        ).values(status=SUPERSEDED, decided_at=now, decided_by=f"upload {upload_id}"))
    return waiting


def awaiting(session: Session, envelope: Envelope) -> list[ExternalSignature]:
    """Uploaded documents of this envelope waiting for the coordinator's decision."""
    ids = [r.id for r in envelope.requests]
    return list(session.scalars(select(ExternalSignature).where(
        ExternalSignature.signature_request_id.in_(ids), ExternalSignature.status == AWAITING)
        .order_by(ExternalSignature.uploaded_at, ExternalSignature.id)))


@dataclass(frozen=True)
class WaitingUpload:
    """One upload waiting for the coordinator: who signed, with which certificate, which files."""

    upload_id: str
    role: str
    expected_name: str
    signer_name: str
    certificate_subject: str
    qualified: bool
    uploaded_at: datetime
    files: list[ExternalSignature]  # one per document: reference and SHA-256


def waiting_uploads(session: Session, envelope: Envelope) -> list[WaitingUpload]:
    """The uploads of this envelope waiting for a decision, each as a whole, oldest first."""
    groups: dict[str, list[ExternalSignature]] = {}
    for item in awaiting(session, envelope):
        groups.setdefault(item.upload_id, []).append(item)
    return [WaitingUpload(upload_id, items[0].signature_request.role,
                          items[0].signature_request.signer_name, items[0].signer_name,
                          items[0].certificate_subject, all(i.qualified for i in items),
                          items[0].uploaded_at, items)
            for upload_id, items in groups.items()]


def decide(session: Session, envelope: Envelope, *, upload_id: str, accept: bool,
           now: datetime, actor: audit.Actor, signer: PadesSigner, blobs: FilesystemBlobStore,
           trust: Trust, mailer: Sender, settings: Settings, enqueue: Enqueue) -> None:
    """The coordinator accepts (the order goes on) or refuses one waiting upload, by its id.

    The signature recorded (name, certificate) and the revisions stored come from that upload
    alone; an upload that a newer one replaced, or that was decided, cannot be decided again.
    """
    ids = [r.id for r in envelope.requests]
    pending = list(session.scalars(select(ExternalSignature).where(
        ExternalSignature.upload_id == upload_id,
        ExternalSignature.signature_request_id.in_(ids)).order_by(ExternalSignature.id)))
    if not pending:
        raise NotFound(f"upload {upload_id[:32]}")
    if any(item.status != AWAITING for item in pending):
        state = next(i.status for i in pending if i.status != AWAITING).replace("_", " ")
        raise EnvelopeConflict(Reason(
            N_("upload %(upload)s is %(state)s: alleen een upload die op een beslissing wacht, "
               "kan aanvaard of geweigerd worden"), upload=upload_id, state=state))
    if len({(i.signer_name, i.certificate_subject) for i in pending}) > 1:
        raise EnvelopeConflict(Reason(
            N_("upload %(upload)s bevat handtekeningen van meer dan één certificaat: weiger "
               "hem en vraag de ondertekenaar opnieuw te ondertekenen"), upload=upload_id))
    request = pending[0].signature_request
    decided = session.execute(update(ExternalSignature).where(
        ExternalSignature.upload_id == upload_id, ExternalSignature.status == AWAITING,
    ).values(status="accepted" if accept else "rejected", decided_at=now, decided_by=actor.name)
        .execution_options(synchronize_session=False))
    if int(decided.rowcount) != len(pending):  # type: ignore[attr-defined]
        raise EnvelopeConflict(Reason(
            N_("over upload %(upload)s werd intussen beslist, of hij werd vervangen"),
            upload=upload_id))
    for item in pending:
        session.refresh(item)
    files = {item.document.reference: item.sha256 for item in pending}
    if not accept:
        audit.record(session, "signer.upload_rejected", actor, placement_id=envelope.placement_id,
                     envelope_id=envelope.id, role=request.role, upload_id=upload_id,
                     files=files)
        return
    if envelope.status != EnvelopeStatus.OPEN.value or request.status != RequestStatus.PENDING.value:
        request.check_turn()
    documents = [d for d in envelope.documents if d.superseded_at is None]
    by_document = {item.document_id: item for item in pending}
    for document in documents:
        uploaded = by_document.get(document.id)
        if uploaded is None or uploaded.base_sha256 != document.current_revision.sha256:
            raise EnvelopeConflict(Reason(
                N_("%(document)s is gewijzigd sinds de upload: vraag de ondertekenaar de "
                   "huidige versie te ondertekenen"), document=document.reference))
    request.claim(now=now)
    # Name, certificate and bytes: all from this one upload.
    request.signed_name = pending[0].signer_name
    request.certificate_subject = pending[0].certificate_subject
    audit.record(session, "signer.upload_accepted", actor, placement_id=envelope.placement_id,
                 envelope_id=envelope.id, role=request.role, upload_id=upload_id,
                 signer=pending[0].signer_name, certificate=pending[0].certificate_subject,
                 files=files)
    count_signatures(session, request.role, "own_certificate_confirmed", len(documents))
    signed = [_timestamped(blobs.get(by_document[d.id].sha256), signer=signer, trust=trust,
                           settings=settings) for d in documents]
    store_signatures(session, request, documents, signed, now=now, actor=actor, blobs=blobs,
                     mailer=mailer, settings=settings, enqueue=enqueue)
