"""Models of the coordinator's desk (issue 5): reminders, API tokens, verification cache."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docservice.models.base import Base, UTCDateTime, utcnow
from docservice.models.users import User


class Reminder(Base):
    """One reminder, escalation or start-date mark sent (or recorded) for a placement.

    `key` names what it is about (envelope, role, anchor date, offset) and is unique, so
    that the same reminder can never be sent twice, however often the check runs.
    """

    __tablename__ = "desk_reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    envelope_id: Mapped[int | None] = mapped_column(ForeignKey("envelopes.id"))
    kind: Mapped[str] = mapped_column(String(20))  # reminder, escalation, not_cleared, manual
    role: Mapped[str] = mapped_column(String(20))  # student, company, school, coordinator, docent
    recipient: Mapped[str] = mapped_column(String(254))
    anchor: Mapped[str | None] = mapped_column(String(20))  # contract_deadline, start_date
    anchor_date: Mapped[date | None] = mapped_column(Date)
    offset_days: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))


class ApiToken(Base):
    """A coordinator's token for /api/v1: only the SHA-256 of the secret is stored."""

    __tablename__ = "desk_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings, to tell tokens apart
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class VerificationCache(Base):
    """What verifying the PDF with this SHA-256 said, so unchanged bytes are verified once.

    `engine` names the verifier that gave the verdict: a verdict of another engine is not
    reused. Verdicts that did not pass are verified again after a while (a CRL or the TSA may
    have been unavailable); passed ones are kept.
    """

    __tablename__ = "desk_verifications"
    __table_args__ = (UniqueConstraint("sha256", "engine"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    engine: Mapped[str] = mapped_column(String(40))
    passed: Mapped[bool] = mapped_column(Boolean)  # readable, and every signature in it passes
    student_ok: Mapped[bool] = mapped_column(Boolean)
    company_ok: Mapped[bool] = mapped_column(Boolean)
    school_ok: Mapped[bool] = mapped_column(Boolean)
    indication: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class StoredFileCheck(Base):
    """The last time a stored PDF was read back: did its bytes still hash to their name?

    Size and modification time let a check skip re-reading a file nobody touched; a file
    changed behind the service's back gets `found_sha256` other than `sha256`.
    """

    __tablename__ = "desk_file_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # the name it was stored under
    found_sha256: Mapped[str] = mapped_column(String(64))  # what its bytes hash to; "missing"
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class QueuedVerification(Base):
    """A stored PDF whose verification was handed to the `verify_revisions` job.

    Written in the transaction that stores the revision; removed once a verdict is made. While
    it is younger than the desk's grace period, pages show the PDF as pending instead of
    verifying it themselves; an older one (the job failed, no worker runs) is ignored.
    """

    __tablename__ = "desk_verification_queue"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
