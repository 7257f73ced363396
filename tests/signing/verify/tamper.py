"""Tampered copies of signed PDFs, each made the way an attacker (or a careless tool) would."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from tests.signing.samples import BODY_TEXT

_CONTENTS = re.compile(rb"/Contents\s*<([0-9A-Fa-f]+)>")
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def append_content_update(pdf: bytes, text: bytes = b"Vergoeding: 5000 EUR per maand") -> bytes:
    """An incremental update that paints new text on the first page (a new content stream)."""
    def change(writer: IncrementalPdfFileWriter) -> None:
        stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 700 Td (" + text + b") Tj ET")
        writer.add_stream_to_page(0, writer.add_object(stream))

    return _update(pdf, change)


def flip_signed_byte(pdf: bytes) -> bytes:
    """One byte of the body text, inside every signature's signed range, changed in place."""
    at = pdf.index(BODY_TEXT)
    return pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1:]


def shorten_byte_range(pdf: bytes) -> bytes:
    """The last signature's /ByteRange made to stop 40 bytes early (same length on disk)."""
    match = list(_BYTE_RANGE.finditer(pdf))[-1]
    a, b, c, d = (int(x) for x in match.groups())
    old = match.group(0)
    new = b"/ByteRange [%d %d %d %d]" % (a, b, c, d - 40)
    new = new.ljust(len(old))
    return pdf[:match.start()] + new + pdf[match.end():]


def add_free_text_annotation(pdf: bytes, *, page: int = 0,
                             rect: tuple[float, float, float, float] = (72, 735, 400, 760),
                             text: str = "Vergoeding: 5000 EUR") -> bytes:
    """An incremental update adding a FreeText annotation (with an appearance) to `page`."""
    def change(writer: IncrementalPdfFileWriter) -> None:
        appearance = generic.StreamObject({
            pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(generic.FloatObject(v) for v in (
                0, 0, rect[2] - rect[0], rect[3] - rect[1])),
        }, stream_data=b"BT /Helv 12 Tf 2 6 Td (" + text.encode("latin-1") + b") Tj ET")
        annot = generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/FreeText"),
            pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in rect),
            pdf_name("/Contents"): generic.TextStringObject(text),
            pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
            pdf_name("/F"): generic.NumberObject(4),
            pdf_name("/AP"): generic.DictionaryObject(
                {pdf_name("/N"): writer.add_object(appearance)}),
        })
        page_ref, _ = writer.find_page_for_modification(page)
        writer.register_annotation(page_ref, writer.add_object(annot))

    return _update(pdf, change)


def add_painted_signature_field(pdf: bytes, name: str = "Signature_extra", *, page: int = -1,
                                text: str = "Goedgekeurd") -> bytes:
    """A new, empty signature field whose appearance paints text (an overlay)."""
    rect = (60.0, 60.0, 260.0, 100.0)

    def change(writer: IncrementalPdfFileWriter) -> None:
        appearance = generic.StreamObject({
            pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(generic.FloatObject(v) for v in (0, 0, 200, 40)),
            pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject({
                pdf_name("/F1"): generic.DictionaryObject({
                    pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
                    pdf_name("/BaseFont"): pdf_name("/Helvetica")})})}),
        }, stream_data=b"BT /F1 14 Tf 4 14 Td (" + text.encode("latin-1") + b") Tj ET")
        page_ref, _ = writer.find_page_for_modification(page)
        widget = generic.DictionaryObject({
            pdf_name("/FT"): pdf_name("/Sig"),
            pdf_name("/T"): generic.TextStringObject(name),
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/F"): generic.NumberObject(4),
            pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in rect),
            pdf_name("/P"): page_ref,
            pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): writer.add_object(appearance)}),
        })
        widget_ref = writer.add_object(widget)
        form = writer.root["/AcroForm"]
        form["/Fields"].append(widget_ref)
        form_ref = writer.root.raw_get("/AcroForm")
        if isinstance(form_ref, generic.IndirectObject):
            writer.mark_update(form_ref)
        else:
            writer.update_root()
        writer.register_annotation(page_ref, widget_ref)

    return _update(pdf, change)


def add_open_action(pdf: bytes) -> bytes:
    """An incremental update that adds a JavaScript /OpenAction to the catalog."""
    def change(writer: IncrementalPdfFileWriter) -> None:
        action = generic.DictionaryObject({
            pdf_name("/S"): pdf_name("/JavaScript"),
            pdf_name("/JS"): generic.TextStringObject("app.alert('hallo')"),
        })
        writer.root[pdf_name("/OpenAction")] = writer.add_object(action)
        writer.update_root()

    return _update(pdf, change)


def append_bytes_after_eof(pdf: bytes) -> bytes:
    """Objects appended after the final %%EOF without a cross-reference section or trailer."""
    return pdf + b"99 0 obj\n<< /Type /Annot /Subtype /FreeText /Rect [0 0 600 800] >>\nendobj\n"


def zero_contents(pdf: bytes) -> bytes:
    """The last signature's /Contents hex string replaced by zeros (outside the signed bytes)."""
    match = list(_CONTENTS.finditer(pdf))[-1]
    return pdf[:match.start(1)] + b"0" * len(match.group(1)) + pdf[match.end(1):]


def hide_object_in_contents_gap(pdf: bytes) -> bytes:
    """An object written into the zero padding of the last signature's /Contents gap."""
    match = list(_CONTENTS.finditer(pdf))[-1]
    hex_digits = match.group(1)
    payload = b"> 77 0 obj << /Hidden true >> endobj <"
    padding = len(hex_digits) - len(hex_digits.rstrip(b"0"))
    assert padding > len(payload) + 2, "not enough zero padding to hide anything"
    at = match.end(1) - len(payload) - 2
    return pdf[:at] + payload + pdf[at + len(payload):]


def plant_then_define(pdf: bytes, where: str = "annots"
                      ) -> tuple[bytes, Callable[[bytes], bytes]]:
    """A document whose page already points to a missing object, and how to define it later.

    The page's /Annots (`where="annots"`) names a missing annotation, or its /Resources
    (`where="resources"`) a missing form XObject. Returns the prepared (unsigned) document and
    a function that, applied after signing, defines the missing object (a FreeText annotation,
    or a form that paints text) without touching any signed object.
    """
    holder: dict[str, int] = {}

    def prepare(writer: IncrementalPdfFileWriter) -> None:
        page_ref, _ = writer.find_page_for_modification(0)
        number = writer.trailer_view["/Size"] + 500  # far beyond anything signing allocates
        holder["number"] = number
        page = page_ref.get_object()
        planted = generic.IndirectObject(number, 0, writer)
        if where == "resources":
            resources = page["/Resources"]
            xobjects = resources.get("/XObject", generic.DictionaryObject())
            xobjects[pdf_name("/Planted")] = planted
            resources[pdf_name("/XObject")] = xobjects
            if isinstance(page.raw_get("/Resources"), generic.IndirectObject):
                writer.mark_update(page.raw_get("/Resources"))
        else:
            page[pdf_name("/Annots")] = generic.ArrayObject([planted])
        writer.mark_update(page_ref)

    prepared = _update(pdf, prepare)

    def define(signed: bytes) -> bytes:
        number = holder["number"]
        start = len(signed)
        prev = int(re.findall(rb"startxref\s+(\d+)\s+%%EOF", signed)[-1])
        size = number + 1
        if where == "resources":
            paint = b"BT /F1 12 Tf 72 700 Td (Vergoeding: 5000 EUR) Tj ET"
            body = (b"%d 0 obj\n<< /Type /XObject /Subtype /Form /BBox [0 0 600 800] "
                    b"/Length %d >>\nstream\n%s\nendstream\nendobj\n"
                    % (number, len(paint), paint))
        else:
            body = (b"%d 0 obj\n<< /Type /Annot /Subtype /FreeText /Rect [72 700 500 760] "
                    b"/Contents (Vergoeding: 5000 EUR) /DA (/Helv 12 Tf 0 g) >>\nendobj\n"
                    % number)
        xref_at = start + len(body)
        root = re.findall(rb"/Root\s+(\d+\s+\d+\s+R)", signed)[-1]
        xref = (b"xref\n%d 1\n%010d 00000 n \ntrailer\n<< /Size %d /Root %s /Prev %d >>\n"
                b"startxref\n%d\n%%%%EOF\n" % (number, start, size, root, prev, xref_at))
        return signed + body + xref

    return prepared, define


def blank_in_contents_gap(pdf: bytes) -> bytes:
    """Part of the last signature's zero padding replaced by blanks (still a valid hex string)."""
    match = list(_CONTENTS.finditer(pdf))[-1]
    at = match.end(1) - 40
    return pdf[:at] + b" " * 20 + pdf[at + 20:]


def rewrite_without_visible_change(pdf: bytes) -> bytes:
    """An update that writes page 1's /Resources anew (the same values, in a new object) and
    marks the page tree as iText does (/ITXT): nothing anyone sees changes."""
    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref, _ = writer.find_page_for_modification(0)
        page = page_ref.get_object()
        resources = page["/Resources"]
        copy = generic.DictionaryObject({key: resources.raw_get(key) for key in resources})
        page[pdf_name("/Resources")] = writer.add_object(copy)
        writer.mark_update(page_ref)
        pages_ref = writer.root.raw_get("/Pages")
        pages_ref.get_object()[pdf_name("/ITXT")] = generic.TextStringObject("5.0.0")
        writer.mark_update(pages_ref)

    return _update(pdf, change)


def copy_signature_timestamp(pdf: bytes, *, source: int = 0, target: int = 1) -> bytes:
    """The signature timestamp of signature `source` put into signature `target`'s CMS (an
    unsigned attribute, outside the signed bytes): `target`'s timestamp no longer matches it."""
    from asn1crypto import cms

    matches = list(_CONTENTS.finditer(pdf))

    def load(match: re.Match[bytes]) -> cms.ContentInfo:
        return cms.ContentInfo.load(bytes.fromhex(match.group(1).decode()).rstrip(b"\0"))

    def token(info: cms.ContentInfo) -> cms.CMSAttribute:
        attrs = info["content"]["signer_infos"][0]["unsigned_attrs"]
        return next(a for a in attrs if a["type"].native == "signature_time_stamp_token")

    info = load(matches[target])
    stolen = token(load(matches[source]))
    signed_data = info["content"]
    signer = signed_data["signer_infos"][0]
    signer["unsigned_attrs"] = cms.CMSAttributes(
        [a for a in signer["unsigned_attrs"] if a["type"].native != "signature_time_stamp_token"]
        + [stolen])
    # Re-set each container on the way up: only those re-encode (force=True would re-encode
    # every certificate and CRL, minutes of asn1crypto).
    signed_data["signer_infos"] = cms.SignerInfos([signer])
    info["content"] = signed_data
    digits = info.dump().hex().encode()
    start, end = matches[target].span(1)
    assert len(digits) <= end - start, "the stolen timestamp does not fit the /Contents gap"
    return pdf[:start] + digits.ljust(end - start, b"0") + pdf[end:]
