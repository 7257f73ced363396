"""What came after each signature: the changes of every later revision, judged against the
policy and against the permissions the signatures themselves set (DocMDP, FieldMDP)."""

from __future__ import annotations

from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.diff_analysis.policy_api import SuspiciousModification
from pyhanko.sign.fields import MDPPerm

from docservice.signing.verify.changes import Finding, Kind, RevisionChanges, analyse_revision
from docservice.signing.verify.report import (
    SIG_CONSTRAINTS_FAILURE,
    TOTAL_FAILED,
    Verdict,
)
from docservice.signing.verify.structure import (
    Ref,
    mentioned_refs,
)
from docservice.signing.verify.verification import Sig, VerificationState, VerificationTimeout
from docservice.signing.verify.views import View, build_view, rect_of

#: What a certification signature's DocMDP permission P allows after it (ISO 32000-2, 12.8.2.2).
DOCMDP_PERMITTED = {
    MDPPerm.NO_CHANGES: frozenset({Kind.DOC_TIMESTAMP, Kind.VALIDATION_DATA, Kind.METADATA,
                                   Kind.UNREFERENCED}),
    MDPPerm.FILL_FORMS: frozenset({Kind.DOC_TIMESTAMP, Kind.VALIDATION_DATA, Kind.METADATA,
                                   Kind.SIGNATURE, Kind.NEW_SIGNATURE_FIELD, Kind.FORM_FILLING,
                                   Kind.NEW_FIELD, Kind.PRIVATE_DATA, Kind.REWRITTEN,
                                   Kind.UNREFERENCED}),
}



class ModificationChecks(VerificationState):
    """The stages that judge later revisions."""

    # -- changes -----------------------------------------------------------------------------

    def _changes(self, sigs: list[Sig]) -> dict[int, RevisionChanges]:
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
            result[index] = analyse_revision(
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

    def _judge_changes(self, sigs: list[Sig], revision_changes: dict[int, RevisionChanges],
                       document: list[Verdict]) -> None:
        """Attach to each signature the changes after it that its policy does not permit."""
        if self.policy.annotation_overlap_check and sigs:
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

    def _judge_overlaps(self, sigs: list[Sig], document: list[Verdict]) -> None:
        """The EU DSS validator's annotation-overlap check, on the document as it is now: on a
        page, an annotation with an area overlaps another one (whichever revision added them),
        so one may hide the other or what it marks. DSS reports it for every signature."""
        boxes: dict[int, list[tuple[float, float, float, float]]] = {}
        try:
            view = self._final_view()
            for ref, page in view.annots.items():
                annot = view.get(ref)
                rect = rect_of(annot) if isinstance(
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

    def _violations(self, index: int, changes: RevisionChanges, before: list[Sig]) -> list[str]:
        label = f"revision {index + 1}"
        violations: list[str] = []
        findings = list(changes.findings)
        # Harmless to every viewer (the reader accounted for its bytes), so only reported:
        # pdfsig, for one, writes an empty appearance stream it never uses.
        self.warnings.extend(f"{label} {f.message}" for f in findings
                             if f.kind is Kind.UNREFERENCED)
        policy = self.policy
        if policy.changes_judged_by_effect:
            violations.extend(self._standard_violations(index, label, findings))
        else:
            for f in findings:
                if f.kind not in policy.permitted_changes:
                    violations.append(f"{label} {f.message}, which the {policy.name} policy does "
                                      "not permit after a signature")
        if policy.one_signature_per_revision:
            added = [f for f in findings if f.kind in (Kind.SIGNATURE, Kind.NEW_SIGNATURE_FIELD,
                                                       Kind.DOC_TIMESTAMP)]
            if len(added) > 1:
                violations.append(f"{label} adds {len(added)} signatures at once")
        violations.extend(self._mdp_violations(label, findings, before))
        return violations

    def _standard_violations(self, index: int, label: str,
                             findings: list[Finding]) -> list[str]:
        violations: list[str] = []
        unexplained = [f for f in findings if f.kind is Kind.UNEXPLAINED]
        for f in findings:
            if f.kind in self.policy.permitted_changes or f.kind is Kind.UNEXPLAINED:
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
                        before: list[Sig]) -> list[str]:
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

