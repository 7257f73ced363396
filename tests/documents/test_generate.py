"""The generation pipeline for real: docxtpl, LibreOffice, signature fields, blobs, rows."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from docx import Document as DocxDocument
from pypdf import PdfReader
from sqlalchemy import select

from docservice.db import unit_of_work
from docservice.documents.catalogue import SIGNATURE_ANCHORS
from docservice.documents.context import build_context
from docservice.documents.render import render_docx
from docservice.domain import signature_field_name
from docservice.errors import TemplateVariableMissing
from docservice.models import Document, Placement
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row


def _generate(runtime, year: str | None = None) -> list[str]:
    with unit_of_work(runtime.db) as session:
        made = generate_missing(session, converter=runtime.converter, blobs=runtime.blobs,
                                templates_root=runtime.settings.templates_path, pdfa=True,
                                converters=2, actor=TEST_ACTOR, year=year)
        return [d.reference for d in made]


def _import(runtime, *rows) -> None:
    with unit_of_work(runtime.db) as session:
        import_placements(session, csv_bytes(list(rows)), actor=TEST_ACTOR)


def _pdfs(runtime) -> dict[str, bytes]:
    with unit_of_work(runtime.db) as session:
        return {d.reference: runtime.blobs.get(d.current_revision.sha256)
                for d in session.scalars(select(Document).order_by(Document.id))}


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _words(pdf: bytes, page: int) -> list[tuple[float, float, float, float, str]]:
    """Word boxes (top-left origin) on a 0-based page, read by poppler."""
    out = subprocess.run(["pdftotext", "-bbox", "-f", str(page + 1), "-l", str(page + 1), "-", "-"],
                         input=pdf, capture_output=True, check=True).stdout.decode()
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', out)]


def test_every_required_document_is_generated_with_the_placement_data(runtime, year):
    _import(runtime, row(0), row(1, nda="nee", copyright_waiver="nee", expense_allowance="",
                                 language="en", student_first_name="Noël", student_last_name="Dubois"))
    references = _generate(runtime)
    assert sorted(references) == [
        "DS-2023-2024-r0123456-afstand-auteursrecht-1",
        "DS-2023-2024-r0123456-geheimhoudingsverklaring-1",
        "DS-2023-2024-r0123456-stageovereenkomst-1",
        "DS-2023-2024-r0123457-stageovereenkomst-1",
    ]
    pdfs = _pdfs(runtime)
    agreement = _text(pdfs["DS-2023-2024-r0123456-stageovereenkomst-1"])
    flat = " ".join(agreement.split())
    for expected in ("Zoë Vermeulen-D'Hondt", "Janssens & Zonen BV", "Seán O'Neill",
                     "Joëlle Peeters", "0403.512.377", "12/02/2024", "17/05/2024",
                     "€ 150 per maand", "r0123456", "Frank Vandromme", "Thomas More"):
        assert expected in flat, expected
    for clause in ("onbezoldigd", "arbeidsovereenkomst", "verzekerd", "auteursrecht",
                   "geheimhoudingsverklaring", "afwezig", "evaluatie"):
        assert clause in flat.lower(), clause
    english = " ".join(_text(pdfs["DS-2023-2024-r0123457-stageovereenkomst-1"]).split())
    assert "Noël Dubois" in english and "employment contract" in english.lower()
    assert "€ 150" not in english  # no allowance agreed for this one
    nda = " ".join(_text(pdfs["DS-2023-2024-r0123456-geheimhoudingsverklaring-1"]).split())
    assert "Zoë Vermeulen-D'Hondt" in nda and "Janssens & Zonen BV" in nda


def test_each_pdf_has_three_empty_signature_fields_over_its_signature_block(runtime, year):
    long_name = "Maximiliaan-Alexander Van den Broeck-de Wolf"
    _import(runtime, row(0, company_signatory_name=long_name,
                         company_signatory_title="gedelegeerd bestuurder en hoofd informatiebeveiliging"))
    _generate(runtime)
    for reference, pdf in _pdfs(runtime).items():
        reader = PdfReader(io.BytesIO(pdf))
        fields = []
        for number, page in enumerate(reader.pages):
            for annot in page.get("/Annots") or []:
                annot = annot.get_object()
                if annot.get("/FT") == "/Sig":
                    fields.append((str(annot["/T"]), number, [float(v) for v in annot["/Rect"]],
                                   "/V" in annot))
        assert sorted(f[0] for f in fields) == sorted(
            signature_field_name(r) for r in ("student", "company", "school")), reference
        assert not any(signed for *_, signed in fields)
        for name, number, (x0, y0, x1, y1), _ in fields:
            role = name.removeprefix("Signature_")
            height = float(reader.pages[number].mediabox.height)
            words = _words(pdf, number)
            text = " ".join(w[4] for w in words)
            assert SIGNATURE_ANCHORS["nl"][role] in text, (reference, role)  # the block's page
            top, bottom = height - y1, height - y0
            assert x1 - x0 >= 120 and y1 - y0 >= 40
            overlapping = [w for w in words if w[0] < x1 and x0 < w[2] and w[1] < bottom and top < w[3]]
            assert overlapping == [], (reference, name, overlapping)
            # Right under its own anchor: the anchor's last word ends just above the field.
            anchor_word = SIGNATURE_ANCHORS["nl"][role].split()[-1]
            above = [w for w in words if w[4] == anchor_word and 0 <= top - w[3] < 12]
            assert above, (reference, name)


def test_generation_is_idempotent_and_pdfa(runtime, year):
    _import(runtime, row(0))
    assert len(_generate(runtime)) == 3
    assert _generate(runtime) == []
    pdf = next(iter(_pdfs(runtime).values()))
    assert b"pdfaid:part" in pdf and (b'pdfaid:part="2"' in pdf or b"<pdfaid:part>2</pdfaid:part>" in pdf)


def test_missing_variable_fails_naming_it(runtime, year, tmp_path: Path):
    template = tmp_path / "nl" / "broken.docx"
    template.parent.mkdir()
    docx = DocxDocument()
    docx.add_paragraph("Beste {{ student.full_name }}, je tweede naam is {{ student.middle_name }}.")
    docx.save(template)
    _import(runtime, row(0))
    with unit_of_work(runtime.db) as session:
        placement = session.scalars(select(Placement)).one()
        context = build_context(placement, reference="X")
        with pytest.raises(TemplateVariableMissing) as caught:
            render_docx(template, context)
        assert caught.value.variable == "student.middle_name"
        assert "nl/broken.docx uses 'student.middle_name'" in str(caught.value)

        # An empty value is missing too: never a blank in a contract.
        placement.mentor_phone = ""
        real = runtime.settings.templates_path / "nl" / "stageovereenkomst.docx"
        with pytest.raises(TemplateVariableMissing) as caught:
            render_docx(real, build_context(placement, reference="X"))
        assert caught.value.variable == "mentor.phone"
        session.rollback()
