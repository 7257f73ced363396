"""The job registry and runner: jobs by name, and running one with its bookkeeping.

Jobs are queued only after the commit they depend on (`Runtime.enqueue` from an
after-commit hook). The embedded default runs them in a thread of the service
process; tests run them inline, right after the commit; scaled out
(DOCSERVICE_JOBS=redis) they go on the Redis queue for `docservice worker`, which
retries a failed job with backoff. Every run is recorded (`jobs/runs.py`).
Each job takes ids, is idempotent and opens its own unit of work: re-running a job
must be harmless, since a message can be delivered twice.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from docservice.jobs import runs
from docservice.models import JOB_DONE, JOB_FAILED, JOB_QUEUED
from docservice.observability.metrics import JOBS

if TYPE_CHECKING:
    from docservice.jobs.runtime import Runtime

log = logging.getLogger(__name__)

#: A job: function(runtime, *ids) -> what it did (logged, never stored).
Job = Callable[..., object]
J = TypeVar("J", bound=Job)

#: Job name -> function. Filled by the modules of `JOB_MODULES` as they are imported.
REGISTRY: dict[str, Job] = {}

#: Every module that defines the service's jobs: the one list to extend with a new one.
JOB_MODULES = (
    "docservice.jobs.tasks",  # deadlines_check, generate_documents, verify_revisions
    "docservice.jobs.mail",  # send_mail, send_mails
    "docservice.jobs.archiving",  # archive_envelope
)


def job(name: str) -> Callable[[J], J]:
    """Register the decorated function as the job called `name`."""

    def register(function: J) -> J:
        REGISTRY[name] = function
        return function

    return register


def load() -> None:
    """Import every job module of `JOB_MODULES`, so that all the service's jobs are known.

    A runtime does this when it is built; importing a module twice costs nothing.
    """
    for module in JOB_MODULES:
        importlib.import_module(module)


def execute(rt: Runtime, run_id: int | None, name: str, args: Sequence[Any], *,
            final: bool) -> object:
    """Run the job `name` and keep its record; the job's own exception is raised again.

    `final`: no retry follows a failure (the run is then marked failed, not queued again).
    A run already done is not repeated: a message delivered twice costs nothing.
    """
    function = REGISTRY[name]
    if run_id is not None and not runs.start_run(rt.db, run_id):
        log.info("job %s%r (run %s) already done: not repeated", name, tuple(args), run_id)
        return None
    try:
        result = function(rt, *args)
    except Exception as e:
        JOBS.labels(name, "failed" if final else "retried").inc()
        if run_id is not None:
            runs.finish_run(rt.db, run_id, status=JOB_FAILED if final else JOB_QUEUED,
                            error=runs.describe_error(e))
        raise
    JOBS.labels(name, "done").inc()
    if run_id is not None:
        runs.finish_run(rt.db, run_id, status=JOB_DONE, error=None)
    return result
