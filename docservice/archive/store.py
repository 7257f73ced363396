"""The write-once archive store: a local folder (default) or an S3-compatible bucket.

Keys are relative paths such as ``ab/<sha256>.pdf``. An object, once written, is never
overwritten: writing the same bytes again is a no-op, writing other bytes under the same key
raises `AlreadyExists`. A retention date (`lock`) can be set and only extended; `delete`
refuses an object whose retention has not ended. On S3 with object lock the bucket itself
enforces that (COMPLIANCE mode by default); on the filesystem the files are read-only and the
store refuses, which guards against mistakes, not against root.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from docservice.archive.blobs import (
    TEMPORARY_PREFIX,
    fsync_dir,
    write_file_once,
    write_files_once,
)
from docservice.config import ArchiveSettings
from docservice.errors import AlreadyExists, ConfigurationError, DocserviceError, NotFound

_KEY = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,200}$")
#: Suffix of the filesystem store's retention records (kept beside the object they protect).
RETENTION_SUFFIX = ".retention"
TEMP_PREFIX = TEMPORARY_PREFIX


class RetentionActive(DocserviceError):
    """An archived object cannot be deleted before its retention ends."""

    def __init__(self, key: str, until: date) -> None:
        super().__init__(f"{key} is retained until {until:%Y-%m-%d}: it cannot be deleted")
        self.key = key
        self.until = until


class StoreUnavailable(DocserviceError):
    """The archive store cannot be reached or refused an operation it should allow."""


class ArchiveStore(Protocol):
    """What the archive needs from a place to keep objects."""

    def describe(self) -> str:
        """Where the objects are, for people and logs."""

    def put(self, key: str, data: bytes, *, content_type: str = ...) -> None:
        """Store `data` under `key` once (same bytes again: no-op; other bytes: AlreadyExists)."""

    def get(self, key: str) -> bytes:
        """The bytes under `key` (NotFound if absent)."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    def lock(self, key: str, until: date) -> None:
        """Keep `key` at least until the end of `until` (extends, never shortens)."""

    def retention(self, key: str) -> date | None:
        """Until when `key` is kept (None: not locked)."""

    def delete(self, key: str, *, today: date) -> None:
        """Remove `key`; refuses (RetentionActive) while its retention runs."""

    def objects(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Every key with its time of writing (objects only, not retention records)."""

    def leftovers(self) -> Iterator[tuple[str, datetime]]:
        """Partial writes a crash left behind (never visible under a key), with their time."""

    def remove_leftover(self, name: str) -> None:
        """Remove one partial write found by `leftovers`."""

    def batch(self) -> AbstractContextManager[None]:
        """Several puts and locks made durable together when the block ends (before it
        returns), where the store can save work that way; nothing is durable before."""


def check_key(key: str) -> str:
    """`key` if it is a safe relative key, else NotFound (never a path outside the store)."""
    if not _KEY.match(key) or ".." in key or key.endswith(RETENTION_SUFFIX) or "//" in key:
        raise NotFound(f"archive object {key[:80]!r}")
    return key


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


class FilesystemArchiveStore:
    """Objects as read-only files below `root`; retention dates in ``<key>.retention`` files.

    A write goes to a temporary file in the object's folder, is flushed and fsynced, made
    read-only, then linked to its final name (link never replaces an existing name: this is
    the atomic, no-overwrite rename) and the folder is fsynced. A crash leaves either nothing
    under the key or the whole object, and at worst a temporary file that `leftovers` lists.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._batch = threading.local()

    def describe(self) -> str:
        return f"folder {self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _write_new(self, path: Path, data: bytes, *, replace: bool = False) -> bool:
        """Write `data` at `path` atomically; False if a file is there already (not replaced).
        In a batch the write waits for the end of the batch (and counts as new till then)."""
        pending: list[tuple[Path, bytes, bool]] | None = getattr(self._batch, "files", None)
        if pending is not None:
            pending.append((path, data, replace))
            return True
        return write_file_once(path, data, replace=replace)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The puts and locks of the block are written together when it ends: every file
        fsynced, then named, then each folder fsynced once (see `write_files_once`)."""
        if getattr(self._batch, "files", None) is not None:  # nested: the outer one writes
            yield
            return
        files: list[tuple[Path, bytes, bool]] = []
        self._batch.files = files
        try:
            yield
        finally:
            self._batch.files = None
        for (path, data, _replace), created in zip(files, write_files_once(files), strict=True):
            if not created and path.read_bytes() != data:
                raise AlreadyExists(f"archive object {path.relative_to(self.root)} exists "
                                    "with other content")

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        if (path.exists() or not self._write_new(path, data)) and path.read_bytes() != data:
            raise AlreadyExists(f"archive object {key} exists with other content")

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise NotFound(f"archive object {key}") from e

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def lock(self, key: str, until: date) -> None:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"archive object {key}")
        current = self.retention(key)
        if current is not None and current >= until:
            return
        record = json.dumps({"retain_until": until.isoformat()}).encode()
        self._write_new(path.with_name(path.name + RETENTION_SUFFIX), record, replace=True)

    def retention(self, key: str) -> date | None:
        path = self._path(key)
        try:
            record = json.loads(path.with_name(path.name + RETENTION_SUFFIX).read_bytes())
        except FileNotFoundError:
            return None
        return date.fromisoformat(record["retain_until"])

    def delete(self, key: str, *, today: date) -> None:
        path = self._path(key)
        until = self.retention(key)
        if until is not None and until >= today:
            raise RetentionActive(key, until)
        try:
            path.unlink()
        except FileNotFoundError as e:
            raise NotFound(f"archive object {key}") from e
        path.with_name(path.name + RETENTION_SUFFIX).unlink(missing_ok=True)
        fsync_dir(path.parent)

    def objects(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        # Walk only the folder the prefix names (all of them when it names none).
        top = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not top.is_dir():
            return
        for folder, _dirs, files in os.walk(top):
            for name in files:
                if name.startswith(TEMP_PREFIX) or name.endswith(RETENTION_SUFFIX):
                    continue
                path = os.path.join(folder, name)
                key = os.path.relpath(path, self.root)
                if not _KEY.match(key):
                    continue  # not written by the store: the folder's README.md
                if key.startswith(prefix):
                    yield key, datetime.fromtimestamp(os.stat(path).st_mtime, UTC)

    def leftovers(self) -> Iterator[tuple[str, datetime]]:
        if not self.root.is_dir():
            return
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    path = os.path.join(folder, name)
                    try:
                        modified = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
                    except FileNotFoundError:
                        continue  # finished meanwhile
                    yield os.path.relpath(path, self.root), modified

    def remove_leftover(self, name: str) -> None:
        path = self.root / name
        if not path.name.startswith(TEMP_PREFIX) or ".." in name:
            raise NotFound(f"leftover {name!r}")
        path.unlink(missing_ok=True)


class S3ArchiveStore:
    """Objects in an S3-compatible bucket; write-once by conditional PUT, kept by object lock.

    Each PUT carries If-None-Match: * (the store refuses to replace an object) and its
    SHA-256 checksum (the store refuses corrupted bytes). With object lock enabled on the
    bucket, `lock` sets a retention in `lock_mode` (COMPLIANCE: nobody can shorten it or
    delete the object before it ends); without it, a ``<key>.retention`` object records the
    date and `delete` refuses before it.
    """

    def __init__(self, client: Any, bucket: str, *, prefix: str = "",
                 lock_mode: str = "COMPLIANCE") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.lock_mode = lock_mode
        self._object_lock: bool | None = None

    def describe(self) -> str:
        endpoint = getattr(self.client.meta, "endpoint_url", "")
        return f"bucket {self.bucket} at {endpoint}" + (f" (prefix {self.prefix})"
                                                         if self.prefix else "")

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error_code(self, error: Exception) -> str:
        response = getattr(error, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    @property
    def object_lock(self) -> bool:
        """Whether the bucket has object lock enabled (read once)."""
        if self._object_lock is None:
            from botocore.exceptions import ClientError

            try:
                config = self.client.get_object_lock_configuration(Bucket=self.bucket)
                enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                self._object_lock = enabled == "Enabled"
            except ClientError:
                self._object_lock = False
        return self._object_lock

    def batch(self) -> AbstractContextManager[None]:
        """Every put is durable when it returns already: nothing to gather."""
        return nullcontext()

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                                   ContentType=content_type, IfNoneMatch="*",
                                   ChecksumSHA256=checksum)
        except ClientError as e:
            if self._error_code(e) not in ("PreconditionFailed", "412",
                                           "ConditionalRequestConflict"):
                raise StoreUnavailable(f"{self.describe()}: storing {key} failed: {e}") from e
            if self.get(key) != data:
                raise AlreadyExists(f"archive object {key} exists with other content") from e
        except BotoCoreError as e:
            raise StoreUnavailable(f"{self.describe()}: storing {key} failed: {e}") from e

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return bytes(response["Body"].read())
        except ClientError as e:
            if self._error_code(e) in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"archive object {key}") from e
            raise StoreUnavailable(f"{self.describe()}: reading {key} failed: {e}") from e
        except BotoCoreError as e:
            raise StoreUnavailable(f"{self.describe()}: reading {key} failed: {e}") from e

    def _head(self, key: str) -> Mapping[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.head_object(  # type: ignore[no-any-return]
                Bucket=self.bucket, Key=self._key(key))
        except ClientError as e:
            if self._error_code(e) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StoreUnavailable(f"{self.describe()}: reading {key} failed: {e}") from e
        except BotoCoreError as e:
            raise StoreUnavailable(f"{self.describe()}: reading {key} failed: {e}") from e

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def lock(self, key: str, until: date) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._head(key) is None:
            raise NotFound(f"archive object {key}")
        current = self.retention(key)
        if current is not None and current >= until:
            return
        try:
            if self.object_lock:
                self.client.put_object_retention(
                    Bucket=self.bucket, Key=self._key(key),
                    Retention={"Mode": self.lock_mode, "RetainUntilDate": _end_of(until)})
            else:
                record = json.dumps({"retain_until": until.isoformat()}).encode()
                self.client.put_object(Bucket=self.bucket,
                                       Key=self._key(key) + RETENTION_SUFFIX, Body=record,
                                       ContentType="application/json")
        except (ClientError, BotoCoreError) as e:
            raise StoreUnavailable(f"{self.describe()}: locking {key} failed: {e}") from e

    def retention(self, key: str) -> date | None:
        head = self._head(key)
        if head is None:
            raise NotFound(f"archive object {key}")
        until = head.get("ObjectLockRetainUntilDate")
        if until is not None:
            return until.astimezone(UTC).date()  # type: ignore[no-any-return]
        if self.object_lock:
            return None
        try:
            record = json.loads(self._get_raw(self._key(key) + RETENTION_SUFFIX))
        except NotFound:
            return None
        return date.fromisoformat(record["retain_until"])

    def _get_raw(self, full_key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=full_key)["Body"].read())
        except ClientError as e:
            if self._error_code(e) in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(full_key) from e
            raise StoreUnavailable(f"{self.describe()}: reading {full_key} failed: {e}") from e

    def delete(self, key: str, *, today: date) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        until = self.retention(key)
        if until is not None and until >= today:
            raise RetentionActive(key, until)
        full = self._key(key)
        try:
            # Remove every version (a bare DELETE on a versioned bucket only hides the object).
            for name in (full, full + RETENTION_SUFFIX):
                versions = self.client.list_object_versions(Bucket=self.bucket, Prefix=name)
                for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                    if item["Key"] == name:
                        self.client.delete_object(Bucket=self.bucket, Key=name,
                                                  VersionId=item["VersionId"])
                if not versions.get("Versions") and not versions.get("DeleteMarkers"):
                    self.client.delete_object(Bucket=self.bucket, Key=name)
        except ClientError as e:
            if self._error_code(e) == "AccessDenied":
                raise RetentionActive(key, until or today) from e
            raise StoreUnavailable(f"{self.describe()}: deleting {key} failed: {e}") from e
        except BotoCoreError as e:
            raise StoreUnavailable(f"{self.describe()}: deleting {key} failed: {e}") from e

    def objects(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                if not key.endswith(RETENTION_SUFFIX):
                    yield key, item["LastModified"].astimezone(UTC)

    def leftovers(self) -> Iterator[tuple[str, datetime]]:
        # A PUT is atomic on S3: an interrupted upload leaves no object behind. Abandoned
        # multipart uploads are never started (objects are small single PUTs).
        return iter(())

    def remove_leftover(self, name: str) -> None:
        raise NotFound(f"leftover {name!r}")


def make_store(settings: ArchiveSettings) -> ArchiveStore:
    """The S3 store when a bucket is configured (credentials: the standard AWS variables)."""
    if settings.s3_bucket:
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=settings.s3_endpoint,
                              config=Config(retries={"max_attempts": 3, "mode": "standard"}))
        return S3ArchiveStore(client, settings.s3_bucket, prefix=settings.s3_prefix,
                              lock_mode=settings.s3_lock_mode)
    try:
        settings.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise ConfigurationError(f"archive folder {settings.path}: {e}") from e
    return FilesystemArchiveStore(settings.path)
