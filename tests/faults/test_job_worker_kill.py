"""SIGKILL the `docservice worker` that archives an envelope, at a random point: what it left
is never a row without its objects or a half-written object, and the job, delivered again
to the other worker once the dead one's heartbeat lapses, archives the envelope."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from docservice.archive.store import FilesystemArchiveStore
from docservice.config import CHECKOUT, QueueSettings
from docservice.db import unit_of_work
from docservice.jobs import archive_maintenance, registry
from docservice.jobs.runtime import Runtime
from docservice.models import (
    JOB_DONE,
    JOB_RUNNING,
    ArchiveEntry,
    ArchiveStatusRow,
    ArchiveTerm,
    JobRun,
    utcnow,
)
from docservice.services.archive_status import check_entry
from tests.archive.conftest import check_store, complete_envelope
from tests.faults.conftest import Instance, on_both_databases, seeded_rng
from tests.faults.procs import kill

TRIALS = 20
REDIS_URL = os.environ.get("DOCSERVICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Fast retries; a silent worker counts as dead after 2 s (as in tests/jobs).
QUEUE = dict(max_retries=3, min_backoff=0.2, max_backoff=1.0, time_limit=60.0,
             heartbeat_timeout=2.0, maintenance_chance=1_000_000)


def _redis() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis reachable at {REDIS_URL} ({e})")
    return client


class Workers:
    """`docservice worker` processes on one namespace; one is started ahead as a spare."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.started = env, logs, 0
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with (self.logs / f"worker-{self.started}.log").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "docservice.cli", "worker", "--threads", "1",
                 "--shutdown-timeout", "5"], cwd=CHECKOUT, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append(process)
        return process

    def by_pid(self, pid: int) -> subprocess.Popen[bytes] | None:
        """The worker whose process group holds `pid` (it may run jobs in a child process)."""
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return None
        return next((p for p in self.running if p.pid == group), None)

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in self.running:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(5)


def _run(runtime: Runtime) -> JobRun | None:
    with unit_of_work(runtime.db) as session:
        run = session.scalars(select(JobRun).where(JobRun.name == "archive_envelope")
                              .order_by(JobRun.id.desc())).first()
        if run is not None:
            session.expunge(run)
        return run


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@on_both_databases
@pytest.mark.timeout(400)
def test_sigkill_of_the_job_worker_while_archiving(instance: Instance, converter: Any,
                                                   tmp_path: Path, monkeypatch):
    client = _redis()
    namespace = f"docservice-fault-{uuid.uuid4().hex[:10]}"
    rng = seeded_rng("job-worker-kill")
    runtime = instance.runtime
    runtime.use_converter(converter)
    # Completed but not archived: archiving is left to the workers we kill.
    monkeypatch.setitem(registry.REGISTRY, "archive_envelope", lambda rt, envelope_id: None)
    done = complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    monkeypatch.undo()
    queue = QueueSettings(redis_url=REDIS_URL, namespace=namespace, **QUEUE)
    queued = Runtime(replace(runtime.settings, jobs="redis", queue=queue))
    env = {**instance.env, "DOCSERVICE_JOBS": "redis", "DOCSERVICE_REDIS_URL": REDIS_URL,
           "DOCSERVICE_QUEUE_NAMESPACE": namespace,
           "DOCSERVICE_JOB_MAX_RETRIES": str(queue.max_retries),
           "DOCSERVICE_JOB_MIN_BACKOFF": str(queue.min_backoff),
           "DOCSERVICE_JOB_MAX_BACKOFF": str(queue.max_backoff),
           "DOCSERVICE_JOB_TIME_LIMIT": str(queue.time_limit),
           "DOCSERVICE_QUEUE_HEARTBEAT_TIMEOUT": str(queue.heartbeat_timeout),
           "DOCSERVICE_QUEUE_MAINTENANCE_CHANCE": str(queue.maintenance_chance)}
    workers = Workers(env, tmp_path)
    store = FilesystemArchiveStore(runtime.settings.archive_path)
    runtime.use_archive_store(store)
    outcomes = {"killed": 0, "archived before the kill": 0, "rows after kill": 0}
    try:
        workers.start()
        workers.start()
        # Trial 0 runs to the end: how long archiving takes in a worker.
        queued.enqueue("archive_envelope", done.envelope_id)
        started = _wait(lambda: (r := _run(runtime)) and r.status == JOB_RUNNING and r, 60,
                        "a worker to take the job").started_at
        finished = _wait(lambda: (r := _run(runtime)) and r.status == JOB_DONE and r, 60,
                         "the archiving to finish").finished_at
        durations = [(finished - started).total_seconds()]
        assert _rows(runtime), "the uninterrupted run archived the document"
        # Twenty kills must land while the job runs; a random point after it finished spends
        # one more trial (checked all the same). How long the job takes varies (the first run
        # in a worker loads more, the load of the machine), hence the recent runs' mean.
        trial = 0
        while outcomes["killed"] < TRIALS:
            trial += 1
            assert trial <= 2 * TRIALS, f"only {outcomes} in {trial - 1} trials"
            _reset(runtime, runtime.settings.archive_path)
            queued.enqueue("archive_envelope", done.envelope_id)
            run = _wait(lambda: (r := _run(runtime)) and r.status == JOB_RUNNING and r, 60,
                        "a worker to take the job")
            # A random point of its work, counted from when it started (the worker's clock is
            # ours): seeing it run takes a while, and the job is short.
            point = run.started_at + timedelta(
                seconds=rng.uniform(0, statistics.mean(durations[-5:])))
            time.sleep(max(0.0, (point - utcnow()).total_seconds()))
            victim = workers.by_pid(int(run.worker.rsplit(":", 1)[1]))
            assert victim is not None, run.worker
            if _run(runtime).status == JOB_RUNNING and kill(victim.pid):
                os.killpg(victim.pid, 9)  # the whole worker, its job processes too
                victim.wait(10)
                workers.running.remove(victim)
                outcomes["killed"] += 1
            else:
                outcomes["archived before the kill"] += 1
            rows = _rows(runtime)
            outcomes["rows after kill"] += bool(rows)
            check_store(store, rows, trial)
            if len(workers.running) < 2:
                workers.start()  # the replacement; the survivor takes the job back meanwhile
            final = _wait(lambda: (r := _run(runtime)) and r.status == JOB_DONE and r, 60,
                          f"trial {trial}: the job to be finished by another worker")
            assert final.attempts >= 1, trial
            durations.append((final.finished_at - final.started_at).total_seconds())
            rows = _rows(runtime)
            assert rows and {e.sha256 for e in rows} == _archived_shas(runtime), trial
            check_store(store, rows, trial)
            for entry in rows:
                check = check_entry(entry, store=runtime.archive_store)
                assert check.ok, (trial, check.problems)
        print(f"outcomes after {trial} trials:", outcomes)
        for entry in _rows(runtime):  # what the last trial archived, signatures and all
            check = check_entry(entry, store=runtime.archive_store,
                                sources=runtime.ltv_sources())
            assert check.ok, check.problems
    finally:
        workers.stop()
        queued.close()
        keys = list(client.scan_iter(f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
    summary = archive_maintenance.verify_archive(runtime)
    assert summary.ok and summary.checked == len(done.document_ids), summary.failed


def _rows(runtime: Runtime) -> list[ArchiveEntry]:
    with unit_of_work(runtime.db) as session:
        rows = list(session.scalars(select(ArchiveEntry)))
        for row in rows:
            session.expunge(row)
        return rows


def _archived_shas(runtime: Runtime) -> set[str]:
    with unit_of_work(runtime.db) as session:
        return set(session.scalars(select(ArchiveEntry.sha256)))


def _reset(runtime: Runtime, archive_path: Path) -> None:
    with unit_of_work(runtime.db) as session:
        session.execute(delete(ArchiveStatusRow))
        session.execute(delete(ArchiveTerm))
        session.execute(delete(ArchiveEntry))
        session.execute(delete(JobRun))
    # The store is write-once for the service, not for the test that starts it afresh.
    for path in sorted(archive_path.rglob("*"), reverse=True):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(archive_path, ignore_errors=True)


