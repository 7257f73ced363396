"""Content-addressed, write-once blob storage on the local filesystem."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from docservice.domain import sha256_hex
from docservice.errors import AlreadyExists, NotFound

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Names of files being written; `docservice archive sweep` removes old ones.
TEMPORARY_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make the names in folder `path` durable (a new file's name lives in its folder)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folder_durably(folder: Path) -> None:
    """Create `folder` and its missing parents, each new name made durable."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        fsync_dir(created.parent)


def write_file_once(path: Path, data: bytes, *, replace: bool = False) -> bool:
    """Write `data` at `path`, read-only, atomically and durably; never over an existing file
    unless `replace`. Returns False when a file was there already and was left alone.

    Temporary file, fsync, then link() (which refuses an existing name, so a racing writer
    simply loses) or rename, then the folder's fsync: a crash leaves the old state or the
    new one, never half a file.
    """
    return write_files_once([(path, data, replace)])[0]


def write_files_once(files: Sequence[tuple[Path, bytes, bool]]) -> list[bool]:
    """`write_file_once` for each (path, data, replace), at the cost of about one.

    Every temporary file is written first, then each is fsynced (on a journalling file
    system the first flush carries the others' data, so the rest cost little), then each
    is linked or renamed to its name, then each folder is fsynced once. No name appears
    before its file's bytes are durable; nothing is durable before this returns.
    """
    pending: list[tuple[str, int]] = []
    try:
        for path, data, _replace in files:
            make_folder_durably(path.parent)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX)
            pending.append((tmp, fd))
            _write_all(fd, data)
        for _tmp, fd in pending:
            os.fsync(fd)
            os.fchmod(fd, 0o400)  # read-only, and the service's account's alone
        created = []
        for (path, _data, replace), (tmp, _fd) in zip(files, pending, strict=True):
            if replace:
                os.replace(tmp, path)
                created.append(True)
                continue
            try:
                os.link(tmp, path)
                created.append(True)
            except FileExistsError:
                created.append(False)
    finally:
        for tmp, fd in pending:
            os.close(fd)
            if os.path.lexists(tmp):
                os.unlink(tmp)
    for folder in sorted({path.parent for path, _data, _replace in files}):
        fsync_dir(folder)
    return created


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FilesystemBlobStore:
    """Blobs named by their SHA-256 under `root/ab/cdef...`; never overwritten, made read-only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound(f"blob {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Store `data` (once) and return its SHA-256; storing the same bytes twice is a no-op."""
        digest = sha256_hex(data)
        path = self._path(digest)
        if path.exists():
            if sha256_hex(path.read_bytes()) != digest:
                raise AlreadyExists(f"blob {digest} exists with other content: store is damaged")
            return digest
        write_file_once(path, data)
        return digest

    def get(self, sha256: str) -> bytes:
        """The bytes stored under `sha256`, checked against their name."""
        path = self._path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as e:
            raise NotFound(f"blob {sha256}") from e
        if sha256_hex(data) != sha256:
            raise AlreadyExists(f"blob {sha256} does not match its name: store is damaged")
        return data

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this SHA-256 is stored."""
        return self._path(sha256).exists()

    def leftovers(self) -> Iterator[tuple[Path, datetime]]:
        """Temporary files of writes a crash cut off (never a blob), with their time."""
        for path in self.root.glob(f"*/{TEMPORARY_PREFIX}*"):
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue  # a write in progress just finished
            yield path, modified
