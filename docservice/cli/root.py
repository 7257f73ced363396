"""The `docservice` command: each subcommand opens one unit of work and calls a service."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import ScriptInfo
from sqlalchemy.orm import Session

# Before the imports below load pyhanko: its warnings become log records (see the module).
from docservice.observability import warnings_log

# isort: split
from docservice import create_app
from docservice.archive.audit import Actor
from docservice.db import unit_of_work
from docservice.errors import DocserviceError, ImportRejected
from docservice.jobs.runtime import Runtime

CLI_ACTOR = Actor(f"cli:{getpass.getuser()}")


def current_runtime() -> Runtime:
    return current_app.extensions["docservice"]  # type: ignore[no-any-return]


@contextmanager
def command_work() -> Iterator[Session]:
    """One unit of work; domain errors become a message and exit status 1."""
    try:
        with unit_of_work(current_runtime().db) as session:
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
    if ctx.invoked_subcommand in ("verify", "templates"):
        return  # need no app, database or PKI: they read their own settings
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

