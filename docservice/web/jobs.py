"""The coordinator's view of background work: failed jobs and undelivered mail, with retry."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from docservice.db import after_commit
from docservice.jobs import mail as mail_jobs
from docservice.jobs import runs as jobs
from docservice.mail import outbox
from docservice.models import MAIL_FAILED, utcnow
from docservice.web import db_session, runtime
from docservice.web.auth import require_role

bp = Blueprint("jobs", __name__, url_prefix="/coordinator/jobs")

ACTORS = ("coordinator",)  # admins pass every role check


@bp.get("/")
@require_role(*ACTORS)
def index() -> Any:
    """Failed jobs and undelivered mail, with how many runs there are and the queue depth."""
    session = db_session()
    rt = runtime()
    counts = jobs.counts(session)
    return render_template(
        "jobs/index.html", failed=jobs.failed_runs(session, limit=100),
        mails=outbox.undelivered(session, limit=200), counts=sorted(counts.items()),
        mail_counts=outbox.counts(session), depth=rt.queue_depth(), mode=rt.settings.jobs,
        now=utcnow(), mail_failed=MAIL_FAILED)


@bp.post("/runs/<int:run_id>/retry")
@require_role(*ACTORS)
def retry_run(run_id: int) -> Any:
    """Queue a failed job run again (it runs after this request's commit)."""
    session = db_session()
    run = jobs.mark_for_retry(session, run_id)
    if run is None:
        abort(404)
    rt = runtime()
    after_commit(session, lambda: rt.dispatch(run.id, run.name, list(run.args)))
    flash(_("Taak %(name)s #%(id)s staat opnieuw in de wachtrij.", name=run.name, id=run.id))
    return redirect(url_for(".index"))


@bp.post("/mail/<int:mail_id>/retry")
@require_role(*ACTORS)
def retry_mail(mail_id: int) -> Any:
    """Send an undelivered mail again, failed ones with a fresh set of attempts."""
    session = db_session()
    if not mail_jobs.schedule_delivery(session, runtime(), mail_id, failed_too=True):
        if not any(m.id == mail_id for m in outbox.undelivered(session)):
            abort(404)
        flash(_("Mail #%(id)s wordt op dit moment verstuurd.", id=mail_id))
    else:
        flash(_("Mail #%(id)s wordt opnieuw verstuurd.", id=mail_id))
    return redirect(url_for(".index"))


@bp.post("/retry-all")
@require_role(*ACTORS)
def retry_all() -> Any:
    """Queue every failed job run and every undelivered mail again."""
    session = db_session()
    rt = runtime()
    mail_runs = 0
    for mail in outbox.undelivered(session, limit=10_000):
        mail_runs += mail_jobs.schedule_delivery(session, rt, mail.id, failed_too=True)
    retried = 0
    for run in jobs.failed_runs(session, limit=10_000):  # those of mail are queued already
        view = jobs.mark_for_retry(session, run.id)
        if view is not None:
            after_commit(session, partial(rt.dispatch, view.id, view.name, list(view.args)))
            retried += 1
    flash(_("%(runs)s taakuitvoering(en) en %(mails)s mail(s) opnieuw in de wachtrij.",
            runs=retried, mails=mail_runs))
    return redirect(url_for(".index"))
