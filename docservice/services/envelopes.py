"""Envelopes: open them, sign in order (student, company, school), decline, resend, change signatory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta

from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.archive.blobs import FilesystemBlobStore
from docservice.config import Settings
from docservice.db import after_commit
from docservice.domain import BRUSSELS, signature_field_name
from docservice.errors import (
    N_,
    AlreadySigned,
    EnvelopeClosed,
    EnvelopeConflict,
    InvalidInput,
    NotFound,
    Reason,
)
from docservice.mail.delivery import Sender
from docservice.models import (
    AcademicYear,
    AccessLink,
    Document,
    Envelope,
    EnvelopeStatus,
    Placement,
    RequestStatus,
    Revision,
    SignatureRequest,
)
from docservice.observability.metrics import SIGNATURES
from docservice.services import desk_verification, links, notifications
from docservice.services.placements import CellError, parse_email, placements_query
from docservice.services.text import checked_text, fold
from docservice.signing.certificates import SignerIdentity
from docservice.signing.pades import PadesSigner

SIGN = "sign"
#: Why a typed name is refused when it is not the signer's (the web says it to "je" or "u").
NAME_MISMATCH = N_("typ uw volledige naam zoals hij hier staat: %(name)s")

#: Queues a job by name after the commit (the runtime's `enqueue`).
Enqueue = Callable[..., None]


def link_expiry(year: AcademicYear, now: datetime, minimum_days: int) -> datetime:
    """The end of the contract deadline day (Brussels), but never sooner than `minimum_days`.

    A signer who is late must still be able to sign before the internship starts.
    """
    deadline = datetime.combine(year.contract_deadline + timedelta(days=1), time(0),
                                tzinfo=BRUSSELS)
    return max(deadline, now + timedelta(days=minimum_days))


def open_envelope(session: Session, placement: Placement, *, now: datetime,
                  actor: audit.Actor, mailer: Sender, settings: Settings) -> Envelope:
    """Put the placement's documents in an envelope and invite the student."""
    current = placement.envelope
    if current is not None:
        raise EnvelopeConflict(Reason(
            N_("%(name)s heeft al een envelop (%(state)s)"), name=placement.student_full_name,
            state=current.status))
    missing = placement.missing_kinds()
    if missing:
        raise EnvelopeConflict(Reason(
            N_("%(name)s: maak eerst de documenten (ontbrekend: %(missing)s)"),
            name=placement.student_full_name, missing=", ".join(k.value for k in missing)))
    envelope = Envelope.open_for(placement, opened_by=actor.name, now=now)
    session.add(envelope)
    session.flush()
    audit.record(session, "envelope.opened", actor, placement_id=placement.id,
                 envelope_id=envelope.id,
                 documents=[d.reference for d in envelope.documents])
    _invite(session, envelope.requests[0], now=now, actor=actor, mailer=mailer,
            settings=settings)
    return envelope


def _invite(session: Session, request: SignatureRequest, *, now: datetime, actor: audit.Actor,
            mailer: Sender, settings: Settings) -> None:
    request.invite(now=now)
    token = expires = None
    if request.role != "school":
        placement = request.envelope.placement
        link, token = links.issue_link(
            session, placement, purpose=SIGN, now=now, actor=actor,
            valid_for=link_expiry(placement.academic_year, now,
                                  settings.sign_link_min_days) - now,
            signature_request_id=request.id)
        expires = link.expires_at
    audit.record(session, "signer.invited", actor, placement_id=request.envelope.placement_id,
                 envelope_id=request.envelope_id, role=request.role, email=request.signer_email)
    notifications.send_invitation(session, request, token, expires, mailer=mailer,
                                  settings=settings)


def request_for_link(session: Session, token: str, *, now: datetime) -> SignatureRequest:
    """The signature request a signing link opens (404 / 410 as for any link)."""
    link = links.resolve_link(session, token, purpose=SIGN, now=now)
    if link.signature_request is None:
        raise NotFound("signature request")
    return link.signature_request


def check_turn(request: SignatureRequest) -> None:
    """Raise unless it is `request`'s turn to sign."""
    request.check_turn()


def same_name(a: str, b: str) -> bool:
    """Whether two spellings name the same person (no case, no accents, same spaces)."""
    return fold(a) == fold(b)


def sign(session: Session, request: SignatureRequest, *, typed_name: str, consent: bool,
         now: datetime, actor: audit.Actor, signer: PadesSigner, blobs: FilesystemBlobStore,
         mailer: Sender, settings: Settings, enqueue: Enqueue,
         approved_by: str | None = None) -> Envelope:
    """Sign every document of the envelope as `request`'s signer, then invite the next one."""
    request.check_turn()
    if request.role != "school":
        typed_name = checked_text("full_name", typed_name)
        if not consent:
            raise InvalidInput("consent", Reason(
                N_("vink het vakje aan om te bevestigen dat u deze documenten ondertekent")))
        if not same_name(typed_name, request.signer_name):
            raise InvalidInput("full_name", Reason(
                NAME_MISMATCH, name=request.signer_name))
    request.claim(now=now)
    envelope = request.envelope
    documents = [d for d in envelope.documents if d.superseded_at is None]
    field = signature_field_name(request.role)
    current = [(blobs.get(d.current_revision.sha256), field) for d in documents]
    if request.role == "school":
        # Who signs for the school is the agreement's printed signatory (the year's coordinator,
        # copied into the request when the envelope opened), whoever clicked "approve": the
        # stamp must not contradict the page it is on. The account that approved is in the
        # trail (the actor, and `approved_by`).
        signatory = request.signer_name
        signed = signer.seal_documents(current, approved_by=signatory, signing_time=now)
        request.signed_name = signatory
        request.certificate_subject = _subject(signer.seal.signer().signing_cert)
        count_signatures(session, request.role, "seal", len(documents))
    else:
        identity = SignerIdentity(full_name=request.signer_name, email=request.signer_email,
                                  role=request.role, organisation=request.organisation)
        visit = signer.sign_as(identity, current, signing_time=now)
        signed = visit.pdfs
        request.signed_name = typed_name.strip()
        request.certificate_serial = format(visit.serial_number, "x")
        request.certificate_subject = _subject(x509.Certificate.load(visit.certificate_der))
        count_signatures(session, request.role, "one_shot", len(documents))
    store_signatures(session, request, documents, signed, now=now, actor=actor, blobs=blobs,
                     mailer=mailer, settings=settings, enqueue=enqueue,
                     approved_by=approved_by if request.role == "school" else None)
    return envelope


def count_signatures(session: Session, role: str, method: str, documents: int) -> None:
    """Count `documents` signatures of `role` by `method` once they are committed."""
    counter = SIGNATURES.labels(role=role, method=method)
    after_commit(session, lambda: counter.inc(documents))


def store_signatures(session: Session, request: SignatureRequest, documents: list[Document],
                     signed: Sequence[bytes], *, now: datetime, actor: audit.Actor,
                     blobs: FilesystemBlobStore, mailer: Sender, settings: Settings,
                     enqueue: Enqueue, approved_by: str | None = None) -> None:
    """Keep each signed PDF (of a claimed request) as the document's next revision, then
    invite the next signer, or complete the envelope and queue its archiving."""
    request.signed_ip = actor.ip
    request.signed_user_agent = (actor.user_agent or "")[:400] or None
    for document, pdf in zip(documents, signed, strict=True):
        # Write-once blob first: a rollback leaves an orphan, never a row without its bytes.
        sha = blobs.put(pdf)
        document.revisions.append(Revision(
            number=document.current_revision.number + 1, sha256=sha, size=len(pdf),
            reason=f"signed:{request.role}", signature_request_id=request.id, created_at=now))
    for link in session.scalars(select(AccessLink).where(
            AccessLink.signature_request_id == request.id, AccessLink.revoked_at.is_(None))):
        link.revoke(now)  # used: it stops working
    session.flush()
    # Verified once, by a job after the commit: the desk's pages then only read the verdicts.
    desk_verification.queue_verification(
        session, [d.current_revision.sha256 for d in documents], enqueue=enqueue, now=now)
    envelope = request.envelope
    audit.record(session, "signer.signed", actor, placement_id=envelope.placement_id,
                 envelope_id=envelope.id, role=request.role, typed_name=request.signed_name,
                 certificate=request.certificate_subject,
                 revisions={d.reference: d.current_revision.sha256 for d in documents},
                 **({"approved_by": approved_by} if approved_by else {}))
    following = envelope.advance(request, now=now)
    if following is not None:
        _invite(session, following, now=now, actor=audit.SYSTEM, mailer=mailer,
                settings=settings)
    else:
        audit.record(session, "envelope.completed", audit.SYSTEM,
                     placement_id=envelope.placement_id, envelope_id=envelope.id)
        notifications.send_completed(session, envelope, mailer=mailer)
        # B-LTA completion and archiving run as a job, once the signature is committed.
        envelope_id = envelope.id
        after_commit(session, lambda: enqueue("archive_envelope", envelope_id))


def _subject(certificate: x509.Certificate) -> str:
    return str(certificate.subject.human_friendly)[:400]


def checked_decline_reason(reason: str) -> str:
    """The reason for declining, stripped, or InvalidInput naming what is wrong with it."""
    reason = checked_text("reason", reason, multiline=True).strip()
    if not reason:
        raise InvalidInput("reason", Reason(
            N_("zeg waarom u weigert, zodat de coördinator er iets mee kan doen")))
    if len(reason) > 2000:
        raise InvalidInput("reason", Reason(N_("houd de reden onder 2000 tekens")))
    return reason


def decline(session: Session, request: SignatureRequest, *, reason: str, now: datetime,
            actor: audit.Actor, mailer: Sender, settings: Settings) -> Envelope:
    """The signer refuses: the envelope stops and the coordinator is told why."""
    request.check_turn()
    reason = checked_decline_reason(reason)
    request.decline(reason, now=now)
    envelope = request.envelope
    revoke_links(session, envelope, now)
    audit.record(session, "signer.declined", actor, placement_id=envelope.placement_id,
                 envelope_id=envelope.id, role=request.role, reason=reason)
    notifications.send_declined(session, request, mailer=mailer, settings=settings)
    return envelope


def revoke_links(session: Session, envelope: Envelope, now: datetime) -> None:
    """Stop every live link of the envelope's signers."""
    ids = [r.id for r in envelope.requests]
    for link in session.scalars(select(AccessLink).where(
            AccessLink.signature_request_id.in_(ids), AccessLink.revoked_at.is_(None))):
        link.revoke(now)


def resend(session: Session, request: SignatureRequest, *, now: datetime, actor: audit.Actor,
           mailer: Sender, settings: Settings) -> None:
    """A new link for the signer whose turn it is; the old one stops working."""
    request.check_turn()
    audit.record(session, "signer.link_resent", actor, placement_id=request.envelope.placement_id,
                 envelope_id=request.envelope_id, role=request.role)
    _invite(session, request, now=now, actor=actor, mailer=mailer, settings=settings)


def change_company_signatory(session: Session, envelope: Envelope, *, name: str, email: str,
                             now: datetime, actor: audit.Actor, mailer: Sender,
                             settings: Settings) -> SignatureRequest:
    """Replace the company's signatory before they signed; re-invite if it is their turn."""
    request = envelope.request_for("company")
    if envelope.status != EnvelopeStatus.OPEN.value:
        raise EnvelopeClosed(envelope.status)
    if request.status == RequestStatus.SIGNED.value:
        raise AlreadySigned("company", request.signed_at)
    name = " ".join(checked_text("name", name).split())
    if not name or len(name) > 200:
        raise InvalidInput("name", Reason(
            N_("geef de volledige naam van de ondertekenaar (hoogstens 200 tekens)")))
    try:
        email = parse_email(email.strip())
    except CellError as e:
        raise InvalidInput("email", e.reason) from e
    before = (request.signer_name, request.signer_email)
    request.signer_name, request.signer_email = name, email
    placement = envelope.placement
    placement.company_signatory_name, placement.company_signatory_email = name, email
    audit.record(session, "signer.changed", actor, placement_id=placement.id,
                 envelope_id=envelope.id, role="company", before=list(before),
                 after=[name, email])
    if request.status == RequestStatus.PENDING.value:
        _invite(session, request, now=now, actor=actor, mailer=mailer, settings=settings)
    return request


def envelope_of_placement(session: Session, placement_id: int) -> Envelope:
    """The envelope in force for a placement."""
    placement = session.get(Placement, placement_id)
    if placement is None or placement.envelope is None:
        raise NotFound("envelope")
    return placement.envelope


def placements_without_envelope(session: Session, year: str | None = None) -> list[Placement]:
    """Placements whose documents are ready and that have no envelope yet."""
    return [p for p in session.scalars(placements_query(year))
            if p.envelope is None and not p.missing_kinds()]
