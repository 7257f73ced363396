"""Envelopes and their signature requests: who signs, in which order, and the links they use."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Boolean,
    CursorResult,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from docservice.domain import SIGNER_ROLES, EnvelopeStatus, RequestStatus
from docservice.errors import AlreadySigned, EnvelopeClosed, EnvelopeConflict, OutOfOrder
from docservice.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from docservice.models.documents import Document
    from docservice.models.placements import Placement


class Envelope(Base):
    """The documents of one placement, signed by student, company and school in that order."""

    __tablename__ = "envelopes"

    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=EnvelopeStatus.OPEN.value)
    opened_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    placement: Mapped[Placement] = relationship(back_populates="envelopes")
    documents: Mapped[list[Document]] = relationship(
        back_populates="envelope", order_by="Document.id"
    )
    requests: Mapped[list[SignatureRequest]] = relationship(
        back_populates="envelope", order_by="SignatureRequest.position"
    )

    def request_for(self, role: str) -> SignatureRequest:
        """This envelope's request for `role`."""
        return next(r for r in self.requests if r.role == role)

    @property
    def next_request(self) -> SignatureRequest | None:
        """The signer whose turn it is, if any."""
        return next((r for r in self.requests if r.status == RequestStatus.PENDING.value), None)

    @classmethod
    def open_for(cls, placement: Placement, *, opened_by: str, now: datetime) -> Envelope:
        """A new envelope holding the placement's current documents, with one request per
        signer in order (student, company, school), nobody invited yet."""
        envelope = cls(placement=placement, opened_by=opened_by, created_at=now)
        for document in placement.current_documents():
            document.envelope = envelope
        year = placement.academic_year
        signers = {
            "student": (placement.student_full_name, placement.student_email, year.school_name),
            "company": (placement.company_signatory_name, placement.company_signatory_email,
                        placement.company_name),
            "school": (year.coordinator_name, year.coordinator_email, year.school_name),
        }
        for position, role in enumerate(SIGNER_ROLES, start=1):
            name, email, organisation = signers[role]
            envelope.requests.append(SignatureRequest(
                role=role, position=position, signer_name=name, signer_email=email,
                organisation=organisation,
                language=placement.language if role != "school" else "nl",
            ))
        return envelope

    def advance(self, signed: SignatureRequest, *, now: datetime) -> SignatureRequest | None:
        """After `signed` has signed: the request whose turn comes next (to invite), or None
        when that was the last signer and the envelope is now complete."""
        following = [r for r in self.requests if r.position == signed.position + 1]
        if following:
            return following[0]
        self.status = EnvelopeStatus.COMPLETED.value
        self.completed_at = now
        return None

    def cancel(self, *, now: datetime) -> list[SignatureRequest]:
        """Cancel this envelope (kept, never deleted) and the requests not done; those requests.

        One conditional UPDATE decides between two coordinators replacing it at once: the row
        lock makes the second wait, then find the status changed and stop with a conflict. A
        completed envelope is a signed agreement and is never cancelled.
        """
        if self.status == EnvelopeStatus.COMPLETED.value:
            raise EnvelopeConflict("a completed envelope is a signed agreement: it is not replaced")
        session = _session_of(self)
        cancelled = _rowcount(session.execute(
            update(Envelope)
            .where(Envelope.id == self.id, Envelope.status == self.status)
            .values(status=EnvelopeStatus.CANCELLED.value, cancelled_at=now)
            .execution_options(synchronize_session=False)
        ))
        session.refresh(self)
        if cancelled != 1:
            raise EnvelopeConflict(
                "someone else changed or replaced this envelope at the same moment "
                f"(it is {self.status} now): reload the page and check before trying again")
        stopped = [r for r in self.requests
                   if r.status in (RequestStatus.WAITING.value, RequestStatus.PENDING.value)]
        for request in stopped:
            request.status = RequestStatus.CANCELLED.value
        return stopped


class SignatureRequest(Base):
    """One signer's part in an envelope: who, in which position, and what happened."""

    __tablename__ = "signature_requests"
    __table_args__ = (UniqueConstraint("envelope_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    envelope_id: Mapped[int] = mapped_column(ForeignKey("envelopes.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # student, company, school
    position: Mapped[int] = mapped_column(Integer)
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_email: Mapped[str] = mapped_column(String(254))
    organisation: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="nl")
    status: Mapped[str] = mapped_column(String(20), default=RequestStatus.WAITING.value)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signed_name: Mapped[str | None] = mapped_column(String(200))
    signed_ip: Mapped[str | None] = mapped_column(String(45))
    signed_user_agent: Mapped[str | None] = mapped_column(String(400))
    certificate_subject: Mapped[str | None] = mapped_column(String(400))
    certificate_serial: Mapped[str | None] = mapped_column(String(80))
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(Text)

    envelope: Mapped[Envelope] = relationship(back_populates="requests")

    def check_turn(self) -> None:
        """Raise unless it is this signer's turn to sign (or decline)."""
        envelope = self.envelope
        if envelope.status != EnvelopeStatus.OPEN.value:
            raise EnvelopeClosed(envelope.status)
        if self.status == RequestStatus.SIGNED.value:
            raise AlreadySigned(self.role, self.signed_at)
        if self.status != RequestStatus.PENDING.value:
            expected = envelope.next_request
            raise OutOfOrder(self.role, expected.role if expected else "nobody")

    def invite(self, *, now: datetime) -> None:
        """It is this signer's turn now (again, for a new link)."""
        self.status = RequestStatus.PENDING.value
        self.invited_at = now

    def claim(self, *, now: datetime) -> None:
        """Take this request from pending to signed in one conditional UPDATE: one winner.

        The loser gets the reason: signed already, out of order, or the envelope closed.
        """
        session = _session_of(self)
        claimed = _rowcount(session.execute(
            update(SignatureRequest)
            .where(SignatureRequest.id == self.id,
                   SignatureRequest.status == RequestStatus.PENDING.value)
            .values(status=RequestStatus.SIGNED.value, signed_at=now)
            .execution_options(synchronize_session=False)
        ))
        session.refresh(self)
        session.refresh(self.envelope)
        if claimed != 1:
            self.check_turn()
            raise AlreadySigned(self.role, self.signed_at)
        if self.envelope.status != EnvelopeStatus.OPEN.value:
            raise EnvelopeClosed(self.envelope.status)

    def decline(self, reason: str, *, now: datetime) -> list[SignatureRequest]:
        """This signer refuses: the request and the envelope stop, in one conditional UPDATE
        (one winner); the requests still waiting are cancelled, and returned."""
        session = _session_of(self)
        claimed = _rowcount(session.execute(
            update(SignatureRequest)
            .where(SignatureRequest.id == self.id,
                   SignatureRequest.status == RequestStatus.PENDING.value)
            .values(status=RequestStatus.DECLINED.value, declined_at=now, decline_reason=reason)
            .execution_options(synchronize_session=False)
        ))
        session.refresh(self)
        if claimed != 1:
            self.check_turn()
        envelope = self.envelope
        envelope.status = EnvelopeStatus.DECLINED.value
        envelope.declined_at = now
        envelope.decline_reason = f"{self.role}: {reason}"
        stopped = [r for r in envelope.requests if r.status == RequestStatus.WAITING.value]
        for other in stopped:
            other.status = RequestStatus.CANCELLED.value
        return stopped


def _session_of(instance: Base) -> Session:
    session = object_session(instance)
    if session is None:
        raise RuntimeError(f"{instance!r} is not in a session")
    return session


def _rowcount(result: object) -> int:
    """Rows an UPDATE touched (the result of an UPDATE is a CursorResult)."""
    return int(cast(CursorResult[Any], result).rowcount)


class ExternalSignature(Base):
    """A document signed by the signer with their own certificate and uploaded, awaiting a decision.

    Only an upload whose signer name differs from the expected signer waits here, for the
    coordinator to confirm; accepted bytes become the document's next revision. One upload
    (one submission: a row per document of the envelope) shares one `upload_id`; the
    coordinator accepts or refuses an upload as a whole, and a newer one supersedes it.
    """

    __tablename__ = "external_signatures"

    id: Mapped[int] = mapped_column(primary_key=True)
    upload_id: Mapped[str] = mapped_column(String(32), index=True)
    signature_request_id: Mapped[int] = mapped_column(
        ForeignKey("signature_requests.id"), index=True
    )
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    base_sha256: Mapped[str] = mapped_column(String(64))  # the revision handed out
    sha256: Mapped[str] = mapped_column(String(64))  # the uploaded, signed PDF
    signer_name: Mapped[str] = mapped_column(String(200))  # as the certificate names them
    certificate_subject: Mapped[str] = mapped_column(String(400))
    qualified: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(30), default="awaiting_confirmation")
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(254))

    signature_request: Mapped[SignatureRequest] = relationship()
    document: Mapped[Document] = relationship()


class AccessLink(Base):
    """A personal link: only the SHA-256 of its secret token is stored."""

    __tablename__ = "access_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))  # "student", "sign"
    signature_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("signature_requests.id"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    placement: Mapped[Placement] = relationship()
    signature_request: Mapped[SignatureRequest | None] = relationship()

    def revoke(self, at: datetime) -> None:
        """Stop this link working (it was replaced)."""
        if self.revoked_at is None:
            self.revoked_at = at
