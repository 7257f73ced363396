"""`docservice deadlines check`: reminders and the start-date check."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import current_app

from docservice.cli.cohort import enqueue_job
from docservice.cli.root import CLI_ACTOR, current_runtime, main
from docservice.errors import DocserviceError
from docservice.services.years import get_year


@main.group("deadlines")
def deadlines_group() -> None:
    """Reminders before the contract deadline and the start date; escalation of late ones."""


@deadlines_group.command("check")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and record nothing.")
@click.option("--offsets", default=None, metavar="DAYS",
              help="Days before the deadline and the start date to remind at "
                   "(default DOCSERVICE_REMINDER_OFFSETS or 14,7,3,1).")
@click.option("--window", type=click.IntRange(min=0), default=None,
              help="Days before the start date from which an incomplete placement is at risk "
                   "(default DOCSERVICE_RISK_WINDOW_DAYS or 14).")
@click.option("--year", help="Only this academic year, e.g. 2023-2024.")
@click.option("--rehash", is_flag=True,
              help="Re-read every stored PDF, even those whose size and time did not change.")
@click.option("--enqueue", is_flag=True,
              help="Queue the check as a job (for `docservice worker`) instead; it reads its "
                   "settings from the environment.")
def deadlines_check(dry_run: bool, offsets: str | None, window: int | None, year: str | None,
                    rehash: bool, enqueue: bool) -> None:
    """Remind whoever is next, escalate at-risk placements, mark those not cleared to start.

    Safe to run as often as you like: a reminder is never sent twice.
    """
    if enqueue:
        if dry_run or offsets or window is not None or rehash:
            raise click.UsageError("--enqueue takes only --year")
        enqueue_job("deadlines_check", year)
        return
    from dataclasses import replace as replace_settings

    from docservice.config import DeskSettings, parse_offsets
    from docservice.db import commit, rollback
    from docservice.services.deadlines import check_deadlines

    rt = current_runtime()
    # The desk's settings as the web app holds them (read and checked at start).
    settings: DeskSettings = current_app.extensions.get("docservice.desk", rt.settings.desk)
    if offsets:
        try:
            settings = replace_settings(settings, reminder_offsets=parse_offsets(offsets))
        except DocserviceError as e:
            raise click.ClickException(str(e)) from e
    if window is not None:
        settings = replace_settings(settings, risk_window_days=window)
    session = rt.db.session()
    try:
        if year:
            get_year(session, year)
        report = check_deadlines(session, now=datetime.now(UTC), settings=settings,
                                 config=rt.settings, verifier=rt.verifier, blobs=rt.blobs,
                                 mailer=rt.mail, cache=rt.desk_statuses, actor=CLI_ACTOR,
                                 dry_run=dry_run, year=year, rehash=rehash)
        if dry_run:
            rollback(session)
        else:
            commit(session)
    except DocserviceError as e:
        rollback(session)
        raise click.ClickException(str(e)) from e
    except BaseException:
        rollback(session)
        raise
    finally:
        session.close()
    for line in report.lines():
        click.echo(line)
