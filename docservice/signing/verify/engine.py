"""verify_pdf: one verdict on a PDF and each of its signatures, under the strict or standard policy.

Stages: read the file (pyhanko, with decoding limits) → check its revision structure byte by
byte (`structure`) → compare each revision after the first signature with the one before it
(`changes`, judged in `modifications`) → validate each signature with pyhanko, point in time
(`signatures`) → match signers to the expected ones (`signers`) → judge, under the policy
(`policy`: STRICT or STANDARD), into an ETSI-style report.
Nothing a file contains makes this raise: an unreadable or hostile file becomes a FORMAT_FAILURE
report, within a time budget.
"""

from __future__ import annotations

import contextvars
import io
import logging
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko_certvalidator import ValidationContext

from docservice.domain import SIGNER_ROLES, sha256_hex
from docservice.signing.verify import renderers, rendering, visual
from docservice.signing.verify.modifications import ModificationChecks
from docservice.signing.verify.policy import STANDARD, Policy, PolicyChoice, chosen
from docservice.signing.verify.reader import read_revisions
from docservice.signing.verify.reference import find_reference
from docservice.signing.verify.report import (
    FORMAT_FAILURE,
    INDETERMINATE,
    NO_SIGNATURE_FOUND,
    SIG_CONSTRAINTS_FAILURE,
    TOTAL_FAILED,
    ExpectedSignature,
    Report,
    SignatureReport,
    Verdict,
)
from docservice.signing.verify.signatures import SignatureChecks
from docservice.signing.verify.signers import SERVICE_FIELDS, SignerChecks
from docservice.signing.verify.verification import (
    Deadline,
    Expected,
    Limits,
    Sig,
    Trust,
    UnreadablePdf,
    UnreadableStructure,
    VerificationTimeout,
)
from docservice.signing.verify.views import View, reachable, rect_of

# Trust, Expected, Limits and the errors are the engine's inputs and outcomes: named here too.
__all__ = ["Expected", "Limits", "Trust", "UnreadablePdf", "UnreadableStructure",
           "VerificationTimeout", "drawing_signed_revisions_ahead", "verify_pdf"]

logger = logging.getLogger(__name__)


def verify_pdf(pdf: bytes, *, trust: Trust, policy: PolicyChoice = "auto",
               expected: Expected | None = None, at: datetime | None = None,
               limits: Limits | None = None) -> Report:
    """Verify `pdf` and every signature in it; never raises for anything the file contains.

    policy "auto" is strict for the service's own documents (its reference in the footer, or
    its three signature fields) and when `expected` is given, standard otherwise.
    """
    limits = limits or Limits()
    sha256 = sha256_hex(pdf)
    # What the report names when the file cannot be read far enough to know whose it is.
    named = chosen(policy, service=expected is not None)
    try:
        with _quiet_libraries():
            return _Verification(pdf, trust=trust, policy=policy, expected=expected,
                                 at=(at or datetime.now(UTC)).astimezone(UTC), limits=limits,
                                 sha256=sha256).run()
    except UnreadablePdf as e:
        return _failed(sha256, len(pdf), named, [e.reason], readable=False)
    except UnreadableStructure as e:
        return _failed(sha256, len(pdf), named, e.problems)
    except VerificationTimeout as e:
        return _failed(sha256, len(pdf), named,
                       [f"verification was stopped after {e.seconds:g} s: the file is too "
                        "complex or malformed to verify"])
    except RecursionError:
        return _failed(sha256, len(pdf), named,
                       ["the file nests objects too deeply to be read safely"])
    except MemoryError:
        return _failed(sha256, len(pdf), named, ["the file needs too much memory to verify"])
    except Exception as e:  # noqa: BLE001 - hostile input must never become a traceback
        logger.warning("verification of %s failed", sha256, exc_info=True)
        return _failed(sha256, len(pdf), named,
                       [f"the file's structure cannot be read ({type(e).__name__}: {e})"])


#: A signature's /ByteRange as pyhanko writes it: its last two numbers end the signed revision.
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]")
#: Signed revisions drawn ahead at most (the service's documents have three or four).
_MAX_AHEAD = 16


@contextmanager
def drawing_signed_revisions_ahead(pdf: bytes) -> Iterator[rendering.DrawingAhead]:
    """Draw now, in the background, what `verify_pdf` of a file that extends `pdf` by
    incremental updates will draw of it: each revision a signature in `pdf` covers.

    For a caller with work to do before it verifies (the archive completes the document
    first). Only a head start: `verify_pdf` takes a rendering only of the very same bytes, and
    draws itself whatever this guessed wrong (`rendering.drawing_ahead`).
    """
    ends = sorted({int(m[3]) + int(m[4]) for m in _BYTE_RANGE.finditer(pdf)})
    with rendering.drawing_ahead([pdf[:end] for end in ends
                                  if 0 < end <= len(pdf)][-_MAX_AHEAD:]) as ahead:
        yield ahead


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


def _failed(sha256: str, size: int, policy: Policy, reasons: list[str], *,
            readable: bool = True) -> Report:
    return Report(TOTAL_FAILED, FORMAT_FAILURE, tuple(reasons), sha256, 0, policy.name,
                  readable=readable, size=size)


@dataclass(frozen=True)
class _Drawn:
    """The renderings of the signed revisions ending at `ends`, then of the final file."""

    ends: list[int]
    renderings: list[rendering.Rendering]
    problem: str | None  # why nothing could be drawn



class _Verification(SignatureChecks, ModificationChecks, SignerChecks):
    def __init__(self, pdf: bytes, *, trust: Trust, policy: PolicyChoice,
                 expected: Expected | None,
                 at: datetime, limits: Limits, sha256: str) -> None:
        self.pdf = pdf
        self.trust = trust
        self.requested = policy
        self.expected = expected
        self.at = at
        self.limits = limits
        self.sha256 = sha256
        self.deadline = Deadline(limits.seconds)
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
                "this service verifies",))], [], STANDARD, None)
        if reader.encrypted:
            try:
                reader.decrypt("")
            except Exception:  # noqa: BLE001 - any failure: the document stays unreadable
                return self._report([Verdict(INDETERMINATE, FORMAT_FAILURE, (
                    "the document is encrypted with a password: its signatures cannot be "
                    "checked",))], [], STANDARD, None)
        self.deadline.check()
        reference = find_reference(reader.get_historical_resolver(0))
        sigs = self._signatures()
        self._all_sigs = sigs
        service = reference is not None or set(SERVICE_FIELDS.values()) <= self._field_names()
        policy = chosen(self.requested, service=service or self.expected is not None)
        expected = self.expected
        if expected is None and policy.checks_signer_order and service:
            # Nothing says which stage this is: the report lists every signature field the
            # service prepared and says which are still empty.
            fields = self._field_names()
            expected = Expected(roles_in_order=tuple(r for r in SIGNER_ROLES
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
        if policy.refuse_signed_structure_problems:
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

    def _start_drawing(self, sigs: list[Sig]) -> Future[_Drawn] | None:
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
                return _Drawn(ends, rendering.render_many(pdfs, deadline=deadline), None)
            except renderers.VisualTimeout:
                return _Drawn(ends, [], f"what viewers show could not be compared within "
                              f"{self.limits.seconds:g} s ({len(pdfs)} revisions to draw)")
            except renderers.RendererUnavailable as e:
                return _Drawn(ends, [], f"what viewers show could not be compared ({e})")

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-draw")
        try:
            # In this context: renderings drawn ahead (rendering.drawing_ahead) are taken.
            return pool.submit(contextvars.copy_context().run, draw)
        finally:
            pool.shutdown(wait=False)  # the call goes on; run() waits for its result

    def _judge_visual(self, sigs: list[Sig], drawn: _Drawn, document: list[Verdict]) -> None:
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
        for end, before in zip(ends, signed, strict=True):
            reasons = visual.differences(before, final, masks=masks)
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

    def _visual_masks(self) -> dict[int, list[rendering.Rect]]:
        """The rectangles a later revision may paint in: the signature widgets (their
        appearance is judged by the change analysis), and under the standard policy every
        annotation, whose additions that policy judges by what they cover."""
        view = self._final_view()
        signature_widgets = {w for info in view.fields.values() if info.field_type == "/Sig"
                             for w in ([info.ref] if info.widget_of is None else []) + info.widgets}
        masks: dict[int, list[rendering.Rect]] = {}
        for ref, page in view.annots.items():
            if not self.policy.visual_outside_annotations and ref not in signature_widgets:
                continue
            annot = view.get(ref)
            rect = rect_of(annot) if isinstance(
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

    def _report(self, document: list[Verdict], signatures: list[SignatureReport], policy: Policy,
                reference: str | None) -> Report:
        per_signature = [Verdict(s.indication, s.sub_indication,
                                 tuple(f"{s.field_name}: {r}" for r in s.reasons))
                         for s in signatures]
        verdict = Verdict.worst(document + per_signature)
        return Report(
            indication=verdict.indication, sub_indication=verdict.sub_indication,
            reasons=verdict.reasons, sha256=self.sha256,
            revisions=self.reader.xrefs.total_revisions, policy=policy.name,
            signatures=tuple(signatures), document_reference=reference, size=len(self.pdf),
            warnings=tuple(dict.fromkeys(self.warnings)),
            expected_signatures=self.expected_signatures)

    def _field_names(self) -> set[str]:
        try:
            return {str(name) for name, _, _ in enumerate_sig_fields(self.reader)}
        except (KeyError, TypeError, ValueError, AttributeError):
            return set()

