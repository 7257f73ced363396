"""Envelopes and their signature requests: who signs, in which order, and the links they use."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docservice.domain import EnvelopeStatus, RequestStatus
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
