"""What the stored PDFs say: read them back, verify their signatures, cache verdicts by SHA-256.

The coordinator's "signed" comes from here, not from the signature_requests table. Two checks:

- the stored file still hashes to the name it was stored under (a file changed behind the
  service's back is caught; its size and modification time let later checks skip re-reading
  files nobody touched), and
- the signatures in those bytes verify, with the verification engine
  (`docservice.signing.verify.verify_pdf`). The engine's name is stored with each verdict. An
  engine that fails gives the verdict "verificatiefout", never a weaker check's verdict.

Verdicts are keyed by the SHA-256 of the bytes verified: unchanged PDFs are verified once.
A verdict that did not pass is verified again after `RETRY_FAILED_AFTER` (a CRL or the TSA may
have been out of reach; the file itself may have been repaired).

A signature's new revisions are verified by the `verify_revisions` job right after the commit
that stored them (`queue_verification`), so that the desk's pages only read verdicts. Until the
job has run they are marked as queued, and pages asked to (`refresh(wait_for_queued=...)`)
leave them pending for that long rather than verify them during a request.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Table, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from docservice.db import after_commit
from docservice.domain import SIGNER_ROLES, sha256_hex
from docservice.models import (
    Base,
    QueuedVerification,
    Revision,
    StoredFileCheck,
    VerificationCache,
)
from docservice.observability.metrics import VERIFICATION_FAILURES
from docservice.signing.verify import Trust, verify_pdf

log = logging.getLogger(__name__)

#: The engine every verdict is made with (stored with it: a verdict of another is not reused).
ENGINE = "verify_pdf"
#: The indication of a verdict the engine could not give: it raised.
ENGINE_ERROR = "verificatiefout"
MISSING = "missing"
RETRY_FAILED_AFTER = timedelta(hours=20)
VERIFY_JOB = "verify_revisions"
_CHUNK = 500

#: Loads the service's trust, and notes on what could not be loaded into it.
TrustLoader = Callable[[], tuple[Trust, Sequence[str]]]


class Enqueue(Protocol):
    """Runs a job after the commit (`Runtime.enqueue`)."""

    def __call__(self, name: str, /, *args: Any) -> None: ...


class BlobReader(Protocol):
    """What verification needs of a blob store: the bytes stored under a SHA-256."""

    def get(self, sha256: str) -> bytes: ...


@dataclass(frozen=True)
class SignatureVerdict:
    """One signature of a PDF as the verifier judged it."""

    role: str | None
    field_name: str
    passed: bool
    signer_name: str | None
    time: str | None  # ISO 8601: the proven (timestamp) time, else the claimed one
    reasons: tuple[str, ...]
    qualification: str | None = None  # QESig, AdESig, ... (signing.qualification)
    belgian_eid: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "field_name": self.field_name, "passed": self.passed,
                "signer_name": self.signer_name, "time": self.time,
                "reasons": list(self.reasons), "qualification": self.qualification,
                "belgian_eid": self.belgian_eid}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignatureVerdict:
        return cls(role=data.get("role"), field_name=data.get("field_name", ""),
                   passed=bool(data.get("passed")), signer_name=data.get("signer_name"),
                   time=data.get("time"), reasons=tuple(data.get("reasons", ())),
                   qualification=data.get("qualification"),
                   belgian_eid=bool(data.get("belgian_eid")))


@dataclass(frozen=True)
class PdfVerdict:
    """What verifying one PDF's bytes said."""

    sha256: str
    engine: str
    indication: str
    readable: bool
    reasons: tuple[str, ...]
    signatures: tuple[SignatureVerdict, ...] = ()
    report: dict[str, Any] = field(default_factory=dict)  # the engine's full report, if any

    @property
    def failed(self) -> bool:
        """The file is unreadable, or the verifier failed it outright (or could not judge it)."""
        return not self.readable or self.indication in ("TOTAL_FAILED", "FAILED", ENGINE_ERROR)

    @property
    def passed(self) -> bool:
        """Readable and no signature in it failed (a PDF without signatures passes)."""
        return not self.failed and all(s.passed for s in self.signatures)

    def role_ok(self, role: str) -> bool:
        """Whether `role` has a signature in this PDF that verifies."""
        return not self.failed and any(s.role == role and s.passed for s in self.signatures)

    def reasons_for(self, role: str) -> tuple[str, ...]:
        """Why `role`'s signature does not count (empty when it does or when there is none)."""
        own = [r for s in self.signatures if s.role == role and not s.passed for r in s.reasons]
        if self.failed:
            own = list(self.reasons) + own
        return tuple(dict.fromkeys(own))

    def to_detail(self) -> dict[str, Any]:
        return {"readable": self.readable, "reasons": list(self.reasons),
                "signatures": [s.to_json() for s in self.signatures], "report": self.report}

    @classmethod
    def from_row(cls, row: VerificationCache) -> PdfVerdict:
        detail = row.detail or {}
        return cls(sha256=row.sha256, engine=row.engine, indication=row.indication,
                   readable=bool(detail.get("readable", True)),
                   reasons=tuple(detail.get("reasons", ())),
                   signatures=tuple(SignatureVerdict.from_json(s)
                                    for s in detail.get("signatures", ())),
                   report=detail.get("report") or {})


class Verifier:
    """Verifies PDFs with the verification engine; the trust is loaded on first use."""

    engine = ENGINE

    def __init__(self, load_trust: TrustLoader) -> None:
        self._load_trust = load_trust
        self._trust: Trust | None = None
        self.notes: list[str] = []

    def verify(self, pdf: bytes) -> PdfVerdict:
        """The verdict on `pdf`; never raises: an engine error is the verdict ENGINE_ERROR."""
        sha = sha256_hex(pdf)
        try:
            return self._verify(pdf, sha)
        except Exception as e:  # noqa: BLE001 - a failing engine is a verdict, not a crash
            log.exception("desk: verification of %s failed", sha)
            return PdfVerdict(sha, ENGINE, ENGINE_ERROR, True,
                              (f"the verification engine failed ({type(e).__name__})",))

    def _verify(self, pdf: bytes, sha: str) -> PdfVerdict:
        if self._trust is None:
            trust, notes = self._load_trust()
            self._trust = trust
            self.notes += notes
        report = verify_pdf(pdf, trust=self._trust, policy="auto")
        signatures = tuple(
            SignatureVerdict(
                role=s.role or _role_of_field(s.field_name), field_name=s.field_name,
                passed=bool(s.passed), signer_name=s.signer_name,
                time=_iso(s.timestamp_time or s.claimed_signing_time),
                reasons=tuple(s.reasons),
                qualification=s.qualification.level if s.qualification else None,
                belgian_eid=bool(s.qualification and s.qualification.belgian_eid))
            for s in report.signatures if s.kind == "signature")
        return PdfVerdict(sha256=sha, engine=ENGINE, indication=report.indication,
                          readable=bool(report.readable), reasons=tuple(report.reasons),
                          signatures=signatures, report=report.to_json())


def _role_of_field(name: str) -> str | None:
    role = name.rsplit("_", 1)[-1] if name.startswith("Signature_") else None
    return role if role in SIGNER_ROLES else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- the stored files -------------------------------------------------------------------------


def _blob_path(blobs: BlobReader, sha256: str) -> Path | None:
    # The filesystem store names files by their SHA-256; other stores only give bytes back.
    locate = getattr(blobs, "_path", None)
    if locate is None:
        return None
    try:
        return Path(locate(sha256))
    except Exception:  # noqa: BLE001 - a malformed name is simply not found
        return None


@dataclass
class CheckStats:
    """What a verification pass did, for summaries and benchmarks."""

    files_checked: int = 0
    files_rehashed: int = 0
    files_changed: int = 0
    verified: int = 0
    cached: int = 0
    skipped: int = 0  # left for later: over the time budget
    queued: int = 0  # left to the verify_revisions job, queued a moment ago
    engine: str = ""
    notes: list[str] = field(default_factory=list)
    queued_shas: set[str] = field(default_factory=set)


def _insert(session: Session, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model`'s table that can say ON CONFLICT (SQLite and PostgreSQL)."""
    table = model.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(dialect)  # pragma: no cover - the service runs on these two


def _upsert(session: Session, model: type[Base], values: dict[str, Any], keys: list[str]) -> None:
    """Insert or update one cache row by its unique key (two requests may race on it)."""
    stmt = _insert(session, model).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: v for k, v in values.items() if k not in keys})
    session.execute(stmt)


def queue_verification(session: Session, shas: Iterable[str], *,
                       enqueue: Enqueue, now: datetime) -> None:
    """Have the revisions named `shas` verified by the `verify_revisions` job after the commit.

    They are marked as queued in the caller's transaction, so the mark exists exactly when the
    revisions do; pages that see it leave the verification to the job for a while.
    """
    wanted = sorted(set(shas))
    if not wanted:
        return
    stmt = _insert(session, QueuedVerification).values(
        [{"sha256": sha, "queued_at": now} for sha in wanted])
    session.execute(stmt.on_conflict_do_update(
        index_elements=["sha256"], set_={"queued_at": stmt.excluded.queued_at}))
    after_commit(session, lambda: enqueue(VERIFY_JOB, *wanted))


def forget_queued(session: Session, shas: Iterable[str]) -> None:
    """Remove the queued marks of `shas` (their verification is done, or no longer wanted)."""
    for chunk in _chunks(sorted(set(shas))):
        session.execute(delete(QueuedVerification).where(QueuedVerification.sha256.in_(chunk)))


def still_current(session: Session, shas: Iterable[str]) -> list[str]:
    """Those of `shas` that are the newest revision of their document."""
    wanted = sorted(set(shas))
    newer = aliased(Revision)
    found: list[str] = []
    for chunk in _chunks(wanted):
        found += session.scalars(select(Revision.sha256).where(
            Revision.sha256.in_(chunk),
            ~exists().where(newer.document_id == Revision.document_id,
                            newer.number > Revision.number))).all()
    return sorted(set(found))


def queued_since(session: Session, shas: Iterable[str], since: datetime) -> set[str]:
    """Which of `shas` were queued for verification at or after `since`."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(shas))):
        found.update(session.scalars(select(QueuedVerification.sha256).where(
            QueuedVerification.sha256.in_(chunk), QueuedVerification.queued_at >= since)))
    return found


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def refresh(session: Session, shas: Iterable[str], *, verifier: Verifier, blobs: BlobReader,
            now: datetime, budget_seconds: float | None = None, rehash: bool = False,
            wait_for_queued: timedelta | None = None) -> CheckStats:
    """Check that the stored files named `shas` are intact, and verify what is not cached.

    `rehash` reads every file again even when its size and time are unchanged; otherwise a file
    is read only when it changed or was never read. With `budget_seconds`, verification stops
    when the time is up; the rest stays pending. One file is held in memory at a time.

    With `wait_for_queued`, an intact file without a verdict whose verification was queued
    (`queue_verification`) less than that long ago is left to its job (`CheckStats.queued`,
    `queued_shas`); one queued longer ago is verified here like any other, so that a failed
    job or a stopped worker leaves nothing pending for good. The file check is done either way.
    """
    stats = CheckStats(engine=verifier.engine)
    wanted = sorted(set(shas))
    if not wanted:
        return stats
    started = time.monotonic()
    checks: dict[str, StoredFileCheck] = {}
    verdicts: dict[str, VerificationCache] = {}
    for chunk in _chunks(wanted):
        checks.update((c.sha256, c) for c in session.scalars(
            select(StoredFileCheck).where(StoredFileCheck.sha256.in_(chunk))))
        verdicts.update((v.sha256, v) for v in session.scalars(
            select(VerificationCache).where(VerificationCache.sha256.in_(chunk),
                                            VerificationCache.engine == verifier.engine)))
    queued: set[str] = set()
    if wait_for_queued is not None:
        # Only PDFs without any verdict can be waiting for their job: usually none, no query.
        unverified = [sha for sha in wanted if sha not in verdicts]
        if unverified:
            queued = queued_since(session, unverified, now - wait_for_queued)
    done: set[str] = set()
    verified_names: list[str] = []
    for sha in wanted:
        stats.files_checked += 1
        digest, data = _check_file(session, blobs, sha, checks.get(sha), now=now,
                                   rehash=rehash, stats=stats)
        if digest != sha:
            stats.files_changed += 1
        if digest == MISSING or digest in done:
            continue
        done.add(digest)
        cached = verdicts.get(digest)
        if cached is None and digest != sha:  # a changed file: its bytes are new to us
            cached = session.scalars(select(VerificationCache).where(
                VerificationCache.sha256 == digest,
                VerificationCache.engine == verifier.engine)).first()
        if cached is not None and (cached.passed or cached.verified_at > now - RETRY_FAILED_AFTER):
            stats.cached += 1
            continue
        if digest == sha and sha in queued:
            stats.queued += 1
            stats.queued_shas.add(sha)
            continue
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            stats.skipped += 1
            continue
        if data is None:
            data = _read(blobs, sha)
        if data is None or sha256_hex(data) != digest:
            stats.skipped += 1  # changed again since it was hashed: the next check sees it
            continue
        verdict = verifier.verify(data)
        if not verdict.passed:
            VERIFICATION_FAILURES.labels(where="desk").inc()
        store_verdict(session, verdict, now=now)
        stats.verified += 1
        verified_names.append(sha)
    if verified_names:
        forget_queued(session, verified_names)  # a verdict replaces the queued mark
    stats.notes = list(verifier.notes)
    return stats


def _check_file(session: Session, blobs: BlobReader, sha: str, previous: StoredFileCheck | None, *,
                now: datetime, rehash: bool, stats: CheckStats) -> tuple[str, bytes | None]:
    """What the stored file named `sha` hashes to now (and its bytes, when they were read)."""
    path = _blob_path(blobs, sha)
    if path is None:  # a store without paths: read the bytes each time
        stored = _read_via_store(blobs, sha)
        return (sha256_hex(stored) if stored is not None else MISSING), stored
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:
        size, mtime = -1, -1
    if (previous is not None and not rehash and previous.size == size
            and previous.mtime_ns == mtime):
        return previous.found_sha256, None
    stats.files_rehashed += 1
    data: bytes | None
    try:
        data = path.read_bytes()
    except OSError:
        data, digest = None, MISSING
    else:
        digest = sha256_hex(data)
    if previous is None or (previous.found_sha256, previous.size, previous.mtime_ns) != (
            digest, size, mtime):
        _upsert(session, StoredFileCheck, {
            "sha256": sha, "found_sha256": digest, "size": size, "mtime_ns": mtime,
            "checked_at": now}, ["sha256"])
    if digest != sha:
        log.warning("desk: stored PDF %s hashes to %s: changed behind the service's back",
                    sha, digest)
    return digest, data


def _read(blobs: BlobReader, sha: str) -> bytes | None:
    path = _blob_path(blobs, sha)
    if path is None:
        return _read_via_store(blobs, sha)
    try:
        return path.read_bytes()
    except OSError:
        return None


def store_verdict(session: Session, verdict: PdfVerdict, *, now: datetime) -> None:
    """Keep `verdict` for the bytes it is about."""
    _upsert(session, VerificationCache, {
        "sha256": verdict.sha256, "engine": verdict.engine, "passed": verdict.passed,
        "student_ok": verdict.role_ok("student"), "company_ok": verdict.role_ok("company"),
        "school_ok": verdict.role_ok("school"), "indication": verdict.indication[:40],
        "detail": verdict.to_detail(), "verified_at": now}, ["sha256", "engine"])


def _read_via_store(blobs: BlobReader, sha: str) -> bytes | None:
    try:
        data: bytes = blobs.get(sha)
    except Exception:  # noqa: BLE001 - missing or damaged: the caller reports it as such
        return None
    return data


def verdicts_for(session: Session, shas: Iterable[str]) -> dict[str, PdfVerdict]:
    """The cached verdicts (of ENGINE) for these SHA-256 values."""
    engine = ENGINE
    wanted = sorted(set(shas))
    out: dict[str, PdfVerdict] = {}
    for chunk in _chunks(wanted):
        for row in session.scalars(select(VerificationCache).where(
                VerificationCache.sha256.in_(chunk), VerificationCache.engine == engine)):
            out[row.sha256] = PdfVerdict.from_row(row)
    return out


def found_hashes(session: Session, shas: Iterable[str]) -> dict[str, str]:
    """For stored names whose file was read back: what its bytes hashed to."""
    wanted = sorted(set(shas))
    out: dict[str, str] = {}
    for chunk in _chunks(wanted):
        for sha, found in session.execute(select(
                StoredFileCheck.sha256, StoredFileCheck.found_sha256).where(
                StoredFileCheck.sha256.in_(chunk))):
            out[sha] = found
    return out
