"""The write-once store, on the filesystem and on a real S3 server (moto, 127.0.0.1)."""

from __future__ import annotations

import os
import stat
import uuid
from datetime import date, timedelta
from pathlib import Path

import boto3
import pytest

from docservice.archive.store import (
    FilesystemArchiveStore,
    RetentionActive,
    S3ArchiveStore,
    make_store,
)
from docservice.config import ArchiveSettings
from docservice.errors import AlreadyExists, NotFound

TODAY = date.today()


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "filesystem":
        return make_store(ArchiveSettings(path=tmp_path / "archive"))
    env = request.getfixturevalue("s3_env")
    settings = ArchiveSettings.from_env(tmp_path / "unused", env)
    assert settings.s3_bucket == env["DOCSERVICE_ARCHIVE_S3_BUCKET"]
    made = make_store(settings)
    assert isinstance(made, S3ArchiveStore) and made.object_lock
    return made


def test_an_object_is_written_once_and_never_replaced(store):
    store.put("ab/one.pdf", b"%PDF first")
    store.put("ab/one.pdf", b"%PDF first")  # the same bytes again: nothing happens
    with pytest.raises(AlreadyExists):
        store.put("ab/one.pdf", b"%PDF other")
    assert store.get("ab/one.pdf") == b"%PDF first"
    assert store.exists("ab/one.pdf") and not store.exists("ab/two.pdf")
    with pytest.raises(NotFound):
        store.get("ab/two.pdf")
    assert [key for key, _ in store.objects()] == ["ab/one.pdf"]


def test_an_object_cannot_be_deleted_before_its_retention_ends(store):
    store.put("cd/doc.pdf", b"kept")
    store.lock("cd/doc.pdf", TODAY + timedelta(days=3650))
    store.lock("cd/doc.pdf", TODAY + timedelta(days=10))  # never shortened
    assert store.retention("cd/doc.pdf") == TODAY + timedelta(days=3650)
    with pytest.raises(RetentionActive) as refused:
        store.delete("cd/doc.pdf", today=TODAY)
    assert refused.value.until == TODAY + timedelta(days=3650)
    assert store.get("cd/doc.pdf") == b"kept"
    # The day after retention, it may go.
    store.put("cd/old.pdf", b"old")
    store.lock("cd/old.pdf", TODAY)
    with pytest.raises(RetentionActive):
        store.delete("cd/old.pdf", today=TODAY)
    if isinstance(store, FilesystemArchiveStore):
        store.delete("cd/old.pdf", today=TODAY + timedelta(days=1))
        assert not store.exists("cd/old.pdf")


def test_keys_outside_the_store_are_refused(store):
    for key in ("../escape.pdf", "/abs.pdf", "ab/../../x", "ab/x.pdf.retention", ""):
        with pytest.raises(NotFound):
            store.put(key, b"x")


def test_filesystem_objects_are_read_only_and_crash_leftovers_are_listed(tmp_path: Path):
    store = FilesystemArchiveStore(tmp_path / "archive")
    store.put("ef/doc.pdf", b"data")
    mode = (tmp_path / "archive" / "ef" / "doc.pdf").stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    # A crash between the temporary file and the link leaves only the temporary file.
    (tmp_path / "archive" / "ef" / ".tmp-abc").write_bytes(b"da")
    assert [name for name, _ in store.leftovers()] == ["ef/.tmp-abc"]
    assert [key for key, _ in store.objects()] == ["ef/doc.pdf"]
    store.remove_leftover("ef/.tmp-abc")
    assert not list(store.leftovers())


def test_s3_bucket_enforces_the_lock_itself(s3_env, s3_server):
    """Object lock in COMPLIANCE mode: even a direct DELETE of the version is refused."""
    client = boto3.client("s3", endpoint_url=s3_server)
    store = S3ArchiveStore(client, s3_env["DOCSERVICE_ARCHIVE_S3_BUCKET"])
    store.put("01/locked.pdf", b"locked")
    store.lock("01/locked.pdf", TODAY + timedelta(days=30))
    head = client.head_object(Bucket=store.bucket, Key="01/locked.pdf")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=store.bucket, Key="01/locked.pdf",
                             VersionId=head["VersionId"])
    assert store.get("01/locked.pdf") == b"locked"


def test_s3_without_object_lock_still_refuses_early_deletion(s3_env, s3_server):
    client = boto3.client("s3", endpoint_url=s3_server)
    bucket = f"plain-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    store = S3ArchiveStore(client, bucket, prefix="archive")
    store.put("02/doc.pdf", b"doc")
    store.lock("02/doc.pdf", TODAY + timedelta(days=5))
    assert store.retention("02/doc.pdf") == TODAY + timedelta(days=5)
    with pytest.raises(RetentionActive):
        store.delete("02/doc.pdf", today=TODAY)
    store.delete("02/doc.pdf", today=TODAY + timedelta(days=6))
    assert not store.exists("02/doc.pdf")
    assert [key for key, _ in store.objects()] == []


def test_settings_choose_the_backend_and_the_retention(tmp_path: Path):
    settings = ArchiveSettings.from_env(tmp_path, {"DOCSERVICE_ARCHIVE_RETENTION_YEARS": "7"})
    assert settings.retention_years == 7 and settings.s3_bucket is None
    assert isinstance(make_store(settings), FilesystemArchiveStore)
    from docservice.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        ArchiveSettings.from_env(tmp_path, {"DOCSERVICE_ARCHIVE_RETENTION_YEARS": "ten"})
    assert os.environ.get("DOCSERVICE_ARCHIVE_S3_BUCKET") is None
