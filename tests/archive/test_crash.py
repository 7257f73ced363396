"""SIGKILL the archiving process at random points: no row without its objects, no half-written
object, orphans swept, and what is archived verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from docservice.archive import records
from docservice.archive.store import FilesystemArchiveStore
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.jobs import archive_maintenance, archiving, registry
from docservice.models import ArchiveEntry, ArchiveStatusRow, ArchiveTerm
from docservice.services.archive_status import archive_status, check_entry
from tests.archive.conftest import check_store, complete_envelope

TRIALS = 20
CHILD = """
import sys
from docservice.config import Settings
from docservice.jobs.runtime import Runtime
from docservice.jobs import archiving
rt = Runtime(Settings.from_env())
rt.ltv_sources()  # PKI parsed, TSA ready: the kill lands in the archiving itself
print("ready", flush=True)
sys.stdin.readline()
archiving.retry(rt)
print("done", flush=True)
"""


class Child:
    """An archiving process, started ahead of its trial (imports take longer than the work)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", CHILD], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)

    def go(self) -> float:
        assert self.process.stdout is not None and self.process.stdin is not None
        assert self.process.stdout.readline().strip() == "ready"
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return time.monotonic()

    def kill_after(self, seconds: float) -> bool:
        """SIGKILL after `seconds`; True if it was still working."""
        try:
            self.process.wait(timeout=seconds)
            return False
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            return True


@pytest.mark.slow
@pytest.mark.timeout(170)
def test_sigkill_while_archiving_leaves_no_row_without_its_objects(runtime, year, database_url,
                                                                   tmp_path: Path, monkeypatch):
    if not database_url.startswith("sqlite"):
        pytest.skip("one database is enough: the crash is in the archiving process")
    # Completed but not archived yet: the job is left to the processes we kill.
    monkeypatch.setitem(registry.REGISTRY, "archive_envelope", lambda rt, envelope_id: None)
    done = complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    settings = runtime.settings
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
    base_env.update(DOCSERVICE_ENV="testing", DOCSERVICE_DATABASE_URL=settings.database_url,
                    DOCSERVICE_INSTANCE_PATH=str(settings.instance_path),
                    DOCSERVICE_BLOB_PATH=str(settings.blob_path),
                    DOCSERVICE_PKI_PATH=str(settings.pki_path),
                    DOCSERVICE_SECRET_KEY=settings.secret_key, DOCSERVICE_JOBS="inline")

    def child(trial: int) -> Child:
        return Child({**base_env, "DOCSERVICE_ARCHIVE_PATH": str(tmp_path / f"archive-{trial}")})

    rng = random.Random(int(os.environ.get("CRASH_SEED", "6")))
    # Trial 0 runs to the end: how long archiving takes, and that it works at all.
    first = child(0)
    upcoming = child(1)
    started = first.go()
    assert not first.kill_after(60)
    duration = time.monotonic() - started
    assert _rows(runtime), "the uninterrupted run archived the document"
    killed_with_rows = killed_without_rows = 0
    for trial in range(1, TRIALS + 1):
        _reset(runtime)
        current, upcoming = upcoming, (child(trial + 1) if trial < TRIALS else None)
        current.go()
        killed = current.kill_after(rng.uniform(0, duration * 1.1))
        store = FilesystemArchiveStore(tmp_path / f"archive-{trial}")
        runtime.use_archive_store(store)
        rows = _rows(runtime)
        _check_invariants(runtime, store, rows, trial)
        killed_with_rows += killed and bool(rows)
        killed_without_rows += killed and not rows
        # What the crash left is swept; what was archived stays and still checks out.
        swept = archive_maintenance.sweep(runtime, grace=timedelta(0))
        assert swept.missing == [], (trial, swept)
        assert not list(store.leftovers()), trial
        keys = {key for key, _ in store.objects()
                if records.checkpoint_of_key(key) is None}  # trail checkpoints stay for good
        assert keys == {k for e in rows for k in records.all_object_keys(e.sha256)}, (trial, keys)
    if upcoming is not None:
        upcoming.kill_after(0)
    assert killed_with_rows + killed_without_rows >= TRIALS // 2, "most kills hit the work"

    # Finally a run to the end in the last crashed folder: archived, and it verifies.
    archiving.retry(runtime)
    with unit_of_work(runtime.db) as session:
        assert archive_status(session, done.document_ids[0]).archived
    summary = archive_maintenance.verify_archive(runtime)
    assert summary.ok and summary.checked == 1, summary.failed
    assert archive_maintenance.sweep(runtime, grace=timedelta(0)).orphans == []


def _rows(runtime) -> list[ArchiveEntry]:
    with unit_of_work(runtime.db) as session:
        rows = list(session.scalars(select(ArchiveEntry)))
        for row in rows:
            session.expunge(row)
        return rows


def _reset(runtime) -> None:
    with unit_of_work(runtime.db) as session:
        session.execute(delete(ArchiveStatusRow))
        session.execute(delete(ArchiveTerm))
        session.execute(delete(ArchiveEntry))


def _check_invariants(runtime, store: FilesystemArchiveStore, rows, trial: int) -> None:
    check_store(store, rows, trial)
    for entry in rows:  # and the rest of what the row names checks out too
        assert sha256_hex(store.get(records.report_key(entry.sha256))) == \
            entry.report_sha256, trial
        check = check_entry(entry, store=runtime.archive_store)
        assert check.ok, (trial, check.problems)
