"""The small jobs: the deadline check, document generation, the desk's verifications.

Each takes ids, is idempotent and opens its own unit of work (see `jobs/registry.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from docservice.archive.audit import Actor
from docservice.db import unit_of_work
from docservice.errors import DocserviceError
from docservice.jobs.registry import job
from docservice.services import desk_verification
from docservice.services.deadlines import check_deadlines
from docservice.services.documents import GenerationFailure, generate_missing

if TYPE_CHECKING:
    from docservice.jobs.runtime import Runtime


@job("deadlines_check")
def deadlines_check(rt: Runtime, year: str | None = None) -> int:
    """Remind, escalate and mark as the calendar says (a reminder is never sent twice); the
    number of mails queued."""
    with unit_of_work(rt.db) as session:
        report = check_deadlines(session, now=datetime.now(UTC), settings=rt.settings.desk,
                                 config=rt.settings, verifier=rt.verifier, blobs=rt.blobs,
                                 mailer=rt.mail, cache=rt.desk_statuses,
                                 actor=Actor("job:deadlines_check"), year=year)
    return report.mails


@job("generate_documents")
def generate_documents(rt: Runtime, year: str | None = None) -> int:
    """Generate the documents every placement (of `year`) lacks; re-running adds nothing, and
    two runs at once cannot both add one (document references are unique)."""
    failures: list[GenerationFailure] = []
    with unit_of_work(rt.db) as session:
        made = generate_missing(session, converter=rt.converter, blobs=rt.blobs,
                                templates_root=rt.settings.templates_path, pdfa=rt.settings.pdfa,
                                converters=rt.settings.converters,
                                actor=Actor("job:generate_documents"), year=year,
                                failures=failures)
    if failures:  # what was made is committed; the run shows failed, naming what was not
        raise DocserviceError(f"{len(made)} document(s) made, {len(failures)} not: "
                              + "; ".join(str(f) for f in failures[:10]))
    return len(made)


@job("verify_revisions")
def verify_revisions(rt: Runtime, *shas: str) -> int:
    """Check and verify the stored revisions named by these SHA-256 values, so that the desk's
    pages only read verdicts; what is cached already is not verified again. A revision that
    a later signature has replaced meanwhile is left alone: the desk shows current revisions
    (and verifies an older one when someone opens it). The number verified."""
    with unit_of_work(rt.db) as session:
        current = desk_verification.still_current(session, shas)
        stats = desk_verification.refresh(session, current, verifier=rt.verifier,
                                          blobs=rt.blobs, now=datetime.now(UTC))
        desk_verification.forget_queued(session, shas)  # verified, cached, changed or missing
    return stats.verified
