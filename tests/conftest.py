"""Shared fixtures: settings in temporary folders, the real database engines, real LibreOffice."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from docservice import create_app, migrate
from docservice.archive.audit import Actor
from docservice.config import CHECKOUT, MailSettings, Settings
from docservice.db import unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.mail.devserver import Inbox, smtp_server
from docservice.models import Base

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _real_datetime_for_cryptography() -> None:
    """cryptography's Rust core looks up the `datetime` class once, at its first use, and keeps
    it: a first certificate built under freezegun would pin FakeDatetime for the whole run, and
    every later real datetime would be refused. One use here, before any test freezes time."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warm-up")])
    now = datetime.now(UTC)
    (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
     .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
     .sign(key, hashes.SHA256()))


_real_datetime_for_cryptography()
TEST_ACTOR = Actor("test")


def _postgres_admin_url() -> str | None:
    url = os.environ.get("DOCSERVICE_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return None
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped at the end; skip if none is reachable."""
    admin = _postgres_admin_url()
    if admin is None:
        pytest.skip("no PostgreSQL reachable (set DOCSERVICE_TEST_DATABASE_URL)")
    name = f"docservice_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin).set(database=name).render_as_string(hide_password=False)
    yield url
    with engine.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def converter() -> Iterator[Any]:
    """One pool of real LibreOffice converters for the whole run."""
    from docservice.documents.convert import ConverterPool

    with ConverterPool(size=2) as pool:
        yield pool


@pytest.fixture(scope="session")
def pki_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development PKI for the whole run (root, signer CA, TSA, seal, CRLs)."""
    from docservice.signing.pki import init_dev_pki

    folder = tmp_path_factory.mktemp("pki")
    init_dev_pki(folder, organisation="Thomas More")
    return folder


@pytest.fixture(scope="session")
def smtp_session() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on localhost for the whole run."""
    with smtp_server() as (inbox, port):
        yield inbox, port


@pytest.fixture
def inbox(smtp_session: tuple[Inbox, int]) -> Inbox:
    """What the SMTP server received during this test."""
    smtp_session[0].messages.clear()
    return smtp_session[0]


def make_settings(root: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings whose every path is below `root`."""
    return Settings(
        env="testing",
        secret_key="test-secret-" + uuid.uuid4().hex,
        base_url="http://localhost",
        instance_path=root,
        database_url=database_url,
        blob_path=root / "blobs",
        outbox_path=root / "outbox",
        archive_path=root / "archive",
        templates_path=CHECKOUT / "templates",
        converters=2,
        **{"pki_path": root / "pki", "trust_path": root / "trust", "jobs": "inline",
           **overrides},
    ).validated()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every database test runs on SQLite, and again on PostgreSQL when one is reachable."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    return request.getfixturevalue("postgres_url")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    """The database at `database_url`, with the schema made by the real migrations."""
    from docservice.db import Database

    db = Database(database_url)
    migrate.upgrade(db)
    db.dispose()
    return database_url


def mail_to_test_server(smtp_session: tuple[Inbox, int]) -> MailSettings:
    """Mail to the run's test SMTP server."""
    return MailSettings(smtp_host="127.0.0.1", smtp_port=smtp_session[1],
                        sender="Stagebureau <stages@school.example.org>")


@pytest.fixture
def settings(tmp_path: Path, migrated: str, pki_path: Path, smtp_session: tuple[Inbox, int],
             inbox: Inbox) -> Settings:
    """Paths in this test's folder, the run's PKI, mail to the test SMTP server."""
    return make_settings(tmp_path, migrated, pki_path=pki_path,
                         mail=mail_to_test_server(smtp_session))


@contextmanager
def running_app(settings: Settings, converter: Any) -> Iterator[Flask]:
    """The app on a migrated database, sharing the run's converters; every row is removed
    and the runtime closed afterwards."""
    app = create_app({"TESTING": True}, settings=settings)
    rt: Runtime = app.extensions["docservice"]
    rt.use_converter(converter)
    try:
        yield app
    finally:
        with rt.db.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        rt.use_converter(None)
        rt.close()


@pytest.fixture
def app(settings: Settings, converter: Any) -> Iterator[Flask]:
    """The app on a migrated database; every row is removed after the test."""
    with running_app(settings, converter) as app:
        yield app


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    return app.extensions["docservice"]  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Any]:
    """A session for arranging and checking data (committed on exit)."""
    with unit_of_work(runtime.db) as session:
        yield session


@pytest.fixture
def year(runtime: Runtime) -> Any:
    """The academic year 2023-2024, loaded from its data file."""
    from docservice.services.years import load_year_file

    with unit_of_work(runtime.db) as session:
        return load_year_file(session, CHECKOUT / "data" / "academic-years" / "2023-2024.toml")


__all__ = ["TEST_ACTOR", "replace"]
