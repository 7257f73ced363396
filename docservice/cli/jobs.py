"""The `docservice worker`, `docservice jobs ...` and `docservice mail ...` commands (issue 7)."""

from __future__ import annotations

import sys
from datetime import timedelta
from functools import partial

import click

from docservice.cli.root import current_runtime, main
from docservice.db import unit_of_work
from docservice.models import JOB_FAILED, MAIL_FAILED, utcnow


@main.command("worker")
@click.option("--processes", "-p", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes (each builds its own runtime from the settings).")
@click.option("--threads", "-t", default=4, show_default=True, type=click.IntRange(min=1),
              help="Jobs run at once in each process.")
@click.option("--shutdown-timeout", default=600.0, show_default=True, type=float,
              help="Seconds a stopping worker waits for its running jobs (SIGTERM).")
@click.option("--import", "imports", multiple=True, metavar="MODULE",
              help="Also import MODULE (one that registers more jobs); repeatable.")
def worker(processes: int, threads: int, shutdown_timeout: float,
           imports: tuple[str, ...]) -> None:
    """Run the jobs of the Redis queue (DOCSERVICE_JOBS=redis) until SIGTERM.

    On SIGTERM the worker takes no new job, finishes the running ones and puts what it had
    fetched back on the queue. A worker that dies instead loses nothing: its jobs go back on
    the queue once its heartbeat lapses (DOCSERVICE_QUEUE_HEARTBEAT_TIMEOUT).
    """
    from docservice.jobs import queue

    settings = current_runtime().settings
    if settings.jobs != "redis":
        raise click.ClickException(
            f"DOCSERVICE_JOBS is {settings.jobs!r}: jobs run inside the service; set "
            "DOCSERVICE_JOBS=redis (and DOCSERVICE_REDIS_URL) for the web service and the worker")
    queue.run_workers(settings, processes=processes, threads=threads,
                      shutdown_timeout=shutdown_timeout, imports=imports)


@main.group("jobs")
def jobs_group() -> None:
    """Background jobs: archiving, mail, deadline checks, document generation."""


@jobs_group.command("status")
@click.option("--failures", default=10, show_default=True, help="Recent failures to list.")
def jobs_status(failures: int) -> None:
    """Runs by job and status, queue depth, undelivered mail and the recent failures.

    Exits 1 if any job run or mail has failed (for monitoring), 0 otherwise.
    """
    from docservice.jobs import runs as jobs
    from docservice.mail import outbox

    rt = current_runtime()
    with unit_of_work(rt.db) as session:
        numbers = jobs.counts(session)
        mail = outbox.counts(session)
        failed = jobs.failed_runs(session, limit=failures)
        undelivered = [m for m in outbox.undelivered(session, limit=failures)
                       if m.status == MAIL_FAILED or m.last_error]
    depth = rt.queue_depth()
    where = (f"Redis {rt.settings.queue.redis_url}, namespace {rt.settings.queue.namespace}"
             if rt.settings.jobs == "redis" else "in the service process")
    click.echo(f"Jobs: {rt.settings.jobs} ({where}); queue depth: "
               f"{'unknown (queue unreachable)' if depth is None else depth}")
    statuses = ("queued", "running", "done", "failed")
    names = sorted({name for name, _ in numbers})
    if names:
        click.echo(f"  {'job':<22}" + "".join(f"{s:>9}" for s in statuses))
        for name in names:
            click.echo(f"  {name:<22}" + "".join(f"{numbers.get((name, s), 0):>9}"
                                                 for s in statuses))
    else:
        click.echo("  no job has run yet")
    click.echo("Mail: " + ", ".join(f"{mail.get(s, 0)} {s}"
                                    for s in ("sent", "pending", "sending", "failed")))
    failed_jobs = sum(n for (_, status), n in numbers.items() if status == JOB_FAILED)
    failed_mail = mail.get(MAIL_FAILED, 0)
    if failed:
        click.echo("Recent failed jobs (`docservice jobs retry`):")
        for run in failed:
            click.echo(f"  #{run.id} {run.name}{tuple(run.args)} after {run.attempts} "
                       f"attempt(s), {run.updated_at:%Y-%m-%d %H:%M:%S} UTC: {run.last_error}")
    if undelivered:
        click.echo("Undelivered mail (`docservice mail flush`):")
        for m in undelivered:
            click.echo(f"  #{m.id} to {m.recipient}: {m.status} after {m.attempts} "
                       f"attempt(s): {m.last_error or '-'}")
    if failed_jobs or failed_mail:
        click.echo(f"{failed_jobs} failed job run(s), {failed_mail} failed mail(s).", err=True)
        sys.exit(1)


@jobs_group.command("retry")
@click.option("--stale-minutes", default=30, show_default=True, type=click.IntRange(min=0),
              help="Also queue again runs queued or running for this long (message or worker "
                   "lost).")
def jobs_retry(stale_minutes: int) -> None:
    """Queue every failed job run again, and runs whose message or worker was lost."""
    from docservice.db import after_commit
    from docservice.jobs import runs as jobs

    rt = current_runtime()
    with unit_of_work(rt.db) as session:
        runs = jobs.runs_to_retry(session, now=utcnow(), stale=timedelta(minutes=stale_minutes))
        for run in runs:
            if jobs.mark_for_retry(session, run.id) is not None:
                after_commit(session, partial(rt.dispatch, run.id, run.name, list(run.args)))
                click.echo(f"#{run.id} {run.name}{tuple(run.args)} ({run.status}): queued again")
    click.echo(f"{len(runs)} job run(s) queued again.")


@main.group("mail")
def mail_group() -> None:
    """The mail outbox."""


@mail_group.command("flush")
@click.option("--failed", "failed_too", is_flag=True,
              help="Also give failed mail a fresh set of attempts.")
def mail_flush(failed_too: bool) -> None:
    """Send again every mail not delivered yet (SMTP was down, or its job was lost).

    Safe at any time: a mail is claimed before it is sent, so none goes out twice.
    """
    from docservice.jobs import mail as mail_jobs

    count = mail_jobs.flush(current_runtime(), failed_too=failed_too)
    click.echo(f"{count} mail(s) scheduled for delivery.")

