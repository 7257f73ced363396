"""One complete signing flow with DOCSERVICE_JOBS=redis: the invitations are mailed and the
envelope archived by a `docservice worker`, not by the web process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from docservice.jobs.runtime import Runtime
from docservice.mail.devserver import Inbox
from docservice.models import ArchiveEntry, JobRun, OutboxMail, Placement
from tests.jobs.conftest import wait_for
from tests.web.desk.conftest import Flow, load_year, placement_row

pytestmark = [pytest.mark.queue, pytest.mark.timeout(120)]


class QueuedFlow(Flow):
    """The desk's flow, with signers who wait for their mail (a worker sends it)."""

    def link(self, address: str) -> str:
        def mailed() -> str | None:
            try:
                return Flow.link(self, address)
            except AssertionError:
                return None

        return wait_for(mailed, timeout=30, what=f"a signing link mailed to {address}")  # type: ignore[no-any-return]


def test_student_company_school_then_archived_by_the_worker(
        client: FlaskClient, runtime: Runtime, inbox: Inbox, tmp_path: Path,
        start_worker) -> None:
    worker = start_worker(threads=2)
    year = load_year(runtime, tmp_path)
    flow = QueuedFlow(client, runtime, inbox)
    [placement_id] = flow.import_rows([placement_row(0, year, year.today + timedelta(days=45))])
    flow.login()
    flow.generate()
    flow.complete(placement_id)  # open, student signs, company signs, the school approves

    with runtime.db.session() as session:
        placement = session.get(Placement, placement_id)
        assert placement is not None
        documents = {d.id for d in placement.current_documents()}

    def archived() -> bool:
        with runtime.db.session() as session:
            ids = set(session.scalars(sa.select(ArchiveEntry.document_id)))
            job = session.scalar(sa.select(JobRun.status)
                                 .where(JobRun.name == "archive_envelope"))
        return documents <= ids and job == "done"

    wait_for(archived, timeout=60, interval=0.25, what="the worker to archive the envelope")
    with runtime.db.session() as session:
        runs = list(session.scalars(sa.select(JobRun)))
        mails = list(session.scalars(sa.select(OutboxMail)))
    assert {r.name for r in runs} >= {"send_mail", "archive_envelope"}
    assert all(r.mode == "redis" for r in runs)
    archive_run = next(r for r in runs if r.name == "archive_envelope")
    assert archive_run.status == "done" and archive_run.worker.endswith(f":{worker.pid}")
    wait_for(lambda: all(m.status == "sent" for m in _mails(runtime)), timeout=20,
             what="every mail to be sent")
    assert len(mails) >= 2 and len(inbox.messages) == len(_mails(runtime))
    assert runtime.queue_depth() == 0


def _mails(runtime: Runtime) -> list[OutboxMail]:
    with runtime.db.session() as session:
        return list(session.scalars(sa.select(OutboxMail)))
