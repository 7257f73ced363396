"""Tables of the job queue (issue 7): every job run, and the transactional mail outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docservice.models.base import Base, UTCDateTime, utcnow

#: Job run states. "queued" also covers a run waiting for its next retry (see last_error).
JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = "queued", "running", "done", "failed"
#: Mail states. "sending" is the claim a worker holds while it talks to the SMTP server.
MAIL_PENDING, MAIL_SENDING, MAIL_SENT, MAIL_FAILED = "pending", "sending", "sent", "failed"


class JobRun(Base):
    """One enqueued job and what became of it: the record behind `docservice jobs status`.

    `key` is the job's name and arguments (`send_mail:[42]`), so that a retry finds the run
    of the same work instead of adding another.
    """

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    key: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True, default=JOB_QUEUED)
    mode: Mapped[str] = mapped_column(String(10))  # inline, thread, redis: who runs it
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(120))  # host:pid of the last attempt
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMail(Base):
    """One e-mail, written in the transaction that decided to send it; sent after the commit.

    A mail is claimed (pending -> sending) with a conditional UPDATE before it is handed to the
    SMTP server, so two workers never both send it; `message_id` stays the same on every
    attempt, so a receiver can recognise the rare resend after a worker died mid-send.
    """

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), index=True, default=MAIL_PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
