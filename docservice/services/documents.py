"""Generate the documents placements lack, and read them back."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from docservice.archive import audit
from docservice.archive.blobs import FilesystemBlobStore
from docservice.db import after_commit
from docservice.documents.catalogue import TemplateRef, template_for
from docservice.documents.context import build_context
from docservice.documents.generate import GeneratedDocument, PdfConverter, generate_document
from docservice.domain import sha256_hex
from docservice.errors import DocserviceError, NotFound
from docservice.models import Document, DocumentKind, Placement, Revision
from docservice.observability.metrics import DOCUMENTS_GENERATED
from docservice.services.placements import placements_query


@dataclass(frozen=True)
class GenerationJob:
    """One document to make: everything the worker thread needs, no database objects."""

    placement_id: int
    template: TemplateRef
    context: dict[str, Any]
    reference: str


def placements_lacking_documents(session: Session, year: str | None = None) -> list[Placement]:
    """Placements with at least one required document not generated yet."""
    return [p for p in session.scalars(placements_query(year)) if p.missing_kinds()]


def _reference(placement: Placement, kind: DocumentKind) -> str:
    earlier = sum(1 for d in placement.documents if d.kind == kind.value)
    return f"DS-{placement.academic_year.code}-{placement.student_number}-{kind.value}-{earlier + 1}"


def plan_generation(placements: list[Placement], templates_root: Path) -> list[GenerationJob]:
    """The documents to generate for `placements`, in order."""
    jobs = []
    for placement in placements:
        for kind in placement.missing_kinds():
            reference = _reference(placement, kind)
            jobs.append(GenerationJob(
                placement_id=placement.id,
                template=template_for(templates_root, kind, placement.language),
                context=build_context(placement, reference=reference),
                reference=reference,
            ))
    return jobs


def generation_threads(converters: int) -> int:
    """Threads that render and convert: twice the converters, so none of them waits idle
    while its thread renders the next DOCX or places the fields of the last PDF."""
    return max(1, 2 * converters)


@dataclass(frozen=True)
class GenerationFailure:
    """A document that could not be made, and why (the placement's data or its template)."""

    placement_id: int
    reference: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reference}: {self.reason}"


def generate_missing(session: Session, *, converter: PdfConverter, blobs: FilesystemBlobStore,
                     templates_root: Path, pdfa: bool, converters: int, actor: audit.Actor,
                     year: str | None = None,
                     progress: Callable[[int], None] | None = None,
                     failures: list[GenerationFailure] | None = None) -> list[Document]:
    """Generate every document the placements lack; blobs are written before any row.

    Without `failures` the first document that cannot be made stops the run (nothing is
    stored). With it, such documents are listed there and the rest is stored: one placement
    with a name too long for its signature block does not hold up the cohort.
    """
    jobs = plan_generation(placements_lacking_documents(session, year), templates_root)

    def run(job: GenerationJob) -> GeneratedDocument | GenerationFailure:
        try:
            made = generate_document(job.template, job.context, converter,
                                     reference=job.reference, pdfa=pdfa)
        except DocserviceError as e:
            if failures is None:
                raise
            return GenerationFailure(job.placement_id, job.reference, str(e))
        # Content-addressed and write-once: a rollback leaves an orphan blob, never a dangling row.
        blobs.put(made.docx)
        blobs.put(made.pdf)
        return made

    documents = []
    with ThreadPoolExecutor(max_workers=generation_threads(converters)) as pool:
        for job, made in zip(jobs, pool.map(run, jobs), strict=True):
            if isinstance(made, GenerationFailure):
                assert failures is not None
                failures.append(made)
            else:
                documents.append(store_document(session, job.placement_id, made, actor))
            if progress:
                progress(1)
    return documents


def store_document(session: Session, placement_id: int, made: GeneratedDocument,
                   actor: audit.Actor) -> Document:
    """Record a generated document and its first revision (its blobs are stored already)."""
    pdf_sha = sha256_hex(made.pdf)
    document = Document(
        placement_id=placement_id, kind=made.template.kind.value,
        language=made.template.language, reference=made.reference,
        template_sha256=made.template_sha256, docx_sha256=sha256_hex(made.docx),
    )
    document.revisions.append(Revision(number=0, sha256=pdf_sha, size=len(made.pdf),
                                       reason="generated"))
    session.add(document)
    session.flush()
    audit.record(session, "document.generated", actor, placement_id=placement_id,
                 document=made.reference, sha256=pdf_sha, template=made.template.name,
                 template_sha256=made.template_sha256)
    # Counted once the document is committed: a rolled-back generation made nothing.
    after_commit(session, DOCUMENTS_GENERATED.labels(kind=made.template.kind.value).inc)
    return document


def document_of_placement(session: Session, placement_id: int, document_id: int) -> Document:
    """A current document, only if it belongs to that placement (no guessing other ids)."""
    document = session.get(Document, document_id)
    if document is None or document.placement_id != placement_id or document.superseded_at:
        raise NotFound("document")
    return document


def export_pdfs(documents: list[Document], blobs: FilesystemBlobStore, out: Path) -> list[Path]:
    """Copy the documents' current PDFs into `out` as <student_number>-<kind>.pdf."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for document in documents:
        target = out / f"{document.placement.student_number}-{document.kind}.pdf"
        tmp = target.with_suffix(".pdf.tmp")
        tmp.write_bytes(blobs.get(document.current_revision.sha256))
        shutil.move(tmp, target)
        written.append(target)
    return written
