"""The Redis job queue (DOCSERVICE_JOBS=redis): Dramatiq's broker, its actors and the worker.

Why Dramatiq: its Redis broker acknowledges a message only when the job has finished (late
acks) and keeps a heartbeat per worker, so the messages of a worker that died are put back on
the queue for another; its Retries middleware retries a failed job with exponential backoff.
(RQ moves a dead worker's jobs to a failed registry instead; Celery on Redis relies on a long
visibility timeout.)

One generic actor per queue runs any job of `docservice.jobs.registry.REGISTRY` by name, with
the bookkeeping of `registry.execute`; mail has its own queue so that it never waits behind
a cohort's archiving.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from docservice.config import Settings

if TYPE_CHECKING:
    from docservice.jobs.runtime import Runtime

log = logging.getLogger(__name__)

MAIL_QUEUE, VERIFY_QUEUE, JOBS_QUEUE = "mail", "verify", "jobs"
#: Actor name per queue; a lower priority number runs first among prefetched messages. Each
#: queue is consumed on its own, so mail and the desk's verifications (a page waits for them)
#: never wait behind a cohort's archiving or generation.
ACTORS = {MAIL_QUEUE: ("docservice_mail", 0), VERIFY_QUEUE: ("docservice_verify", 5),
          JOBS_QUEUE: ("docservice_job", 10)}
_QUEUE_OF = {"send_mail": MAIL_QUEUE, "send_mails": MAIL_QUEUE,
             "verify_revisions": VERIFY_QUEUE}

#: The runtime of this worker process (set by `run_worker`); the actors run jobs with it.
_worker_runtime: Runtime | None = None


def queue_of(job_name: str) -> str:
    return _QUEUE_OF.get(job_name, JOBS_QUEUE)


def make_broker(settings: Settings) -> RedisBroker:
    """A Redis broker with our retry policy, and the actors declared on it."""
    q = settings.queue
    broker = RedisBroker(
        url=q.redis_url, namespace=q.namespace,
        heartbeat_timeout=int(q.heartbeat_timeout * 1000),
        maintenance_chance=q.maintenance_chance,
        middleware=[
            AgeLimit(), TimeLimit(time_limit=int(q.time_limit * 1000)), ShutdownNotifications(),
            Callbacks(), Pipelines(), CurrentMessage(),
            Retries(max_retries=q.max_retries, min_backoff=int(q.min_backoff * 1000),
                    max_backoff=int(q.max_backoff * 1000)),
        ],
    )
    for queue_name, (actor_name, priority) in ACTORS.items():
        dramatiq.Actor(_perform, broker=broker, actor_name=actor_name, queue_name=queue_name,
                       priority=priority, options={})
    return broker


def send(broker: RedisBroker, run_id: int | None, name: str, args: list[Any]) -> None:
    """Put one job on its queue."""
    actor_name, _ = ACTORS[queue_of(name)]
    broker.get_actor(actor_name).send(run_id, name, args)


def depth(broker: RedisBroker) -> int:
    """Messages waiting on our queues, delayed retries included (not those being run)."""
    client = broker.client
    names = [f"{broker.namespace}:{q}{suffix}" for q in ACTORS for suffix in ("", ".DQ")]
    return sum(int(client.llen(name)) for name in names)


def _perform(run_id: int | None, name: str, args: list[Any]) -> None:
    from docservice.jobs import registry

    rt = _worker_runtime
    if rt is None:
        raise RuntimeError("no runtime in this process: jobs run in `docservice worker`")
    message = CurrentMessage.get_current_message()
    retries = message.options.get("retries", 0) if message is not None else 0
    final = retries >= rt.settings.queue.max_retries
    registry.execute(rt, run_id, name, args, final=final)


# --- the worker --------------------------------------------------------------------------------


def run_worker(settings: Settings, *, threads: int, shutdown_timeout: float,
               imports: tuple[str, ...] = ()) -> None:
    """Consume the queue in this process until SIGTERM or SIGINT; then finish running jobs.

    Jobs not started yet go back on the queue; a job still running after `shutdown_timeout`
    seconds is abandoned to be requeued once this worker's heartbeat has lapsed.
    """
    global _worker_runtime
    import importlib

    from docservice.jobs.runtime import Runtime  # loads every job of the service
    from docservice.observability.logs import configure_logging

    configure_logging(settings)  # JSON in production, like the web workers

    for module in imports:  # modules that register more jobs
        importlib.import_module(module)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("worker %s: signal %s, finishing running jobs", os.getpid(), signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rt = Runtime(settings)
    _worker_runtime = rt
    broker = make_broker(settings)
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=500)
    worker.start()
    log.info("worker %s: consuming %s on %s (namespace %s), %s thread(s)", os.getpid(),
             ", ".join(ACTORS), settings.queue.redis_url, settings.queue.namespace, threads)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        worker.stop(timeout=int(shutdown_timeout * 1000))
        broker.close()
        rt.close()
        _worker_runtime = None
        log.info("worker %s: stopped", os.getpid())


def _child(settings: Settings, threads: int, shutdown_timeout: float,
           imports: tuple[str, ...]) -> None:
    run_worker(settings, threads=threads, shutdown_timeout=shutdown_timeout, imports=imports)


def run_workers(settings: Settings, *, processes: int, threads: int,
                shutdown_timeout: float, imports: tuple[str, ...] = ()) -> None:
    """Run `processes` worker processes (each builds its own runtime), restarting any that
    dies, until SIGTERM or SIGINT, which is passed on to them."""
    if processes <= 1:
        run_worker(settings, threads=threads, shutdown_timeout=shutdown_timeout,
                   imports=imports)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited pools
    stopping = threading.Event()

    def start() -> BaseProcess:
        process = context.Process(target=_child, args=(settings, threads, shutdown_timeout,
                                                        imports),
                                  daemon=False)
        process.start()
        return process

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children = [start() for _ in range(processes)]
    while not stopping.wait(1.0):
        for i, child in enumerate(children):
            if not child.is_alive():
                log.warning("worker process %s exited with %s: starting another", child.pid,
                            child.exitcode)
                time.sleep(1.0)
                children[i] = start()
    for child in children:
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, signal.SIGTERM)
    for child in children:
        child.join(shutdown_timeout + 10)
