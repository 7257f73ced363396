"""Documents of a placement and their revisions (each revision one PDF, signed or not)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docservice.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from docservice.models.envelopes import Envelope
    from docservice.models.placements import Placement


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
