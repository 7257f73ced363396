"""The `docservice` command: one module per command group, one unit of work per command."""

# Before the imports below load pyhanko: its warnings become log records (see the module).
from docservice.observability import warnings_log  # noqa: F401

# isort: split
from docservice.cli import (  # noqa: F401 - each module adds its commands to `main`
    archive,
    cohort,
    deadlines,
    jobs,
    service,
    templates,
    trust,
    users,
    verify,
)
from docservice.cli.root import main

__all__ = ["main"]
