"""Rate limits shared by every web worker through Redis, and what happens when Redis is gone.

With several gunicorn workers, counts kept per process would let an address try the limit
once per worker; in Redis they are one count. Each request here is steered to a chosen
worker (the other one is kept busy by an idle connection), so that the attempts are
really spread over both.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from docservice import create_app, migrate
from docservice.config import CHECKOUT, QueueSettings, Settings
from docservice.errors import ConfigurationError
from docservice.jobs.runtime import Runtime
from docservice.web.auth import LINK_LIMIT, LOGIN_LIMIT, AttemptLimiter, RedisAttempts
from tests.faults.conftest import instance_env
from tests.faults.procs import serving
from tests.faults.web import Client, Gunicorn
from tests.jobs.conftest import REDIS_URL, _redis
from tests.web.helpers import PASSWORD, csrf_token, make_user

NOBODY = "redis://127.0.0.1:1/0"  # nobody listens there
EMAIL = "coordinator@school.example.org"


def _delete_namespace(client: Any, namespace: str) -> None:
    keys = list(client.scan_iter(f"{namespace}:*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture
def namespace() -> Iterator[tuple[Any, str]]:
    """A Redis client and a namespace of keys for this test alone, deleted afterwards."""
    client = _redis()
    name = f"docservice-test-{uuid.uuid4().hex[:12]}"
    yield client, name
    _delete_namespace(client, name)
    client.close()


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "store"), [
    ({}, "memory"),
    ({"DOCSERVICE_JOBS": "thread"}, "memory"),
    ({"DOCSERVICE_JOBS": "redis"}, "redis"),
    ({"DOCSERVICE_JOBS": "redis", "DOCSERVICE_RATE_LIMIT_STORE": "memory"}, "memory"),
    ({"DOCSERVICE_RATE_LIMIT_STORE": "Redis"}, "redis"),
])
def test_rate_limit_store_follows_the_job_queue_unless_set(tmp_path, env, store):
    base = {"DOCSERVICE_INSTANCE_PATH": str(tmp_path), "DOCSERVICE_SECRET_KEY": "s" * 32}
    assert Settings.from_env({**base, **env}).rate_limit_store == store


def test_an_unknown_rate_limit_store_refuses_to_start(tmp_path):
    with pytest.raises(ConfigurationError, match="DOCSERVICE_RATE_LIMIT_STORE"):
        Settings.from_env({"DOCSERVICE_INSTANCE_PATH": str(tmp_path),
                           "DOCSERVICE_RATE_LIMIT_STORE": "memcached"})


# -- two gunicorn workers, one count -----------------------------------------------------------


@dataclass
class Served:
    server: Gunicorn
    redis: Any
    namespace: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, pki_path: Path) -> Iterator[Served]:
    """gunicorn with two workers counting in Redis (DOCSERVICE_JOBS=redis), one user."""
    client = _redis()
    namespace = f"docservice-test-{uuid.uuid4().hex[:12]}"
    root = tmp_path_factory.mktemp("rate-limits") / "instance"
    settings = Settings(env="testing", secret_key="rate-limit-secret-" + os.urandom(8).hex(),
                        instance_path=root, blob_path=root / "blobs",
                        outbox_path=root / "outbox", archive_path=root / "archive",
                        pki_path=pki_path, templates_path=CHECKOUT / "templates",
                        converters=1, jobs="inline").validated()
    runtime = Runtime(settings)
    migrate.upgrade(runtime.db)
    make_user(runtime)
    env = instance_env(settings, DOCSERVICE_JOBS="redis", DOCSERVICE_REDIS_URL=REDIS_URL,
                       DOCSERVICE_QUEUE_NAMESPACE=namespace)
    server = Gunicorn(env, root.parent / "gunicorn.log", workers=2)
    try:
        server.wait_ready()
        yield Served(server, client, namespace)
    finally:
        server.stop()
        runtime.close()
        _delete_namespace(client, namespace)
        client.close()


def _taker(server: Gunicorn, client_port: int) -> int:
    """The worker that accepted the connection from `client_port`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        worker = serving(server.worker_pids(), server.port, client_port)
        if worker is not None:
            return worker
        time.sleep(0.005)
    raise AssertionError("no worker accepted the connection")


def _status_from(server: Gunicorn, worker: int, client: Client, method: str, path: str,
                 fields: dict[str, str] | None = None) -> int:
    """The status of one request that `worker` answers: a connection another worker takes
    is left idle (keeping that worker busy) until `worker` takes one."""
    held = []
    try:
        for _ in range(2 * server.workers):
            taker = _taker(server, client.connect())
            if taker == worker:
                return client.request(method, path, fields, connected=True)[0]
            held.append(client.connection)
        raise AssertionError(f"worker {worker} never took a connection")
    finally:
        for connection in held:
            assert connection is not None
            connection.close()


def _fresh_count(served: Served, limiter: str) -> None:
    served.redis.delete(f"{served.namespace}:ratelimit:{limiter}:127.0.0.1")


def test_wrong_passwords_on_two_workers_share_one_limit(served: Served):
    _fresh_count(served, "login")
    limit, window = LOGIN_LIMIT
    workers = served.server.worker_pids()
    assert len(workers) == 2
    browser = Client(served.server.port)
    token = csrf_token(browser.get("/login")[1])
    wrong = {"email": EMAIL, "password": "not the password", "csrf_token": token}
    answers = [(worker, _status_from(served.server, worker, browser, "POST", "/login", wrong))
               for worker in (workers * limit)[:limit + 2]]
    # Each worker saw only half the limit itself; both refuse once the total is reached.
    assert [status for _, status in answers[:limit]] == [401] * limit, answers
    assert {status for _, status in answers[limit:]} == {429}, answers
    assert {worker for worker, _ in answers[limit:]} == set(workers), answers
    # Even the right password, from this address, until the window has passed.
    right = {**wrong, "password": PASSWORD}
    assert _status_from(served.server, workers[1], browser, "POST", "/login", right) == 429
    # One key for the address, gone a window after its last attempt.
    key = f"{served.namespace}:ratelimit:login:127.0.0.1"
    assert served.redis.zcard(key) == limit
    assert 0 < served.redis.pttl(key) <= window * 1000


def test_unknown_link_tokens_on_two_workers_share_one_limit(served: Served):
    _fresh_count(served, "link")
    limit, _ = LINK_LIMIT
    workers = served.server.worker_pids()
    browser = Client(served.server.port)
    answers = [(worker, _status_from(served.server, worker, browser, "GET",
                                     "/sign/" + secrets.token_urlsafe(32)))
               for worker in (workers * limit)[:limit + 2]]
    assert [status for _, status in answers[:limit]] == [404] * limit, answers
    assert {status for _, status in answers[limit:]} == {429}, answers
    assert {worker for worker, _ in answers[limit:]} == set(workers), answers
    assert _status_from(served.server, workers[1], browser, "GET",
                        "/s/" + secrets.token_urlsafe(32)) == 429


# -- in one process: the window, and Redis gone --------------------------------------------------


@pytest.fixture
def limited_app(app, runtime, settings):
    """Another app on the same database (cleaned by `app`), with the given settings and config."""
    made = []

    def make(config: dict[str, Any], **changes: Any) -> FlaskClient:
        other = create_app({"TESTING": True, **config}, settings=replace(settings, **changes))
        made.append(other)
        return other.test_client()

    make_user(runtime)
    yield make
    for other in made:
        store = other.extensions["docservice.attempts"]
        if isinstance(store, RedisAttempts):
            store.close()
        other.extensions["docservice"].close()


def _login(client: FlaskClient, password: str) -> int:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": EMAIL, "password": password,
                                       "csrf_token": token}).status_code


def test_the_window_passes_and_the_key_expires(limited_app, namespace):
    redis, name = namespace
    client = limited_app({"DOCSERVICE_LOGIN_LIMIT": (3, 1)}, rate_limit_store="redis",
                         queue=QueueSettings(redis_url=REDIS_URL, namespace=name))
    assert [_login(client, "wrong") for _ in range(4)] == [401, 401, 401, 429]
    key = f"{name}:ratelimit:login:127.0.0.1"
    assert 0 < redis.pttl(key) <= 1000
    time.sleep(1.2)
    assert not redis.exists(key)  # expired with the window: no key piles up
    assert _login(client, "wrong") == 401
    assert _login(client, PASSWORD) == 302


def test_redis_gone_login_works_and_limits_per_process(limited_app, caplog):
    limit, _ = LOGIN_LIMIT
    client = limited_app({}, rate_limit_store="redis",
                         queue=QueueSettings(redis_url=NOBODY, namespace="unused"))
    with caplog.at_level(logging.WARNING, logger="docservice.web.auth"):
        assert _login(client, PASSWORD) == 302
        statuses = [_login(client, "wrong") for _ in range(limit + 2)]
        assert statuses == [401] * limit + [429, 429]
        assert client.get("/sign/" + secrets.token_urlsafe(32)).status_code == 404
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]


def test_one_warning_per_outage(namespace, caplog, monkeypatch):
    import redis

    real, name = namespace
    monkeypatch.setattr(RedisAttempts, "RETRY_AFTER", 0.0)
    store = RedisAttempts.from_url(NOBODY, f"{name}:ratelimit:")
    down = store.client
    limiter = AttemptLimiter(2, 60, name="login", store=store)
    with caplog.at_level(logging.INFO, logger="docservice.web.auth"):
        for _ in range(3):
            limiter.failed("192.0.2.1")
        assert limiter.blocked("192.0.2.1")  # counted in this process meanwhile
        store.client = redis.Redis.from_url(REDIS_URL)  # Redis is back: its count is empty
        assert not limiter.blocked("192.0.2.1")
        limiter.failed("192.0.2.1")
        store.client.close()
        store.client = down  # and gone again
        limiter.failed("192.0.2.1")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis unreachable" in m for m in messages) == 2, messages
    assert sum("Redis is back" in m for m in messages) == 1, messages
    assert real.zcard(f"{name}:ratelimit:login:192.0.2.1") == 1
    down.close()
