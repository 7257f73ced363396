"""Setting a service up and running it: init, pki, db, serve, demo."""

from __future__ import annotations

import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import func, select

from docservice import migrate
from docservice.cli.cohort import generate_documents
from docservice.cli.root import CLI_ACTOR, command_work, current_runtime, main
from docservice.errors import DocserviceError
from docservice.jobs.runtime import Runtime
from docservice.models import AcademicYear, Placement, User
from docservice.services import links, users
from docservice.services import placements as placements_service
from docservice.services.years import load_year_file


@main.command()
@click.option("--demo", is_flag=True, help="Also load the demo academic year and placements.")
def init(demo: bool) -> None:
    """Create or upgrade the database (and with --demo, fill it with demo data)."""
    rt = current_runtime()
    migrate.upgrade(rt.db)
    click.echo(f"Database ready: {rt.db.engine.url.render_as_string(hide_password=True)}")
    if not demo:
        return
    from docservice.cli import demo as demo_cohort
    from docservice.domain import today_in_brussels

    now = datetime.now(UTC)
    # A living cohort: the regulation's 2023-2024 year (data/academic-years/, left as it is)
    # moved to the academic year containing today; only that year is loaded.
    year_path, demo_placements, shift = demo_cohort.demo_files(
        rt.settings.instance_path / "demo", today_in_brussels(now))
    fresh = False
    with command_work() as session:
        year = load_year_file(session, year_path)
        click.echo(f"Academic year {year.code} loaded from {year_path} (the 2023-2024 file "
                   f"moved by {shift.days} days; contract deadline {year.contract_deadline:%d/%m/%Y})")
        if not session.scalar(select(func.count()).select_from(Placement)):
            result = placements_service.import_placements(
                session, demo_placements, actor=CLI_ACTOR)
            click.echo(f"Imported {len(result.placements)} demo placements")
            fresh = True
        if not session.scalar(select(func.count()).select_from(User)):
            password = secrets.token_urlsafe(12)
            users.add_user(session, email="coordinator@example.org", name="Demo coordinator",
                           role="coordinator", password=password)
            creds = rt.settings.instance_path / "demo-credentials.txt"
            creds.write_text(f"coordinator@example.org\n{password}\n")
            creds.chmod(0o600)
            click.echo(f"Demo coordinator: coordinator@example.org / {password} "
                       f"(also in {creds})")
    _ensure_pki(rt)
    generate_documents(year=None, out=None)
    if fresh:
        try:
            reached = demo_cohort.stage_demo_cohort(rt, now=now, actor=CLI_ACTOR)
        except DocserviceError as e:
            raise click.ClickException(str(e)) from e
        for number, state in reached.items():
            click.echo(f"  {number}: {state}")
    with command_work() as session:
        now = datetime.now(UTC)
        click.echo("Student links (new ones; earlier demo links stop working):")
        for placement in session.scalars(select(Placement).order_by(Placement.id)):
            _, token = links.issue_link(session, placement, purpose=links.STUDENT, now=now,
                                        valid_for=rt.student_link_validity, actor=CLI_ACTOR)
            click.echo(f"  {placement.student_full_name}: {rt.settings.public_url('/s/' + token)}")


@main.group()
def pki() -> None:
    """The development PKI (root, signer CA, timestamp authority, school seal, CRLs)."""


@pki.command("init")
@click.option("--force", is_flag=True, help="Replace an existing development PKI.")
@click.option("--organisation", default=None, help="The school's name in the seal certificate.")
def pki_init(force: bool, organisation: str | None) -> None:
    """Create a development PKI (keys readable by the owner only, ignored by git)."""
    rt = current_runtime()
    if rt.settings.env == "production":
        raise click.ClickException("production uses real keys and an external TSA: "
                                   "see README.md, no development PKI")
    _ensure_pki(rt, force=force, organisation=organisation)
    click.echo(f"Development PKI in {rt.settings.pki_path}")


def _ensure_pki(rt: Runtime, *, force: bool = False, organisation: str | None = None) -> None:
    from docservice.signing.pki import init_dev_pki

    if organisation is None:
        with command_work() as session:
            year = session.scalars(select(AcademicYear).order_by(AcademicYear.code.desc())).first()
            organisation = year.school_name if year else "Thomas More"
    init_dev_pki(rt.settings.pki_path, organisation=organisation, force=force)


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the signed PDFs.")
def demo(out: Path) -> None:
    """Run the whole flow for one demo placement over HTTP and write the signed PDFs to OUT."""
    from docservice.cli.demo import run_demo

    try:
        written = run_demo(out, echo=click.echo)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    for path in written:
        click.echo(f"  {path}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=0, type=click.IntRange(min=0),
              help="Serve with gunicorn and this many worker processes (production); "
                   "0: the development server.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app (development server, or gunicorn with --workers N)."""
    if workers:
        import os

        # gunicorn loads docservice.wsgi:app in each worker: settings come from the environment.
        argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
                "--bind", f"{host}:{port}", "--graceful-timeout", "30",
                "--logger-class", "docservice.cli.serving.GunicornLogger",  # tokens cut short
                "docservice.wsgi:app"]
        click.echo(f"docservice: gunicorn with {workers} worker(s) on http://{host}:{port}/")
        sys.stdout.flush()
        os.execv(sys.executable, argv)
    click.echo(f"docservice: open http://{host}:{port}/coordinator/ "
               f"(log in with the demo coordinator printed by `docservice init --demo`)")
    from docservice.cli.serving import make_dev_server

    # werkzeug's server, without its `Server: Werkzeug/x Python/y` header
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    make_dev_server(app, host, port).serve_forever()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration not applied yet."""
    migrate.upgrade(current_runtime().db)
    click.echo("Database schema is up to date.")
