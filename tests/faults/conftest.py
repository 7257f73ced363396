"""A service instance in a temporary folder that child processes (CLI, gunicorn) can share."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from docservice import migrate
from docservice.config import CHECKOUT, Settings
from docservice.db import unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.services.placements import import_placements
from docservice.services.years import load_year_file
from tests.conftest import TEST_ACTOR, _postgres_admin_url
from tests.factories import csv_bytes, row

YEAR = "2023-2024"
YEAR_FILE = CHECKOUT / "data" / "academic-years" / f"{YEAR}.toml"

#: `@on_both_databases` runs a test on the embedded SQLite and on a fresh PostgreSQL database.
on_both_databases = pytest.mark.parametrize("instance", ["sqlite", "postgresql"], indirect=True)


def seeded_rng(name: str) -> random.Random:
    """The random points of one fault test: FAULT_SEED replays a run, the name varies tests."""
    return random.Random(f"{os.environ.get('FAULT_SEED', '7')}:{name}")


@dataclass
class Instance:
    """Settings, a runtime for arranging and checking, and the env that child processes get."""

    root: Path
    runtime: Runtime
    env: dict[str, str]
    imported: int = 0

    def import_cohort(self, count: int, **overrides: str) -> list[int]:
        """Import `count` more placements; their ids."""
        rows = [row(self.imported + i, **overrides) for i in range(count)]
        with unit_of_work(self.runtime.db) as session:
            made = import_placements(session, csv_bytes(rows), actor=TEST_ACTOR).placements
            ids = [p.id for p in made]
        self.imported += count
        return ids


def instance_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a child process needs to run as the same service as `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
    env.update(
        DOCSERVICE_ENV="testing",
        DOCSERVICE_SECRET_KEY=settings.secret_key,
        DOCSERVICE_DATABASE_URL=settings.database_url,
        DOCSERVICE_INSTANCE_PATH=str(settings.instance_path),
        DOCSERVICE_BLOB_PATH=str(settings.blob_path),
        DOCSERVICE_OUTBOX_PATH=str(settings.outbox_path),
        DOCSERVICE_ARCHIVE_PATH=str(settings.archive_path),
        DOCSERVICE_PKI_PATH=str(settings.pki_path),
        DOCSERVICE_BASE_URL=settings.base_url,
        DOCSERVICE_CONVERTERS=str(settings.converters),
        PYTHONPATH=str(CHECKOUT),
    )
    env.update(extra)
    return env


@contextmanager
def postgres_database() -> Iterator[tuple[sa.Engine, str, str]]:
    """A PostgreSQL database of its own, dropped afterwards: (admin engine, name, url).

    Skips the test when no server is reachable (DOCSERVICE_TEST_DATABASE_URL points at one).
    """
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL reachable (set DOCSERVICE_TEST_DATABASE_URL)")
    name = f"docservice_fault_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin, name, sa.make_url(admin_url).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def running_instance(root: Path, pki_path: Path, database_url: str = "") -> Iterator[Instance]:
    """An instance below `root` with the academic year loaded and no placements yet; SQLite in
    `root` unless `database_url` names another database."""
    settings = Settings(env="testing", secret_key="fault-test-secret-" + os.urandom(8).hex(),
                        instance_path=root, blob_path=root / "blobs",
                        outbox_path=root / "outbox", archive_path=root / "archive",
                        pki_path=pki_path, templates_path=CHECKOUT / "templates",
                        database_url=database_url, converters=2, jobs="inline").validated()
    runtime = Runtime(settings)
    try:
        migrate.upgrade(runtime.db)
        with unit_of_work(runtime.db) as session:
            load_year_file(session, YEAR_FILE)
        yield Instance(root=root, runtime=runtime, env=instance_env(settings))
    finally:
        runtime.use_converter(None)  # the run's shared pool, if a test lent it: not ours to close
        runtime.close()


@pytest.fixture
def instance(request: pytest.FixtureRequest, tmp_path: Path, pki_path: Path) -> Iterator[Instance]:
    """A fresh instance on SQLite, or on its own PostgreSQL database (`on_both_databases`)."""
    backend = getattr(request, "param", "sqlite")
    root = tmp_path / "instance"
    if backend == "sqlite":
        with running_instance(root, pki_path) as made:
            yield made
    else:
        assert backend == "postgresql", backend
        with postgres_database() as (_, _, url), running_instance(root, pki_path, url) as made:
            yield made
