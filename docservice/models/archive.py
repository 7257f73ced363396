"""Models of the archive (issue 6): archived documents, their search terms, archiving state.

An archived object (PDF, manifest, report) lives in the write-once archive store under its
SHA-256; the rows here index it for search and remember what happened. The store, not this
database, is the record an auditor relies on: every manifest carries what a row says.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docservice.models.base import Base, UTCDateTime, utcnow
from docservice.models.documents import Document

#: Byte order for search terms on every database, so that a prefix is a range an index serves.
TERM_TYPE = String(100).with_variant(String(100, collation="C"), "postgresql")


class ArchiveState(str, enum.Enum):
    """Where a completed document stands on its way into the archive."""

    PENDING = "pending"  # completed, the archiving job has not finished yet
    ARCHIVED = "archived"  # stored, and the stored bytes verified
    FAILED = "failed"  # the last attempt failed; `reason` says why, `docservice archive retry`


class ArchiveEntry(Base):
    """One archived PDF (a B-LTA version of a completed document) and where to find it."""

    __tablename__ = "archive_entries"
    __table_args__ = (
        UniqueConstraint("document_id", "version"),
        # Each search filter with the result order (newest signing first), so that the first
        # page is read from an index instead of sorting every match.
        Index("ix_archive_entries_year_signed", "academic_year", "signed_last_at"),
        Index("ix_archive_entries_kind_signed", "document_kind", "signed_last_at"),
        Index("ix_archive_entries_year_kind", "academic_year", "document_kind", "signed_last_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)  # 1, then +1 for each renewal
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)  # what was completed
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    report_sha256: Mapped[str] = mapped_column(String(64))
    # What an auditor searches by, copied from the manifest (the placement may change later).
    academic_year: Mapped[str] = mapped_column(String(9))
    document_kind: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(120))
    student_number: Mapped[str] = mapped_column(String(20), index=True)
    student_name: Mapped[str] = mapped_column(String(201))
    company_name: Mapped[str] = mapped_column(String(200))
    company_number: Mapped[str] = mapped_column(String(12), index=True)
    signed_first_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    signed_last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retention_until: Mapped[date] = mapped_column(Date, index=True)
    verdict: Mapped[str] = mapped_column(String(20))  # "passed": nothing else is archived
    long_term_ok: Mapped[bool] = mapped_column(Boolean)  # LTA validation simulated at retention end
    last_timestamp_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_timestamp_expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    retention_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("archive_entries.id"))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_verified_ok: Mapped[bool | None] = mapped_column(Boolean)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    document: Mapped[Document] = relationship()
    terms: Mapped[list[ArchiveTerm]] = relationship(
        back_populates="entry", cascade="all, delete-orphan"
    )

    @property
    def current(self) -> bool:
        """Neither renewed into a newer version nor purged."""
        return self.superseded_at is None and self.purged_at is None


class ArchiveTerm(Base):
    """One normalised word an entry is found by (a student's or a company's name or number)."""

    __tablename__ = "archive_terms"
    __table_args__ = (Index("ix_archive_terms_lookup", "field", "term", "entry_id"),)

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("archive_entries.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(10), primary_key=True)  # "student", "company"
    term: Mapped[str] = mapped_column(TERM_TYPE, primary_key=True)

    entry: Mapped[ArchiveEntry] = relationship(back_populates="terms")


class ArchiveStatusRow(Base):
    """The archiving state of one completed document (what the dashboard shows)."""

    __tablename__ = "archive_states"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("archive_entries.id"))

    entry: Mapped[ArchiveEntry | None] = relationship()
