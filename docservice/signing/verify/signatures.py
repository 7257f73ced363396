"""Each signature on its own: read it, check its byte range, validate it with pyhanko, report it."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from docservice.signing.timestamps import run_async
from docservice.signing.verify import cmsforms
from docservice.signing.verify.changes import CATEGORY_ORDER, RevisionChanges
from docservice.signing.verify.checks import claimed_timestamp, summarise
from docservice.signing.verify.report import (
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE,
    FORMAT_FAILURE,
    HASH_FAILURE,
    INDETERMINATE,
    NO_CERTIFICATE_CHAIN_FOUND,
    NO_POE,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
    TOTAL_FAILED,
    TOTAL_PASSED,
    SignatureReport,
    Verdict,
)
from docservice.signing.verify.structure import (
    check_byte_range,
    pdf_get,
)
from docservice.signing.verify.verification import Sig, VerificationState, VerificationTimeout

SIGNATURE_SUBFILTERS = cmsforms.SIGNATURE_SUBFILTERS


class SignatureChecks(VerificationState):
    """The per-signature stages of a verification."""

    def _signatures(self) -> list[Sig]:
        try:
            return self._read_signatures()
        except VerificationTimeout:
            raise
        except Exception as e:  # noqa: BLE001 - a malformed field or value is a finding
            sig = Sig("(unreadable)", "signature", None, None,
                       self.reader.xrefs.total_revisions - 1)
            sig.problems.append(Verdict(TOTAL_FAILED, FORMAT_FAILURE, (
                "a signature field or its signature dictionary cannot be read "
                f"({type(e).__name__}: {e})",)))
            return [sig]

    def _read_signatures(self) -> list[Sig]:
        sigs: list[Sig] = []
        for name, value, field_ref in enumerate_sig_fields(self.reader, filled_status=True):
            self.deadline.check()
            name = str(name)
            sig_dict = value.get_object() if isinstance(value, generic.IndirectObject) else value
            sig_type = str(pdf_get(sig_dict, "/Type", "/Sig"))
            subfilter = pdf_get(sig_dict, "/SubFilter")
            subfilter_name = str(subfilter) if subfilter is not None else None
            kind = "document_timestamp" if sig_type == "/DocTimeStamp" else "signature"
            revision = self._revision_of(value)
            sig = Sig(name, kind, subfilter_name, None, revision)
            sigs.append(sig)
            if kind == "signature" and subfilter_name not in SIGNATURE_SUBFILTERS:
                sig.problems.append(Verdict(INDETERMINATE, FORMAT_FAILURE, (
                    f"its format ({subfilter_name or 'no /SubFilter'}) is not supported",)))
                continue
            if kind == "document_timestamp" and subfilter_name != "/ETSI.RFC3161":
                sig.problems.append(Verdict(INDETERMINATE, FORMAT_FAILURE, (
                    f"its format ({subfilter_name or 'no /SubFilter'}) is not a document "
                    "timestamp format",)))
                continue
            try:
                sig.embedded = EmbeddedPdfSignature(self.reader, field_ref, name)
                sig.signed_revision = sig.embedded.signed_revision
            except Exception as e:  # noqa: BLE001 - a malformed signature is a finding
                contents = getattr(pdf_get(sig_dict, "/Contents"), "original_bytes", None)
                reason = cmsforms.unreadable_reason(contents) if isinstance(
                    contents, bytes) else None
                sig.problems.append(Verdict(TOTAL_FAILED, FORMAT_FAILURE, (
                    reason or f"its signature value cannot be read ({type(e).__name__}: {e})",)))
        sigs.sort(key=lambda s: s.signed_revision)
        return sigs

    def _revision_of(self, value: object) -> int:
        if isinstance(value, generic.IndirectObject):
            try:
                return int(self.reader.xrefs.get_last_change(value.reference))
            except KeyError:
                pass
        return int(self.reader.xrefs.total_revisions) - 1

    def _check_byte_range(self, sig: Sig) -> None:
        emb = sig.embedded
        if emb is None:
            return
        byte_range = emb.byte_range
        plain = [int(v) if isinstance(v, generic.NumberObject) else v for v in byte_range] \
            if isinstance(byte_range, generic.ArrayObject) else byte_range
        problems = check_byte_range(self.pdf, self.layout, field=sig.field_name,
                                    byte_range=plain, contents=emb.pkcs7_content,
                                    signed_revision=sig.signed_revision)
        if problems:
            sig.problems.append(Verdict(TOTAL_FAILED, FORMAT_FAILURE, tuple(problems)))

    def _context(self, moment: datetime, *, retroactive: bool) -> ValidationContext:
        """Offline contexts with hard-fail revocation (as pyhanko's own validation). One
        per moment for the whole document: the timestamps of every signature, and the document
        timestamp, share the "now" one, so a path it validated (the TSA's) is known to it."""
        key = (moment, retroactive)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = ValidationContext(
                trust_roots=list(self.trust.roots), other_certs=list(self.trust.other_certs),
                crls=list(self.trust.crls), allow_fetching=False, revocation_mode="hard-fail",
                moment=moment, best_signature_time=moment, retroactive_revinfo=retroactive,
                signature_validator=cmsforms.SIGNATURE_VALIDATOR)
        return context

    def _validate(self, sig: Sig) -> None:
        emb = sig.embedded
        if emb is None or any(v.indication == TOTAL_FAILED for v in sig.problems):
            return
        try:
            self._validate_cms(sig, emb)
        except Exception as e:  # noqa: BLE001 - a CMS pyhanko cannot process is a finding
            sig.problems.append(Verdict(TOTAL_FAILED, FORMAT_FAILURE, (
                f"its signature cannot be validated ({type(e).__name__}: {e})",)))
            return
        status = sig.status
        if status is not None and status.intact and status.valid and \
                sig.kind == "signature" and cmsforms.sha1_binding(emb, self.pdf):
            # As the EU DSS validator: SHA-1 stopped being a secure digest in 2009 (ETSI TS
            # 119 312); nothing here proves the signature existed before.
            sig.problems.append(Verdict(INDETERMINATE, CRYPTO_CONSTRAINTS_FAILURE_NO_POE, (
                "only a SHA-1 digest ties the document to this signature, and SHA-1 is no "
                "longer secure: another document can share that digest",)))
        if status is not None and status.intact and status.valid:
            # pyhanko verifies over the signed attributes as written; CMS signs their DER
            # encoding (RFC 5652, 5.4), as Bouncy Castle (the EU DSS validator) verifies.
            problem = cmsforms.der_problem(emb)
            if problem is not None:
                sig.value_problem = problem
                sig.status = dataclasses.replace(status, valid=False)
                if isinstance(sig.status, PdfSignatureStatus):
                    sig.check = summarise(emb, sig.status)

    def _validate_cms(self, sig: Sig, emb: EmbeddedPdfSignature) -> None:
        problem = cmsforms.precheck(emb)
        if problem is not None:
            sig.problems.append(Verdict(problem.indication, problem.sub_indication,
                                        (problem.reason,)))
            return
        if sig.kind == "document_timestamp":
            sig.status = run_async(async_validate_pdf_timestamp(
                emb, validation_context=self._context(self.at, retroactive=False),
                skip_diff=True))
            return
        # Point-in-time validation at the time the signature timestamp claims, as
        # pyhanko's own validation does; judged as of `at` when that time is not proven.
        claimed = claimed_timestamp(emb)
        status = None
        now_context = self._context(self.at, retroactive=False)
        if claimed is not None:
            status = run_async(cmsforms.validate_signature(
                emb, self.pdf, signer_context=self._context(claimed, retroactive=True),
                ts_context=now_context))
            tst = status.timestamp_validity
            if tst is None or not (tst.intact and tst.valid and tst.trusted):
                status = None
        if status is None:
            status = run_async(cmsforms.validate_signature(
                emb, self.pdf, signer_context=now_context, ts_context=now_context))
        sig.status = status
        sig.check = summarise(emb, status)

    # -- reporting ---------------------------------------------------------------------------

    def _signature_report(self, sig: Sig, sigs: list[Sig],
                          revision_changes: dict[int, RevisionChanges]) -> SignatureReport:
        verdicts = list(sig.problems)
        status, check = sig.status, sig.check
        later_timestamps = [s for s in sigs if s.kind == "document_timestamp"
                            and s.signed_revision > sig.signed_revision and _ts_ok(s)]
        chain: tuple[str, ...] = ()
        revocation = "unknown"
        tsa = None
        ts_time = None
        if status is not None:
            chain, _ = self._chain(status)  # qualification: `qualify` below
            revocation = _revocation(status)
            verdicts.extend(self._crypto_verdicts(sig, status, bool(later_timestamps)))
            if isinstance(status, DocumentTimestampStatus):
                tsa = status.signing_cert.subject.human_friendly
                ts_time = status.timestamp
            elif status.timestamp_validity is not None:
                tsa = status.timestamp_validity.signing_cert.subject.human_friendly
                ts_time = status.timestamp_validity.timestamp
        after = [c for i, c in revision_changes.items() if i > sig.signed_revision]
        categories = {c.category for c in after} or {"none"}
        verdict = Verdict.worst(verdicts)
        cert = status.signing_cert if status is not None else None
        from docservice.signing.qualification import qualify

        qualification = qualify(status.validation_path if status is not None else None,
                                lists=self.trust.lists, at=ts_time, indication=verdict.indication,
                                role=sig.role, kind=sig.kind)
        return SignatureReport(
            kind=sig.kind, field_name=sig.field_name, role=sig.role,
            indication=verdict.indication, sub_indication=verdict.sub_indication,
            reasons=verdict.reasons, revision=sig.signed_revision + 1, subfilter=sig.subfilter,
            signer_name=check.signer_name if check else (_cn(cert) if cert else None),
            certificate_subject=cert.subject.human_friendly if cert else None,
            certificate_sha256=cert.sha256.hex() if cert else None,
            claimed_signing_time=check.signing_time if check else None,
            timestamp_time=ts_time, timestamp_authority=tsa, chain=chain,
            qualified=qualification.qualified, qualification=qualification,
            revocation=revocation,
            intact=bool(status.intact) if status is not None else False,
            valid=bool(status.valid) if status is not None else False,
            coverage=status.coverage.name if status is not None and status.coverage else "UNKNOWN",
            changes_after=max(categories, key=CATEGORY_ORDER.index),
            pades_level=self._pades_level(sig, status, later_timestamps),
        )

    def _crypto_verdicts(self, sig: Sig, status: PdfSignatureStatus | DocumentTimestampStatus,
                         later_timestamp: bool) -> list[Verdict]:
        what = "timestamp" if sig.kind == "document_timestamp" else "signature"
        form = cmsforms.form_of(sig.embedded) if sig.embedded is not None and \
            sig.kind == "signature" else "detached"
        if not status.intact:
            return [Verdict(TOTAL_FAILED, HASH_FAILURE, (
                f"the signed bytes were changed after the {what} was made"
                if form == "detached" or sig.embedded is None
                else cmsforms.content_reason(sig.embedded),))]
        if not status.valid:
            return [Verdict(TOTAL_FAILED, SIG_CRYPTO_FAILURE, (
                sig.value_problem or f"the {what} value does not match the signed bytes",))]
        verdicts: list[Verdict] = []
        if not status.trusted:
            verdicts.append(_trust_verdict(status, what))
        if isinstance(status, PdfSignatureStatus):
            tst = status.timestamp_validity
            if tst is not None and not (tst.intact and tst.valid):
                reason = "its signature timestamp is broken (it does not match the signature)"
                if self.policy.broken_timestamp_fails:
                    verdicts.append(Verdict(TOTAL_FAILED, SIG_CRYPTO_FAILURE, (reason,)))
                else:
                    # As the EU DSS validator: a broken timestamp proves no time, but the
                    # signature itself stands (the signing time is then simply not proven).
                    verdicts.append(Verdict(INDETERMINATE, NO_POE, (
                        f"{reason}: nothing proves when it was signed",)))
            elif tst is not None and not tst.trusted:
                reason = "its signature timestamp comes from an untrusted timestamp authority"
                if self.policy.requires_trusted_timestamp_authority:
                    verdicts.append(Verdict(INDETERMINATE, NO_CERTIFICATE_CHAIN_FOUND, (reason,)))
                else:
                    self.warnings.append(f"{sig.field_name}: {reason}")
            elif tst is None and not later_timestamp and self.policy.requires_timestamp:
                expected = self.expected_effective
                last_allowed = expected is not None and expected.allow_untimestamped_last and \
                    self._is_last_signature(sig)
                if not last_allowed:
                    verdicts.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (
                        "it has no timestamp: the strict policy requires PAdES B-T (a signature "
                        "timestamp or a later document timestamp)",)))
        return verdicts

    def _is_last_signature(self, sig: Sig) -> bool:
        return sig.signed_revision == max(
            (s.signed_revision for s in self._all_sigs if s.kind == "signature"), default=-1)

    def _chain(self, status: PdfSignatureStatus | DocumentTimestampStatus
               ) -> tuple[tuple[str, ...], bool]:
        path = status.validation_path
        if path is None:
            return (), False
        certs = list(path.iter_certs(include_root=True))
        subjects = tuple(c.subject.human_friendly for c in reversed(certs))
        qualified = any(hashlib.sha256(c.dump()).digest() in self.trust.qualified for c in certs)
        return subjects, qualified

    def _pades_level(self, sig: Sig, status: object, later_timestamps: list[Sig]) -> str | None:
        if sig.kind != "signature" or sig.subfilter != "/ETSI.CAdES.detached" or status is None:
            return None
        assert isinstance(status, PdfSignatureStatus)
        tst = status.timestamp_validity
        own_tst = tst is not None and tst.intact and tst.valid
        if not (own_tst or later_timestamps):
            return "B-B"
        dss_revision = self._dss_revision(after=sig.signed_revision)
        if dss_revision is None:
            return "B-T"
        if any(ts.signed_revision >= dss_revision for ts in later_timestamps):
            return "B-LTA"
        return "B-LT"

    def _dss_revision(self, *, after: int) -> int | None:
        """The first revision after `after` whose DSS holds revocation data, if any."""
        total = self.reader.xrefs.total_revisions
        for index in range(after + 1, total):
            try:
                dss = pdf_get(self.reader.get_historical_resolver(index).root, "/DSS")
            except Exception:  # noqa: BLE001 - no readable DSS: no long-term data
                return None
            if isinstance(dss, generic.DictionaryObject) and ("/CRLs" in dss or "/OCSPs" in dss):
                return index
        return None


def _ts_ok(sig: Sig) -> bool:
    status = sig.status
    return (isinstance(status, DocumentTimestampStatus) and status.intact and status.valid
            and status.trusted and not any(v.indication != TOTAL_PASSED for v in sig.problems))


def _trust_verdict(status: PdfSignatureStatus | DocumentTimestampStatus, what: str) -> Verdict:
    indic = status.trust_problem_indic
    name = indic.standard_name if indic is not None else NO_CERTIFICATE_CHAIN_FOUND
    indication = TOTAL_FAILED if indic is not None and indic.status.name == "FAILED" \
        else INDETERMINATE
    if status.revoked:
        reason = f"the {what}'s certificate is revoked"
    elif name == NO_CERTIFICATE_CHAIN_FOUND:
        reason = f"the {what}'s certificate does not chain to a trusted root"
    elif name in ("OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED",
                  "NOT_YET_VALID"):
        reason = f"the {what}'s certificate was not valid at the time of signing"
    elif name == "TRY_LATER":
        reason = f"no current revocation information for the {what}'s certificate"
    else:
        reason = f"the {what}'s certificate is not trusted ({name})"
    return Verdict(indication, name, (reason,))


def _revocation(status: PdfSignatureStatus | DocumentTimestampStatus) -> str:
    if status.revoked:
        return "revoked"
    if not status.trusted:
        return "unknown"
    cert = status.signing_cert
    if cert.crl_distribution_points_value is None and cert.ocsp_urls == []:
        return "not checked (the certificate names no revocation source)"
    return "good"


def _cn(cert: asn1_x509.Certificate) -> str | None:
    value = cert.subject.native.get("common_name")
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)

