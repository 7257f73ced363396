"""The transactional mail outbox: nothing sent before the commit, nothing lost while the SMTP
server is down, nothing sent twice — inline (the tests' mode) and on the Redis queue."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from docservice.cli import main
from docservice.db import unit_of_work
from docservice.jobs import mail as mail_jobs
from docservice.jobs.runtime import Runtime
from docservice.mail import delivery as mail
from docservice.mail.devserver import Inbox, free_port
from docservice.models import JobRun, OutboxMail
from docservice.observability.metrics import MAIL_FAILURES
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.timeout(90)

TO = "zoe.vermeulen@student.example.org"


def _message(**overrides: str) -> mail.Message:
    values = dict(to=TO, subject="Te ondertekenen: stagedocumenten",
                  body="Beste Zoë,\n\nhttps://stages.example.be/sign/abc\n")
    values.update(overrides)
    return mail.Message(**values)


def _rows(runtime: Runtime) -> list[OutboxMail]:
    with runtime.db.session() as session:
        return list(session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id)))


@contextmanager
def _smtp_on(port: int) -> Iterator[Inbox]:
    """The SMTP server comes back, on the port the service was told about."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def test_mail_is_written_in_the_transaction_and_sent_right_after_the_commit(
        runtime: Runtime, inbox: Inbox) -> None:
    with unit_of_work(runtime.db) as session:
        mail.queue(session, runtime.mail, _message(html="<p>Beste Zoë</p>"))
        [row] = session.scalars(sa.select(OutboxMail)).all()
        assert row.status == "pending" and inbox.messages == []
    [received] = inbox.to(TO)
    [row] = _rows(runtime)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert received["Message-ID"] == row.message_id
    assert received.get_body(("html",)).get_content().strip() == "<p>Beste Zoë</p>"

    with pytest.raises(RuntimeError), unit_of_work(runtime.db) as session:
        mail.queue(session, runtime.mail, _message(to="rolled.back@example.org"))
        raise RuntimeError("rolled back")
    with pytest.raises(ValueError, match="line break"), unit_of_work(runtime.db) as session:
        mail.queue(session, runtime.mail, _message(subject="Hallo\r\nBcc: x@evil.org"))
    assert len(_rows(runtime)) == 1 and len(inbox.messages) == 1


def test_mail_of_one_transaction_goes_out_in_batches(runtime: Runtime, inbox: Inbox) -> None:
    """A deadline check queues thousands of mails: they are claimed and settled per batch."""
    count = mail.BATCH + 5
    with unit_of_work(runtime.db) as session:
        for n in range(count):
            mail.queue(session, runtime.mail, _message(to=f"student{n}@example.org"))
    assert sorted(m["To"] for m in inbox.messages) == sorted(
        f"student{n}@example.org" for n in range(count))
    assert {r.status for r in _rows(runtime)} == {"sent"}
    with runtime.db.session() as session:
        runs = session.scalars(sa.select(JobRun).order_by(JobRun.id)).all()
    assert [(r.name, len(r.args[0]), r.status) for r in runs] == [
        ("send_mails", mail.BATCH, "done"), ("send_mails", 5, "done")]
    # Run again (a retried job): nothing is sent twice.
    assert mail_jobs.send_mails(runtime, list(runs[1].args[0])) == "0 sent"
    assert len(inbox.messages) == count


def test_two_senders_at_once_send_a_mail_once(runtime: Runtime, inbox: Inbox) -> None:
    with unit_of_work(runtime.db) as session:  # written, its job not run: as if it were lost
        outbox_id = runtime.mail.record(session, _message())
    barrier = threading.Barrier(4)
    results: list[str] = []

    def send() -> None:
        barrier.wait()
        results.append(mail_jobs.send_mail(runtime, outbox_id))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["not pending"] * 3 + ["sent"]
    assert len(inbox.to(TO)) == 1


class TestSmtpDownInline:
    """The embedded modes: the failure is recorded, the mail waits for `mail flush`."""

    @pytest.fixture
    def mail_port(self) -> int:
        return free_port()  # nobody listens there yet

    def test_nothing_is_lost_and_flush_delivers_it_once(self, app: Flask, runtime: Runtime
                                                        ) -> None:
        failures = MAIL_FAILURES._value.get()
        with unit_of_work(runtime.db) as session:
            session.execute(sa.text("SELECT 1"))
            mail.queue(session, runtime.mail, _message())
        [row] = _rows(runtime)
        assert row.status == "pending" and row.attempts == 1
        assert row.last_error and "Connection refused" in row.last_error
        assert MAIL_FAILURES._value.get() == failures + 1
        runner = app.test_cli_runner()
        status = runner.invoke(main, ["jobs", "status"])
        assert status.exit_code == 1 and "Connection refused" in status.output, status.output

        with _smtp_on(runtime.settings.mail.smtp_port) as inbox:
            result = runner.invoke(main, ["mail", "flush"])
            assert result.exit_code == 0 and "1 mail(s) scheduled" in result.output
            again = runner.invoke(main, ["mail", "flush"])
            assert "0 mail(s) scheduled" in again.output
        [received] = inbox.messages
        [row] = _rows(runtime)
        assert row.status == "sent" and row.attempts == 2
        assert received["Message-ID"] == row.message_id
        with runtime.db.session() as session:
            [run] = session.scalars(sa.select(JobRun)).all()
        assert (run.name, run.status, run.attempts) == ("send_mail", "done", 2)
        assert runner.invoke(main, ["jobs", "status"]).exit_code == 0


@pytest.mark.queue
class TestSmtpDownOnTheQueue:
    """DOCSERVICE_JOBS=redis: the worker retries with backoff until the server is back."""

    @pytest.fixture
    def mail_port(self) -> int:
        return free_port()

    @pytest.fixture
    def queue_policy(self) -> dict[str, object]:
        return dict(max_retries=5, min_backoff=1.0, max_backoff=2.0, time_limit=60.0,
                    heartbeat_timeout=2.0, maintenance_chance=1_000_000)

    def test_the_worker_delivers_it_once_when_the_server_is_back(
            self, app: Flask, runtime: Runtime, start_worker) -> None:
        start_worker()
        with unit_of_work(runtime.db) as session:
            mail.queue(session, runtime.mail, _message())

        def failed_once() -> bool:
            rows = _rows(runtime)
            return bool(rows and rows[0].last_error and rows[0].status == "pending")

        wait_for(failed_once, timeout=20, what="the first attempt to fail")
        [row] = _rows(runtime)
        assert "Connection refused" in (row.last_error or "")
        with _smtp_on(runtime.settings.mail.smtp_port) as inbox:
            wait_for(lambda: _rows(runtime)[0].status == "sent", timeout=20,
                     what="a retry to deliver the mail")
            result = app.test_cli_runner().invoke(main, ["mail", "flush"])
            assert "0 mail(s) scheduled" in result.output
        [received] = inbox.messages
        [row] = _rows(runtime)
        assert received["Message-ID"] == row.message_id and row.attempts >= 2
        with runtime.db.session() as session:
            [run] = session.scalars(sa.select(JobRun)).all()
        assert run.status == "done" and run.attempts == row.attempts
