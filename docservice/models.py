"""Typed models and their state transitions."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class DocumentKind(str, enum.Enum):
    """The documents an internship may need."""

    STAGEOVEREENKOMST = "stageovereenkomst"
    GEHEIMHOUDINGSVERKLARING = "geheimhoudingsverklaring"
    AFSTAND_AUTEURSRECHT = "afstand-auteursrecht"


class Role(str, enum.Enum):
    """Who a user of the web app is."""

    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class AcademicYear(Base):
    """One academic year's internship period, deadlines and school data."""

    __tablename__ = "academic_years"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(9), unique=True)  # "2023-2024"
    school_name: Mapped[str] = mapped_column(String(200))
    campus: Mapped[str] = mapped_column(String(200))
    programme: Mapped[str] = mapped_column(String(200))
    coordinator_name: Mapped[str] = mapped_column(String(200))
    coordinator_email: Mapped[str] = mapped_column(String(254))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    weeks: Mapped[int] = mapped_column(Integer)
    thesis_permission_deadline: Mapped[date] = mapped_column(Date)
    preference_deadline: Mapped[date] = mapped_column(Date)
    contract_deadline: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    placements: Mapped[list[Placement]] = relationship(back_populates="academic_year")


class Placement(Base):
    """One student's internship at one company in one academic year."""

    __tablename__ = "placements"
    __table_args__ = (UniqueConstraint("academic_year_id", "student_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    academic_year_id: Mapped[int] = mapped_column(ForeignKey("academic_years.id"))
    student_number: Mapped[str] = mapped_column(String(20))
    student_first_name: Mapped[str] = mapped_column(String(100))
    student_last_name: Mapped[str] = mapped_column(String(100))
    student_email: Mapped[str] = mapped_column(String(254))
    programme: Mapped[str] = mapped_column(String(200))
    company_name: Mapped[str] = mapped_column(String(200))
    company_number: Mapped[str] = mapped_column(String(12))  # 0123.456.789
    company_address: Mapped[str] = mapped_column(String(400))
    company_signatory_name: Mapped[str] = mapped_column(String(200))
    company_signatory_title: Mapped[str] = mapped_column(String(200))
    company_signatory_email: Mapped[str] = mapped_column(String(254))
    mentor_name: Mapped[str] = mapped_column(String(200))
    mentor_email: Mapped[str] = mapped_column(String(254))
    mentor_phone: Mapped[str] = mapped_column(String(40))
    docent_name: Mapped[str] = mapped_column(String(200))
    docent_email: Mapped[str] = mapped_column(String(254))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    assignment: Mapped[str] = mapped_column(Text)
    nda: Mapped[bool] = mapped_column(Boolean)
    copyright_waiver: Mapped[bool] = mapped_column(Boolean)
    expense_allowance: Mapped[str | None] = mapped_column(String(200))
    thesis_at_company: Mapped[bool] = mapped_column(Boolean)
    thesis_permission_date: Mapped[date | None] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(2), default="nl")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    academic_year: Mapped[AcademicYear] = relationship(back_populates="placements")
    documents: Mapped[list[Document]] = relationship(
        back_populates="placement", order_by="Document.id"
    )
    envelopes: Mapped[list[Envelope]] = relationship(
        back_populates="placement", order_by="Envelope.id"
    )

    @property
    def envelope(self) -> Envelope | None:
        """The envelope in force: the latest one not cancelled."""
        live = [e for e in self.envelopes if e.status != EnvelopeStatus.CANCELLED.value]
        return live[-1] if live else None

    @property
    def student_full_name(self) -> str:
        return f"{self.student_first_name} {self.student_last_name}"

    def required_kinds(self) -> list[DocumentKind]:
        """The documents this placement needs: the agreement always, NDA and waiver on request."""
        kinds = [DocumentKind.STAGEOVEREENKOMST]
        if self.nda:
            kinds.append(DocumentKind.GEHEIMHOUDINGSVERKLARING)
        if self.copyright_waiver:
            kinds.append(DocumentKind.AFSTAND_AUTEURSRECHT)
        return kinds

    def current_documents(self) -> list[Document]:
        """The documents in force (not superseded), in catalogue order."""
        order = {kind.value: i for i, kind in enumerate(DocumentKind)}
        live = [d for d in self.documents if d.superseded_at is None]
        return sorted(live, key=lambda d: order[d.kind])

    def missing_kinds(self) -> list[DocumentKind]:
        """The required documents not generated yet."""
        have = {d.kind for d in self.current_documents()}
        return [k for k in self.required_kinds() if k.value not in have]


class Document(Base):
    """One generated document of a placement; its bytes live in revisions."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    envelope_id: Mapped[int | None] = mapped_column(ForeignKey("envelopes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    template_sha256: Mapped[str] = mapped_column(String(64))
    docx_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    placement: Mapped[Placement] = relationship(back_populates="documents")
    envelope: Mapped[Envelope | None] = relationship(back_populates="documents")
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="document", order_by="Revision.number"
    )

    @property
    def current_revision(self) -> Revision:
        return self.revisions[-1]


class Revision(Base):
    """One immutable state of a document's PDF, stored as a blob named by its SHA-256."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    number: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))  # generated, signed:student, ...
    signature_request_id: Mapped[int | None] = mapped_column(ForeignKey("signature_requests.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[Document] = relationship(back_populates="revisions")


class EnvelopeStatus(str, enum.Enum):
    """Where an envelope stands."""

    OPEN = "open"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class RequestStatus(str, enum.Enum):
    """Where one signer stands: waiting for the one before, asked, done or refused."""

    WAITING = "waiting"
    PENDING = "pending"
    SIGNED = "signed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


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
    signature_request_id: Mapped[int] = mapped_column(ForeignKey("signature_requests.id"),
                                                      index=True)
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


class User(Base):
    """A person who logs in: coordinator, auditor or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every login session carries the number it had at login; raising it (logout, password
    # change, deactivation) ends all of them, on every device.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def end_sessions(self) -> None:
        """End every login session of this user (their cookies no longer open anything)."""
        self.session_version = (self.session_version or 0) + 1


class AuditEvent(Base):
    """One entry of the audit trail; each carries the hash of the one before it."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(254))
    placement_id: Mapped[int | None] = mapped_column(ForeignKey("placements.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


# Tables that live in their own modules register on Base.metadata when imported.
from docservice import models_archive, models_desk, models_jobs  # noqa: E402, F401
