"""The mail outbox table: what waits to be sent, what was, and what failed.

`delivery.queue` writes a row in the caller's transaction; the `send_mail` job
(`docservice.jobs.mail`), enqueued after the commit, claims the row with a conditional UPDATE
(pending -> sending) before it talks to the SMTP server, so two workers never both send it. A
claim that has held longer than `claim_lease` has lapsed (its worker died mid-send): another
may claim the mail again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from docservice.config import MailSettings
from docservice.models import MAIL_PENDING, MAIL_SENDING, MAIL_SENT, OutboxMail


def claim_lease(settings: MailSettings) -> timedelta:
    """How long a claim holds: past it, a worker that died mid-send lets another resend."""
    return timedelta(seconds=max(120.0, 4 * settings.timeout))


def claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """Mail that may be claimed for sending: pending, or claimed by a sender long gone."""
    return or_(OutboxMail.status == MAIL_PENDING,
               and_(OutboxMail.status == MAIL_SENDING, OutboxMail.claimed_at < now - lease))


@dataclass(frozen=True)
class MailView:
    id: int
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    claimed_at: datetime | None


def undelivered(session: Session, *, limit: int = 200) -> list[MailView]:
    """Mail not sent yet (pending, being sent, failed), oldest first."""
    rows = session.scalars(select(OutboxMail).where(OutboxMail.status != MAIL_SENT)
                           .order_by(OutboxMail.id).limit(limit))
    return [MailView(id=r.id, recipient=r.recipient, subject=r.subject, status=r.status,
                     attempts=r.attempts, last_error=r.last_error, created_at=r.created_at,
                     claimed_at=r.claimed_at) for r in rows]


def undelivered_ids(session: Session) -> list[int]:
    """The ids of every mail not sent yet, oldest first."""
    return list(session.scalars(select(OutboxMail.id).where(OutboxMail.status != MAIL_SENT)
                                .order_by(OutboxMail.id)))


def counts(session: Session) -> dict[str, int]:
    """How many outbox mails there are, by status."""
    rows = session.execute(select(OutboxMail.status, func.count()).group_by(OutboxMail.status))
    return {status: number for status, number in rows}
