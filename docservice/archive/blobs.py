"""Content-addressed, write-once blob storage on the local filesystem."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from docservice.errors import AlreadyExists, NotFound

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data`, as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


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
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o444)
            # link() refuses to replace an existing name: a racing writer of the
            # same content simply loses, and nothing is ever overwritten.
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
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
