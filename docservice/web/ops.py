"""Operations: liveness, readiness and Prometheus metrics, for load balancers and monitoring."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

import docservice.observability.metrics  # noqa: F401 - registers the counters before the first scrape
from docservice.jobs.runtime import Runtime
from docservice.web import runtime

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)

#: Seconds a readiness check may take before it counts as failed.
CHECK_TIMEOUT = 3.0


@bp.get("/healthz")
def healthz() -> Any:
    """The process is alive and serving: touches neither database nor disk."""
    return jsonify(status="ok")


def _check_database(rt: Runtime) -> None:
    with rt.db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check_blobs(rt: Runtime) -> None:
    # Write and remove a scratch file: a full or read-only disk shows here, not at signing.
    folder = rt.settings.blob_path
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".ready-", delete=True) as scratch:
        scratch.write(b"ready")
        scratch.flush()


def redis_url(rt: Runtime) -> str:
    """Where the job queue's Redis is (DOCSERVICE_REDIS_URL)."""
    return rt.settings.queue.redis_url


def _check_redis(rt: Runtime) -> None:
    import redis

    client = redis.Redis.from_url(redis_url(rt), socket_connect_timeout=CHECK_TIMEOUT,
                                  socket_timeout=CHECK_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def readiness_checks(rt: Runtime) -> dict[str, Callable[[Runtime], None]]:
    """The checks `/readyz` runs: each raises when its part is not ready."""
    checks: dict[str, Callable[[Runtime], None]] = {
        "database": _check_database, "blobs": _check_blobs}
    if rt.settings.jobs == "redis":
        checks["redis"] = _check_redis
    return checks


@bp.get("/readyz")
def readyz() -> Any:
    """Ready to serve: the database answers, the blob folder is writable, Redis (if used) too.

    Anyone sees which checks passed; what went wrong (paths, hosts, driver messages) and how
    long each took only an operator (`operator_request`), and the log.
    """
    rt = runtime()
    details = operator_request()
    results: dict[str, dict[str, Any]] = {}
    for name, check in readiness_checks(rt).items():
        started = time.monotonic()
        try:
            check(rt)
        except Exception as e:  # noqa: BLE001 - any failure means "not ready", said plainly
            log.warning("readiness: %s is not ready: %s", name, e)
            results[name] = {"ok": False}
            if details:
                results[name]["error"] = f"{type(e).__name__}: {str(e)[:200]}"
        else:
            results[name] = {"ok": True}
        if details:
            results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    ready = all(r["ok"] for r in results.values())
    return jsonify(status="ready" if ready else "not ready", checks=results), (
        200 if ready else 503)


# --- metrics ---------------------------------------------------------------------------------

_LOOPBACK_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _from_loopback() -> bool:
    # A request a local reverse proxy forwards comes from loopback too: it names the real
    # client in a header, and then it is not a loopback client.
    if any(h in request.headers for h in _LOOPBACK_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _bearer_ok(expected: str | None) -> bool:
    if not expected:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode())


def operator_request() -> bool:
    """Whether this request may see the service's internals (metrics, readiness errors): it
    comes from loopback and no proxy forwarded it, or it carries DOCSERVICE_METRICS_TOKEN."""
    return _from_loopback() or _bearer_ok(runtime().settings.metrics_token)


class _QueueDepth(Collector):
    """The job queue's depth, asked at scrape time (when the runtime can tell it)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        try:
            value = self.rt.queue_depth()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the queue is away
            log.warning("metrics: queue depth unavailable", exc_info=True)
            return
        if value is None:  # the queue cannot be asked now: no figure rather than a wrong one
            return
        family = GaugeMetricFamily("docservice_queue_depth", "Jobs waiting in the queue",
                                   labels=["queue"])
        family.add_metric(["all"], float(value))
        yield family


class _Default(Collector):
    """This process's own registry (counters, process and GC figures)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def metrics_registry(rt: Runtime) -> CollectorRegistry:
    """What a scrape reports: every gunicorn worker's counters when PROMETHEUS_MULTIPROC_DIR is
    set (prometheus_client adds them up from its files), else this process's; plus the queue."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    registry.register(_QueueDepth(rt))
    return registry


@bp.get("/metrics")
def metrics() -> Any:
    """Prometheus text format; only for loopback clients or with DOCSERVICE_METRICS_TOKEN."""
    rt = runtime()
    if not operator_request():
        message = ("Metrics are served to loopback clients, or with the bearer token set in "
                   "DOCSERVICE_METRICS_TOKEN.")
        status = 401 if request.headers.get("Authorization") else 403
        return Response(message + "\n", status=status, mimetype="text/plain",
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else {})
    return Response(generate_latest(metrics_registry(rt)), content_type=CONTENT_TYPE_LATEST)


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn hook (`child_exit = docservice.web.ops.child_exit` in its config): a dead
    worker's live gauges stop counting; its counters stay in the sum."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
