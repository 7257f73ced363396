"""Academic years and placements: who does an internship where, and when."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docservice.domain import DocumentKind, EnvelopeStatus
from docservice.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from docservice.models.documents import Document
    from docservice.models.envelopes import Envelope


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
