"""The Redis queue with real `docservice worker` processes: after-commit enqueueing, retries
with backoff, failures made visible, and a killed worker's job finished by another."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from docservice.cli import main
from docservice.db import after_commit, unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.models import JobRun
from tests.jobs.conftest import wait_for
from tests.web.helpers import csrf_token, login, make_user

pytestmark = [pytest.mark.queue, pytest.mark.timeout(90)]


def _run(runtime: Runtime, name: str) -> JobRun | None:
    with runtime.db.session() as session:
        return session.scalars(sa.select(JobRun).where(JobRun.name == name)
                               .order_by(JobRun.id.desc())).first()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_job_queued_after_the_commit_runs_in_a_worker(runtime: Runtime, start_worker,
                                                        tmp_path: Path) -> None:
    worker = start_worker()
    trace = tmp_path / "trace"
    with pytest.raises(RuntimeError), unit_of_work(runtime.db) as session:
        after_commit(session, lambda: runtime.enqueue("test_touch", str(trace) + ".rolled"))
        raise RuntimeError("rolled back: nothing may be queued")
    with unit_of_work(runtime.db) as session:
        after_commit(session, lambda: runtime.enqueue("test_touch", str(trace)))
        assert _run(runtime, "test_touch") is None, "nothing is queued before the commit"

    wait_for(lambda: (r := _run(runtime, "test_touch")) and r.status == "done", timeout=20,
             what="the job to be done")
    [line] = _lines(trace)
    assert line.split()[1] == str(worker.pid), "run by the worker, not by the test process"
    run = _run(runtime, "test_touch")
    assert run is not None and run.attempts == 1 and run.mode == "redis"
    assert run.worker and run.worker.endswith(f":{worker.pid}")
    assert not Path(str(trace) + ".rolled").exists()
    with runtime.db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 1
    assert runtime.queue_depth() == 0
    assert worker.stop() == 0, worker.output()[-2000:]  # SIGTERM: a graceful exit
    assert "stopped" in worker.output() and "CRITICAL" not in worker.output()


def test_a_failing_job_is_retried_with_backoff_then_shown_as_failed(
        app: Flask, runtime: Runtime, start_worker, tmp_path: Path) -> None:
    start_worker()
    trace = tmp_path / "trace"
    runtime.enqueue("test_fail", str(trace))

    def failed() -> bool:
        run = _run(runtime, "test_fail")
        return run is not None and run.status == "failed"

    wait_for(failed, timeout=30, what="the job to fail for good")
    attempts = [float(line.split()[2]) for line in _lines(trace)]
    assert len(attempts) == 3, "the first attempt and max_retries=2 retries"
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, f"no backoff between attempts: {gaps}"
    run = _run(runtime, "test_fail")
    assert run is not None and run.attempts == 3
    assert run.last_error == "RuntimeError: deliberate failure for the test"

    result = app.test_cli_runner().invoke(main, ["jobs", "status"])
    assert result.exit_code == 1, result.output
    assert re.search(r"test_fail\s+0\s+0\s+0\s+1", result.output), result.output
    assert "deliberate failure for the test" in result.output
    assert "queue depth: 0" in result.output

    client = app.test_client()
    make_user(runtime)
    login(client)
    page = client.get("/coordinator/jobs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "deliberate failure for the test" in html and "test_fail" in html

    # The coordinator fixes the cause and presses Retry: the same run goes through the queue.
    Path(str(trace) + ".stop").touch()
    response = client.post(f"/coordinator/jobs/runs/{run.id}/retry",
                           data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302
    wait_for(lambda: (r := _run(runtime, "test_fail")) and r.status == "done", timeout=20,
             what="the retried run to succeed")
    assert _run(runtime, "test_fail").attempts == 4  # type: ignore[union-attr]
    result = app.test_cli_runner().invoke(main, ["jobs", "status"])
    assert result.exit_code == 0, result.output
    assert "Geen mislukte taken." in client.get("/coordinator/jobs/").get_data(as_text=True)


def test_a_job_whose_worker_is_killed_is_finished_by_another(runtime: Runtime, start_worker,
                                                             tmp_path: Path) -> None:
    first = start_worker()
    trace = tmp_path / "trace"
    runtime.enqueue("test_slow", str(trace), 60.0)
    wait_for(lambda: _lines(trace), timeout=20, what="the first worker to start the job")
    assert _run(runtime, "test_slow").status == "running"  # type: ignore[union-attr]
    first.kill()

    second = start_worker()
    wait_for(lambda: (r := _run(runtime, "test_slow")) and r.status == "done", timeout=30,
             what="the second worker to finish the job")
    started, *rest = _lines(trace)
    assert started.split()[1] == str(first.pid)
    assert [(line.split()[0], line.split()[1]) for line in rest] == [
        ("started", str(second.pid)), ("done", str(second.pid))]
    run = _run(runtime, "test_slow")
    assert run is not None and run.attempts == 2 and run.worker.endswith(f":{second.pid}")
    assert runtime.queue_depth() == 0
