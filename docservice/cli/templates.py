"""`docservice templates check`: does an edited contract template still work? No database."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import click

from docservice.cli.root import main
from docservice.errors import DocserviceError


@main.group("templates")
def templates() -> None:
    """The contract templates (templates/nl/*.docx, templates/en/*.docx)."""


@templates.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def check(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check templates: only documented variables, every signature anchor, a real PDF.

    PATHS are .docx files or folders of them (default: every template of the service, under
    DOCSERVICE_TEMPLATES_PATH). Each template is filled in with a sample placement, converted
    with LibreOffice, and its signature fields placed. Prints one line per template, "ok" or
    what is wrong; exit 0 when all pass, 1 when any fails, 2 on bad usage.
    Needs no database. LibreOffice's own logs go to <instance>/logs/templates.log.
    """
    from docservice.config import Settings
    from docservice.documents.catalogue import all_templates
    from docservice.documents.check import check_templates
    from docservice.documents.convert import ConverterPool, pool_from_settings
    from docservice.observability.logs import logging_to_file

    try:
        settings = Settings.from_env(serving=False)
    except DocserviceError as e:
        raise click.ClickException(str(e)) from e
    files = ([ref.path for ref in all_templates(settings.templates_path)] if not paths
             else [file for path in paths for file in _docx_files(path)])
    # A pool handed in by the caller (the tests' warm one) is used as is, and not closed.
    given = ctx.find_object(ConverterPool)
    workers = min(len(files), settings.converters or os.cpu_count() or 1)
    failed = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(logging_to_file(settings.instance_path / "logs" / "templates.log"))
        converter = given or stack.enter_context(pool_from_settings(settings, size=workers))
        for result in check_templates(files, converter, pdfa=settings.pdfa, workers=workers):
            click.echo(result.line())
            failed += not result.ok
    if failed:
        click.echo(f"{failed} of {len(files)} templates need fixing: correct them in Word and "
                   "run this check again. templates/README.md lists the variables and the "
                   "signature anchors.", err=True)
    ctx.exit(1 if failed else 0)


def _docx_files(path: Path) -> list[Path]:
    """`path` itself, or the templates in the folder `path` (not Word's ~$ lock files)."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.docx") if not p.name.startswith(("~$", ".")))
        if not found:
            raise click.BadParameter(f"no .docx files in {path}", param_hint="PATHS")
        return found
    if path.suffix.lower() != ".docx":
        raise click.BadParameter(f"{path} is not a .docx file", param_hint="PATHS")
    return [path]
