"""The verification report: ETSI EN 319 102-1 / EU DSS simple-report vocabulary, as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from docservice.signing.qualification import Qualification

TOTAL_PASSED = "TOTAL_PASSED"
INDETERMINATE = "INDETERMINATE"
TOTAL_FAILED = "TOTAL_FAILED"
_SEVERITY = {TOTAL_PASSED: 0, INDETERMINATE: 1, TOTAL_FAILED: 2}

# Sub-indications (ETSI EN 319 102-1, clause 5.1.3), plus NO_SIGNATURE_FOUND (EU DSS's wording
# for a document without any signature, which ETSI does not name).
FORMAT_FAILURE = "FORMAT_FAILURE"
HASH_FAILURE = "HASH_FAILURE"
SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
REVOKED_NO_POE = "REVOKED_NO_POE"
OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
TRY_LATER = "TRY_LATER"
NO_POE = "NO_POE"
CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
NO_SIGNATURE_FOUND = "NO_SIGNATURE_FOUND"


@dataclass(frozen=True)
class Verdict:
    """An indication, its sub-indication and the sentences that explain it."""

    indication: str
    sub_indication: str | None
    reasons: tuple[str, ...] = ()

    @staticmethod
    def worst(verdicts: list[Verdict]) -> Verdict:
        """The most severe verdict (the first of equals), with every reason of every verdict."""
        if not verdicts:
            return Verdict(TOTAL_PASSED, None)
        top = max(verdicts, key=lambda v: _SEVERITY[v.indication])
        reasons = tuple(dict.fromkeys(r for v in verdicts for r in v.reasons))
        return Verdict(top.indication, top.sub_indication, reasons)


#: How the report names each party in Dutch, the language of the contracts.
PARTY_NL = {"student": "student", "company": "bedrijf", "school": "hogeschool"}


def incomplete_sentence(missing: list[str] | tuple[str, ...]) -> str:
    """"onvolledig: bedrijf en hogeschool nog niet ondertekend", and the same in English."""
    parties = [PARTY_NL.get(role, role) for role in missing]
    listed = parties[0] if len(parties) == 1 else ", ".join(parties[:-1]) + " en " + parties[-1]
    return (f"onvolledig: {listed} nog niet ondertekend (incomplete: no signature yet of the "
            f"{' and '.join(missing)})")


@dataclass(frozen=True)
class ExpectedSignature:
    """One signature a service document must carry, and whether it does."""

    role: str
    field_name: str
    present: bool
    signer_name: str | None  # the name on the certificate of the signature in that place

    def to_json(self) -> dict[str, Any]:
        """This expectation, JSON-ready."""
        return {"role": self.role, "field_name": self.field_name, "present": self.present,
                "signer_name": self.signer_name}


@dataclass(frozen=True)
class SignatureReport:
    """What the engine concluded about one signature or document timestamp."""

    kind: str  # "signature" or "document_timestamp"
    field_name: str
    role: str | None
    indication: str
    sub_indication: str | None
    reasons: tuple[str, ...]
    revision: int  # 1-based number of the revision the signature closes
    subfilter: str | None
    signer_name: str | None
    certificate_subject: str | None
    certificate_sha256: str | None
    claimed_signing_time: datetime | None
    timestamp_time: datetime | None
    timestamp_authority: str | None
    chain: tuple[str, ...]  # subjects from the signer's certificate up to the trust anchor
    qualified: bool  # a qualified signature or seal (QESig, QESeal) at signing time
    revocation: str  # "good", "revoked", "not checked (no revocation source)", "unknown"
    intact: bool
    valid: bool
    coverage: str
    changes_after: str  # none / signatures_and_form_filling / timestamps_and_validation_data / other
    pades_level: str | None  # B-B, B-T, B-LT, B-LTA (None: not a PAdES signature)
    # ETSI TS 119 172-4 level at signing time, and why (`signing.qualification`)
    qualification: Qualification | None = None

    @property
    def passed(self) -> bool:
        """Whether this signature alone is TOTAL_PASSED."""
        return self.indication == TOTAL_PASSED

    def to_json(self) -> dict[str, Any]:
        """The signature's part of the report, JSON-ready."""
        return {
            "kind": self.kind,
            "field_name": self.field_name,
            "role": self.role,
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "reasons": list(self.reasons),
            "revision": self.revision,
            "subfilter": self.subfilter,
            "signer_name": self.signer_name,
            "certificate_subject": self.certificate_subject,
            "certificate_sha256": self.certificate_sha256,
            "claimed_signing_time": _iso(self.claimed_signing_time),
            "timestamp_time": _iso(self.timestamp_time),
            "timestamp_authority": self.timestamp_authority,
            "chain": list(self.chain),
            "qualified": self.qualified,
            "revocation": self.revocation,
            "intact": self.intact,
            "valid": self.valid,
            "coverage": self.coverage,
            "changes_after": self.changes_after,
            "pades_level": self.pades_level,
            "qualification": self.qualification.to_json() if self.qualification else None,
        }


@dataclass(frozen=True)
class Report:
    """The verdict on a whole PDF and on each of its signatures."""

    indication: str
    sub_indication: str | None
    reasons: tuple[str, ...]
    sha256: str
    revisions: int
    policy: str  # "strict" or "standard"
    signatures: tuple[SignatureReport, ...] = ()
    document_reference: str | None = None
    readable: bool = True  # False: not a PDF at all (the CLI exits 2)
    size: int = 0
    warnings: tuple[str, ...] = field(default=())
    # the signatures a service document must carry (empty for anyone else's PDF)
    expected_signatures: tuple[ExpectedSignature, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether the document is TOTAL_PASSED."""
        return self.indication == TOTAL_PASSED

    @property
    def missing(self) -> tuple[str, ...]:
        """The roles whose expected signature is not in the document yet."""
        return tuple(e.role for e in self.expected_signatures if not e.present)

    @property
    def complete(self) -> bool:
        """Whether every expected signature is there (true when nothing was expected)."""
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        """The full report, JSON-ready."""
        return {
            "indication": self.indication,
            "sub_indication": self.sub_indication,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "sha256": self.sha256,
            "size": self.size,
            "revisions": self.revisions,
            "policy": self.policy,
            "readable": self.readable,
            "document_reference": self.document_reference,
            "complete": self.complete,
            "expected_signatures": [e.to_json() for e in self.expected_signatures],
            "signatures": [s.to_json() for s in self.signatures],
        }


    def to_text(self) -> str:
        """The report for a person: a verdict per signature, then for the document."""
        lines = [f"sha256 {self.sha256}, {self.size} bytes, {self.revisions} revision(s), "
                 f"{self.policy} policy"
                 + (f", document {self.document_reference}" if self.document_reference else "")]
        for number, sig in enumerate(self.signatures, 1):
            kind = "Document timestamp" if sig.kind == "document_timestamp" else "Signature"
            role = f" ({sig.role})" if sig.role else ""
            sub = f" / {sig.sub_indication}" if sig.sub_indication else ""
            lines.append(f"{kind} {number} in {sig.field_name}{role}: {sig.indication}{sub}")
            lines.append(f"  signer: {sig.signer_name or '?'}; certificate: "
                         f"{sig.certificate_subject or '?'}")
            lines.append(f"  claimed time: {_iso(sig.claimed_signing_time) or '-'}; timestamp: "
                         f"{_iso(sig.timestamp_time) or '-'}"
                         + (f" by {sig.timestamp_authority}" if sig.timestamp_authority else ""))
            chain = " -> ".join(sig.chain) if sig.chain else "no chain to a trusted root"
            lines.append(f"  chain: {chain}; qualified: {'yes' if sig.qualified else 'no'}; "
                         f"revocation: {sig.revocation}")
            if sig.qualification is not None:
                lines.append(f"  qualification: {sig.qualification.level} "
                             f"({sig.qualification.reason})")
            lines.append(f"  intact: {'yes' if sig.intact else 'no'}; coverage: {sig.coverage}; "
                         f"changes after: {sig.changes_after}; PAdES: {sig.pades_level or '-'}; "
                         f"revision {sig.revision}")
            lines.extend(f"  - {reason}" for reason in sig.reasons)
        if self.expected_signatures:
            lines.append("Expected signatures: " + "; ".join(
                f"{e.role} in {e.field_name}: "
                + (f"signed by {e.signer_name or '?'}" if e.present else "not signed yet")
                for e in self.expected_signatures))
            if self.missing:
                lines.append("  " + incomplete_sentence(self.missing))
        sub = f" / {self.sub_indication}" if self.sub_indication else ""
        lines.append(f"Document: {self.indication}{sub}")
        lines.extend(f"  - {reason}" for reason in self.reasons)
        lines.extend(f"  (note) {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
