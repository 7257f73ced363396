"""`docservice verify FILE`: the verification engine on one PDF, no database needed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from docservice.cli.root import main
from docservice.errors import DocserviceError
from docservice.observability import warnings_log
from docservice.signing.verify.policy import POLICY_CHOICES, policy_choice


@main.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--policy", type=click.Choice(POLICY_CHOICES), default="auto",
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
    from docservice.observability.logs import logging_to_file
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
        report = verify_untrusted(pdf, trust=trust, policy=policy_choice(policy),
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
