"""Schema migrations (Alembic), run against the service's own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from docservice.db import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    with db.engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def autogenerate(db: Database, message: str) -> None:
    """Write a new migration from the difference between models and database (developers)."""
    with db.engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
