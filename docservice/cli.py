"""The `docservice` command: each subcommand opens one unit of work and calls a service."""

from __future__ import annotations

import getpass
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo
from sqlalchemy import func, select
from sqlalchemy.orm import Session

# Before the imports below load pyhanko: its warnings become log records (see the module).
from docservice import warnings_log

# isort: split
from docservice import create_app, migrate
from docservice.archive.audit import Actor
from docservice.db import unit_of_work
from docservice.errors import DocserviceError, ImportRejected
from docservice.models import AcademicYear, Placement, User
from docservice.runtime import Runtime
from docservice.services import documents as documents_service
from docservice.services import envelopes, links, notifications, placement_edits, users
from docservice.services import placements as placements_service
from docservice.services.years import get_year, load_year_file

CLI_ACTOR = Actor(f"cli:{getpass.getuser()}")


def _runtime() -> Runtime:
    return current_app.extensions["docservice"]  # type: ignore[no-any-return]


@contextmanager
def _work() -> Iterator[Session]:
    """One unit of work; domain errors become a message and exit status 1."""
    try:
        with unit_of_work(_runtime().db) as session:
            yield session
    except ImportRejected as e:
        for error in e.errors:
            click.echo(f"error: {error}", err=True)
        raise click.ClickException(str(e)) from e
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """docservice: internship documents, signed in order, verified and archived.

    Settings come from DOCSERVICE_* environment variables (see README.md).
    """
    if ctx.invoked_subcommand == "verify":
        return  # needs no app, database or PKI: it reads its own settings
    info = ctx.find_object(ScriptInfo)  # set by Flask's test runner: use its app
    if info is not None:
        app = info.load_app()
    else:
        try:
            app = create_app()
        except DocserviceError as e:
            raise click.ClickException(str(e)) from e
        ctx.call_on_close(app.extensions["docservice"].close)
    warnings_log.release()
    ctx.with_resource(app.app_context())


@main.command()
@click.option("--demo", is_flag=True, help="Also load the demo academic year and placements.")
def init(demo: bool) -> None:
    """Create or upgrade the database (and with --demo, fill it with demo data)."""
    rt = _runtime()
    migrate.upgrade(rt.db)
    click.echo(f"Database ready: {rt.db.engine.url.render_as_string(hide_password=True)}")
    if not demo:
        return
    from docservice import demo as demo_cohort
    from docservice.services.desk import today_in_brussels

    now = datetime.now(timezone.utc)
    # A living cohort: the regulation's 2023-2024 year (data/academic-years/, left as it is)
    # moved to the academic year containing today; only that year is loaded.
    year_path, demo_placements, shift = demo_cohort.demo_files(
        rt.settings.instance_path / "demo", today_in_brussels(now))
    fresh = False
    with _work() as session:
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
    _generate(year=None, out=None)
    if fresh:
        try:
            reached = demo_cohort.stage_demo_cohort(rt, now=now, actor=CLI_ACTOR)
        except DocserviceError as e:
            raise click.ClickException(str(e)) from e
        for number, state in reached.items():
            click.echo(f"  {number}: {state}")
    with _work() as session:
        now = datetime.now(timezone.utc)
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
    rt = _runtime()
    if rt.settings.env == "production":
        raise click.ClickException("production uses real keys and an external TSA: "
                                   "see README.md, no development PKI")
    _ensure_pki(rt, force=force, organisation=organisation)
    click.echo(f"Development PKI in {rt.settings.pki_path}")


def _ensure_pki(rt: Runtime, *, force: bool = False, organisation: str | None = None) -> None:
    from docservice.signing.pki import init_dev_pki

    if organisation is None:
        with _work() as session:
            year = session.scalars(select(AcademicYear).order_by(AcademicYear.code.desc())).first()
            organisation = year.school_name if year else "Thomas More"
    init_dev_pki(rt.settings.pki_path, organisation=organisation, force=force)


@main.group("envelopes")
def envelopes_group() -> None:
    """Envelopes: the documents of a placement, signed by student, company and school in order."""


@envelopes_group.command("open")
@click.option("--year", help="Only placements of this academic year, e.g. 2023-2024.")
def envelopes_open(year: str | None) -> None:
    """Open an envelope for every placement whose documents are ready; e-mail the students."""
    rt = _runtime()
    with _work() as session:
        if year:
            get_year(session, year)
        ready = envelopes.placements_without_envelope(session, year)
        now = datetime.now(timezone.utc)
        with click.progressbar(ready, label="Opening envelopes", file=sys.stderr) as bar:
            for placement in bar:
                envelopes.open_envelope(session, rt, placement, now=now, actor=CLI_ACTOR)
    click.echo(f"Opened {len(ready)} envelope(s); the students' invitations are sent.")


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the signed PDFs.")
def demo(out: Path) -> None:
    """Run the whole flow for one demo placement over HTTP and write the signed PDFs to OUT."""
    from docservice.demo import run_demo

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
                "--logger-class", "docservice.web.serving.GunicornLogger",  # tokens cut short
                "docservice.wsgi:app"]
        click.echo(f"docservice: gunicorn with {workers} worker(s) on http://{host}:{port}/")
        sys.stdout.flush()
        os.execv(sys.executable, argv)
    click.echo(f"docservice: open http://{host}:{port}/coordinator/ "
               f"(log in with the demo coordinator printed by `docservice init --demo`)")
    from docservice.web.serving import make_dev_server

    # werkzeug's server, without its `Server: Werkzeug/x Python/y` header
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    make_dev_server(app, host, port).serve_forever()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration not applied yet."""
    migrate.upgrade(_runtime().db)
    click.echo("Database schema is up to date.")


@main.group()
def years() -> None:
    """Academic years (period, deadlines, school data)."""


@years.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def years_load(file: Path) -> None:
    """Create or update an academic year from a TOML file (see data/academic-years/)."""
    with _work() as session:
        year = load_year_file(session, file)
        click.echo(f"Academic year {year.code}: {year.period_start:%d/%m/%Y} – "
                   f"{year.period_end:%d/%m/%Y}, contract deadline "
                   f"{year.contract_deadline:%d/%m/%Y}")


@main.group()
def placements() -> None:
    """The cohort's placements."""


@placements.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--update", is_flag=True,
              help="Correct existing placements (matched by academic year and student number) "
                   "instead of adding new ones; unsigned documents are made again.")
def placements_import(file: Path, update: bool) -> None:
    """Import placements from a CSV file: all rows, or none if any row is wrong."""
    if update:
        _placements_update(file)
        return
    with _work() as session:
        result = placements_service.import_placements(session, file.read_bytes(),
                                                      actor=CLI_ACTOR)
    click.echo(f"Imported {len(result.placements)} placement(s) from {file}.")


_DOCUMENTS_DONE = {
    "none": "",
    "regenerated": "; documents made again",
    "envelope_reopened": "; envelope replaced, documents made again, student invited again",
    "envelope_cancelled": "; declined envelope replaced, documents made again (open the "
                          "envelope when ready)",
}


def _placements_update(file: Path) -> None:
    with _work() as session:
        lines = placement_edits.update_placements(session, _runtime(), file.read_bytes(),
                                                  now=datetime.now(timezone.utc),
                                                  actor=CLI_ACTOR)
        changed = [u for u in lines if u.outcome.changes]
        for u in changed:
            what = ", ".join(f"{column} {_shown(old)} -> {_shown(new)}"
                             for column, (old, new) in u.outcome.changes.items())
            click.echo(f"{u.year} {u.student_number} (line {u.line}): {what}"
                       f"{_DOCUMENTS_DONE[u.outcome.documents]}")
    click.echo(f"Updated {len(changed)} placement(s) from {file}; "
               f"{len(lines) - len(changed)} unchanged.")


def _shown(value: Any) -> str:
    text = "" if value is None else str(value)
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


@placements.command("export")
@click.option("--year", help="Only this academic year, e.g. 2023-2024.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
def placements_export(year: str | None, out: Path | None) -> None:
    """Export placements as CSV, safe to open in a spreadsheet."""
    with _work() as session:
        if year:
            get_year(session, year)
        text = placements_service.export_placements_csv(
            session.scalars(placements_service.placements_query(year)))
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@main.group()
def documents() -> None:
    """Generated documents."""


@documents.command("generate")
@click.option("--year", help="Only placements of this academic year, e.g. 2023-2024.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Also copy the PDFs here as <student_number>-<kind>.pdf.")
@click.option("--enqueue", is_flag=True,
              help="Queue the generation as a job (for `docservice worker`) instead.")
def documents_generate(year: str | None, out: Path | None, enqueue: bool) -> None:
    """Render the documents of every placement that lacks them (re-running adds nothing)."""
    if enqueue:
        if out is not None:
            raise click.UsageError("--out copies PDFs made here: not with --enqueue")
        _enqueue("generate_documents", year)
        return
    _generate(year, out)


def _enqueue(name: str, year: str | None) -> None:
    if year:
        with _work() as session:
            get_year(session, year)
    _runtime().enqueue(name, year)
    click.echo(f"Job {name} queued ({_runtime().settings.jobs}); `docservice jobs status` "
               "shows how it went.")


def _generate(year: str | None, out: Path | None) -> None:
    rt = _runtime()
    with _work() as session:
        if year:
            get_year(session, year)
        pending = documents_service.plan_generation(
            documents_service.placements_lacking_documents(session, year),
            rt.settings.templates_path)
        failures: list[documents_service.GenerationFailure] = []
        with click.progressbar(length=len(pending), label="Generating documents",
                               file=sys.stderr) as bar:
            made = documents_service.generate_missing(
                session, converter=rt.converter, blobs=rt.blobs,
                templates_root=rt.settings.templates_path, pdfa=rt.settings.pdfa,
                converters=rt.settings.converters, actor=CLI_ACTOR, year=year,
                progress=bar.update, failures=failures)
        click.echo(f"Generated {len(made)} document(s).")
        for failure in failures:
            click.echo(f"NOT GENERATED {failure}", err=True)
        if out is not None:
            docs = [d for p in session.scalars(placements_service.placements_query(year))
                    for d in p.current_documents()]
            written = documents_service.export_pdfs(docs, rt.blobs, out)
            click.echo(f"Copied {len(written)} PDF(s) into {out}.")
    if failures:  # the others are committed; fix the data or template and run it again
        click.echo(f"{len(failures)} document(s) could not be generated (listed above).",
                   err=True)
        sys.exit(1)


@main.group("links")
def links_group() -> None:
    """Personal links."""


@links_group.command("student")
@click.argument("student_number")
@click.option("--year", required=True, help="Academic year, e.g. 2023-2024.")
@click.option("--email", "send", is_flag=True, help="Also e-mail the link to the student.")
def links_student(student_number: str, year: str, send: bool) -> None:
    """Create a student's personal link (earlier ones stop working) and print it."""
    rt = _runtime()
    with _work() as session:
        academic_year = get_year(session, year)
        placement = session.scalars(select(Placement).where(
            Placement.academic_year_id == academic_year.id,
            Placement.student_number == student_number.lower())).first()
        if placement is None:
            raise click.ClickException(f"no placement of {student_number} in {year}")
        link, token = links.issue_link(session, placement, purpose=links.STUDENT,
                                       now=datetime.now(timezone.utc),
                                       valid_for=rt.student_link_validity, actor=CLI_ACTOR)
        url = rt.settings.public_url(f"/s/{token}")
        if send:
            notifications.send_student_link(session, rt, placement, url, link.expires_at)
    click.echo(url)


@main.group("users")
def users_group() -> None:
    """Accounts of coordinators, auditors and admins."""


@users_group.command("add")
@click.argument("email")
@click.option("--name", default="", help="Full name.")
@click.option("--role", type=click.Choice(["coordinator", "auditor", "admin"]),
              default="coordinator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Add an account (the password is asked for, or read from standard input)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _work() as session:
        user = users.add_user(session, email=email, name=name, role=role, password=password)
    click.echo(f"Added {user.role} {user.email}.")


@users_group.command("password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_password(email: str, password_stdin: bool) -> None:
    """Give an account a new password; every login session of the account ends."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _work() as session:
        user = users.user_by_email(session, email)
        users.set_password(session, user, password, actor=CLI_ACTOR)
    click.echo(f"New password for {user.email}; its sessions have ended.")


@users_group.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Stop an account from logging in; every login session of the account ends now."""
    with _work() as session:
        user = users.user_by_email(session, email)
        users.deactivate(session, user, actor=CLI_ACTOR)
    click.echo(f"Deactivated {user.email}; its sessions have ended.")


@main.group("trust")
def trust_group() -> None:
    """EU trusted lists (signature-verified): whom own certificates (eID) may chain to, and
    which signatures are qualified."""


def _trust_warnings(lists: list[Any]) -> None:
    now = datetime.now(timezone.utc)
    for info in lists:
        if info.is_stale(now):
            due = (f"its next update was due {info.next_update:%Y-%m-%d}" if info.next_update
                   else "it is closed (no next update)")
            click.echo(f"warning: the {info.territory} list #{info.sequence_number} is past its "
                       f"next-update date: {due}; refresh it", err=True)
        if info.note:
            click.echo(f"warning: {info.note}", err=True)


@trust_group.command("refresh")
@click.option("--lotl", "lotl_url", default=None, metavar="URL",
              help="Where to fetch the EU List of Trusted Lists (default: the EU's own address).")
@click.option("--territory", "territories", multiple=True, metavar="XX",
              help="Fetch only this territory's list (repeatable; default: every one).")
@click.option("--tl", "mirrors", multiple=True, metavar="XX=URL",
              help="Fetch XX's list from URL instead of the address the LOTL gives (repeatable).")
def trust_refresh(lotl_url: str | None, territories: tuple[str, ...],
                  mirrors: tuple[str, ...]) -> None:
    """Fetch the LOTL and the member states' lists, verify every signature, store those that
    verify. Exit 1 when a list was refused (the others are stored)."""
    from docservice.signing.trust import EU_LOTL_URL, refresh

    by_territory: dict[str, str] = {}
    for mirror in mirrors:
        territory, sep, url = mirror.partition("=")
        if not sep or not territory.strip() or not url.strip():
            raise click.BadParameter(f"{mirror!r} is not XX=URL", param_hint="--tl")
        by_territory[territory.strip().upper()] = url.strip()
    try:
        result = refresh(lotl_url=lotl_url or EU_LOTL_URL, territories=territories or None,
                         mirrors=by_territory)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"LOTL #{result.lotl.sequence_number} (issued {result.lotl.issued_at:%Y-%m-%d}) "
               f"verified, signed by {result.lotl.signed_by}.")
    for info in result.stored:
        click.echo(f"{info.territory}: list #{info.sequence_number} (issued "
                   f"{info.issued_at:%Y-%m-%d}) verified and stored.")
    for territory, reason in sorted(result.refused.items()):
        kept = next((i for i in result.kept if i.territory == territory), None)
        click.echo(f"error: {territory}: refused: {reason}"
                   + (f" (keeping the stored list #{kept.sequence_number})" if kept else ""),
                   err=True)
    _trust_warnings([result.lotl, *result.stored, *result.kept])
    click.echo(f"{len(result.stored)} list(s) stored, {len(result.refused)} refused, "
               f"in {result.folder}.")
    if result.refused:
        sys.exit(1)


@trust_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unsigned-ok", is_flag=True,
              help="Store the list even if its signature does not verify; every verification "
                   "that relies on it then says so.")
def trust_load(file: Path, unsigned_ok: bool) -> None:
    """Load a list from a file (offline): the LOTL, or a member state's list, which must verify
    with the certificates the stored LOTL names for it."""
    from docservice.signing.trust import load_file

    try:
        result = load_file(file, unsigned_ok=unsigned_ok)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    info = result.info
    how = (f"signature verified, signed by {info.signed_by}" if info.verified
           else "signature NOT verified (--unsigned-ok)")
    what = "the EU LOTL" if info.is_lotl else f"the {info.territory} trusted list"
    click.echo(f"Loaded {what} #{info.sequence_number} (issued {info.issued_at:%Y-%m-%d}; "
               f"{how}) into {result.folder}"
               + ("." if info.is_lotl else f": {len(result.entries)} CA/QC identities, "
                  f"{result.qualified_count} granted for e-signatures."))
    if result.belgian_eid_roots:
        click.echo("Belgian eID roots: " + ", ".join(
            f"{e.common_name} ({'qualified' if e.qualified else e.status_name})"
            for e in result.belgian_eid_roots))
    _trust_warnings([info])


@trust_group.command("list")
def trust_list() -> None:
    """Print the stored lists, then each CA: qualified or not, valid until, subject."""
    from docservice.signing.trust import load_trust_store, trust_store_path

    folder = trust_store_path()
    try:
        store = load_trust_store(folder)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    if not store.lists:
        click.echo(f"The trust store in {folder} is empty: run `docservice trust refresh` "
                   "(or `docservice trust load FILE.xml`).")
        return
    for info in sorted(store.lists, key=lambda i: (not i.is_lotl, i.territory)):
        click.echo(f"list {info.territory:<3} #{info.sequence_number:<4} issued "
                   f"{info.issued_at:%Y-%m-%d}, next update "
                   f"{f'{info.next_update:%Y-%m-%d}' if info.next_update else 'none'}, "
                   + ("signature verified" if info.verified else "signature NOT verified")
                   + f", from {info.source}")
    for entry in store.entries:
        click.echo(f"{'qualified' if entry.qualified else 'not qualified':<13}  "
                   f"{entry.not_after:%Y-%m-%d}  {entry.territory}  {entry.subject}")
    click.echo(f"{len(store.entries)} certificate(s), {len(store.qualified)} qualified, "
               f"from {len(store.lists)} list(s), in {folder}")
    _trust_warnings(list(store.lists))


@main.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--policy", type=click.Choice(["auto", "strict", "standard"]), default="auto",
              show_default=True,
              help="strict: only expected signatures, validation data and timestamps may follow "
                   "a signature; standard: as the EU DSS validator; auto: strict for the "
                   "service's own documents.")
def verify(file: Path, as_json: bool, policy: str) -> None:
    """Verify a signed PDF: exit 0 passed, 1 failed or indeterminate, 2 not a readable PDF.

    Needs no database and no PKI of its own: trust comes from the configured roots
    (DOCSERVICE_TRUST_ROOTS, the PKI folder's root if there is one) and the trusted lists.
    The file is parsed in a child process bounded by DOCSERVICE_VERIFY_MEMORY_MB and
    DOCSERVICE_VERIFY_SECONDS. Library logs go to <instance>/logs/verify.log, never here.
    """
    import json

    from docservice.config import Settings
    from docservice.logs import logging_to_file
    from docservice.signing.verify.sandbox import verify_untrusted
    from docservice.signing.verify.sources import trust_from_settings

    try:
        settings = Settings.from_env(serving=False)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    with logging_to_file(settings.instance_path / "logs" / "verify.log"):
        warnings_log.release()
        try:
            pdf = file.read_bytes()
        except OSError as e:
            click.echo(f"error: cannot read {file}: {e.strerror or e}", err=True)
            sys.exit(2)
        try:
            trust, notes = trust_from_settings(settings)
        except DocserviceError as e:
            raise click.ClickException(str(e)) from e
        for note in notes:
            click.echo(f"warning: {note}", err=True)
        report = verify_untrusted(pdf, trust=trust, policy=policy,  # type: ignore[arg-type]
                                  memory_mb=settings.verify_memory_mb,
                                  seconds=settings.verify_seconds)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    elif report.readable:
        click.echo(f"{file}: " + report.to_text())
    if not report.readable:
        reasons = "; ".join(" ".join(reason.split()) for reason in report.reasons)
        click.echo(f"error: {file} is not a readable PDF: {reasons}", err=True)
    sys.exit(0 if report.passed else 1 if report.readable else 2)


# --- the coordinator's desk (issue 5): deadlines, account listing, API tokens ------------------


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
        _enqueue("deadlines_check", year)
        return
    from dataclasses import replace as replace_settings

    from docservice.db import commit, rollback
    from docservice.services.deadlines import check_deadlines
    from docservice.services.desk import DeskSettings, parse_offsets

    app_settings = current_app.extensions.get("docservice.desk")
    try:
        settings = app_settings if isinstance(app_settings, DeskSettings) else \
            DeskSettings.from_env()
        if offsets:
            settings = replace_settings(settings, reminder_offsets=parse_offsets(offsets))
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    if window is not None:
        settings = replace_settings(settings, risk_window_days=window)
    rt = _runtime()
    session = rt.db.session()
    try:
        if year:
            get_year(session, year)
        report = check_deadlines(session, rt, now=datetime.now(timezone.utc), settings=settings,
                                 actor=CLI_ACTOR, dry_run=dry_run, year=year, rehash=rehash)
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


@users_group.command("list")
def users_list() -> None:
    """Print every account: e-mail, role, active or not, live API tokens."""
    from docservice.services.api_tokens import tokens_of

    with _work() as session:
        accounts = list(session.scalars(select(User).order_by(User.email)))
        for user in accounts:
            live = [t for t in tokens_of(session, user.id) if t.revoked_at is None]
            click.echo(f"{user.email:<40} {user.role:<12} "
                       f"{'active' if user.active else 'deactivated':<12} "
                       f"{len(live)} API token(s)  {user.name}")
    click.echo(f"{len(accounts)} account(s)")


@users_group.command("token")
@click.argument("email")
@click.option("--name", default="api", show_default=True,
              help="What the token is for (shown in `users list`).")
@click.option("--revoke", is_flag=True, help="Revoke every token of this account instead.")
def users_token(email: str, name: str, revoke: bool) -> None:
    """Create an API token for a coordinator (printed once; only its hash is kept)."""
    from docservice.services import api_tokens

    now = datetime.now(timezone.utc)
    with _work() as session:
        if revoke:
            count = api_tokens.revoke_tokens(session, email, now=now, actor=CLI_ACTOR)
            message = f"Revoked {count} token(s) of {email}."
        else:
            token, secret = api_tokens.create_token(session, email, name=name, now=now,
                                                    actor=CLI_ACTOR)
            message = secret
    click.echo(message)
    if not revoke:
        click.echo(f"(token {token.prefix}… for {email}: keep it secret, it is shown only "
                   "once; use it as 'Authorization: Bearer <token>' on /api/v1)", err=True)


# --- archive and audit trail (issue 6) -------------------------------------------------------


@main.group("archive")
def archive_group() -> None:
    """The write-once archive of signed documents (B-LTA PDFs, manifests, reports)."""


@archive_group.command("status")
def archive_status_command() -> None:
    """How many documents are archived, waiting, failed; where the archive is."""
    from docservice.services import archive

    rt = _runtime()
    with _work() as session:
        numbers = archive.counts(session)
    click.echo(f"Archive: {archive.archive_store(rt).describe()}")
    click.echo(f"{numbers['entries'] - numbers['purged']} archived version(s), "
               f"{numbers['purged']} purged, {numbers['pending']} document(s) waiting, "
               f"{numbers['failed']} failed (`docservice archive retry`)")


@archive_group.command("retry")
def archive_retry() -> None:
    """Archive every completed document not archived yet (failed earlier, or never tried)."""
    from docservice.services import archive

    rt = _runtime()
    try:
        outcomes = archive.retry(rt, progress=lambda o: click.echo(
            f"document {o.document_id}: {o.state}" + (f" ({o.reason})" if o.reason else "")))
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    failed = [o for o in outcomes if o.state == "failed"]
    click.echo(f"{len(outcomes) - len(failed)} archived, {len(failed)} failed.")
    if failed:
        sys.exit(1)


@archive_group.command("verify")
@click.argument("sha256", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every archived document.")
@click.option("--hash-only", is_flag=True,
              help="Check stored bytes, manifests and locks only, not the signatures.")
def archive_verify(sha256: tuple[str, ...], all_: bool, hash_only: bool) -> None:
    """Re-verify archived documents: bytes, manifest, report, lock and signatures.

    Exits 1 if any document fails. Each verdict is recorded in the audit trail.
    """
    from docservice.services import archive

    if not sha256 and not all_:
        raise click.UsageError("name documents by SHA-256, or give --all")
    rt = _runtime()
    with _work() as session:
        total = session.scalar(select(func.count()).select_from(
            archive.entries_query(sha256).subquery()))
    try:
        with click.progressbar(length=total or 0, label="Verifying",
                               show_pos=True, file=sys.stderr) as bar:
            summary = archive.verify_archive(rt, sha256, signatures=not hash_only,
                                             actor=CLI_ACTOR, progress=lambda _c: bar.update(1))
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    for line in summary.repaired:
        click.echo(f"repaired: {line}")
    for check in summary.failed:
        click.echo(f"FAILED {check.sha256}:", err=True)
        for problem in check.problems:
            click.echo(f"  - {problem}", err=True)
    click.echo(f"{summary.checked} checked, {summary.checked - len(summary.failed)} passed, "
               f"{len(summary.failed)} failed.")
    if not summary.ok:
        sys.exit(1)


@archive_group.command("sweep")
@click.option("--dry-run", is_flag=True, help="Report only; remove nothing.")
@click.option("--grace-minutes", default=60, show_default=True,
              help="Leave objects younger than this (an archiving job may be committing).")
def archive_sweep(dry_run: bool, grace_minutes: int) -> None:
    """Report and remove what a crash left: objects without an index row, partial writes."""
    from datetime import timedelta

    from docservice.services import archive

    result = archive.sweep(_runtime(), dry_run=dry_run, grace=timedelta(minutes=grace_minutes))
    for key in result.orphans:
        state = "removed" if key in result.removed else "kept"
        click.echo(f"orphan {key} ({state})")
    for name in result.leftovers:
        click.echo(f"partial write {name}")
    for key in result.missing:
        click.echo(f"MISSING {key}: an index row points at nothing", err=True)
    click.echo(f"{len(result.orphans)} orphan(s), {len(result.removed)} removed, "
               f"{len(result.leftovers)} partial write(s), {len(result.missing)} missing.")
    if result.missing:
        sys.exit(1)


@archive_group.command("purge")
@click.option("--dry-run", is_flag=True, help="List what is past retention; remove nothing.")
def archive_purge(dry_run: bool) -> None:
    """Remove archived documents whose retention has ended (each removal in the trail)."""
    from docservice.services import archive

    result = archive.purge(_runtime(), dry_run=dry_run, actor=CLI_ACTOR)
    for sha in result.purged:
        click.echo(f"{'would purge' if dry_run else 'purged'} {sha}")
    for line in result.refused:
        click.echo(f"refused {line}", err=True)
    click.echo(f"{len(result.purged)} {'due' if dry_run else 'purged'}, "
               f"{len(result.refused)} refused.")


@archive_group.command("renew")
@click.option("--within-days", default=365, show_default=True,
              help="Renew when the last timestamp's certificate expires within this many days.")
@click.option("--dry-run", is_flag=True, help="List what is due; change nothing.")
def archive_renew(within_days: int, dry_run: bool) -> None:
    """Add a fresh document timestamp to documents whose last one nears expiry or weakens.

    The renewed version is archived beside the old one, which stays.
    """
    from datetime import timedelta

    from docservice.services import archive

    rt = _runtime()
    due = archive.renewal_due(rt, within=timedelta(days=within_days))
    failed = 0
    for entry_id, why in due:
        if dry_run:
            click.echo(f"entry {entry_id}: due ({why})")
            continue
        outcome = archive.renew_entry(rt, entry_id, actor=CLI_ACTOR)
        failed += outcome.state == "failed"
        click.echo(f"entry {entry_id}: {why}: {outcome.state}"
                   + (f" {outcome.sha256}" if outcome.sha256 else "")
                   + (f" ({outcome.reason})" if outcome.reason else ""))
    click.echo(f"{len(due)} due, {len(due) - failed if not dry_run else 0} renewed.")
    if failed:
        sys.exit(1)


@archive_group.command("export")
@click.argument("sha256", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The ZIP file to write.")
def archive_export(sha256: tuple[str, ...], out: Path) -> None:
    """Write an audit package (PDFs, reports, trail, SHA-256 sums) for these documents."""
    from docservice.services import archive

    with _work() as session:
        data = archive.export_package(session, _runtime(), sha256, actor=CLI_ACTOR)
    out.write_bytes(data)
    click.echo(f"Audit package with {len(set(sha256))} document(s) in {out}")


@main.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Recompute the trail's hash chain; name the first changed, removed or inserted entry."""
    from docservice.archive import audit as audit_trail
    from docservice.models import AuditEvent
    from docservice.services import archive

    rt = _runtime()
    with rt.db.session() as session:
        total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        with click.progressbar(length=total, label="Checking the trail", show_pos=True,
                               file=sys.stderr) as bar:
            checked, broken = audit_trail.verify_chain(session, progress=bar.update)
        if broken is not None:
            click.echo(f"BROKEN: {broken}", err=True)
            click.echo(f"{broken.checked} entries before it are intact.", err=True)
            sys.exit(1)
        missing = archive.trail_witness(rt, session)
    if missing is not None:
        click.echo(f"BROKEN: {missing}", err=True)
        sys.exit(1)
    click.echo(f"The audit trail is intact: {checked} entries.")


@audit_group.command("verify-package")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust-roots", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM file of the roots you trust (default: the package's own, shown below).")
@click.option("--no-signatures", is_flag=True, help="Check sums, manifests and trail only.")
def audit_verify_package(file: Path, trust_roots: Path | None, no_signatures: bool) -> None:
    """Check an audit package offline, without the database: exit 1 if anything is off."""
    from docservice.services import archive

    check = archive.verify_package(
        file.read_bytes(), trust_roots_pem=trust_roots.read_bytes() if trust_roots else None,
        signatures=not no_signatures)
    for sha, verdict in sorted(check.signatures.items()):
        click.echo(f"signatures of {sha}: {verdict}")
    for problem in check.problems:
        click.echo(f"PROBLEM: {problem}", err=True)
    click.echo(f"{check.documents} document(s), {check.trail_entries} trail entries: "
               + ("all checks pass." if check.ok else f"{len(check.problems)} problem(s)."))
    if not check.ok:
        sys.exit(1)


# --- the job queue and the mail outbox (issue 7) ---------------------------------------------

from docservice import cli_jobs  # noqa: E402

cli_jobs.register(main)


if __name__ == "__main__":
    main()
