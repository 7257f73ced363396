"""Whom the service mails, and with what facts: the texts are in `docservice.mail.compose`.

Every message is queued through the Mailer in the caller's transaction and leaves after its
commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from docservice.config import Settings
from docservice.documents.catalogue import TITLES
from docservice.mail import compose
from docservice.mail import delivery as mail
from docservice.mail.compose import Composed, DocumentRef, DueDate
from docservice.models import Document, DocumentKind, Envelope, Placement, SignatureRequest


def _queue(session: Session, mailer: mail.Sender, to: str, message: Composed) -> None:
    mail.queue(session, mailer, mail.Message(to=to, subject=message.subject, body=message.body))


def _desk_url(settings: Settings, placement_id: int) -> str:
    return settings.public_url(f"/coordinator/desk/placements/{placement_id}")


def send_student_link(session: Session, placement: Placement, url: str, expires_at: datetime,
                      *, mailer: mail.Sender) -> None:
    """E-mail the student their personal link, after the commit that makes it valid."""
    year = placement.academic_year
    documents = [DocumentRef(TITLES[DocumentKind(d.kind)][d.language], d.reference,
                             d.current_revision.sha256)
                 for d in placement.current_documents()]
    _queue(session, mailer, placement.student_email, compose.student_link(
        placement.language, first_name=placement.student_first_name,
        company=placement.company_name, school=year.school_name, documents=documents,
        url=url, expires_at=expires_at, coordinator=year.coordinator_name,
        coordinator_email=year.coordinator_email))


def _documents(documents: Sequence[Document], language: str) -> tuple[DocumentRef, ...]:
    return tuple(DocumentRef(TITLES[DocumentKind(d.kind)][language], d.reference,
                             d.current_revision.sha256) for d in documents)


def envelope_facts(request: SignatureRequest) -> compose.EnvelopeFacts:
    """What a message about `request`'s part in its envelope says, in the signer's language."""
    envelope = request.envelope
    placement = envelope.placement
    year = placement.academic_year
    return compose.EnvelopeFacts(
        language=request.language, role=request.role, name=request.signer_name,
        student=placement.student_full_name, company=placement.company_name,
        school=year.school_name, coordinator=year.coordinator_name,
        deadline=year.contract_deadline,
        documents=_documents(envelope.documents, request.language))


def send_invitation(session: Session, request: SignatureRequest, token: str | None,
                    expires_at: datetime | None, *, mailer: mail.Sender,
                    settings: Settings) -> None:
    """Invite the signer whose turn it is; the school's turn goes to the coordinator."""
    facts = envelope_facts(request)
    if token is None:
        message = compose.approval(
            facts, url=_desk_url(settings, request.envelope.placement.id))
    else:
        message = compose.invitation(facts, url=settings.public_url(f"/sign/{token}"),
                                     expires_at=expires_at)
    _queue(session, mailer, request.signer_email, message)


def send_declined(session: Session, request: SignatureRequest, *, mailer: mail.Sender,
                  settings: Settings) -> None:
    """Tell the coordinator who declined and why."""
    year = request.envelope.placement.academic_year
    _queue(session, mailer, year.coordinator_email, compose.declined(
        envelope_facts(request), reason=request.decline_reason or "-",
        url=_desk_url(settings, request.envelope.placement_id)))


def send_completed(session: Session, envelope: Envelope, *, mailer: mail.Sender) -> None:
    """Tell every signer that all three have signed."""
    for request in envelope.requests:
        _queue(session, mailer, request.signer_email, compose.completed(envelope_facts(request)))


def send_copies(session: Session, request: SignatureRequest, *, url: str, expires_at: datetime,
                copies: Sequence[DocumentRef], mailer: mail.Sender) -> None:
    """Give one party the link to their copies of the archived documents."""
    _queue(session, mailer, request.signer_email, compose.copies(
        envelope_facts(request), url=url, expires_at=expires_at, documents=copies))


def send_confirmation_needed(session: Session, request: SignatureRequest, found: list[str], *,
                             mailer: mail.Sender, settings: Settings) -> None:
    """Ask the coordinator to confirm a signature made by someone else than expected."""
    year = request.envelope.placement.academic_year
    _queue(session, mailer, year.coordinator_email, compose.confirmation_needed(
        envelope_facts(request), found=found,
        url=_desk_url(settings, request.envelope.placement_id)))


# --- the coordinator's desk (issue 5): reminders and escalations ------------------------------


def send_reminder(session: Session, request: SignatureRequest, *, url: str,
                  expires_at: datetime | None, due: Sequence[DueDate],
                  mailer: mail.Sender) -> None:
    """Remind the signer whose turn it is; the school's turn goes to the coordinator."""
    _queue(session, mailer, request.signer_email, compose.reminder(
        envelope_facts(request), url=url, expires_at=expires_at, due=due))


def send_escalation(session: Session, *, to: str, at_risk: Sequence[compose.PlacementAtRisk],
                    not_cleared: Sequence[compose.PlacementAtRisk],
                    mailer: mail.Sender) -> None:
    """One digest for a coordinator or docent: placements at risk, and not cleared to start."""
    _queue(session, mailer, to, compose.escalation(at_risk=at_risk, not_cleared=not_cleared))


def send_approval_reminder(session: Session, *, to: str,
                           items: Sequence[compose.WaitingApproval],
                           mailer: mail.Sender) -> None:
    """One list for the coordinator: every envelope that waits for the school's seal."""
    _queue(session, mailer, to, compose.approvals_waiting(items))
