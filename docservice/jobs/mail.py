"""Mail delivery jobs: deliver queued mail exactly once, retry it while the SMTP server is down.

`delivery.queue` writes an outbox row in the caller's transaction and enqueues `send_mail`
after the commit. The job claims the row (pending -> sending, `outbox.claimable`) before it
talks to the SMTP server, so two workers never both send it. A transient failure puts the row
back to pending with its error and raises, so that the queue retries the job with backoff;
after the last attempt, or when the server refuses the message for good, the row is failed.
"""

from __future__ import annotations

import logging
import smtplib
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docservice.db import after_commit, unit_of_work
from docservice.jobs import runs
from docservice.jobs.registry import job
from docservice.mail.delivery import Message
from docservice.mail.outbox import claim_lease, claimable, undelivered_ids
from docservice.models import (
    JOB_RUNNING,
    MAIL_FAILED,
    MAIL_PENDING,
    MAIL_SENDING,
    MAIL_SENT,
    OutboxMail,
    utcnow,
)
from docservice.observability.metrics import MAIL_FAILURES

if TYPE_CHECKING:
    from docservice.jobs.runtime import Runtime

log = logging.getLogger(__name__)


def max_attempts(rt: Runtime) -> int:
    """Attempts before a mail is failed: as many as the queue gives a job."""
    return rt.settings.queue.max_retries + 1


def _permanent(error: Exception) -> bool:
    """The server refused this message for good (5xx): retrying cannot help."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


@job("send_mail")
def send_mail(rt: Runtime, outbox_id: int) -> str:
    """Deliver outbox mail `outbox_id` if it still waits; idempotent ("sent" twice is once)."""
    now = utcnow()
    with unit_of_work(rt.db) as session:
        claimed = session.execute(
            update(OutboxMail).where(OutboxMail.id == outbox_id,
                                     claimable(now, claim_lease(rt.settings.mail)))
            .values(status=MAIL_SENDING, claimed_at=now, attempts=OutboxMail.attempts + 1)
        ).rowcount  # type: ignore[attr-defined]
        row = session.get(OutboxMail, outbox_id) if claimed else None
        if row is None:
            return "not pending"
        message = Message(to=row.recipient, subject=row.subject, body=row.body, html=row.html,
                          message_id=row.message_id)
        attempts = row.attempts
    try:
        rt.mail.send(message)
    except (OSError, smtplib.SMTPException) as e:
        MAIL_FAILURES.inc()
        permanent = _permanent(e)
        status = MAIL_FAILED if permanent or attempts >= max_attempts(rt) else MAIL_PENDING
        _release(rt, outbox_id, status=status, error=runs.describe_error(e))
        log.warning("mail %s to %s not sent (attempt %s, now %s): %s", outbox_id,
                    message.to, attempts, status, e)
        if permanent:
            return "refused"
        raise
    with unit_of_work(rt.db) as session:
        session.execute(update(OutboxMail).where(OutboxMail.id == outbox_id,
                                                 OutboxMail.status == MAIL_SENDING)
                        .values(status=MAIL_SENT, sent_at=utcnow(), last_error=None))
    return "sent"


@job("send_mails")
def send_mails(rt: Runtime, outbox_ids: list[int]) -> str:
    """Deliver the outbox mails `outbox_ids` that still wait, as `send_mail` does one.

    One transaction claims them all, one marks them sent. On a transient failure the mail
    that failed and every one not tried yet go back to pending, and the job raises to be
    retried: the SMTP server is likely down for all of them.
    """
    now = utcnow()
    with unit_of_work(rt.db) as session:
        session.execute(
            update(OutboxMail).where(OutboxMail.id.in_(outbox_ids),
                                     claimable(now, claim_lease(rt.settings.mail)))
            .values(status=MAIL_SENDING, claimed_at=now, attempts=OutboxMail.attempts + 1))
        claimed = [(r.id, Message(to=r.recipient, subject=r.subject, body=r.body, html=r.html,
                                  message_id=r.message_id), r.attempts)
                   for r in session.scalars(select(OutboxMail).where(
                       OutboxMail.id.in_(outbox_ids), OutboxMail.status == MAIL_SENDING,
                       OutboxMail.claimed_at == now).order_by(OutboxMail.id))]
    sent: list[int] = []
    try:
        for index, (outbox_id, message, attempts) in enumerate(claimed):
            try:
                rt.mail.send(message)
            except (OSError, smtplib.SMTPException) as e:
                MAIL_FAILURES.inc()
                permanent = _permanent(e)
                status = (MAIL_FAILED if permanent or attempts >= max_attempts(rt)
                          else MAIL_PENDING)
                _release(rt, outbox_id, status=status, error=runs.describe_error(e))
                log.warning("mail %s to %s not sent (attempt %s, now %s): %s", outbox_id,
                            message.to, attempts, status, e)
                if permanent:
                    continue
                for later_id, _message, _attempts in claimed[index + 1:]:
                    _release(rt, later_id, status=MAIL_PENDING, error="not tried: " + str(e))
                raise
            sent.append(outbox_id)
    finally:
        with unit_of_work(rt.db) as session:
            session.execute(update(OutboxMail).where(OutboxMail.id.in_(sent),
                                                     OutboxMail.status == MAIL_SENDING)
                            .values(status=MAIL_SENT, sent_at=utcnow(), last_error=None))
    return f"{len(sent)} sent"


def _release(rt: Runtime, outbox_id: int, *, status: str, error: str) -> None:
    with unit_of_work(rt.db) as session:
        session.execute(update(OutboxMail).where(OutboxMail.id == outbox_id,
                                                 OutboxMail.status == MAIL_SENDING)
                        .values(status=status, last_error=error))


# --- sending again what is left undelivered -----------------------------------------------------


def schedule_delivery(session: Session, rt: Runtime, outbox_id: int, *,
                      failed_too: bool = False) -> bool:
    """Make sure a job will deliver this mail after the session commits; False if nothing to do.

    A failed mail is given a fresh set of attempts only with `failed_too`. The mail's open job
    run is retried if there is one (so a failed run is resolved, not left beside a new one);
    a run still running is left alone unless the mail's claim has lapsed.
    """
    row = session.get(OutboxMail, outbox_id)
    if row is None or row.status == MAIL_SENT:
        return False
    now = utcnow()
    lease = claim_lease(rt.settings.mail)
    if row.status == MAIL_FAILED:
        if not failed_too:
            return False
        row.status, row.attempts = MAIL_PENDING, 0
    elif row.status == MAIL_SENDING and row.claimed_at and row.claimed_at >= now - lease:
        return False  # a worker is sending it right now
    run = runs.open_run_of(session, "send_mail", [outbox_id])
    if run is not None and run.status == JOB_RUNNING and row.status == MAIL_PENDING \
            and run.updated_at >= now - lease:
        return False  # its job is about to claim it
    session.flush()
    if run is not None:
        runs.mark_for_retry(session, run.id)
        run_id, name, args = run.id, run.name, list(run.args)
        after_commit(session, lambda: rt.dispatch(run_id, name, args))
    else:
        after_commit(session, lambda: rt.enqueue("send_mail", outbox_id))
    return True


def flush(rt: Runtime, *, failed_too: bool = False) -> int:
    """Schedule every undelivered mail again (the jobs run after this commit); how many."""
    with unit_of_work(rt.db) as session:
        return sum(schedule_delivery(session, rt, i, failed_too=failed_too)
                   for i in undelivered_ids(session))
