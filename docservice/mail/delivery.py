"""Mail: messages are queued in the unit of work and sent only after its commit.

Through the runtime's `Mailer`, a queued message is a row of the outbox table, written in the
caller's transaction, and a `send_mail` job enqueued after the commit delivers it (retried
while the SMTP server is down; `docservice mail flush` resends what a lost job left).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import Protocol

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from docservice.config import MailSettings
from docservice.db import after_commit
from docservice.models import MAIL_PENDING, OutboxMail
from docservice.observability.metrics import MAIL_FAILURES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One plain-text e-mail (with an optional HTML alternative) to one recipient."""

    to: str
    subject: str
    body: str
    html: str | None = None
    message_id: str | None = None  # kept the same on every attempt (the outbox's)

    def check(self) -> None:
        """Refuse header injection and more than one recipient (cheap: no message is built)."""
        for header in (self.to, self.subject):
            if "\n" in header or "\r" in header:
                raise ValueError("line break in a mail header")
        if len(getaddresses([self.to])) != 1:
            raise ValueError("a message goes to exactly one recipient")

    def to_email(self, sender: str) -> EmailMessage:
        self.check()
        email = EmailMessage()
        email["From"] = sender
        email["To"] = self.to
        if len(email["To"].addresses) != 1:
            raise ValueError("a message goes to exactly one recipient")
        email["Subject"] = self.subject
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = self.message_id or make_msgid(domain="docservice")
        email.set_content(self.body)
        if self.html is not None:
            email.add_alternative(self.html, subtype="html")
        return email


class Sender(Protocol):
    def send(self, message: Message) -> None: ...


class Enqueue(Protocol):
    """Runs a job after the commit (`Runtime.enqueue`)."""

    def __call__(self, name: str, /, *args: object) -> None: ...


class OutboxSender:
    """Embedded default: each message becomes an .eml file in the outbox folder, and is logged."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, message: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(bytes(message.to_email(self.sender)))
        log.info("mail to %s written to %s: %s", message.to, path, message.subject)


class SmtpSender:
    """Mail through an SMTP server, with STARTTLS or SSL and login when configured."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def send(self, message: Message) -> None:
        s = self.settings
        assert s.smtp_host
        email = message.to_email(s.sender)  # refuse a bad header before connecting
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout)
        with smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=context)
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
            smtp.send_message(email)
        log.info("mail to %s sent: %s", message.to, message.subject)


def make_sender(settings: MailSettings, outbox: Path) -> Sender:
    """SMTP when a host is configured, the outbox folder otherwise."""
    if settings.smtp_host:
        return SmtpSender(settings)
    return OutboxSender(outbox, settings.sender)


class Mailer:
    """The runtime's mail: queued messages go through the outbox table and the job queue.

    `send` hands a message straight to the transport (SMTP or the outbox folder); that is
    what the `send_mail` job calls.
    """

    def __init__(self, transport: Sender, enqueue: Enqueue) -> None:
        self.transport = transport
        self._enqueue = enqueue  # Runtime.enqueue

    def send(self, message: Message) -> None:
        self.transport.send(message)

    def record(self, session: Session, message: Message) -> int:
        """Write `message` to the outbox in the session's transaction; its id."""
        row = self.add(session, message)
        session.flush()
        return int(row.id)

    def add(self, session: Session, message: Message) -> OutboxMail:
        """Add `message` to the outbox in the session's transaction (written at the next flush,
        with the other rows: a deadline check adds thousands)."""
        row = OutboxMail(recipient=message.to, subject=message.subject, body=message.body,
                         html=message.html, message_id=make_msgid(domain="docservice"),
                         status=MAIL_PENDING, attempts=0)
        session.add(row)
        return row

    def dispatch(self, outbox_id: int) -> None:
        """Enqueue the job that delivers outbox mail `outbox_id` (after the commit)."""
        self._enqueue("send_mail", outbox_id)

    def dispatch_many(self, outbox_ids: list[int]) -> None:
        """Enqueue delivery of the mail one transaction wrote: one job per `BATCH` mails."""
        if len(outbox_ids) == 1:
            self.dispatch(outbox_ids[0])
            return
        for i in range(0, len(outbox_ids), BATCH):
            self._enqueue("send_mails", outbox_ids[i:i + BATCH])


#: Mails per delivery job when one transaction queues many (a deadline check: thousands).
#: One job per mail cost five transactions each; a batch claims and settles them together.
BATCH = 200


class _OutboxBatch:
    """The after-commit action that dispatches every mail one transaction wrote."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.rows: list[OutboxMail] = []

    def __call__(self) -> None:
        # The identity, not `row.id`: after the commit that would reload each row.
        self.mailer.dispatch_many([_committed_id(row) for row in self.rows])


def _committed_id(row: OutboxMail) -> int:
    identity = inspect(row).identity
    if identity is None:  # cannot happen: the commit that runs this wrote the row
        raise RuntimeError("an outbox mail was committed without an id")
    return int(identity[0])


def queue(session: Session, sender: Sender, message: Message) -> None:
    """Send `message` once the session's transaction has committed.

    With the runtime's `Mailer` the message is written to the outbox in this transaction, so
    a failed delivery is retried later and nothing is lost; a bare `Sender` (the transports'
    own tests) sends right after the commit and only logs a failure.
    """
    message.check()  # refuse header injection now, inside the transaction
    if isinstance(sender, Mailer):
        row = sender.add(session, message)
        # One dispatch per transaction (a rollback drops it with the other after-commit work).
        waiting = session.info.setdefault("after_commit", [])
        batch = next((a for a in waiting if isinstance(a, _OutboxBatch) and a.mailer is sender),
                     None)
        if batch is None:
            batch = _OutboxBatch(sender)
            after_commit(session, batch)
        batch.rows.append(row)
        return

    def send() -> None:
        try:
            sender.send(message)
        except (OSError, smtplib.SMTPException):
            # The commit stands; the failure is logged for the coordinator to resend.
            MAIL_FAILURES.inc()
            log.exception("mail to %s failed: %s", message.to, message.subject)

    after_commit(session, send)
