"""Cross-reference sections read strictly: a table with its trailer, or a stream, as written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from docservice.signing.verify.pdfobjects import (
    DEFLATE_MAX_RATIO,
    MAX_DECODED,
    OBJ_HEADER,
    WS,
    Parser,
    PdfSyntaxError,
    Value,
    decode_stream,
    read_body,
)

_SUBSECTION = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,10})[\x00\t\n\x0c\r ]*")
_TABLE_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])(?:\r\n| \r| \n|\r|\n| )?")

MAX_ENTRIES = 5_000_000  # more objects than any document this service verifies


@dataclass(frozen=True)
class Entry:
    """One cross-reference entry: in use at an offset, in an object stream, or free."""

    number: int
    generation: int
    kind: Literal["in_use", "compressed", "free"]
    offset: int = 0  # in_use: byte offset; compressed: the object stream's number
    index: int = 0  # compressed: position in the object stream


@dataclass(frozen=True)
class Section:
    """One cross-reference section (a table with its trailer, or a stream) as written."""

    offset: int
    end: int  # after the trailer dictionary or the stream's endobj
    kind: Literal["table", "stream"]
    entries: tuple[Entry, ...]
    trailer: dict[str, Value]
    stream_number: int | None = None  # the number of a cross-reference stream object
    body_start: int = 0  # a table's first subsection, after "xref"

    @property
    def prev(self) -> int | None:
        """The /Prev offset, if any."""
        value = self.trailer.get("Prev")
        return value if isinstance(value, int) and not isinstance(value, bool) else None



def _read_table(data: bytes, parser: Parser, offset: int) -> tuple[Section, list[str]]:
    problems: list[str] = []
    if not data.startswith(b"xref", offset):
        raise PdfSyntaxError(f"no cross-reference table at byte {offset}")
    pos = parser.skip_ws(offset + 4)
    entries: list[Entry] = []
    while not data.startswith(b"trailer", pos):
        header = _SUBSECTION.match(data, pos)
        if header is None:
            raise PdfSyntaxError(f"a cross-reference table at byte {offset} is malformed")
        first, count = int(header.group(1)), int(header.group(2))
        pos = header.end()
        if count * 18 > len(data) - pos or len(entries) + count > MAX_ENTRIES:
            raise PdfSyntaxError(f"a cross-reference table at byte {offset} declares {count} "
                                 "entries, more than the file can hold")
        for number in range(first, first + count):
            entry = _TABLE_ENTRY.match(data, pos)
            if entry is None:
                raise PdfSyntaxError(f"entry {number} of the cross-reference table at byte "
                                     f"{offset} is malformed")
            pos = entry.end()
            value, generation = int(entry.group(1)), int(entry.group(2))
            entries.append(Entry(number, generation, "in_use" if entry.group(3) == b"n"
                                 else "free", value))
        pos = parser.skip_ws(pos)
    trailer, end = parser.value(pos + 7)
    if not isinstance(trailer, dict):
        raise PdfSyntaxError(f"the trailer at byte {pos} is not a dictionary")
    return Section(offset, end, "table", tuple(entries), trailer,
                   body_start=parser.skip_ws(offset + 4)), problems


def read_xref_stream(data: bytes, parser: Parser, offset: int) -> Section:
    header = OBJ_HEADER.match(data, offset)
    if header is None:
        raise PdfSyntaxError(f"no cross-reference table or stream at byte {offset}")
    value, _ = parser.value(header.end())
    if not isinstance(value, dict) or value.get("Type") != "XRef":
        raise PdfSyntaxError(f"the object at byte {offset} is not a cross-reference stream")
    widths = value.get("W")
    size = value.get("Size")
    if not (isinstance(widths, list) and len(widths) == 3
            and all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w <= 8
                    for w in widths) and widths[1] > 0):
        raise PdfSyntaxError(f"the cross-reference stream at byte {offset} has an unusable /W")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_ENTRIES:
        raise PdfSyntaxError(f"the cross-reference stream at byte {offset} declares /Size "
                             f"{size}, more than this service reads")
    index = value.get("Index", [0, size])
    if not (isinstance(index, list) and len(index) % 2 == 0
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in index)):
        raise PdfSyntaxError(f"the cross-reference stream at byte {offset} has an unusable "
                             "/Index")
    pairs = list(zip(index[0::2], index[1::2], strict=True))
    total = sum(count for _, count in pairs)
    row = sum(widths)
    length = value.get("Length")
    if not isinstance(length, int) or isinstance(length, bool):
        raise PdfSyntaxError(f"the cross-reference stream at byte {offset} has no direct /Length")
    room = length * DEFLATE_MAX_RATIO + 1024 if value.get("Filter") else length
    if total > MAX_ENTRIES or total * row > min(room, MAX_DECODED):
        raise PdfSyntaxError(f"the cross-reference stream at byte {offset} declares {total} "
                             f"entries, but its {length} bytes of data cannot hold them")
    if any(first + count > size for first, count in pairs):
        raise PdfSyntaxError(f"the cross-reference stream at byte {offset} lists objects "
                             "beyond its /Size")
    body = read_body(parser, offset)
    decoded = decode_stream(data, body, expected=total * row)
    if len(decoded) != total * row:
        raise PdfSyntaxError(f"the cross-reference stream at byte {offset} declares {total} "
                             f"entries, its data holds {len(decoded) // max(row, 1)}")
    entries: list[Entry] = []
    w0, w1, w2 = widths
    at = 0
    for first, count in pairs:
        for number in range(first, first + count):
            kind = int.from_bytes(decoded[at:at + w0], "big") if w0 else 1
            f2 = int.from_bytes(decoded[at + w0:at + w0 + w1], "big")
            f3 = int.from_bytes(decoded[at + w0 + w1:at + row], "big") if w2 else 0
            at += row
            if kind == 0:
                entries.append(Entry(number, f3, "free", f2))
            elif kind == 1:
                entries.append(Entry(number, f3, "in_use", f2))
            elif kind == 2:
                entries.append(Entry(number, 0, "compressed", f2, f3))
    return Section(offset, body.end, "stream", tuple(entries), value, int(header.group(1)))


def read_section(data: bytes, parser: Parser, offset: int) -> tuple[Section, list[str]]:
    if offset >= len(data):
        raise PdfSyntaxError(f"startxref points to byte {offset}, beyond the end of the file")
    offset = WS.match(data, offset).end()  # type: ignore[union-attr]  # every reader skips it
    if data.startswith(b"xref", offset):
        return _read_table(data, parser, offset)
    return read_xref_stream(data, parser, offset), []

