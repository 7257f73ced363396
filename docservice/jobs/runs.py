"""Job runs: every enqueued job is recorded, its attempts and end kept, and retried.

The record (`JobRun`) is what `docservice jobs status` and the coordinator's jobs page show,
whichever way the job ran: inline, in a thread of the service, or in a `docservice worker`
(`registry.execute` keeps it).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from docservice.db import Database, unit_of_work
from docservice.models import JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, JobRun, utcnow

log = logging.getLogger(__name__)

#: How much of an error message a run keeps.
ERROR_CHARS = 2000


def job_key(name: str, args: Sequence[Any]) -> str:
    """The name and arguments of a job, as one string (`send_mail:[42]`)."""
    return f"{name}:{json.dumps(list(args), separators=(',', ':'), default=str)}"[:200]


def describe_error(error: BaseException) -> str:
    """What went wrong, in one line a coordinator can read (the traceback goes to the log)."""
    text = str(error).strip() or repr(error)
    return f"{type(error).__name__}: {text}"[:ERROR_CHARS]


def record_run(db: Database, name: str, args: Sequence[Any], *, mode: str) -> int:
    """Record a job about to be enqueued; its own short transaction, after the caller's commit."""
    with unit_of_work(db) as session:
        run = JobRun(name=name, args=list(args), key=job_key(name, args), status=JOB_QUEUED,
                     mode=mode, attempts=0)
        session.add(run)
        session.flush()
        return run.id


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def start_run(db: Database, run_id: int) -> bool:
    """Mark a run as running (one more attempt); False if it is done already."""
    now = utcnow()
    with unit_of_work(db) as session:
        started = session.execute(
            update(JobRun).where(JobRun.id == run_id, JobRun.status != JOB_DONE).values(
                status=JOB_RUNNING, attempts=JobRun.attempts + 1, started_at=now,
                updated_at=now, worker=_worker_name())).rowcount  # type: ignore[attr-defined]
        # A run whose record is gone (never written, or removed) still runs.
        return bool(started) or session.get(JobRun, run_id) is None


def finish_run(db: Database, run_id: int, *, status: str, error: str | None) -> None:
    """Record how a run ended: done, failed, or queued again for a retry."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status in (JOB_DONE, JOB_FAILED):
        values["finished_at"] = now
    if error is not None:
        values["last_error"] = error
    with unit_of_work(db) as session:
        session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))


# --- what the coordinator and `docservice jobs status` see --------------------------------------


@dataclass(frozen=True)
class RunView:
    id: int
    name: str
    args: list[Any]
    status: str
    mode: str
    attempts: int
    last_error: str | None
    worker: str | None
    created_at: datetime
    updated_at: datetime


def _view(run: JobRun) -> RunView:
    return RunView(id=run.id, name=run.name, args=list(run.args or []), status=run.status,
                   mode=run.mode, attempts=run.attempts, last_error=run.last_error,
                   worker=run.worker, created_at=run.created_at, updated_at=run.updated_at)


def counts(session: Session) -> dict[tuple[str, str], int]:
    """How many runs there are, by (job name, status)."""
    rows = session.execute(select(JobRun.name, JobRun.status, func.count())
                           .group_by(JobRun.name, JobRun.status))
    return {(name, status): number for name, status, number in rows}


def failed_runs(session: Session, *, limit: int = 50) -> list[RunView]:
    """The most recent failed runs, newest first."""
    runs = session.scalars(select(JobRun).where(JobRun.status == JOB_FAILED)
                           .order_by(JobRun.updated_at.desc(), JobRun.id.desc()).limit(limit))
    return [_view(r) for r in runs]


def runs_to_retry(session: Session, *, now: datetime, stale: timedelta,
                  failed: bool = True) -> list[RunView]:
    """Failed runs, and runs queued or running for longer than `stale` (their message or
    their worker was lost)."""
    conditions: list[ColumnElement[bool]] = [
        JobRun.status.in_((JOB_QUEUED, JOB_RUNNING)) & (JobRun.updated_at < now - stale)]
    if failed:
        conditions.append(JobRun.status == JOB_FAILED)
    runs = session.scalars(select(JobRun).where(or_(*conditions)).order_by(JobRun.id))
    return [_view(r) for r in runs]


def mark_for_retry(session: Session, run_id: int) -> RunView | None:
    """Put a run that is not done back in the queued state (the caller dispatches it after
    the commit); None if there is no such run or it is done."""
    run = session.get(JobRun, run_id)
    if run is None or run.status == JOB_DONE:
        return None
    run.status = JOB_QUEUED
    run.updated_at = utcnow()
    session.flush()
    return _view(run)


def open_run_of(session: Session, name: str, args: Sequence[Any]) -> JobRun | None:
    """The latest run of exactly this job that is not done, if any."""
    return session.scalars(select(JobRun).where(JobRun.key == job_key(name, args),
                                                JobRun.status != JOB_DONE)
                           .order_by(JobRun.id.desc()).limit(1)).first()
