"""Background jobs: each takes ids, is idempotent and opens its own unit of work.

Jobs are queued only after the commit they depend on (`Runtime.enqueue` from an
after-commit hook). The embedded default runs them in a thread of the service
process; tests run them inline, right after the commit; scaled out
(DOCSERVICE_JOBS=redis) they go on the Redis queue for `docservice worker`, which
retries a failed job with backoff. Every run is recorded (`services/jobs.py`).
Re-running a job must be harmless: a message can be delivered twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

#: Job name -> function(runtime, *ids). Modules that own a job register it here.
REGISTRY: dict[str, Callable[..., Any]] = {}


def job(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `function` as the job called `name`."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = function
        return function

    return register


@job("deadlines_check")
def deadlines_check(rt: Any, year: str | None = None) -> int:
    """Remind, escalate and mark as the calendar says (a reminder is never sent twice); the
    number of mails queued."""
    from docservice.archive.audit import Actor
    from docservice.db import unit_of_work
    from docservice.services.deadlines import check_deadlines
    from docservice.services.desk import DeskSettings

    with unit_of_work(rt.db) as session:
        report = check_deadlines(session, rt, now=datetime.now(UTC),
                                 settings=DeskSettings.from_env(),
                                 actor=Actor("job:deadlines_check"), year=year)
    return report.mails


@job("generate_documents")
def generate_documents(rt: Any, year: str | None = None) -> int:
    """Generate the documents every placement (of `year`) lacks; re-running adds nothing, and
    two runs at once cannot both add one (document references are unique)."""
    from docservice.archive.audit import Actor
    from docservice.db import unit_of_work
    from docservice.errors import DocserviceError
    from docservice.services.documents import GenerationFailure, generate_missing

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
def verify_revisions(rt: Any, *shas: str) -> int:
    """Check and verify the stored revisions named by these SHA-256 values, so that the desk's
    pages only read verdicts; what is cached already is not verified again. A revision that
    a later signature has replaced meanwhile is left alone: the desk shows current revisions
    (and verifies an older one when someone opens it). The number verified."""
    from docservice.db import unit_of_work
    from docservice.services import desk_verification

    with unit_of_work(rt.db) as session:
        current = desk_verification.still_current(session, shas)
        stats = desk_verification.refresh(session, rt, current, now=datetime.now(UTC))
        desk_verification.forget_queued(session, shas)  # verified, cached, changed or missing
    return stats.verified


# Modules that own jobs register them when imported.
from docservice.mail import outbox as _outbox  # noqa: E402, F401  (send_mail)
from docservice.services import archive as _archive  # noqa: E402, F401  (archive_envelope)
