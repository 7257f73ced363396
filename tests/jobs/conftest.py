"""The job queue's fixtures: a private Redis namespace per test, and real worker processes.

Tests marked `queue` run with DOCSERVICE_JOBS=redis and a short retry and heartbeat policy;
they need Redis (skipped with the reason when none answers) and run on PostgreSQL, the
database a scaled-out service uses (their SQLite variants are deselected).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from docservice.config import CHECKOUT, QueueSettings, Settings
from tests.jobs import testjobs  # noqa: F401 - registers the test jobs here too

REDIS_URL = os.environ.get("DOCSERVICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The retry policy of the tests: three attempts, fast backoff; a dead worker noticed in 2 s.
TEST_QUEUE = dict(max_retries=2, min_backoff=0.2, max_backoff=1.0, time_limit=60.0,
                  heartbeat_timeout=2.0, maintenance_chance=1_000_000)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "queue: runs with DOCSERVICE_JOBS=redis and workers")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        on_sqlite = "[sqlite" in item.nodeid or "-sqlite" in item.nodeid
        (drop if item.get_closest_marker("queue") and on_sqlite else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _redis() -> Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis reachable at {REDIS_URL} ({e}); set DOCSERVICE_TEST_REDIS_URL")
    return client


@pytest.fixture
def queue_namespace(request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of Redis keys for this test alone, deleted afterwards."""
    client = _redis()
    namespace = f"docservice-test-{uuid.uuid4().hex[:12]}"
    yield namespace
    keys = list(client.scan_iter(f"{namespace}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def queue_policy() -> dict[str, Any]:
    """The queue settings of this test (override the fixture to change them)."""
    return dict(TEST_QUEUE)


@pytest.fixture
def mail_port() -> int | None:
    """The SMTP port of this test (override the fixture: None is the run's test server)."""
    return None


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest,
             mail_port: int | None) -> Settings:
    """The shared test settings; with the `queue` mark, DOCSERVICE_JOBS=redis in a namespace."""
    if mail_port is not None:
        settings = replace(settings, mail=replace(settings.mail, smtp_port=mail_port,
                                                  timeout=5.0))
    if request.node.get_closest_marker("queue") is None:
        return settings
    namespace = request.getfixturevalue("queue_namespace")
    policy = request.getfixturevalue("queue_policy")
    return replace(settings, jobs="redis",
                   queue=QueueSettings(redis_url=REDIS_URL, namespace=namespace, **policy))


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a `docservice` process exactly these settings."""
    q, m = settings.queue, settings.mail
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
    env.update({
        "PYTHONPATH": str(CHECKOUT),  # the workers import tests.jobs.testjobs
        "DOCSERVICE_ENV": settings.env, "DOCSERVICE_SECRET_KEY": settings.secret_key,
        "DOCSERVICE_BASE_URL": settings.base_url,
        "DOCSERVICE_INSTANCE_PATH": str(settings.instance_path),
        "DOCSERVICE_DATABASE_URL": settings.database_url,
        "DOCSERVICE_BLOB_PATH": str(settings.blob_path),
        "DOCSERVICE_OUTBOX_PATH": str(settings.outbox_path),
        "DOCSERVICE_ARCHIVE_PATH": str(settings.archive_path),
        "DOCSERVICE_PKI_PATH": str(settings.pki_path),
        "DOCSERVICE_TEMPLATES_PATH": str(settings.templates_path),
        "DOCSERVICE_CONVERTERS": str(settings.converters),
        "DOCSERVICE_JOBS": settings.jobs, "DOCSERVICE_REDIS_URL": q.redis_url,
        "DOCSERVICE_QUEUE_NAMESPACE": q.namespace,
        "DOCSERVICE_JOB_MAX_RETRIES": str(q.max_retries),
        "DOCSERVICE_JOB_MIN_BACKOFF": str(q.min_backoff),
        "DOCSERVICE_JOB_MAX_BACKOFF": str(q.max_backoff),
        "DOCSERVICE_JOB_TIME_LIMIT": str(q.time_limit),
        "DOCSERVICE_QUEUE_HEARTBEAT_TIMEOUT": str(q.heartbeat_timeout),
        "DOCSERVICE_QUEUE_MAINTENANCE_CHANCE": str(q.maintenance_chance),
        "DOCSERVICE_MAIL_FROM": m.sender,
    })
    if m.smtp_host:
        env.update({"DOCSERVICE_SMTP_HOST": m.smtp_host, "DOCSERVICE_SMTP_PORT": str(m.smtp_port)})
    return env


@dataclass
class Worker:
    """A `docservice worker` process (its own process group, so a kill takes all of it)."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no goodbye, no acknowledgement, the job it ran is left half done."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait for the graceful exit."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str,
             interval: float = 0.1) -> Any:
    """Poll `condition` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start `docservice worker` processes with this test's settings; all stopped afterwards."""
    client = _redis()
    heartbeats = f"{settings.queue.namespace}:__heartbeats__"
    workers: list[Worker] = []

    def start(threads: int = 2) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        before = set(client.zrange(heartbeats, 0, -1))
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "docservice.cli", "worker", "--threads", str(threads),
                 "--shutdown-timeout", "10", "--import", "tests.jobs.testjobs"],
                cwd=CHECKOUT, env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        worker = Worker(process, log)
        workers.append(worker)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"worker exited with {process.returncode}:\n"
                                     + worker.output()[-3000:])
            # A new broker id among the heartbeats: its consumers fetch from the queue.
            return bool(set(client.zrange(heartbeats, 0, -1)) - before)

        wait_for(ready, timeout=30, what="the worker to consume")
        return worker

    yield start
    for worker in workers:
        worker.stop()
    client.close()
