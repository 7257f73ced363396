"""What the stored PDFs say: read them back, verify their signatures, cache verdicts by SHA-256.

The coordinator's "signed" comes from here, not from the signature_requests table. Two checks:

- the stored file still hashes to the name it was stored under (a file changed behind the
  service's back is caught; its size and modification time let later checks skip re-reading
  files nobody touched), and
- the signatures in those bytes verify: with the strict engine
  (`docservice.signing.verify.verify_pdf`) when it can be imported, else with the interim
  `docservice.signing.validate.check_signatures`. The engine's name is stored with each verdict,
  so interim verdicts are replaced once the strict engine is there.

Verdicts are keyed by the SHA-256 of the bytes verified: unchanged PDFs are verified once.
A verdict that did not pass is verified again after `RETRY_FAILED_AFTER` (a CRL or the TSA may
have been out of reach; the file itself may have been repaired).

A signature's new revisions are verified by the `verify_revisions` job right after the commit
that stored them (`queue_verification`), so that the desk's pages only read verdicts. Until the
job has run they are marked as queued, and pages asked to (`refresh(wait_for_queued=...)`)
leave them pending for that long rather than verify them during a request.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from docservice.db import after_commit
from docservice.documents.catalogue import SIGNER_ROLES
from docservice.models import QueuedVerification, Revision, StoredFileCheck, VerificationCache
from docservice.observability.metrics import VERIFICATION_FAILURES

log = logging.getLogger(__name__)

STRICT_ENGINE = "verify_pdf"
INTERIM_ENGINE = "check_signatures"
MISSING = "missing"
RETRY_FAILED_AFTER = timedelta(hours=20)
VERIFY_JOB = "verify_revisions"
_CHUNK = 500


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
        """The file is unreadable, or the verifier failed it outright."""
        return not self.readable or self.indication in ("TOTAL_FAILED", "FAILED")

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
    """Verifies PDFs with the strict engine when it is importable and works, else the interim one."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self._strict: tuple[Any, Any] | None = None
        self.notes: list[str] = []
        try:
            from docservice.signing.verify import verify_pdf
            from docservice.signing.verify.sources import trust_from_runtime
        except ImportError as e:
            self.notes.append(f"strict verification engine not available ({e}); "
                              "using check_signatures")
            log.warning("desk: %s", self.notes[-1])
        else:
            self._strict = (verify_pdf, trust_from_runtime)
        self._trust: Any = None
        self._roots: Any = None

    @property
    def engine(self) -> str:
        return STRICT_ENGINE if self._strict is not None else INTERIM_ENGINE

    def verify(self, pdf: bytes) -> PdfVerdict:
        """The verdict on `pdf`; never raises for what the file contains."""
        sha = hashlib.sha256(pdf).hexdigest()
        if self._strict is not None:
            try:
                return self._verify_strict(pdf, sha)
            except Exception as e:  # noqa: BLE001 - a bug in the new engine must not hide status
                log.exception("desk: strict verification of %s failed; using check_signatures",
                              sha)
                self.notes.append(f"strict engine failed on {sha[:12]}… ({type(e).__name__})")
        return self._verify_interim(pdf, sha)

    def _verify_strict(self, pdf: bytes, sha: str) -> PdfVerdict:
        verify_pdf, trust_from_runtime = self._strict  # type: ignore[misc]
        if self._trust is None:
            self._trust, notes = trust_from_runtime(self._runtime)
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
        return PdfVerdict(sha256=sha, engine=STRICT_ENGINE, indication=report.indication,
                          readable=bool(report.readable), reasons=tuple(report.reasons),
                          signatures=signatures, report=report.to_json())

    def _verify_interim(self, pdf: bytes, sha: str) -> PdfVerdict:
        from docservice.signing.errors import SignatureCheckError
        from docservice.signing.pades import load_trust_roots
        from docservice.signing.validate import check_signatures

        signer = self._runtime.signer
        if self._roots is None:
            self._roots = load_trust_roots(signer.pki, signer.settings)
        if not pdf.startswith(b"%PDF"):
            return PdfVerdict(sha, INTERIM_ENGINE, "FAILED", False, ("not a PDF file",))
        try:
            checks = check_signatures(pdf, trust_roots=self._roots, crls=signer.pki.crls)
        except SignatureCheckError as e:
            return PdfVerdict(sha, INTERIM_ENGINE, "FAILED", True, (str(e),))
        signatures = tuple(
            SignatureVerdict(role=_role_of_field(c.field_name), field_name=c.field_name,
                             passed=c.ok, signer_name=c.signer_name,
                             time=_iso(c.timestamp_time or c.signing_time),
                             reasons=c.problems)
            for c in checks)
        indication = "PASSED" if all(s.passed for s in signatures) else "FAILED"
        if not signatures:
            indication = "NO_SIGNATURE"
        return PdfVerdict(sha, INTERIM_ENGINE, indication, True, (), signatures)


def _role_of_field(name: str) -> str | None:
    role = name.rsplit("_", 1)[-1] if name.startswith("Signature_") else None
    return role if role in SIGNER_ROLES else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


_VERIFIERS: weakref.WeakKeyDictionary[Any, Verifier] = weakref.WeakKeyDictionary()


def verifier_for(runtime: Any) -> Verifier:
    """The runtime's verifier (its trust material is loaded once)."""
    verifier = _VERIFIERS.get(runtime)
    if verifier is None:
        verifier = _VERIFIERS[runtime] = Verifier(runtime)
    return verifier


def current_engine(runtime: Any) -> str:
    """The name of the engine verdicts are made with in this process."""
    return verifier_for(runtime).engine


# --- the stored files -------------------------------------------------------------------------


def _blob_path(blobs: Any, sha256: str) -> Path | None:
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

    def merge(self, other: CheckStats) -> None:
        for name in ("files_checked", "files_rehashed", "files_changed", "verified", "cached",
                     "skipped", "queued"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.queued_shas |= other.queued_shas


def _insert(session: Session, model: Any) -> Any:
    """An INSERT into `model`'s table that can say ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model.__table__)
    if dialect == "sqlite":
        return sqlite.insert(model.__table__)
    raise NotImplementedError(dialect)  # pragma: no cover - the service runs on these two


def _upsert(session: Session, model: Any, values: dict[str, Any], keys: list[str]) -> None:
    """Insert or update one cache row by its unique key (two requests may race on it)."""
    stmt = _insert(session, model).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: v for k, v in values.items() if k not in keys})
    session.execute(stmt)


def queue_verification(session: Session, runtime: Any, shas: Iterable[str], *,
                       now: datetime) -> None:
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
    after_commit(session, lambda: runtime.enqueue(VERIFY_JOB, *wanted))


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


def refresh(session: Session, runtime: Any, shas: Iterable[str], *, now: datetime,
            budget_seconds: float | None = None, rehash: bool = False,
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
    verifier = verifier_for(runtime)
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
    blobs = runtime.blobs
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
        if data is None or hashlib.sha256(data).hexdigest() != digest:
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


def _check_file(session: Session, blobs: Any, sha: str, previous: StoredFileCheck | None, *,
                now: datetime, rehash: bool, stats: CheckStats) -> tuple[str, bytes | None]:
    """What the stored file named `sha` hashes to now (and its bytes, when they were read)."""
    path = _blob_path(blobs, sha)
    if path is None:  # a store without paths: read the bytes each time
        stored = _read_via_store(blobs, sha)
        return (hashlib.sha256(stored).hexdigest() if stored is not None else MISSING), stored
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
        digest = hashlib.sha256(data).hexdigest()
    if previous is None or (previous.found_sha256, previous.size, previous.mtime_ns) != (
            digest, size, mtime):
        _upsert(session, StoredFileCheck, {
            "sha256": sha, "found_sha256": digest, "size": size, "mtime_ns": mtime,
            "checked_at": now}, ["sha256"])
    if digest != sha:
        log.warning("desk: stored PDF %s hashes to %s: changed behind the service's back",
                    sha, digest)
    return digest, data


def _read(blobs: Any, sha: str) -> bytes | None:
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


def _read_via_store(blobs: Any, sha: str) -> bytes | None:
    try:
        data: bytes = blobs.get(sha)
    except Exception:  # noqa: BLE001 - missing or damaged: the caller reports it as such
        return None
    return data


def verdicts_for(session: Session, runtime: Any, shas: Iterable[str]) -> dict[str, PdfVerdict]:
    """The cached verdicts (current engine) for these SHA-256 values."""
    engine = current_engine(runtime)
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
