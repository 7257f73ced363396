"""New revisions are verified by a job after the signature's commit, not by the desk's pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from docservice.config import DeskSettings
from docservice.db import unit_of_work
from docservice.errors import ConfigurationError
from docservice.jobs import registry
from docservice.jobs.runtime import Runtime
from docservice.models import (
    JOB_DONE,
    Document,
    JobRun,
    QueuedVerification,
    StoredFileCheck,
    VerificationCache,
)
from docservice.services import desk_verification
from tests.web.desk.conftest import Flow, Year, placement_row

PENDING_NL = "verificatie loopt"


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SHA-256 of every PDF verified from now on (the verifier still runs)."""
    seen: list[str] = []
    real = desk_verification.Verifier.verify

    def verify(self: desk_verification.Verifier, pdf: bytes) -> desk_verification.PdfVerdict:
        verdict = real(self, pdf)
        seen.append(verdict.sha256)
        return verdict

    monkeypatch.setattr(desk_verification.Verifier, "verify", verify)
    return seen


@pytest.fixture
def held_jobs(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """verify_revisions jobs are queued but not run (the worker has not got to them yet)."""
    held: list[tuple[Any, ...]] = []
    real = runtime.enqueue

    def enqueue(name: str, *args: Any) -> None:
        if name == desk_verification.VERIFY_JOB:
            held.append(args)
        else:
            real(name, *args)

    monkeypatch.setattr(runtime, "enqueue", enqueue)
    return held


def _signed_by_student(flow: Flow, y: Year) -> tuple[int, str]:
    """A placement whose student has just signed; its page's address and the new revision."""
    [p] = flow.import_rows([placement_row(0, y, y.today + timedelta(days=45))])
    flow.login()
    flow.generate()
    flow.open(p)
    flow.sign(p, "student")
    with unit_of_work(flow.runtime.db) as session:
        [document] = session.scalars(select(Document)).all()
        assert document.current_revision.reason == "signed:student"
        return p, document.current_revision.sha256


def _verdict(flow: Flow, sha: str) -> VerificationCache | None:
    with unit_of_work(flow.runtime.db) as session:
        return session.scalars(select(VerificationCache).where(
            VerificationCache.sha256 == sha)).first()


def _queued(flow: Flow) -> list[str]:
    with unit_of_work(flow.runtime.db) as session:
        return list(session.scalars(select(QueuedVerification.sha256)))


def test_the_job_verifies_the_new_revision_so_the_page_only_reads_it(
        flow: Flow, desk_year: Year, verifications: list[str]):
    p, sha = _signed_by_student(flow, desk_year)
    # The job ran right after the signature's commit (jobs run inline in tests).
    assert sha in verifications
    verdict = _verdict(flow, sha)
    assert verdict is not None and verdict.student_ok and not verdict.company_ok
    assert _queued(flow) == []  # the verdict replaced the mark
    with unit_of_work(flow.runtime.db) as session:
        runs = list(session.scalars(select(JobRun).where(
            JobRun.name == desk_verification.VERIFY_JOB)))
    assert [(r.args, r.status) for r in runs] == [([sha], JOB_DONE)]

    verifications.clear()
    requested = datetime.now(UTC)
    html = flow.client.get(f"/coordinator/desk/placements/{p}").get_data(as_text=True)
    assert verifications == []  # the page verified nothing
    assert verdict.verified_at < requested
    student = html[html.index('data-role="student"'):html.index('data-role="company"')]
    assert "✓" in student.split('class="pdf"')[1]
    # Status from the PDF, qualification too: a one-shot signature is no qualified one.
    assert "· niet gekwalificeerd" in student.split('class="pdf"')[1]
    assert PENDING_NL not in html and "PDF nog niet geverifieerd" not in html
    flow.client.get("/coordinator/")
    assert verifications == []  # nor did the dashboard

    # Running the job again (a message delivered twice) verifies nothing again.
    assert registry.REGISTRY[desk_verification.VERIFY_JOB](flow.runtime, sha) == 0
    assert verifications == []


def test_a_queued_verification_shows_pending_then_the_page_takes_over_after_the_grace(
        flow: Flow, desk_year: Year, verifications: list[str],
        held_jobs: list[tuple[Any, ...]]):
    p, sha = _signed_by_student(flow, desk_year)
    assert held_jobs == [(sha,)]
    assert _queued(flow) == [sha] and _verdict(flow, sha) is None
    page = f"/coordinator/desk/placements/{p}"

    # Within the grace period: pending, not verified by the page or the dashboard.
    verifications.clear()
    html = flow.client.get(page).get_data(as_text=True)
    assert verifications == []
    assert 'data-verification="pending"' in html and PENDING_NL in html
    assert "de handtekeningen in deze pdf worden op de achtergrond geverifieerd" in html.lower()
    flow.client.get("/coordinator/")
    assert verifications == [] and _verdict(flow, sha) is None
    # The stored file was checked all the same (the cheap check stays on the page).
    with unit_of_work(flow.runtime.db) as session:
        check = session.scalars(select(StoredFileCheck).where(
            StoredFileCheck.sha256 == sha)).one()
        assert check.found_sha256 == sha
    flow.client.get("/coordinator/desk/lang/en")
    english = flow.client.get(page).get_data(as_text=True)
    assert "verification pending" in english and verifications == []
    flow.client.get("/coordinator/desk/lang/nl")

    # Past the grace period (the job failed, or no worker runs): the page verifies it itself.
    grace = timedelta(seconds=DeskSettings().verify_grace_seconds)
    with unit_of_work(flow.runtime.db) as session:
        session.execute(update(QueuedVerification).values(
            queued_at=datetime.now(UTC) - grace - timedelta(seconds=1)))
    html = flow.client.get(page).get_data(as_text=True)
    assert verifications == [sha]
    assert PENDING_NL not in html and 'data-verification="pending"' not in html
    student = html[html.index('data-role="student"'):html.index('data-role="company"')]
    assert "✓" in student.split('class="pdf"')[1]
    assert _queued(flow) == []
    # The job, when it comes at last, finds the verdict and has nothing left to do.
    assert registry.REGISTRY[desk_verification.VERIFY_JOB](flow.runtime, *held_jobs[0]) == 0


def test_a_file_changed_while_its_verification_is_queued_shows_as_changed_at_once(
        flow: Flow, desk_year: Year, verifications: list[str],
        held_jobs: list[tuple[Any, ...]]):
    p, sha = _signed_by_student(flow, desk_year)
    rt = flow.runtime
    path = rt.blobs.root / sha[:2] / sha[2:]
    data = bytearray(path.read_bytes())
    spot = data.rindex(b"LibreOffice", 0, data.index(b"/ByteRange"))
    data[spot + 10:spot + 11] = b"f"
    path.chmod(0o644)
    path.write_bytes(bytes(data))

    verifications.clear()
    html = flow.client.get(f"/coordinator/desk/placements/{p}").get_data(as_text=True)
    assert "OPGESLAGEN PDF GEWIJZIGD" in html and 'data-verification="pending"' not in html
    assert sha not in verifications  # the changed bytes are verified, not the queued name
    # The job, once run, checks and verifies what is there and clears the mark.
    registry.REGISTRY[desk_verification.VERIFY_JOB](rt, *held_jobs[0])
    assert _queued(flow) == []


def test_the_grace_period_comes_from_the_environment():
    assert DeskSettings.from_env({}).verify_grace_seconds == 120.0
    assert DeskSettings.from_env(
        {"DOCSERVICE_VERIFY_GRACE_SECONDS": "30"}).verify_grace_seconds == 30.0
    assert DeskSettings.from_env(
        {"DOCSERVICE_VERIFY_GRACE_SECONDS": "0"}).verify_grace_seconds == 0.0
    for wrong in ("soon", "-1", "inf", "nan"):
        with pytest.raises(ConfigurationError):
            DeskSettings.from_env({"DOCSERVICE_VERIFY_GRACE_SECONDS": wrong})


def test_a_revision_replaced_before_its_job_ran_is_left_to_the_page(
        flow: Flow, desk_year: Year, held_jobs: list[tuple[Any, ...]],
        verifications: list[str]):
    p, student_sha = _signed_by_student(flow, desk_year)
    flow.sign(p, "company")  # the worker is behind: both jobs still wait
    with unit_of_work(flow.runtime.db) as session:
        [document] = session.scalars(select(Document)).all()
        company_sha = document.current_revision.sha256
    assert [list(args) for args in held_jobs] == [[student_sha], [company_sha]]
    verifications.clear()  # what the pages verified so far (the generated PDF)
    for args in held_jobs:
        registry.REGISTRY[desk_verification.VERIFY_JOB](flow.runtime, *args)
    # Only the current revision was worth verifying; neither stays marked as queued.
    assert verifications == [company_sha]
    assert _verdict(flow, student_sha) is None and _verdict(flow, company_sha) is not None
    assert _queued(flow) == []


def test_an_engine_that_fails_gives_a_verification_error_never_a_weaker_verdict(
        flow: Flow, desk_year: Year, monkeypatch: pytest.MonkeyPatch):
    def broken(pdf: bytes, **kwargs: Any) -> None:
        raise KeyError("a bug in the engine")

    monkeypatch.setattr(desk_verification, "verify_pdf", broken)  # fault injection
    p, sha = _signed_by_student(flow, desk_year)
    verdict = _verdict(flow, sha)
    assert verdict is not None and verdict.engine == desk_verification.ENGINE
    assert verdict.indication == desk_verification.ENGINE_ERROR == "verificatiefout"
    assert not verdict.passed and not verdict.student_ok
    assert verdict.detail["reasons"] == ["the verification engine failed (KeyError)"]
    html = flow.client.get(f"/coordinator/desk/placements/{p}").get_data(as_text=True)
    student = html[html.index('data-role="student"'):html.index('data-role="company"')]
    assert "✓" not in student.split('class="pdf"')[1]
    with unit_of_work(flow.runtime.db) as session:
        [document_id] = session.scalars(select(Document.id)).all()
    page = flow.client.get(f"/coordinator/desk/placements/{p}/documents/{document_id}/verification")
    assert ">verificatiefout<" in page.get_data(as_text=True)
