"""The cohort: academic years, placements, documents, envelopes and student links."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from docservice.cli.root import CLI_ACTOR, command_work, current_runtime, main
from docservice.models import Placement
from docservice.services import documents as documents_service
from docservice.services import envelopes, links, notifications, placement_edits
from docservice.services import placements as placements_service
from docservice.services.years import get_year, load_year_file


@main.group("envelopes")
def envelopes_group() -> None:
    """Envelopes: the documents of a placement, signed by student, company and school in order."""


@envelopes_group.command("open")
@click.option("--year", help="Only placements of this academic year, e.g. 2023-2024.")
def envelopes_open(year: str | None) -> None:
    """Open an envelope for every placement whose documents are ready; e-mail the students."""
    rt = current_runtime()
    with command_work() as session:
        if year:
            get_year(session, year)
        ready = envelopes.placements_without_envelope(session, year)
        now = datetime.now(UTC)
        with click.progressbar(ready, label="Opening envelopes", file=sys.stderr) as bar:
            for placement in bar:
                envelopes.open_envelope(session, placement, now=now, actor=CLI_ACTOR,
                                        mailer=rt.mail, settings=rt.settings)
    click.echo(f"Opened {len(ready)} envelope(s); the students' invitations are sent.")


@main.group()
def years() -> None:
    """Academic years (period, deadlines, school data)."""


@years.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def years_load(file: Path) -> None:
    """Create or update an academic year from a TOML file (see data/academic-years/)."""
    with command_work() as session:
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
    with command_work() as session:
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
    rt = current_runtime()
    with command_work() as session:
        lines = placement_edits.update_placements(session, file.read_bytes(),
                                                  now=datetime.now(UTC), actor=CLI_ACTOR,
                                                  converter=rt.converter, blobs=rt.blobs,
                                                  mailer=rt.mail, settings=rt.settings)
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
    with command_work() as session:
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
def documentsgenerate_documents(year: str | None, out: Path | None, enqueue: bool) -> None:
    """Render the documents of every placement that lacks them (re-running adds nothing)."""
    if enqueue:
        if out is not None:
            raise click.UsageError("--out copies PDFs made here: not with --enqueue")
        enqueue_job("generate_documents", year)
        return
    generate_documents(year, out)


def enqueue_job(name: str, year: str | None) -> None:
    if year:
        with command_work() as session:
            get_year(session, year)
    current_runtime().enqueue(name, year)
    click.echo(f"Job {name} queued ({current_runtime().settings.jobs}); `docservice jobs status` "
               "shows how it went.")


def generate_documents(year: str | None, out: Path | None) -> None:
    rt = current_runtime()
    with command_work() as session:
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
    rt = current_runtime()
    with command_work() as session:
        academic_year = get_year(session, year)
        placement = session.scalars(select(Placement).where(
            Placement.academic_year_id == academic_year.id,
            Placement.student_number == student_number.lower())).first()
        if placement is None:
            raise click.ClickException(f"no placement of {student_number} in {year}")
        link, token = links.issue_link(session, placement, purpose=links.STUDENT,
                                       now=datetime.now(UTC),
                                       valid_for=rt.student_link_validity, actor=CLI_ACTOR)
        url = rt.settings.public_url(f"/s/{token}")
        if send:
            notifications.send_student_link(session, placement, url, link.expires_at,
                                            mailer=rt.mail)
    click.echo(url)
