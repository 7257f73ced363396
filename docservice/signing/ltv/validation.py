"""Long-term validation (pyhanko's AdES, ETSI EN 319 102-1, 5.6.3), offline.

`lta_validation` may use only the revocation data the file carries and only the roots it is
given; `simulate_future` runs the same at a future date, as if the timestamp chain were
maintained until then (pyhanko's `simulate_future_ades_lta_validation`).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError, PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation import ades
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import policy_decl as certv_policy
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer

from docservice.signing.ltv.completion import LtvError
from docservice.signing.timestamps import run_async

ACCEPTABLE_MODIFICATIONS = ("NONE", "FORM_FILLING", "LTA_UPDATES")


_quiet = threading.local()


class _ExpectedValidationNoise(logging.Filter):
    """Drops pyhanko's warnings while long-term validation runs here.

    Past-signature validation first judges every certificate at the validation time, and
    pyhanko logs each expected failure ("certificate expired", "CRL not recent enough") as
    a warning with a traceback; the verdict, not those steps, is what matters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "on", False) or record.levelno >= logging.ERROR


for _name in ("pyhanko.sign.validation.generic_cms", "pyhanko.sign.validation.ades",
              "pyhanko_certvalidator"):
    logging.getLogger(_name).addFilter(_ExpectedValidationNoise())


@contextmanager
def _quiet_validation() -> Iterator[None]:
    previous = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = previous


@dataclass(frozen=True)
class LtaResult:
    """pyhanko's AdES long-term validation verdict on one approval signature."""

    field_name: str
    indication: str  # PASSED, INDETERMINATE, FAILED
    sub_indication: str  # AdES sub-indication name (OK when passed)
    message: str | None
    signer: str | None
    best_signature_time: datetime | None
    evidence_record_time: datetime | None  # oldest document timestamp after the signature
    coverage: str | None
    modification_level: str | None

    @property
    def passed(self) -> bool:
        """Passed, and protected by a valid document timestamp after it.

        The modification level is only known when a difference policy was used; the
        verification engine is what judges later revisions.
        """
        return (self.indication == "PASSED" and self.evidence_record_time is not None
                and self.coverage in ("ENTIRE_REVISION", "ENTIRE_FILE")
                and self.modification_level in (None, *ACCEPTABLE_MODIFICATIONS))

    def to_json(self) -> dict[str, Any]:
        return {
            "field_name": self.field_name, "indication": self.indication,
            "sub_indication": self.sub_indication, "message": self.message,
            "signer": self.signer, "passed": self.passed,
            "best_signature_time": _iso(self.best_signature_time),
            "evidence_record_time": _iso(self.evidence_record_time),
            "coverage": self.coverage, "modification_level": self.modification_level,
        }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def validation_spec(trust_roots: Iterable[asn1_x509.Certificate],
                    current_crls: Iterable[asn1_crl.CertificateList] = (),
                    ) -> PdfSignatureValidationSpec:
    """Strict and offline: revocation data required, and only what the file carries.

    `current_crls` are today's CRLs, as a validator would fetch them: needed years later
    for certificates that are still valid (pyhanko judges them at the current time first).
    """
    return PdfSignatureValidationSpec(diff_policy=None, signature_validation_spec=SignatureValidationSpec(
        local_knowledge=LocalKnowledge(known_crls=[CRLContainer(c) for c in current_crls]),
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(list(trust_roots)),
            revinfo_policy=certv_policy.CertRevTrustPolicy(
                revocation_checking_policy=certv_policy.REQUIRE_REVINFO,
                freshness_req_type=certv_policy.FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
    ))
    # No difference analysis here (diff_policy=None): the verification engine judges every
    # revision strictly, and pyhanko's analysis costs about a second on a LibreOffice PDF.


def lta_validation(pdf: bytes, trust_roots: Sequence[asn1_x509.Certificate], *,
                   at: datetime | None = None,
                   current_crls: Sequence[asn1_crl.CertificateList] = ()) -> list[LtaResult]:
    """AdES long-term validation of each approval signature, offline, now or at `at`."""
    spec = validation_spec(trust_roots, current_crls)
    timing = None
    if at is not None:
        timing = ValidationTimingInfo(validation_time=at, best_signature_time=at,
                                      point_in_time_validation=True)

    async def one(sig: EmbeddedPdfSignature) -> Any:
        return await ades.ades_lta_validation(sig, spec, timing_info=timing)

    return _each_signature(pdf, one)


def simulate_future(pdf: bytes, trust_roots: Sequence[asn1_x509.Certificate], *,
                    at: datetime) -> list[LtaResult]:
    """Long-term validation at `at`, assuming the timestamp chain is kept up until then."""
    spec = validation_spec(trust_roots)

    async def one(sig: EmbeddedPdfSignature) -> Any:
        return await ades.simulate_future_ades_lta_validation(sig, spec,
                                                              future_validation_time=at)

    return _each_signature(pdf, one)


def _each_signature(pdf: bytes, validate: Any) -> list[LtaResult]:
    async def go() -> list[LtaResult]:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        results = []
        for sig in sorted(reader.embedded_regular_signatures, key=lambda s: s.signed_revision):
            try:
                result = await validate(sig)
            except (SignatureValidationError, PdfReadError, ValueError) as e:
                results.append(LtaResult(str(sig.field_name), "FAILED", "FORMAT_FAILURE",
                                         str(e), None, None, None, None, None))
                continue
            results.append(_lta_result(sig, result))
        return results

    try:
        with _quiet_validation():
            return run_async(go())
    except (PdfReadError, PdfError, ValueError) as e:
        raise LtvError(f"cannot read the document's signatures: {e}") from e


def _lta_result(sig: EmbeddedPdfSignature, result: Any) -> LtaResult:
    sub = result.ades_subindic
    status = result.api_status
    indication = "PASSED" if isinstance(sub, AdESPassed) else sub.status.name
    signer = None
    coverage = level = None
    if status is not None:
        signer = status.signing_cert.subject.human_friendly
        coverage = status.coverage.name if status.coverage is not None else None
        level = (status.modification_level.name
                 if status.modification_level is not None else None)
    message = result.failure_msg if indication != "PASSED" else None
    return LtaResult(
        field_name=str(sig.field_name), indication=indication, sub_indication=sub.name,
        message=message, signer=signer, best_signature_time=result.best_signature_time,
        evidence_record_time=result.oldest_evidence_record_timestamp,
        coverage=coverage, modification_level=level)
