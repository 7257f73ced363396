"""Archived objects on each backend: write-once, locked, verified; tampering is detected."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta

import boto3
import pytest
from sqlalchemy import select

from docservice.archive import records
from docservice.archive.store import FilesystemArchiveStore, RetentionActive
from docservice.cli import main
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.errors import AlreadyExists
from docservice.jobs import archive_maintenance
from docservice.jobs.runtime import Runtime
from docservice.models import ArchiveEntry, AuditEvent
from docservice.services.archive_status import archive_status
from tests.archive.conftest import complete_envelope


@pytest.fixture
def one_archived(runtime, year, backend, database_url):
    if backend == "s3" and not database_url.startswith("sqlite"):
        pytest.skip("the store does not depend on the database: S3 runs on SQLite only")
    done = complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    with unit_of_work(runtime.db) as session:
        [entry] = session.scalars(select(ArchiveEntry)).all()
        session.expunge(entry)
    return done, entry


def test_archived_document_is_write_once_locked_and_verifies(runner, runtime, one_archived,
                                                             backend):
    done, entry = one_archived
    store = runtime.archive_store
    assert ("bucket" in store.describe()) == (backend == "s3")
    keys = records.object_keys(entry.sha256)
    for key in keys:
        assert store.exists(key)
        assert store.retention(key) >= entry.retention_until == date(2034, 5, 17)
    with pytest.raises(AlreadyExists):
        store.put(keys[0], b"%PDF-1.7 something else")
    with pytest.raises(RetentionActive):
        store.delete(keys[0], today=date.today())
    manifest = json.loads(store.get(keys[1]))
    assert manifest["pdf"]["sha256"] == entry.sha256
    assert manifest["retention_years"] == 10 and manifest["trail_anchor"]["hash"]
    assert manifest["signed_first_at"] <= manifest["signed_last_at"] < manifest["archived_at"]

    with unit_of_work(runtime.db) as session:
        status = archive_status(session, done.document_ids[0])
    assert status.archived and status.sha256 == entry.sha256 and status.long_term_ok

    result = runner.invoke(main, ["archive", "verify", "--all"])
    assert result.exit_code == 0, result.output
    assert "1 checked, 1 passed, 0 failed." in result.output

    # One changed byte in the stored PDF is found and named.
    pdf = bytearray(store.get(keys[0]))
    pdf[len(pdf) // 2] ^= 0x01
    _overwrite(store, keys[0], bytes(pdf))
    result = runner.invoke(main, ["archive", "verify", "--all"])
    assert result.exit_code == 1
    assert f"FAILED {entry.sha256}" in result.output
    assert "the stored bytes changed" in result.output
    with unit_of_work(runtime.db) as session:
        verdicts = [e.detail["ok"] for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "archive.verified"))]
        assert verdicts == [True, False]
        assert session.get(ArchiveEntry, entry.id).last_verified_ok is False


def _overwrite(store, key: str, data: bytes) -> None:
    """What an attacker with raw access does: replace the file / put a new object version."""
    if isinstance(store, FilesystemArchiveStore):
        path = store.root / key
        os.chmod(path, 0o644)
        path.write_bytes(data)
    else:
        boto3.client("s3", endpoint_url=store.client.meta.endpoint_url).put_object(
            Bucket=store.bucket, Key=key, Body=data)


def test_a_failed_attempt_is_visible_and_retried(runner, runtime, year, backend, database_url,
                                                 monkeypatch):
    if backend == "s3" and not database_url.startswith("sqlite"):
        pytest.skip("the store does not depend on the database: S3 runs on SQLite only")
    from docservice.signing.pades import PadesSigner

    # The TSA is down when the envelope completes: nothing is archived, the reason is shown.
    monkeypatch.setattr(Runtime, "ltv_sources", _without_tsa(Runtime.ltv_sources))
    done = complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    with unit_of_work(runtime.db) as session:
        status = archive_status(session, done.document_ids[0])
        assert session.scalars(select(ArchiveEntry)).all() == []
    assert status.state == "failed" and status.attempts == 1
    assert "no timestamp authority" in status.reason
    monkeypatch.undo()
    assert isinstance(runtime.signer, PadesSigner)

    result = runner.invoke(main, ["archive", "retry"])
    assert result.exit_code == 0, result.output
    assert f"document {done.document_ids[0]}: archived" in result.output
    with unit_of_work(runtime.db) as session:
        status = archive_status(session, done.document_ids[0])
    assert status.archived and status.attempts == 2


def _without_tsa(real):
    from dataclasses import replace

    def sources(rt, **kwargs):
        return replace(real(rt, **kwargs), timestamper=None)

    return sources


def test_sweep_removes_orphans_and_purge_only_what_retention_allows(runner, runtime, one_archived,
                                                                   backend):
    done, entry = one_archived
    store = runtime.archive_store
    # A crash after the objects were written but before the row was committed: orphans.
    orphan = sha256_hex(b"orphan")
    store.put(records.pdf_key(orphan), b"orphan")
    store.put(records.manifest_key(orphan), b"{}")
    result = runner.invoke(main, ["archive", "sweep", "--dry-run"])
    assert result.exit_code == 0 and "2 orphan(s), 0 removed" in result.output
    result = runner.invoke(main, ["archive", "sweep", "--grace-minutes", "0"])
    assert result.exit_code == 0, result.output
    assert "2 orphan(s), 2 removed" in result.output
    assert not store.exists(records.pdf_key(orphan)) and store.exists(
        records.pdf_key(entry.sha256))

    # Nothing is past retention (2034): purge removes nothing.
    result = runner.invoke(main, ["archive", "purge"])
    assert "0 purged" in result.output
    # After retention it goes, and the removal is in the trail.
    after = entry.retention_until + timedelta(days=1)
    if backend == "s3":
        # moto cannot travel in time: the bucket's lock still runs, so the store refuses.
        purged = archive_maintenance.purge(runtime, today=after)
        assert purged.refused and not purged.purged
        return
    purged = archive_maintenance.purge(runtime, today=after)
    assert purged.purged == [entry.sha256]
    assert not any(store.exists(k) for k in records.object_keys(entry.sha256))
    with unit_of_work(runtime.db) as session:
        [event] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "archive.purged")).all()
        assert event.detail["sha256"] == entry.sha256 and event.placement_id == done.placement_id
        assert session.get(ArchiveEntry, entry.id).purged_at is not None
    assert archive_maintenance.sweep(runtime, grace=timedelta(0)).missing == []

