"""The coordinator's actions on one placement: remind now, revoke a link, cancel and regenerate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.archive.blobs import FilesystemBlobStore
from docservice.config import Settings
from docservice.documents.generate import PdfConverter, generate_document
from docservice.domain import today_in_brussels
from docservice.errors import N_, EnvelopeConflict, InvalidInput, NotFound, Reason
from docservice.mail.delivery import Sender
from docservice.models import (
    AccessLink,
    Envelope,
    EnvelopeStatus,
    Placement,
    Reminder,
    SignatureRequest,
)
from docservice.services import (
    deadlines,
    envelopes,
    links,
    notifications,
)
from docservice.services import documents as documents_service
from docservice.services.deadlines import CONTRACT_DEADLINE, START_DATE
from docservice.services.text import checked_text


def remind_now(session: Session, placement: Placement, *, now: datetime, actor: audit.Actor,
               mailer: Sender, settings: Settings) -> SignatureRequest:
    """Remind the signer whose turn it is, now, with a fresh link (the old one stops working)."""
    envelope = placement.envelope
    request = envelope.next_request if envelope is not None else None
    if envelope is None or envelope.status != EnvelopeStatus.OPEN.value or request is None:
        raise EnvelopeConflict(Reason(
            N_("niemand is aan de beurt om te ondertekenen: geen herinnering verstuurd")))
    url, expires = deadlines.sign_url(session, request, now=now, actor=actor, settings=settings)
    year = placement.academic_year
    today = today_in_brussels(now)
    due = [(CONTRACT_DEADLINE, year.contract_deadline, (year.contract_deadline - today).days),
           (START_DATE, placement.start_date, (placement.start_date - today).days)]
    notifications.send_reminder(session, request, url=url, expires_at=expires, mailer=mailer,
                                due=[d for d in due if d[2] >= 0])
    session.add(Reminder(
        key=f"manual:e{envelope.id}:{request.role}:{now.isoformat()}",
        placement_id=placement.id, envelope_id=envelope.id, kind="manual", role=request.role,
        recipient=request.signer_email, sent_at=now, actor=actor.name))
    session.flush()
    audit.record(session, "reminder.sent", actor, placement_id=placement.id,
                 envelope_id=envelope.id, role=request.role, email=request.signer_email,
                 manual=True)
    return request


LINK_KINDS = ("student", "company", "personal")


def revoke_link(session: Session, placement: Placement, kind: str, *, now: datetime,
                actor: audit.Actor) -> int:
    """Stop the live links of a signer (student, company) or the student's personal link."""
    if kind not in LINK_KINDS:
        raise NotFound("link")
    query = select(AccessLink).where(AccessLink.placement_id == placement.id,
                                     AccessLink.revoked_at.is_(None))
    if kind == "personal":
        query = query.where(AccessLink.purpose == links.STUDENT)
    else:
        envelope = placement.envelope
        if envelope is None:
            raise EnvelopeConflict(Reason(
                N_("geen envelop: er is geen ondertekeningslink om in te trekken")))
        query = query.where(AccessLink.signature_request_id == envelope.request_for(kind).id)
    revoked = list(session.scalars(query))
    for link in revoked:
        link.revoke(now)
    session.flush()
    audit.record(session, "link.revoked", actor, placement_id=placement.id, link=kind,
                 link_ids=[link.id for link in revoked])
    return len(revoked)


def clean_reason(reason: str) -> str:
    """The reason for replacing an envelope, on one line; InvalidInput when there is none."""
    reason = " ".join(checked_text("reason", reason, multiline=True).split())
    if not reason:
        raise InvalidInput("reason", Reason(
            N_("zeg waarom de envelop vervangen wordt (het komt in de geschiedenis)")))
    return reason


def remake_documents(session: Session, placement: Placement, *, now: datetime,
                     actor: audit.Actor, converter: PdfConverter, blobs: FilesystemBlobStore,
                     settings: Settings) -> list[str]:
    """Mark the placement's current documents superseded and make the required ones again from
    its data (LibreOffice); the superseded documents' references."""
    superseded = []
    for document in placement.current_documents():
        document.superseded_at = now
        superseded.append(document.reference)
    session.flush()
    session.expire(placement, ["documents", "envelopes"])
    jobs = documents_service.plan_generation([placement], settings.templates_path)
    for job in jobs:
        made = generate_document(job.template, job.context, converter,
                                 reference=job.reference, pdfa=settings.pdfa)
        blobs.put(made.docx)  # write-once blobs first: a rollback leaves only orphans
        blobs.put(made.pdf)
        documents_service.store_document(session, job.placement_id, made, actor)
    session.expire(placement, ["documents", "envelopes"])
    return superseded


def cancel_and_regenerate(session: Session, placement: Placement, *, reason: str,
                          now: datetime, actor: audit.Actor, converter: PdfConverter,
                          blobs: FilesystemBlobStore, mailer: Sender, settings: Settings,
                          reopen: bool = True) -> Envelope | None:
    """Supersede the envelope (kept, never deleted), make the documents again, invite anew.

    For placement data that was wrong: the old envelope is cancelled and its documents marked
    superseded; nobody can sign them any more. A completed envelope is a signed contract and is
    not replaced this way. Without `reopen` no new envelope is opened (None): the coordinator
    opens it from the placement's page when ready.
    """
    reason = clean_reason(reason)
    old = placement.envelope
    if old is None:
        raise EnvelopeConflict(Reason(N_("er is geen envelop om te vervangen")))
    old.cancel(now=now)
    envelopes.revoke_links(session, old, now)
    remake_documents(session, placement, now=now, actor=actor, converter=converter,
                     blobs=blobs, settings=settings)
    new = (envelopes.open_envelope(session, placement, now=now, actor=actor, mailer=mailer,
                                   settings=settings)
           if reopen else None)
    audit.record(session, "envelope.superseded", actor, placement_id=placement.id,
                 envelope_id=old.id, superseded_by=new.id if new else None, reason=reason)
    return new


def reminders_of(session: Session, placement_id: int) -> list[Reminder]:
    """Every reminder, escalation and mark recorded for a placement, oldest first."""
    return list(session.scalars(select(Reminder).where(Reminder.placement_id == placement_id)
                                .order_by(Reminder.sent_at, Reminder.id)))


def placement_or_404(session: Session, placement_id: int) -> Placement:
    placement = session.get(Placement, placement_id)
    if placement is None:
        raise NotFound("placement")
    return placement
