"""verify_pdf: one verdict on a PDF and each of its signatures, under the strict or standard policy.

Stages: read the file (pyhanko, with decoding limits) → check its revision structure byte by
byte (`structure`) → compare each revision after the first signature with the one before it
(`changes`) → validate each signature with pyhanko (`validate_pdf_signature`, the same
point-in-time logic as `check_signatures`) → judge, under the policy, into an ETSI-style report.
Nothing a file contains makes this raise: an unreadable or hostile file becomes a FORMAT_FAILURE
report, within a time budget.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.diff_analysis.policy_api import SuspiciousModification
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from docservice.signing.certificates import ROLES
from docservice.signing.errors import SigningError
from docservice.signing.pades import run_async
from docservice.signing.validate import SignatureCheck, _claimed_timestamp, _summarise
from docservice.signing.verify import changes as changes_module
from docservice.signing.verify import cmsforms, visual
from docservice.signing.verify.changes import (
    Finding,
    Kind,
    RevisionChanges,
    View,
    build_view,
    reachable,
)
from docservice.signing.verify.reader import read_revisions
from docservice.signing.verify.reference import find_reference
from docservice.signing.verify.report import (
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE,
    FORMAT_FAILURE,
    HASH_FAILURE,
    INDETERMINATE,
    NO_CERTIFICATE_CHAIN_FOUND,
    NO_POE,
    NO_SIGNATURE_FOUND,
    SIG_CONSTRAINTS_FAILURE,
    SIG_CRYPTO_FAILURE,
    TOTAL_FAILED,
    TOTAL_PASSED,
    ExpectedSignature,
    Report,
    SignatureReport,
    Verdict,
    incomplete_sentence,
)
from docservice.signing.verify.structure import (
    Ref,
    check_byte_range,
    mentioned_refs,
    pdf_get,
)

logger = logging.getLogger(__name__)

Policy = Literal["auto", "strict", "standard"]
#: The fields the service prepares, as docservice.documents.catalogue names them.
SERVICE_FIELDS = {role: f"Signature_{role}" for role in ROLES}
_FIELD_ROLE = re.compile(r"Signature_([a-z]+)$")
SIGNATURE_SUBFILTERS = cmsforms.SIGNATURE_SUBFILTERS
STRICT_PERMITTED = frozenset({Kind.SIGNATURE, Kind.DOC_TIMESTAMP, Kind.VALIDATION_DATA,
                              Kind.METADATA, Kind.UNREFERENCED})
STANDARD_PERMITTED = frozenset({Kind.SIGNATURE, Kind.DOC_TIMESTAMP, Kind.VALIDATION_DATA,
                                Kind.METADATA, Kind.NEW_SIGNATURE_FIELD, Kind.FORM_FILLING,
                                Kind.PRIVATE_DATA, Kind.REWRITTEN, Kind.UNREFERENCED})
#: What a certification signature's DocMDP permission P allows after it (ISO 32000-2, 12.8.2.2).
DOCMDP_PERMITTED = {
    MDPPerm.NO_CHANGES: frozenset({Kind.DOC_TIMESTAMP, Kind.VALIDATION_DATA, Kind.METADATA,
                                   Kind.UNREFERENCED}),
    MDPPerm.FILL_FORMS: frozenset({Kind.DOC_TIMESTAMP, Kind.VALIDATION_DATA, Kind.METADATA,
                                   Kind.SIGNATURE, Kind.NEW_SIGNATURE_FIELD, Kind.FORM_FILLING,
                                   Kind.NEW_FIELD, Kind.PRIVATE_DATA, Kind.REWRITTEN,
                                   Kind.UNREFERENCED}),
}


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


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.until:
            raise VerificationTimeout(self.seconds)


def verify_pdf(pdf: bytes, *, trust: Trust, policy: Policy = "auto",
               expected: Expected | None = None, at: datetime | None = None,
               limits: Limits | None = None) -> Report:
    """Verify `pdf` and every signature in it; never raises for anything the file contains.

    policy "auto" is strict for the service's own documents (its reference in the footer, or
    its three signature fields) and when `expected` is given, standard otherwise.
    """
    limits = limits or Limits()
    sha256 = hashlib.sha256(pdf).hexdigest()
    chosen = "strict" if policy == "strict" or (policy == "auto" and expected) else policy
    try:
        with _quiet_libraries():
            return _Verification(pdf, trust=trust, policy=policy, expected=expected,
                                 at=(at or datetime.now(UTC)).astimezone(UTC), limits=limits,
                                 sha256=sha256).run()
    except UnreadablePdf as e:
        return _failed(sha256, len(pdf), chosen, [e.reason], readable=False)
    except UnreadableStructure as e:
        return _failed(sha256, len(pdf), chosen, e.problems)
    except VerificationTimeout as e:
        return _failed(sha256, len(pdf), chosen,
                       [f"verification was stopped after {e.seconds:g} s: the file is too "
                        "complex or malformed to verify"])
    except RecursionError:
        return _failed(sha256, len(pdf), chosen,
                       ["the file nests objects too deeply to be read safely"])
    except MemoryError:
        return _failed(sha256, len(pdf), chosen, ["the file needs too much memory to verify"])
    except Exception as e:  # noqa: BLE001 - hostile input must never become a traceback
        logger.warning("verification of %s failed", sha256, exc_info=True)
        return _failed(sha256, len(pdf), chosen,
                       [f"the file's structure cannot be read ({type(e).__name__}: {e})"])


_LIBRARIES = ("pyhanko", "pyhanko_certvalidator", "pypdf")  # what reads the stranger's file
_verifying = 0  # how many verifications run now, in any thread
_verifying_lock = threading.Lock()


class _LibraryNoise(logging.Filter):
    """While a verification runs, the PDF libraries' warnings are findings, not log events.

    Validating a stranger's PDF makes pyhanko log each expected failure (an untrusted chain, a
    disallowed algorithm, a dangling reference) as a WARNING, often with a traceback, and pypdf
    each repair it makes; the report says what matters. Such records are demoted to DEBUG and
    kept only where DEBUG is enabled for that logger. Process-wide, not per thread: the visual
    comparison reads pages in worker threads of its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _verifying or record.levelno >= logging.CRITICAL:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_NOISE = _LibraryNoise()


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    global _verifying
    # A filter on a logger applies to that logger only: every library module's logger gets one
    # (created here if the module creates it only when it first warns, as pypdf does; pypdf,
    # imported lazily by the checks that use it, is imported here for that).
    import pypdf  # noqa: F401

    for name in list(sys.modules):
        if name.split(".")[0] in _LIBRARIES:
            module_logger = logging.getLogger(name)
            if _NOISE not in module_logger.filters:
                module_logger.addFilter(_NOISE)
    with _verifying_lock:
        _verifying += 1
    try:
        yield
    finally:
        with _verifying_lock:
            _verifying -= 1


def _failed(sha256: str, size: int, policy: str, reasons: list[str], *,
            readable: bool = True) -> Report:
    return Report(TOTAL_FAILED, FORMAT_FAILURE, tuple(reasons), sha256, 0,
                  "standard" if policy == "auto" else policy, readable=readable, size=size)


@dataclass(frozen=True)
class _Drawn:
    """The renderings of the signed revisions ending at `ends`, then of the final file."""

    ends: list[int]
    renderings: list[visual.Rendering]
    problem: str | None  # why nothing could be drawn


@dataclass
class _Sig:
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


class _Verification:
    def __init__(self, pdf: bytes, *, trust: Trust, policy: Policy, expected: Expected | None,
                 at: datetime, limits: Limits, sha256: str) -> None:
        self.pdf = pdf
        self.trust = trust
        self.requested = policy
        self.expected = expected
        self.at = at
        self.limits = limits
        self.sha256 = sha256
        self.deadline = _Deadline(limits.seconds)
        self._contexts: dict[tuple[datetime, bool], ValidationContext] = {}
        self.warnings: list[str] = []
        self.expected_signatures: tuple[ExpectedSignature, ...] = ()
        self._final: View | None = None

    # -- reading -----------------------------------------------------------------------------

    def _read(self) -> PdfFileReader:
        pdf = self.pdf
        if len(pdf) > self.limits.max_bytes:
            raise UnreadablePdf(f"the file is larger than {self.limits.max_bytes} bytes")
        if not pdf.startswith(b"%PDF-"):
            raise UnreadablePdf("the file does not start with a PDF header (%PDF-)")
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False, decode_limits=self.limits.decode)
            if not isinstance(reader.root, generic.DictionaryObject):
                raise UnreadablePdf("the file has no document catalog")
        except UnreadablePdf:
            raise
        except RecursionError:
            raise UnreadablePdf("the file nests objects too deeply to be read") from None
        except Exception as e:  # noqa: BLE001 - any parser error means "not a readable PDF"
            raise UnreadablePdf(f"{type(e).__name__}: {e}") from e
        return reader

    def run(self) -> Report:
        # Our own reader first, on the raw bytes: it refuses a chain it cannot follow safely
        # (a declared billion entries, a loop) before pyhanko allocates anything for it.
        layout = read_revisions(self.pdf, max_revisions=self.limits.max_revisions) \
            if self.pdf.startswith(b"%PDF-") and len(self.pdf) <= self.limits.max_bytes else None
        if layout is not None and layout.fatal:
            if not layout.revisions:  # not even the original document could be read
                raise UnreadablePdf("; ".join(layout.problems))
            raise UnreadableStructure(layout.problems)
        reader = self._read()
        self.reader = reader
        assert layout is not None
        self.layout = layout
        if not layout.same_chain([reader.xrefs.get_xref_container_info(i).start_location
                                  for i in range(reader.xrefs.total_revisions)]):
            raise UnreadableStructure(["pyhanko follows a different cross-reference chain than "
                                       "a strict reading of the file: readers would disagree on "
                                       "its revisions"])
        revisions = reader.xrefs.total_revisions
        if revisions > self.limits.max_revisions:
            return self._report([Verdict(TOTAL_FAILED, FORMAT_FAILURE, (
                f"the file has {revisions} revisions, more than the {self.limits.max_revisions} "
                "this service verifies",))], [], "standard", None)
        if reader.encrypted:
            try:
                reader.decrypt("")
            except Exception:  # noqa: BLE001 - any failure: the document stays unreadable
                return self._report([Verdict(INDETERMINATE, FORMAT_FAILURE, (
                    "the document is encrypted with a password: its signatures cannot be "
                    "checked",))], [], "standard", None)
        self.deadline.check()
        reference = find_reference(reader.get_historical_resolver(0))
        sigs = self._signatures()
        self._all_sigs = sigs
        service = reference is not None or set(SERVICE_FIELDS.values()) <= self._field_names()
        policy = self.requested
        if policy == "auto":
            policy = "strict" if service or self.expected is not None else "standard"
        expected = self.expected
        if expected is None and policy == "strict" and service:
            # Nothing says which stage this is: the report lists every signature field the
            # service prepared and says which are still empty.
            fields = self._field_names()
            expected = Expected(roles_in_order=tuple(r for r in ROLES
                                                     if SERVICE_FIELDS[r] in fields),
                                field_names=SERVICE_FIELDS)
        self.policy = policy
        self.expected_effective = expected

        document: list[Verdict] = []
        # After the first signature, anything two readers could resolve apart is a failure;
        # in the bytes a signature covers it is what the signer signed: reported, and refused
        # only for the service's own documents, which never contain such things.
        first = min((s.signed_revision for s in sigs), default=reader.xrefs.total_revisions - 1)
        problems = list(layout.problems) + layout.problems_after(first) + \
            self._regenerated_in_use(first)
        signed_problems = layout.problems_up_to(first)
        if policy == "strict":
            problems += signed_problems
        else:
            self.warnings.extend(signed_problems)
        if problems:
            document.append(Verdict(TOTAL_FAILED, FORMAT_FAILURE, tuple(problems)))
        if len(sigs) > self.limits.max_signatures:
            document.append(Verdict(TOTAL_FAILED, FORMAT_FAILURE, (
                f"the file has {len(sigs)} signatures, more than the "
                f"{self.limits.max_signatures} this service verifies",)))
            return self._report(document, [], policy, reference)
        # The renderers run in their own processes while this one reads and validates.
        drawing = self._start_drawing(sigs) if self.limits.visual and not document else None
        try:
            for sig in sigs:
                self._check_byte_range(sig)
            revision_changes = self._changes(sigs)
            for sig in sigs:
                self.deadline.check()
                self._validate(sig)
            self._judge_changes(sigs, revision_changes, document)
            self._judge_order(sigs, document)
        finally:
            drawn = drawing.result() if drawing is not None else None
        if drawn is not None and not any(v.indication == TOTAL_FAILED for v in document):
            self._judge_visual(sigs, drawn, document)
        reports = [self._signature_report(s, sigs, revision_changes) for s in sigs]
        if not sigs:
            document.insert(0, Verdict(INDETERMINATE, NO_SIGNATURE_FOUND,
                                       ("the document has no signature",)))
        return self._report(document, reports, policy, reference)

    def _start_drawing(self, sigs: list[_Sig]) -> Future[_Drawn] | None:
        """Every page of each signed revision that later bytes follow, and of the final file,
        drawn by poppler and by MuPDF in the background."""
        ends = sorted({revision.end for s in sigs
                       if (revision := self.layout.revision(s.signed_revision)) is not None
                       and revision.end < len(self.pdf)})
        if not ends:
            return None
        pdfs = [self.pdf[:end] for end in ends] + [self.pdf]
        deadline = self.deadline.until

        def draw() -> _Drawn:
            try:
                return _Drawn(ends, visual.render_many(pdfs, deadline=deadline), None)
            except visual.VisualTimeout:
                return _Drawn(ends, [], f"what viewers show could not be compared within "
                              f"{self.limits.seconds:g} s ({len(pdfs)} revisions to draw)")
            except visual.RendererUnavailable as e:
                return _Drawn(ends, [], f"what viewers show could not be compared ({e})")

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-draw")
        try:
            return pool.submit(draw)
        finally:
            pool.shutdown(wait=False)  # the call goes on; run() waits for its result

    def _judge_visual(self, sigs: list[_Sig], drawn: _Drawn, document: list[Verdict]) -> None:
        """What viewers show, compared: any difference outside the masked widgets fails."""
        if drawn.problem is not None:
            document.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (drawn.problem,)))
            return
        ends = drawn.ends
        *signed, final = drawn.renderings
        masks = self._visual_masks()
        self.warnings.extend(f"visual comparison: {p}" for p in final.problems)
        failed = [f"{run.renderer}: {run.failure()}" for run in final.runs if run.failed]
        if failed:  # what that viewer shows cannot be vouched for, whatever it showed before
            document.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (
                "what viewers show could not be compared: " + "; ".join(failed),)))
        for end, rendering in zip(ends, signed, strict=True):
            reasons = visual.differences(rendering, final, masks=masks)
            if not reasons:
                continue
            document.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, tuple(
                f"what viewers show is not what was signed: {r}" for r in reasons)))
            for sig in sigs:
                revision = self.layout.revision(sig.signed_revision)
                if revision is not None and revision.end == end:
                    sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, tuple(
                        f"what viewers show is not what this signature signed: {r}"
                        for r in reasons)))

    def _visual_masks(self) -> dict[int, list[visual.Rect]]:
        """The rectangles a later revision may paint in: the signature widgets (their
        appearance is judged by the change analysis), and under the standard policy every
        annotation, whose additions that policy judges by what they cover."""
        view = self._final_view()
        signature_widgets = {w for info in view.fields.values() if info.field_type == "/Sig"
                             for w in ([info.ref] if info.widget_of is None else []) + info.widgets}
        masks: dict[int, list[visual.Rect]] = {}
        for ref, page in view.annots.items():
            if self.policy == "strict" and ref not in signature_widgets:
                continue
            annot = view.get(ref)
            rect = changes_module.rect_of(annot) if isinstance(
                annot, generic.DictionaryObject) else None
            if rect is not None:
                masks.setdefault(page, []).append(rect)
        return masks

    def _regenerated_in_use(self, first: int) -> list[str]:
        """Objects an update redefines under a new generation while the document still uses
        the old one: one reader shows the old body, another (MuPDF) the new."""
        problems = []
        for revision in self.layout.revisions:
            if revision.index <= first or not revision.regenerated:
                continue
            old = {(n, gens[0]) for n, gens in revision.regenerated.items()}
            for number, generation in sorted(reachable(self.reader, revision.index, old)):
                problems.append(
                    f"revision {revision.index + 1} redefines object {number} under generation "
                    f"{revision.regenerated[number][1]} while the document still uses "
                    f"{number} {generation} R: readers disagree on which one it shows")
        return problems

    def _report(self, document: list[Verdict], signatures: list[SignatureReport], policy: str,
                reference: str | None) -> Report:
        per_signature = [Verdict(s.indication, s.sub_indication,
                                 tuple(f"{s.field_name}: {r}" for r in s.reasons))
                         for s in signatures]
        verdict = Verdict.worst(document + per_signature)
        return Report(
            indication=verdict.indication, sub_indication=verdict.sub_indication,
            reasons=verdict.reasons, sha256=self.sha256,
            revisions=self.reader.xrefs.total_revisions, policy=policy,
            signatures=tuple(signatures), document_reference=reference, size=len(self.pdf),
            warnings=tuple(dict.fromkeys(self.warnings)),
            expected_signatures=self.expected_signatures)

    def _field_names(self) -> set[str]:
        try:
            return {str(name) for name, _, _ in enumerate_sig_fields(self.reader)}
        except (KeyError, TypeError, ValueError, AttributeError):
            return set()

    # -- signatures --------------------------------------------------------------------------

    def _signatures(self) -> list[_Sig]:
        try:
            return self._read_signatures()
        except VerificationTimeout:
            raise
        except Exception as e:  # noqa: BLE001 - a malformed field or value is a finding
            sig = _Sig("(unreadable)", "signature", None, None,
                       self.reader.xrefs.total_revisions - 1)
            sig.problems.append(Verdict(TOTAL_FAILED, FORMAT_FAILURE, (
                "a signature field or its signature dictionary cannot be read "
                f"({type(e).__name__}: {e})",)))
            return [sig]

    def _read_signatures(self) -> list[_Sig]:
        sigs: list[_Sig] = []
        for name, value, field_ref in enumerate_sig_fields(self.reader, filled_status=True):
            self.deadline.check()
            name = str(name)
            sig_dict = value.get_object() if isinstance(value, generic.IndirectObject) else value
            sig_type = str(pdf_get(sig_dict, "/Type", "/Sig"))
            subfilter = pdf_get(sig_dict, "/SubFilter")
            subfilter_name = str(subfilter) if subfilter is not None else None
            kind = "document_timestamp" if sig_type == "/DocTimeStamp" else "signature"
            revision = self._revision_of(value)
            sig = _Sig(name, kind, subfilter_name, None, revision)
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
        return self.reader.xrefs.total_revisions - 1

    def _check_byte_range(self, sig: _Sig) -> None:
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
        """The same contexts as validate.check_signatures: offline, hard-fail revocation. One
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

    def _validate(self, sig: _Sig) -> None:
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
                    sig.check = _summarise(emb, sig.status)

    def _validate_cms(self, sig: _Sig, emb: EmbeddedPdfSignature) -> None:
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
        # check_signatures does; judged as of `at` when that time is not proven.
        claimed = _claimed_timestamp(emb)
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
        sig.check = _summarise(emb, status)

    # -- changes -----------------------------------------------------------------------------

    def _changes(self, sigs: list[_Sig]) -> dict[int, RevisionChanges]:
        """Findings for every revision after the first signed one."""
        signed = [s.signed_revision for s in sigs]
        if not signed:
            return {}
        first = min(signed)
        total = self.reader.xrefs.total_revisions
        planted: set[Ref] = set()
        for revision in self.layout.revisions:
            if revision.index <= first:
                planted |= self._mentioned(revision.index, revision.start, revision.end)
        result: dict[int, RevisionChanges] = {}
        views = {first: build_view(self.reader, first)}
        for index in range(first + 1, total):
            self.deadline.check()
            views[index] = build_view(self.reader, index)
            own = self.layout.revision(index)
            deleted = frozenset(own.deleted.items()) if own is not None and own.index == index \
                else frozenset()
            result[index] = changes_module.analyse_revision(
                self.reader, index, old=views[index - 1], new=views[index], planted=planted,
                deleted=deleted)
            views.pop(index - 1)
            own = self.layout.revision(index)
            if own is not None:
                planted |= self._mentioned(index, own.start, own.end)
        self._final = views[total - 1]
        return result

    def _final_view(self) -> View:
        """The final revision's catalog, pages and fields (walked once, by `_changes`)."""
        if self._final is None:
            self._final = build_view(self.reader, self.reader.xrefs.total_revisions - 1)
        return self._final

    def _mentioned(self, index: int, start: int, end: int) -> set[Ref]:
        # Cross-reference sections and trailers are no content: what a trailer points to (/Info,
        # /Root, a producer's private keys such as LibreOffice's /AdditionalStreams, which name
        # numbers that a later update may reuse) was never content anyone signed.
        refs: set[Ref] = set()
        at = start
        for span_start, span_end in self._trailer_spans():
            if span_end <= at or span_start >= end:
                continue
            refs |= mentioned_refs(self.pdf[at:max(at, span_start)])
            at = max(at, span_end)
        refs |= mentioned_refs(self.pdf[at:end])
        for stream_ref in self.reader.xrefs.object_streams_used_in(index):
            try:
                stream = self.reader.get_object(stream_ref)
                if isinstance(stream, generic.StreamObject):
                    refs |= mentioned_refs(stream.data)
            except Exception:  # noqa: BLE001 - an unreadable object stream hides nothing here
                continue
        return refs

    def _trailer_spans(self) -> list[tuple[int, int]]:
        """[start, end) of every cross-reference section with its trailer, in file order."""
        spans = getattr(self, "_spans", None)
        if spans is None:
            spans = []
            for revision in self.layout.revisions:
                for section in getattr(revision, "sections", ()):
                    spans.append((section.offset, section.end))
            xrefs = self.reader.xrefs
            for index in range(xrefs.total_revisions):
                hybrid = xrefs.get_xref_data(index).hybrid
                if hybrid is not None:
                    spans.append((hybrid.meta_info.start_location, hybrid.meta_info.end_location))
            spans.sort()
            self._spans = spans
        return spans

    def _judge_changes(self, sigs: list[_Sig], revision_changes: dict[int, RevisionChanges],
                       document: list[Verdict]) -> None:
        """Attach to each signature the changes after it that its policy does not permit."""
        if self.policy == "standard" and sigs:
            self._judge_overlaps(sigs, document)
        if not revision_changes:
            return
        judged: dict[int, list[str]] = {}
        for index, changes in sorted(revision_changes.items()):
            self.deadline.check()
            before = [s for s in sigs if s.signed_revision < index]
            judged[index] = self._violations(index, changes, before)
        all_reasons = [reason for reasons in judged.values() for reason in reasons]
        if all_reasons:
            document.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, tuple(all_reasons)))
        for sig in sigs:
            reasons = tuple(r for index, rs in judged.items() if index > sig.signed_revision
                            for r in rs)
            if reasons:
                sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, tuple(
                    f"after this signature, {r}" for r in reasons)))

    def _judge_overlaps(self, sigs: list[_Sig], document: list[Verdict]) -> None:
        """The EU DSS validator's annotation-overlap check, on the document as it is now: on a
        page, an annotation with an area overlaps another one (whichever revision added them),
        so one may hide the other or what it marks. DSS reports it for every signature."""
        boxes: dict[int, list[tuple[float, float, float, float]]] = {}
        try:
            view = self._final_view()
            for ref, page in view.annots.items():
                annot = view.get(ref)
                rect = changes_module.rect_of(annot) if isinstance(
                    annot, generic.DictionaryObject) else None
                if rect is not None and rect[2] > rect[0] and rect[3] > rect[1]:
                    boxes.setdefault(page, []).append(rect)
        except VerificationTimeout:
            raise
        except Exception:  # noqa: BLE001 - an unreadable page tree is judged elsewhere
            return
        pages = []
        for page, rects in sorted(boxes.items()):
            self.deadline.check()
            if _any_overlap(rects):
                pages.append(page)
        if not pages:
            return
        reason = ("annotations overlap one another on page(s) "
                  + ", ".join(str(p + 1) for p in pages[:10])
                  + (" and more" if len(pages) > 10 else "")
                  + ": one may hide another or the content it marks (the EU DSS validator's "
                  "annotation-overlap check)")
        document.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (reason,)))
        for sig in sigs:
            sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (reason,)))

    def _violations(self, index: int, changes: RevisionChanges, before: list[_Sig]) -> list[str]:
        label = f"revision {index + 1}"
        violations: list[str] = []
        findings = list(changes.findings)
        # Harmless to every viewer (the reader accounted for its bytes), so only reported:
        # pdfsig, for one, writes an empty appearance stream it never uses.
        self.warnings.extend(f"{label} {f.message}" for f in findings
                             if f.kind is Kind.UNREFERENCED)
        if self.policy == "strict":
            for f in findings:
                if f.kind not in STRICT_PERMITTED:
                    violations.append(f"{label} {f.message}, which the strict policy does not "
                                      "permit after a signature")
            added = [f for f in findings if f.kind in (Kind.SIGNATURE, Kind.NEW_SIGNATURE_FIELD,
                                                       Kind.DOC_TIMESTAMP)]
            if len(added) > 1:
                violations.append(f"{label} adds {len(added)} signatures at once")
        else:
            violations.extend(self._standard_violations(index, label, findings))
        violations.extend(self._mdp_violations(label, findings, before))
        return violations

    def _standard_violations(self, index: int, label: str,
                             findings: list[Finding]) -> list[str]:
        violations: list[str] = []
        unexplained = [f for f in findings if f.kind is Kind.UNEXPLAINED]
        for f in findings:
            if f.kind in STANDARD_PERMITTED or f.kind is Kind.UNEXPLAINED:
                continue
            if f.kind is Kind.NEW_FIELD and not f.visible:
                continue
            if f.kind is Kind.ANNOTATION:
                covered = self._covers_content(index, f)
                if covered is None:
                    self.warnings.append(f"{label} {f.message}")
                    continue
                violations.append(f"{label} {f.message} that covers {covered}")
                continue
            violations.append(f"{label} {f.message}")
        if unexplained:
            # Changes this engine does not recognise: accepted when pyhanko's difference
            # analysis explains the revision as form filling or less.
            level = self._pyhanko_level(index)
            if level is None or level > ModificationLevel.FORM_FILLING:
                for f in unexplained:
                    violations.append(f"{label} {f.message}")
            else:
                self.warnings.extend(f"{label} {f.message}" for f in unexplained)
        return violations

    def _pyhanko_level(self, index: int) -> ModificationLevel | None:
        """pyhanko's reading of revision `index`, or None when it does not explain it (it finds
        the update suspicious, or cannot walk the catalog, page tree or form at all)."""
        try:
            result = DEFAULT_DIFF_POLICY.apply(
                old=self.reader.get_historical_resolver(index - 1),
                new=self.reader.get_historical_resolver(index))
        except SuspiciousModification:
            return None
        except (RecursionError, MemoryError):
            raise
        except Exception:  # noqa: BLE001 - e.g. KeyError on a catalog without /Pages
            return None
        return result.modification_level

    def _covers_content(self, index: int, finding: Finding) -> str | None:
        """What a new visible annotation covers on its page: text, other annotations, or None."""
        if not finding.visible or finding.rect is None or finding.page is None:
            return None
        from docservice.signing.verify.overlap import covered_content

        previous = self.layout.revision(index - 1)
        end = previous.end if previous is not None else len(self.pdf)
        return covered_content(self.pdf[:end], finding.page, finding.rect)

    def _mdp_violations(self, label: str, findings: list[Finding],
                        before: list[_Sig]) -> list[str]:
        violations: list[str] = []
        for sig in before:
            emb = sig.embedded
            if emb is None:
                continue
            try:
                docmdp = emb.docmdp_level
                fieldmdp = emb.fieldmdp
            except Exception:  # noqa: BLE001 - unreadable permissions: nothing to enforce
                continue
            if docmdp is not None and docmdp in DOCMDP_PERMITTED:
                allowed = DOCMDP_PERMITTED[docmdp]
                for f in findings:
                    if f.kind not in allowed:
                        violations.append(f"{label} {f.message}, which the certification of "
                                          f"{sig.field_name} (DocMDP P={docmdp.value}) forbids")
            if fieldmdp is not None:
                for f in findings:
                    if f.field is not None and f.kind is not Kind.DOC_TIMESTAMP and \
                            fieldmdp.is_locked(f.field):
                        violations.append(f"{label} {f.message}, but {sig.field_name} locked "
                                          f"field {f.field!r}")
        return violations

    def _judge_order(self, sigs: list[_Sig], document: list[Verdict]) -> None:
        """Strict policy with expectations: the right signers, in order, in their own fields."""
        expected = self.expected_effective
        signatures = [s for s in sigs if s.kind == "signature"]
        role_of_field = {name: role for role, name in (expected.field_names.items()
                                                       if expected else [])}
        for sig in signatures:
            sig.role = role_of_field.get(sig.field_name) or _role_from_field(sig.field_name) or (
                sig.check.signer_role if sig.check else None)
        if self.policy != "strict" or expected is None:
            return
        wanted = list(expected.roles_in_order)
        for position, sig in enumerate(signatures):
            if expected.due is not None and position >= expected.due:
                sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (
                    f"signature {position + 1} was not due: only {expected.due} signature(s) "
                    f"({', '.join(wanted[:expected.due])}) may be in the document now",)))
                continue
            if position >= len(wanted):
                sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (
                    f"only {len(wanted)} signature(s) were expected "
                    f"({', '.join(wanted) or 'none'}); this is signature {position + 1}",)))
                continue
            role = wanted[position]
            field_name = expected.field_names.get(role)
            if sig.field_name != field_name:
                actual = role_of_field.get(sig.field_name)
                what = (f"the {actual}'s field" if actual else "a field of no signer")
                sig.problems.append(Verdict(TOTAL_FAILED, SIG_CONSTRAINTS_FAILURE, (
                    f"signature {position + 1} should be the {role}'s, in {field_name}, but it "
                    f"is in {sig.field_name} ({what}): wrong field or out of order",)))
                continue
            sig.role = role
            given = expected.signer_names.get(role, ())
            names = (given,) if isinstance(given, str) else given
            signer = sig.check.signer_name if sig.check else None
            if names and signer is not None and _norm(signer) not in {_norm(n) for n in names}:
                sig.problems.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (
                    f"signed by {signer!r}, but the {role} of this envelope is "
                    f"{' / '.join(dict.fromkeys(names))!r}: a certificate in someone else's name "
                    "that the coordinator did not accept",)))
        self.expected_signatures = tuple(
            ExpectedSignature(role, expected.field_names.get(role, ""), position < len(signatures),
                              signatures[position].check.signer_name  # type: ignore[union-attr]
                              if position < len(signatures) and signatures[position].check
                              else None)
            for position, role in enumerate(wanted))
        missing = wanted[len(signatures):]
        if missing:
            sentence = incomplete_sentence(missing)
            if expected.due is not None and len(signatures) < expected.due:
                document.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (sentence,)))
            else:
                self.warnings.append(sentence)

    # -- reporting ---------------------------------------------------------------------------

    def _signature_report(self, sig: _Sig, sigs: list[_Sig],
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
            changes_after=max(categories, key=changes_module.CATEGORY_ORDER.index),
            pades_level=self._pades_level(sig, status, later_timestamps),
        )

    def _crypto_verdicts(self, sig: _Sig, status: PdfSignatureStatus | DocumentTimestampStatus,
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
                if self.policy == "strict":
                    verdicts.append(Verdict(TOTAL_FAILED, SIG_CRYPTO_FAILURE, (reason,)))
                else:
                    # As the EU DSS validator: a broken timestamp proves no time, but the
                    # signature itself stands (the signing time is then simply not proven).
                    verdicts.append(Verdict(INDETERMINATE, NO_POE, (
                        f"{reason}: nothing proves when it was signed",)))
            elif tst is not None and not tst.trusted:
                reason = "its signature timestamp comes from an untrusted timestamp authority"
                if self.policy == "strict":
                    verdicts.append(Verdict(INDETERMINATE, NO_CERTIFICATE_CHAIN_FOUND, (reason,)))
                else:
                    self.warnings.append(f"{sig.field_name}: {reason}")
            elif tst is None and not later_timestamp and self.policy == "strict":
                expected = self.expected_effective
                last_allowed = expected is not None and expected.allow_untimestamped_last and \
                    self._is_last_signature(sig)
                if not last_allowed:
                    verdicts.append(Verdict(INDETERMINATE, SIG_CONSTRAINTS_FAILURE, (
                        "it has no timestamp: the strict policy requires PAdES B-T (a signature "
                        "timestamp or a later document timestamp)",)))
        return verdicts

    def _is_last_signature(self, sig: _Sig) -> bool:
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

    def _pades_level(self, sig: _Sig, status: object, later_timestamps: list[_Sig]) -> str | None:
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


def _any_overlap(rects: list[tuple[float, float, float, float]],
                 limit: int = 1_000_000) -> bool:
    """Whether two of `rects` share an area (touching edges do not count); past `limit`
    comparisons (a page built to exhaust this check), as if they did."""
    ordered = sorted(rects)
    for i, (_x0, y0, x1, y1) in enumerate(ordered):
        for a0, b0, _a1, b1 in ordered[i + 1:]:
            limit -= 1
            if limit < 0:
                return True
            if a0 >= x1:
                break  # sorted by left edge: no later box reaches back into this one
            if b0 < y1 and y0 < b1:
                return True
    return False


def _ts_ok(sig: _Sig) -> bool:
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


def _role_from_field(name: str) -> str | None:
    match = _FIELD_ROLE.match(name)
    return match.group(1) if match and match.group(1) in ROLES else None


def _cn(cert: asn1_x509.Certificate) -> str | None:
    value = cert.subject.native.get("common_name")
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())
