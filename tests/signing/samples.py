"""Test documents: a small contract-like PDF with the three empty signature fields."""

from __future__ import annotations

import io
import re

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field

from docservice.domain import SIGNER_ROLES, signature_field_name

ROLES = SIGNER_ROLES
#: A sentence of the body; tests flip one of its bytes to tamper with signed content.
BODY_TEXT = b"Stageovereenkomst tussen student, stagebedrijf en hogeschool."


#: The signature field a role signs in (as the document layer names it).
field_name = signature_field_name


def contract_pdf(title: str = "Stageovereenkomst", pages: int = 2) -> bytes:
    """A PDF of `pages` pages with text, and three empty signature fields on the last page."""
    writer = PdfFileWriter(stream_xrefs=False)
    font = generic.DictionaryObject({
        generic.pdf_name("/Type"): generic.pdf_name("/Font"),
        generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
        generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
    })
    resources = generic.DictionaryObject({
        generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): font}),
    })
    for number in range(pages):
        text = b"BT /F1 16 Tf 72 770 Td (" + title.encode("latin-1") + b") Tj ET\n"
        text += b"BT /F1 11 Tf 72 740 Td (" + BODY_TEXT + b") Tj ET\n"
        text += b"BT /F1 9 Tf 72 60 Td (pagina %d) Tj ET\n" % (number + 1)
        stream = generic.StreamObject(stream_data=text)
        writer.insert_page(PageObject(
            contents=writer.add_object(stream), media_box=(0, 0, 595, 842), resources=resources))
    base = io.BytesIO()
    writer.write(base)
    # Fields in an incremental update, like the document layer adds them to a converted PDF.
    incremental = IncrementalPdfFileWriter(io.BytesIO(base.getvalue()))
    for index, role in enumerate(ROLES):
        x = 60 + index * 170
        append_signature_field(incremental, SigFieldSpec(
            sig_field_name=field_name(role), on_page=pages - 1, box=(x, 120, x + 150, 170)))
    out = io.BytesIO()
    incremental.write(out)
    return out.getvalue()


def stamp_lines(pdf: bytes, name: str) -> list[str]:
    """The text lines painted in the appearance stream of signature field `name`."""
    reader = PdfFileReader(io.BytesIO(pdf))
    for ref in reader.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field["/T"] == name:
            stream = field["/AP"]["/N"].get_object()
            return [_pdf_literal(m.group(1)) for m in
                    re.finditer(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", stream.data, re.DOTALL)]
    raise KeyError(name)


def _pdf_literal(raw: bytes) -> str:
    """Decode a PDF literal string body (escapes, octal codes) as the stamp writes it (Latin-1)."""
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def unescape(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        return escapes.get(code, code)

    return re.sub(rb"\\([0-7]{1,3}|.)", unescape, raw, flags=re.DOTALL).decode("latin-1")
