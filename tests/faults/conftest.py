"""A service instance in a temporary folder that child processes (CLI, gunicorn) can share."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from docservice import migrate
from docservice.config import CHECKOUT, Settings
from docservice.db import unit_of_work
from docservice.runtime import Runtime
from docservice.services.placements import import_placements
from docservice.services.years import load_year_file
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row

YEAR = "2023-2024"
YEAR_FILE = CHECKOUT / "data" / "academic-years" / f"{YEAR}.toml"


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


@pytest.fixture
def instance(tmp_path: Path, pki_path: Path) -> Iterator[Instance]:
    """A fresh SQLite-backed instance with the academic year loaded and no placements yet."""
    root = tmp_path / "instance"
    settings = Settings(env="testing", secret_key="fault-test-secret-" + os.urandom(8).hex(),
                        instance_path=root, blob_path=root / "blobs",
                        outbox_path=root / "outbox", archive_path=root / "archive",
                        pki_path=pki_path, templates_path=CHECKOUT / "templates",
                        converters=2, jobs="inline").validated()
    runtime = Runtime(settings)
    migrate.upgrade(runtime.db)
    with unit_of_work(runtime.db) as session:
        load_year_file(session, YEAR_FILE)
    yield Instance(root=root, runtime=runtime, env=instance_env(settings))
    runtime.use_converter(None)  # the run's shared pool, if a test lent it: not ours to close
    runtime.close()
