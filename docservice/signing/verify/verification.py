"""What one verification knows as it goes: its inputs, the errors that end it, each signature."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
)
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from docservice.signing.errors import SigningError
from docservice.signing.verify.checks import SignatureCheck
from docservice.signing.verify.policy import Policy, PolicyChoice
from docservice.signing.verify.reader import Layout
from docservice.signing.verify.report import (
    ExpectedSignature,
    Verdict,
)
from docservice.signing.verify.views import View


class UnreadablePdf(SigningError):
    """The bytes are not a PDF that can be read at all."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a readable PDF: {reason}")
        self.reason = reason


class UnreadableStructure(SigningError):
    """The file's revisions cannot be read unambiguously: nothing about it can be trusted."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class VerificationTimeout(SigningError):
    """Verifying a file took longer than its time budget (a hostile or broken file)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"verification took longer than {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Trust:
    """What the engine trusts: anchors, which of them are qualified, and revocation data."""

    roots: tuple[asn1_x509.Certificate, ...]
    qualified: frozenset[bytes] = frozenset()  # SHA-256 of the DER of qualified anchors/CAs
    crls: tuple[asn1_crl.CertificateList, ...] = ()
    other_certs: tuple[asn1_x509.Certificate, ...] = ()
    # the EU trusted lists' services (`signing.trust.TrustedLists`), for qualification
    lists: object = None


@dataclass(frozen=True)
class Expected:
    """What a service document must contain (strict policy): who signed, in which fields."""

    roles_in_order: tuple[str, ...]  # every signature the document must end up with
    field_names: Mapping[str, str]
    # role -> the names its certificate may carry: the party's, or the one the coordinator
    # accepted for a signature made with someone else's certificate
    signer_names: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    # How many of them must be there now: fewer is INDETERMINATE. None: any genuine stage
    # passes, and the report says which are still missing ("onvolledig: ...").
    due: int | None = None
    # An upload signed with the signer's own tool may lack a timestamp; the service adds a
    # document timestamp once it accepts the upload, which makes the signature B-T.
    allow_untimestamped_last: bool = False


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile file from exhausting time or memory."""

    max_bytes: int = 64 * 1024 * 1024
    max_revisions: int = 1000
    max_signatures: int = 200
    seconds: float = 30.0
    visual: bool = True  # render each signed revision and the final file, compare the pages
    decode: DecodeLimits = field(default_factory=lambda: DecodeLimits(
        per_stream=StreamDecodeLimits(max_output_size=64 * 1024 * 1024),
        document_budget=DocumentDecodeBudget(base_allowance=256 * 1024 * 1024, max_ratio=50)))


class Deadline:
    """The time a verification may take, checked between its steps."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.until:
            raise VerificationTimeout(self.seconds)


@dataclass
class Sig:
    """One filled signature field and everything learnt about it."""

    field_name: str
    kind: str  # "signature" | "document_timestamp"
    subfilter: str | None
    embedded: EmbeddedPdfSignature | None
    signed_revision: int
    problems: list[Verdict] = field(default_factory=list)
    status: PdfSignatureStatus | DocumentTimestampStatus | None = None
    check: SignatureCheck | None = None
    role: str | None = None
    value_problem: str | None = None  # why the signature value is invalid, when pyhanko's
    # validation accepted it



class VerificationState:
    """The state every stage of one verification reads and adds to (set up by the engine)."""

    pdf: bytes
    trust: Trust
    requested: PolicyChoice
    expected: Expected | None
    at: datetime
    limits: Limits
    sha256: str
    deadline: Deadline
    _contexts: dict[tuple[datetime, bool], ValidationContext]
    warnings: list[str]
    expected_signatures: tuple[ExpectedSignature, ...]
    _final: View | None
    reader: PdfFileReader
    layout: Layout
    policy: Policy  # chosen once the file is read: strict for the service's own documents
    expected_effective: Expected | None
    _all_sigs: list[Sig]

