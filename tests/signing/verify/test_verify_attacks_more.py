"""More tampering classes, found by red-teaming the engine from outside: each makes a viewer show
a changed contract while an earlier engine said TOTAL_PASSED.

- a widget without an appearance stream, which poppler and MuPDF draw anyway (its /MK background,
  a form field's value): taken for invisible, and masked in the visual comparison as a signature
  widget, it blanked or replaced signed words (a document timestamp under the strict policy, a
  new text field under the standard one);
- /NeedAppearances switched on: viewers redraw every field, signatures' stamps included;
- startxref pointing at blanks before an update's cross-reference section: pypdf then rebuilds
  its cross-reference from every "N G obj" in the file, and shows a page redefined in a comment
  that no other reader reads (/Prev is held to the same).
"""

from __future__ import annotations

import io
import re

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject, NameObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfTimeStamper

from docservice.signing.pades import PadesSigner
from docservice.signing.pki import Pki
from docservice.signing.verify import Report, Trust, verify_pdf
from tests.signing.conftest import SignedContract
from tests.signing.verify import attacks

RECT = (60.0, 600.0, 540.0, 760.0)  # over the first page's text


@pytest.fixture(scope="session")
def trust(pki: Pki) -> Trust:
    return Trust(roots=pki.trust_roots, crls=pki.crls)


def reasons(report: Report) -> str:
    return "\n".join(report.reasons)


def _widget(writer: IncrementalPdfFileWriter, field_type: str, **extra: generic.PdfObject
            ) -> generic.IndirectObject:
    """A new field, merged with its widget on page 1, without /AP: in /Fields and /Annots."""
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    widget = DictionaryObject({
        NameObject("/FT"): NameObject(field_type), NameObject("/T"): generic.pdf_string("x"),
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
        NameObject("/Rect"): ArrayObject([generic.FloatObject(v) for v in RECT]),
        NameObject("/F"): generic.NumberObject(4), NameObject("/P"): page_ref, **{
            NameObject("/" + k): v for k, v in extra.items()}})
    ref = writer.add_object(widget)
    form_ref = writer.root.raw_get("/AcroForm")
    form_ref.get_object()["/Fields"].append(ref)
    writer.mark_update(form_ref)
    page = page_ref.get_object()
    if "/Annots" in page and isinstance(page.raw_get("/Annots"), generic.IndirectObject):
        page["/Annots"].append(ref)
        writer.mark_update(page.raw_get("/Annots"))
    else:
        page["/Annots"] = ArrayObject([*page.get("/Annots", []), ref])
        writer.mark_update(page_ref)
    return ref


def _white_background() -> DictionaryObject:
    return DictionaryObject({NameObject("/BG"): ArrayObject([generic.FloatObject(1)])})


def test_a_timestamp_whose_widget_viewers_paint_is_not_invisible(
        signed_contract: SignedContract, trust: Trust, pades: PadesSigner) -> None:
    """The strict policy permits a document timestamp, invisible; this one's widget has no
    appearance stream, but poppler and MuPDF fill its /MK background over the signed text."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_contract.by_school), strict=False)
    _widget(writer, "/Sig", MK=_white_background())
    out = io.BytesIO()
    PdfTimeStamper(pades.timestamper, field_name="x").timestamp_pdf(writer, "sha256", output=out)
    report = verify_pdf(out.getvalue(), trust=trust, policy="strict")
    assert report.indication == "TOTAL_FAILED", report.to_text()
    assert "adds a new signature field 'x' and signs it" in reasons(report), report.to_text()


def test_a_new_field_whose_value_viewers_draw_is_not_invisible(
        signed_contract: SignedContract, trust: Trust) -> None:
    """A text field without an appearance stream: viewers draw its value ("EUR 1500") on its
    white background, over the signed text, in every viewer."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_contract.by_school), strict=False)
    _widget(writer, "/Tx", MK=_white_background(), V=generic.pdf_string("EUR 1500"),
            DA=generic.pdf_string("/Helv 9 Tf 0 g"))
    out = io.BytesIO()
    writer.write(out)
    for policy in ("strict", "standard"):
        report = verify_pdf(out.getvalue(), trust=trust, policy=policy)  # type: ignore[arg-type]
        assert report.indication == "TOTAL_FAILED", report.to_text()
        assert "adds a new, empty form field 'x' with a visible appearance" in reasons(report), \
            report.to_text()


def test_need_appearances_switched_on_after_signing_fails(
        signed_contract: SignedContract, trust: Trust) -> None:
    """Viewers then redraw every field from its value: poppler shows the signatures blank."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_contract.by_school), strict=False)
    form_ref = writer.root.raw_get("/AcroForm")
    form_ref.get_object()["/NeedAppearances"] = generic.BooleanObject(True)
    writer.mark_update(form_ref)
    out = io.BytesIO()
    writer.write(out)
    for policy in ("strict", "standard"):
        report = verify_pdf(out.getvalue(), trust=trust, policy=policy)  # type: ignore[arg-type]
        assert report.indication == "TOTAL_FAILED", report.to_text()
        assert "/NeedAppearances" in reasons(report), report.to_text()


def _page_hidden_in_a_comment(pdf: bytes, lead: bytes, *, prev_lead: bytes = b"") -> bytes:
    """An update whose only listed object is a changed content stream nothing refers to, and
    whose page 1, redefined to show it, is written in a comment; startxref points to `lead`
    blanks before the section (with `prev_lead`, the update comes second, and its /Prev points
    to blanks before the first one's section)."""
    t = attacks.target(pdf)
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page = reader.get_object(generic.Reference(t.page, 0))
    keys = b"".join(b"/%s %s" % (str(k)[1:].encode(), attacks._raw(page.raw_get(k)))
                    for k in page if k != "/Contents")
    changed = attacks.changed_stream(t, number=t.size)
    hidden = b"%% %d 0 obj <<%s/Contents [%d %d R %d 0 R]>> endobj\n" % (
        t.page, re.sub(rb"[\r\n]+", b" ", keys), t.number, t.generation, t.size)
    out = bytearray(pdf)
    prev = t.prev
    if prev_lead:  # a harmless first update, its section after blanks
        body_at = len(out)
        out += b"%d 0 obj\n<< /Producer (x) >>\nendobj\n" % (t.size + 1) + prev_lead
        prev = len(out) - len(prev_lead)  # the second update's /Prev: at the blanks
        out += (b"xref\n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n"
                b"startxref\n%d\n%%%%EOF\n" % (t.size + 1, body_at, t.size + 2, t.root, t.prev,
                                               prev + len(prev_lead)))
    body_at = len(out)
    out += changed + hidden + lead
    xref_at = len(out) - len(lead)
    out += (b"xref\n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n"
            b"startxref\n%d\n%%%%EOF\n" % (t.size, body_at, t.size + 2, t.root, prev, xref_at))
    return bytes(out)


def _pypdf_shows_the_hidden_page(pdf: bytes) -> bool:
    import pypdf

    contents = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].get("/Contents")
    return isinstance(contents, list) and len(contents) == 2


@pytest.mark.parametrize("policy", ["strict", "standard"])
@pytest.mark.parametrize("where", ["startxref", "/Prev"])
def test_a_pointer_to_blanks_before_a_section_fails(
        signed_contract: SignedContract, trust: Trust, policy: str, where: str) -> None:
    if where == "startxref":
        tampered = _page_hidden_in_a_comment(signed_contract.by_school, b" \n")
        assert _pypdf_shows_the_hidden_page(tampered)
    else:
        tampered = _page_hidden_in_a_comment(signed_contract.by_school, b"", prev_lead=b"\r\n")
    report = verify_pdf(tampered, trust=trust, policy=policy)  # type: ignore[arg-type]
    assert report.indication == "TOTAL_FAILED", report.to_text()
    assert f"its {where} points to 2 blank byte(s) before a cross-reference section" in \
        reasons(report), report.to_text()


def test_one_end_of_line_before_a_section_is_what_every_reader_skips(
        signed_contract: SignedContract, trust: Trust) -> None:
    """pypdf reads on after a single CR or LF: no reader shows the hidden page; the changed
    stream nothing refers to is only reported."""
    tampered = _page_hidden_in_a_comment(signed_contract.by_school, b"\n")
    assert not _pypdf_shows_the_hidden_page(tampered)
    report = verify_pdf(tampered, trust=trust, policy="strict")
    assert report.passed, report.to_text()
