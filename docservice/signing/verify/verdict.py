"""The archive's verdict on a signed PDF: the engine's, plus whether it will last (B-LTA).

`verify_bytes` judges an archived (or to-be-archived) document: always the verification
engine's verdict, then either the structural check that everything a future validation needs
is embedded (fast, at archiving) or pyhanko's AdES long-term validation now and simulated at
the end of retention (deep, `docservice archive verify`). The result is a typed
`VerificationReport`; `to_json()` is what the archive stores beside the PDF.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509

from docservice.domain import SIGNATURE_FIELD_NAMES, SIGNER_ROLES, sha256_hex
from docservice.errors import DocserviceError
from docservice.signing import ltv
from docservice.signing.trust import TrustedLists
from docservice.signing.verify.engine import Expected, Trust, verify_pdf

log = logging.getLogger(__name__)

REPORT_FORMAT = "docservice-verification-report/1"
ENGINE_NAME = "docservice.signing.verify"
#: The indication of a verdict the engine could not give (it raised): a failure, named.
ENGINE_ERROR = "verificatiefout"
WEAK_DIGESTS = frozenset({"md5", "sha1"})
MIN_KEY_BITS = {"rsa": 2048}

#: A signer as the archive's manifest records it: role, name, typed_name, email, ...
Signer = Mapping[str, Any]
#: JSON as the engine's report gives it (kept as is in the stored report).
Json = dict[str, Any]


@dataclass(frozen=True)
class EngineVerdict:
    """The verification engine's verdict on a final document."""

    passed: bool
    indication: str | None
    reasons: tuple[str, ...]
    report: Json | None  # the engine's whole report, None when it failed
    signatures: tuple[Json, ...]  # its entries of kind "signature"
    name: str = ENGINE_NAME

    def to_json(self) -> Json:
        """What the stored report keeps of the engine's verdict."""
        return {"name": self.name, "indication": self.indication, "report": self.report}


@dataclass(frozen=True)
class SignatureVerdict:
    """One approval signature: the engine's reading of it and, deep, its long-term result."""

    field_name: str
    role: str | None
    signer: str | None
    certificate_subject: str | None
    certificate_sha256: str | None
    claimed_signing_time: str | None
    timestamp_time: str | None
    engine_indication: str | None
    qualification: Json | None
    lta: ltv.LtaResult | None = None

    def to_json(self) -> Json:
        return {
            "field_name": self.field_name, "role": self.role, "signer": self.signer,
            "certificate_subject": self.certificate_subject,
            "certificate_sha256": self.certificate_sha256,
            "claimed_signing_time": self.claimed_signing_time,
            "timestamp_time": self.timestamp_time, "engine_indication": self.engine_indication,
            "qualification": self.qualification,
            "lta": self.lta.to_json() if self.lta is not None else None,
        }


@dataclass(frozen=True)
class LongTermOutlook:
    """Whether the document will still verify at the end of its retention.

    Fast (`method` set): the validation data it needs is embedded (`missing` names what is
    not). Deep: pyhanko's validation simulated at `at` (`signatures`; `error` if it raised).
    """

    at: str | None = None
    passed: bool | None = None
    signatures: tuple[ltv.LtaResult, ...] = ()
    method: str | None = None
    missing: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> Json:
        data: Json = {"at": self.at, "passed": self.passed,
                      "signatures": [r.to_json() for r in self.signatures]}
        if self.method is not None:
            data["method"] = self.method
            data["missing"] = list(self.missing)
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class VerificationReport:
    """The verification report of an archived document (`to_json()` is what is stored)."""

    pdf_sha256: str
    size: int
    verified_at: datetime
    problems: tuple[str, ...]
    signatures: tuple[SignatureVerdict, ...]
    document_timestamps: tuple[ltv.DocumentTimestamp, ...]
    dss: ltv.DssSummary | None
    long_term: LongTermOutlook
    trust_roots: tuple[asn1_x509.Certificate, ...]
    engine: EngineVerdict

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"

    @property
    def pades_level(self) -> str | None:
        return "B-LTA" if self.passed else None

    def signer_facts(self, role: str) -> Json:
        """What the manifest records of the verified signature of `role` (empty if none)."""
        for sig in self.signatures:
            if sig.role == role or sig.field_name == SIGNATURE_FIELD_NAMES.get(role):
                qualification = sig.qualification or {}
                return {"certificate_sha256": sig.certificate_sha256,
                        "timestamp_time": sig.timestamp_time,
                        "claimed_signing_time": sig.claimed_signing_time,
                        "qualification": {"level": qualification.get("level"),
                                          "reason": qualification.get("reason")}}
        return {}

    def to_json(self) -> Json:
        """The report as the archive stores it (canonical JSON of this is its SHA-256)."""
        return {
            "format": REPORT_FORMAT,
            "pdf_sha256": self.pdf_sha256, "size": self.size,
            "verified_at": self.verified_at.isoformat(),
            "verdict": self.verdict,
            "problems": list(self.problems),
            "pades_level": self.pades_level,
            "signatures": [s.to_json() for s in self.signatures],
            "document_timestamps": [t.to_json() for t in self.document_timestamps],
            "dss": self.dss.to_json() if self.dss else None,
            "long_term": self.long_term.to_json(),
            "trust_roots": [{"subject": c.subject.human_friendly, "sha256": c.sha256.hex()}
                            for c in self.trust_roots],
            "engine": self.engine.to_json(),
        }


def verify_bytes(pdf: bytes, sources: ltv.LtvSources, *, long_term_at: date | None = None,
                 now: datetime | None = None,
                 current_crls: Sequence[asn1_crl.CertificateList] | None = None,
                 deep: bool = True, lta: ltv.LtaFacts | None = None,
                 signers: Sequence[Signer] = ()) -> VerificationReport:
    """The verification report of an archived (or to-be-archived) PDF.

    Always the verification engine's verdict. `deep` adds pyhanko's AdES long-term validation
    now and simulated at `long_term_at`; without it (archiving, where it would cost four times
    the rest) the long-term part is `ltv.dss_coverage`, the structural check that everything a
    future validation needs is embedded. `docservice archive verify` runs the deep one.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    problems: list[str] = []
    engine = engine_verdict(pdf, sources, signers)
    if not engine.passed:
        problems += [f"verification engine: {r}" for r in engine.reasons] or [
            f"verification engine: {engine.indication}"]
    if not deep:
        return _fast_report(pdf, sources, engine, problems, long_term_at=long_term_at, now=now,
                            lta=lta)
    crls = sources.crls if current_crls is None else current_crls
    results: list[ltv.LtaResult]
    try:
        results = ltv.lta_validation(pdf, sources.trust_roots, current_crls=crls)
    except ltv.LtvError as e:
        results = []
        problems.append(str(e))
    if not results:
        problems.append("no approval signature to validate")
    for result in results:
        if not result.passed:
            problems.append(f"{result.field_name}: long-term validation "
                            f"{result.indication} {result.sub_indication}"
                            + (f" ({result.message})" if result.message else ""))
    timestamps: list[ltv.DocumentTimestamp]
    dss: ltv.DssSummary | None
    try:
        timestamps = ltv.document_timestamps(pdf)
        dss = ltv.dss_summary(pdf)
    except Exception as e:  # noqa: BLE001 - an unreadable file is a failed verification
        timestamps, dss = [], None
        problems.append(f"cannot read the document timestamps: {e}")
    if not timestamps:
        problems.append("no document timestamp: the document is not B-LTA")
    if dss is None:
        problems.append("no validation data (DSS): the document is not B-LT")
    long_term = LongTermOutlook()
    if long_term_at is not None and not problems:
        at = datetime.combine(long_term_at, time(23, 59), tzinfo=UTC)
        try:
            future = ltv.simulate_future(pdf, sources.trust_roots, at=at)
            long_term = LongTermOutlook(at=at.isoformat(), passed=all(r.passed for r in future),
                                        signatures=tuple(future))
        except ltv.LtvError as e:
            long_term = LongTermOutlook(at=at.isoformat(), passed=False, error=str(e))
    by_field = {s["field_name"]: s for s in engine.signatures}
    signatures = tuple(
        _signature(by_field.get(result.field_name, {}), field_name=result.field_name,
                   fallback_signer=result.signer, lta=result)
        for result in results)
    return _report(pdf, sources, engine, problems, signatures=signatures, timestamps=timestamps,
                   dss=dss, long_term=long_term, now=now)


def _signature(info: Json, *, field_name: str, fallback_signer: str | None = None,
               lta: ltv.LtaResult | None = None) -> SignatureVerdict:
    return SignatureVerdict(
        field_name=field_name, role=info.get("role"),
        signer=info.get("signer_name") or fallback_signer,
        certificate_subject=info.get("certificate_subject"),
        certificate_sha256=info.get("certificate_sha256"),
        claimed_signing_time=info.get("claimed_signing_time"),
        timestamp_time=info.get("timestamp_time"), engine_indication=info.get("indication"),
        qualification=info.get("qualification"), lta=lta)


def _fast_report(pdf: bytes, sources: ltv.LtvSources, engine: EngineVerdict,
                 problems: list[str], *, long_term_at: date | None, now: datetime,
                 lta: ltv.LtaFacts | None = None) -> VerificationReport:
    timestamps: list[ltv.DocumentTimestamp]
    dss: ltv.DssSummary | None
    try:
        lta = lta or ltv.lta_facts(pdf, sources.trust_roots)
        timestamps, dss, missing = lta.timestamps, lta.dss, list(lta.missing)
    except Exception as e:  # noqa: BLE001 - an unreadable file is a failed verification
        timestamps, dss, missing = [], None, [f"cannot read the validation data: {e}"]
    problems += missing
    if not any(s.get("role") in SIGNER_ROLES for s in engine.signatures):
        problems.append("no approval signature to validate")
    at = (datetime.combine(long_term_at, time(23, 59), tzinfo=UTC).isoformat()
          if long_term_at else None)
    long_term = LongTermOutlook(at=at, passed=not missing, method="validation data embedded",
                                missing=tuple(missing))
    signatures = tuple(_signature(info, field_name=info["field_name"])
                       for info in engine.signatures)
    return _report(pdf, sources, engine, problems, signatures=signatures, timestamps=timestamps,
                   dss=dss, long_term=long_term, now=now)


def _report(pdf: bytes, sources: ltv.LtvSources, engine: EngineVerdict, problems: list[str],
            *, signatures: tuple[SignatureVerdict, ...],
            timestamps: Sequence[ltv.DocumentTimestamp], dss: ltv.DssSummary | None,
            long_term: LongTermOutlook, now: datetime) -> VerificationReport:
    return VerificationReport(
        pdf_sha256=sha256_hex(pdf), size=len(pdf), verified_at=now, problems=tuple(problems),
        signatures=signatures, document_timestamps=tuple(timestamps), dss=dss,
        long_term=long_term, trust_roots=tuple(sources.trust_roots), engine=engine)


def engine_verdict(pdf: bytes, sources: ltv.LtvSources,
                   signers: Sequence[Signer] = ()) -> EngineVerdict:
    """The verification engine's verdict on a final document: every party's signature there,
    each in the name of that party (or of the one the coordinator accepted).

    An engine that raises gives a failed verdict naming the error (`ENGINE_ERROR`), never a
    weaker check's.
    """
    try:
        eu_roots, eu_lists = _eu_trusted_lists(sources.trust_path)
        report = verify_pdf(pdf, trust=Trust(roots=tuple(dict.fromkeys(sources.trust_roots
                                                                       + eu_roots)),
                                             crls=tuple(sources.crls), lists=eu_lists),
                            expected=Expected(roles_in_order=SIGNER_ROLES,
                                              field_names=SIGNATURE_FIELD_NAMES,
                                              signer_names=certificate_names(signers),
                                              due=len(SIGNER_ROLES)))
        data = report.to_json()
    except Exception as e:  # noqa: BLE001 - the engine must not take the archive down with it
        log.exception("the verification engine failed")
        return EngineVerdict(passed=False, indication=ENGINE_ERROR,
                             reasons=(f"{type(e).__name__}: {e}",), report=None, signatures=())
    sigs = tuple(s for s in data.get("signatures", []) if s.get("kind") == "signature")
    return EngineVerdict(passed=bool(report.passed), indication=data.get("indication"),
                         reasons=tuple(data.get("reasons", [])), report=data, signatures=sigs)


_eu_lists: tuple[tuple[Path, int], tuple[asn1_x509.Certificate, ...],
                 TrustedLists | None] | None = None


def _eu_trusted_lists(folder: Path | None
                      ) -> tuple[tuple[asn1_x509.Certificate, ...], TrustedLists | None]:
    """The EU trusted lists' anchors and services (`signing.trust`) stored in `folder`, re-read
    when the store changes; none when there is no store, or it is empty or unreadable (logged:
    the service's own signatures are still verified, and qualifications then say no list was
    loaded)."""
    global _eu_lists
    from docservice.signing.trust import INDEX, load_trust_store

    if folder is None:
        return (), None
    index = folder / INDEX
    key = (folder, index.stat().st_mtime_ns if index.exists() else 0)
    cached = _eu_lists
    if cached is None or cached[0] != key:
        try:
            store = load_trust_store(folder)
            cached = (key, store.roots, store.trusted_lists)
        except DocserviceError as e:
            log.warning("the EU trusted-list store could not be loaded: %s", e)
            cached = (key, (), None)
        _eu_lists = cached
    return cached[1], cached[2]


def certificate_names(signers: Sequence[Signer]) -> dict[str, tuple[str, ...]]:
    """The names a person's certificate may carry: the party's, or the name recorded when the
    signature was made (a certificate in another name that the coordinator accepted). The
    school signs with the organisation's seal, whose name is no person's."""
    return {s["role"]: tuple(n for n in (s.get("name"), s.get("typed_name")) if n)
            for s in signers if s.get("role") in ("student", "company")}


def timestamp_weakness(timestamp: ltv.DocumentTimestamp) -> str | None:
    """Why a document timestamp no longer protects (weak digest or key), or None."""
    if timestamp.digest_algorithm in WEAK_DIGESTS:
        return f"timestamp digest {timestamp.digest_algorithm} is weak"
    algorithm = timestamp.signature_algorithm.split("_")[0]
    minimum = MIN_KEY_BITS.get("rsa" if algorithm.startswith("rsa") else algorithm)
    if minimum and timestamp.key_bits < minimum:
        return f"timestamp key of {timestamp.key_bits} bits is weak"
    return None
