"""PostgreSQL drops every connection of the service (what a server restart does to them) in
the middle of signing: the requests after it succeed, only a request that was cut may fail."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from docservice import migrate
from docservice.config import CHECKOUT, Settings
from docservice.db import unit_of_work
from docservice.runtime import Runtime
from docservice.services.years import load_year_file
from tests.conftest import _postgres_admin_url
from tests.faults.conftest import YEAR_FILE, Instance, instance_env, seeded_rng
from tests.faults.test_web_worker_kill import STUDENT_NAME, _check_envelope
from tests.faults.web import Client, Gunicorn, prepare_envelopes

ENVELOPES = 10
TERMINATIONS = 4


@pytest.fixture
def pg_instance(tmp_path: Path, pki_path: Path) -> Iterator[tuple[Instance, sa.Engine, str]]:
    """An instance on its own fresh PostgreSQL database; skip without a server."""
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL reachable (set DOCSERVICE_TEST_DATABASE_URL)")
    name = f"docservice_fault_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    root = tmp_path / "instance"
    settings = Settings(env="testing", secret_key="fault-test-secret-" + uuid.uuid4().hex,
                        instance_path=root, database_url=url, blob_path=root / "blobs",
                        outbox_path=root / "outbox", archive_path=root / "archive",
                        pki_path=pki_path, templates_path=CHECKOUT / "templates",
                        converters=2, jobs="inline").validated()
    runtime = Runtime(settings)
    migrate.upgrade(runtime.db)
    with unit_of_work(runtime.db) as session:
        load_year_file(session, YEAR_FILE)
    try:
        yield Instance(root=root, runtime=runtime, env=instance_env(settings)), admin, name
    finally:
        runtime.use_converter(None)  # the run's shared pool: not ours to close
        runtime.close()
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _terminate_all(admin: sa.Engine, database: str) -> int:
    """pg_terminate_backend on every connection to `database`; how many there were."""
    with admin.connect() as c:
        return len(c.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": database}).all())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_service_recovers_when_the_database_drops_every_connection(pg_instance, converter: Any,
                                                                    tmp_path: Path):
    instance, admin, database = pg_instance
    rng = seeded_rng("database-restart")
    placement_ids = instance.import_cohort(ENVELOPES, nda="nee", copyright_waiver="nee")
    tokens = prepare_envelopes(instance.runtime, placement_ids, converter)
    server = Gunicorn({**instance.env, "DOCSERVICE_JOBS": "inline"}, tmp_path / "gunicorn.log")
    results: list[tuple[float, float, str, int]] = []  # (started, finished, what, status)
    lock = threading.Lock()
    try:
        server.wait_ready()
        assert Client(server.port).get("/readyz")[0] == 200

        cutting = threading.Event()
        cutting.set()

        def signer(ids: list[int]) -> None:
            for placement_id in ids:
                client = Client(server.port)
                path = f"/sign/{tokens[placement_id]}"
                started = time.monotonic()
                status, html = client.get(path)
                with lock:
                    results.append((started, time.monotonic(), f"GET {placement_id}", status))
                if status != 200:
                    continue
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
                assert csrf is not None
                started = time.monotonic()
                status, _ = client.request("POST", path, {
                    "csrf_token": csrf.group(1), "full_name": STUDENT_NAME, "consent": "yes"})
                with lock:
                    results.append((started, time.monotonic(), f"POST {placement_id}", status))
            while cutting.is_set():  # keep the database busy until the last cut
                started = time.monotonic()
                status, _ = Client(server.port).get("/readyz")
                with lock:
                    results.append((started, time.monotonic(), "GET /readyz", status))

        # Two signers side by side, one per worker, while the connections are cut four times.
        threads = [threading.Thread(target=signer, args=(placement_ids[i::2],)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        cuts: list[tuple[float, int]] = []
        deadline = time.monotonic() + 60
        while len(cuts) < TERMINATIONS and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.2, 1.0))
            at, cut = time.monotonic(), _terminate_all(admin, database)
            if cut:  # right after a cut the workers may hold no connection yet
                cuts.append((at, cut))
        cutting.clear()
        for thread in threads:
            thread.join(timeout=180)
        assert len(cuts) == TERMINATIONS, cuts

        failed = [r for r in results if r[3] != 200]
        print(f"{len(results)} requests, {len(failed)} failed, cuts: {cuts}")
        # Only a request in flight while its connection was cut may fail (a 500, nothing
        # worse): at most one per worker and per cut. Every other one, and each request
        # after the last cut, succeeds: pooled connections are checked before use.
        assert len(failed) <= 2 * TERMINATIONS, failed
        for started, finished, what, status in failed:
            # 500 for a page, 503 from readiness (it says the database did not answer).
            assert status == (503 if what == "GET /readyz" else 500), (what, status)
            assert any(started <= at <= finished for at, _ in cuts), (what, started, cuts)
        assert Client(server.port).get("/readyz")[0] == 200
        # Whatever was cut is whole: signed, or pending and signable again.
        for trial, placement_id in enumerate(placement_ids):
            if _check_envelope(instance, placement_id, trial) == "pending":
                client = Client(server.port)
                form = client.sign_form(f"/sign/{tokens[placement_id]}", STUDENT_NAME)
                status, body = client.request("POST", f"/sign/{tokens[placement_id]}", form)
                assert status == 200 and 'id="signed"' in body, (status, body[:300])
                assert _check_envelope(instance, placement_id, trial) == "signed"
    finally:
        server.stop()
