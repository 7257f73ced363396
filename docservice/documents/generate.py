"""From a template and a placement's data to a PDF with its empty signature fields."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from docservice.documents.catalogue import TemplateRef
from docservice.documents.fields import (
    PlacedField,
    locate_fields,
    text_layout,
)
from docservice.documents.render import XML_LOCK, render_docx
from docservice.domain import sha256_hex
from docservice.signing.fields import add_signature_fields


class PdfConverter(Protocol):
    """Anything that turns DOCX bytes into PDF bytes (the LibreOffice pool)."""

    def convert(self, docx: bytes, *, pdfa: bool = False) -> Any: ...


@dataclass(frozen=True)
class GeneratedDocument:
    """One rendered document: its DOCX, its PDF with signature fields, and how long it took."""

    template: TemplateRef
    template_sha256: str
    reference: str
    docx: bytes
    pdf: bytes
    fields: list[PlacedField]
    timings_ms: dict[str, float] = field(default_factory=dict)


def generate_document(template: TemplateRef, context: dict[str, Any], converter: PdfConverter,
                      *, reference: str, pdfa: bool) -> GeneratedDocument:
    """Render, convert, and place one empty signature field per signer."""
    t0 = time.perf_counter()
    with XML_LOCK:
        docx = render_docx(template.path, context)
    t1 = time.perf_counter()
    converted = converter.convert(docx, pdfa=pdfa)
    t2 = time.perf_counter()
    fields = locate_fields(template.name, text_layout(converted.pdf, template.anchors.values()),
                           template.anchors)
    with XML_LOCK:
        pdf = add_signature_fields(converted.pdf, fields)
    t3 = time.perf_counter()
    return GeneratedDocument(
        template=template,
        template_sha256=sha256_hex(template.path.read_bytes()),
        reference=reference,
        docx=docx,
        pdf=pdf,
        fields=fields,
        timings_ms={
            "render": (t1 - t0) * 1000,
            "convert": (t2 - t1) * 1000,
            "libreoffice": getattr(converted, "libreoffice_ms", 0.0),
            "fields": (t3 - t2) * 1000,
        },
    )
