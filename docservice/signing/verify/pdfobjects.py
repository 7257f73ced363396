"""PDF syntax read strictly from raw bytes: single values and indirect objects' bodies.

The reader of revisions (`reader.py`) and of cross-reference sections (`xrefsections.py`) build
on these; nothing here follows a reference or allocates more than the bytes can hold.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

WHITESPACE = b"\x00\t\n\x0c\r "
DELIMITERS = b"()<>[]{}/%"
WS = re.compile(rb"[\x00\t\n\x0c\r ]*")
WS_OR_COMMENTS = re.compile(rb"(?:[\x00\t\n\x0c\r ]+|%[^\r\n]*)*")
OBJ_HEADER = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")
_INT = re.compile(rb"\d{1,10}")
_REF_TAIL = re.compile(rb"[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+R(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_STREAM_START = re.compile(rb"stream(?:\r\n|\n)")
_ENDSTREAM = re.compile(rb"[\x00\t\n\x0c\r ]*endstream")  # blanks after the data: harmless
_ENDOBJ = re.compile(rb"[\x00\t\n\x0c\r ]*endobj")

MAX_DEPTH = 64
MAX_DECODED = 64 * 1024 * 1024
DEFLATE_MAX_RATIO = 1032  # zlib cannot expand one byte into more than this many


class Ref(NamedTuple):
    """An indirect reference "number generation R"."""

    number: int
    generation: int


class Name(str):
    """A PDF name, without its slash."""


class Keyword(str):
    """A bare word that is no PDF value (kept so that the reader can go on)."""


Value = object  # int | float | bool | None | bytes | Name | Ref | list[Value] | dict[str, Value]


class PdfSyntaxError(ValueError):
    """The bytes at an offset are not the PDF syntax the reader expected there."""


class Parser:
    """Reads single PDF values from `data`; never follows a reference."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def skip_ws(self, pos: int) -> int:
        match = WS_OR_COMMENTS.match(self.data, pos)
        return match.end() if match else pos

    def value(self, pos: int, depth: int = 0) -> tuple[Value, int]:
        if depth > MAX_DEPTH:
            raise PdfSyntaxError("objects nested too deeply")
        data = self.data
        pos = self.skip_ws(pos)
        if pos >= len(data):
            raise PdfSyntaxError("the file ends inside an object")
        char = data[pos:pos + 1]
        if char == b"/":
            match = _REGULAR.match(data, pos + 1)
            end = match.end() if match else pos + 1
            return Name(_unescape_name(data[pos + 1:end])), end
        if data.startswith(b"<<", pos):
            return self._dict(pos + 2, depth)
        if char == b"<":
            end = data.find(b">", pos)
            if end < 0:
                raise PdfSyntaxError("unterminated hex string")
            digits = bytes(c for c in data[pos + 1:end] if c not in WHITESPACE)
            try:
                return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii")), end + 1
            except ValueError:
                raise PdfSyntaxError("a hex string holds other characters") from None
        if char == b"(":
            return self._string(pos)
        if char == b"[":
            items: list[Value] = []
            pos += 1
            while True:
                pos = self.skip_ws(pos)
                if data[pos:pos + 1] == b"]":
                    return items, pos + 1
                if pos >= len(data):
                    raise PdfSyntaxError("unterminated array")
                item, pos = self.value(pos, depth + 1)
                items.append(item)
        match = _NUMBER.match(data, pos)
        if match:
            text = match.group(0)
            if b"." not in text:
                number = int(text)
                tail = _REF_TAIL.match(data, match.end())
                if tail and _INT.fullmatch(text):
                    return Ref(number, int(tail.group(1))), tail.end()
                return number, match.end()
            return float(text), match.end()
        match = _REGULAR.match(data, pos)
        word = match.group(0) if match else b""
        if word == b"true":
            return True, match.end()  # type: ignore[union-attr]
        if word == b"false":
            return False, match.end()  # type: ignore[union-attr]
        if word == b"null":
            return None, match.end()  # type: ignore[union-attr]
        if word:  # a stray keyword (an operator, "#INF"): kept as written, as viewers do
            return Keyword(word.decode("latin-1")), match.end()  # type: ignore[union-attr]
        raise PdfSyntaxError(f"unexpected {data[pos:pos + 12]!r}")

    def _dict(self, pos: int, depth: int) -> tuple[dict[str, Value], int]:
        data = self.data
        result: dict[str, Value] = {}
        while True:
            pos = self.skip_ws(pos)
            if data.startswith(b">>", pos):
                return result, pos + 2
            if pos >= len(data):
                raise PdfSyntaxError("unterminated dictionary")
            key, pos = self.value(pos, depth + 1)
            if not isinstance(key, Name):
                raise PdfSyntaxError("a dictionary key is not a name")
            item, pos = self.value(pos, depth + 1)
            result[str(key)] = item

    def _string(self, pos: int) -> tuple[bytes, int]:
        data = self.data
        level = 0
        i = pos
        out = bytearray()
        while i < len(data):
            c = data[i]
            if c == 0x5C:  # backslash: the next byte is escaped
                out += data[i:i + 2]
                i += 2
                continue
            if c == 0x28:
                level += 1
                if level == 1:
                    i += 1
                    continue
            elif c == 0x29:
                level -= 1
                if level == 0:
                    return bytes(out), i + 1
            out.append(c)
            i += 1
        raise PdfSyntaxError("unterminated string")


def _unescape_name(raw: bytes) -> str:
    def hexchar(m: re.Match[bytes]) -> bytes:
        return bytes([int(m.group(1), 16)])

    return re.sub(rb"#([0-9A-Fa-f]{2})", hexchar, raw).decode("latin-1")


@dataclass(frozen=True)
class Body:
    """An indirect object's body as written at an offset: its extent and its value."""

    number: int
    generation: int
    start: int
    end: int  # after "endobj"
    value: Value
    stream: tuple[int, int] | None = None  # [start, end) of the raw stream data


def read_body(parser: Parser, offset: int, *,
              length_of: Callable[[int], int | None] | None = None) -> Body:
    """The object whose "N G obj" header starts at `offset`, read to its "endobj"."""
    data = parser.data
    offset = WS.match(data, offset).end()  # type: ignore[union-attr]  # off by a blank: tolerated
    header = OBJ_HEADER.match(data, offset)
    if header is None:
        raise PdfSyntaxError(f"no object header at byte {offset}")
    value, pos = parser.value(header.end())
    stream = None
    after = parser.skip_ws(pos)
    start = _STREAM_START.match(data, after)
    if start is not None:
        if not isinstance(value, dict):
            raise PdfSyntaxError("stream data follows something other than a dictionary")
        length = value.get("Length")
        if isinstance(length, Ref):
            length = length_of(length.number) if length_of is not None else None
        if not isinstance(length, int) or isinstance(length, bool) or length < 0 or \
                start.end() + length > len(data):
            raise PdfSyntaxError(f"object {header.group(1).decode()}'s stream has no usable "
                                 "/Length")
        end_data = start.end() + length
        closing = _ENDSTREAM.match(data, end_data)
        if closing is None:
            raise PdfSyntaxError(f"object {header.group(1).decode()}'s stream data is not "
                                 "/Length bytes long (endstream is elsewhere)")
        stream = (start.end(), end_data)
        pos = closing.end()
    end = _ENDOBJ.match(data, pos)
    if end is None or not data.startswith(b"endobj", end.end() - 6):
        raise PdfSyntaxError(f"object {header.group(1).decode()} does not end with endobj")
    return Body(int(header.group(1)), int(header.group(2)), offset, end.end(), value, stream)


def decode_stream(data: bytes, body: Body, *, expected: int | None = None,
                  limit: int = MAX_DECODED) -> bytes:
    """A stream's data, inflated (FlateDecode) and un-predicted, within `limit` bytes."""
    assert body.stream is not None
    raw = data[body.stream[0]:body.stream[1]]
    assert isinstance(body.value, dict)
    filters = body.value.get("Filter")
    params = body.value.get("DecodeParms")
    if isinstance(filters, list):
        if len(filters) > 1:
            raise PdfSyntaxError("a chain of stream filters where one is expected")
        filters = filters[0] if filters else None
        params = params[0] if isinstance(params, list) and params else params
    predictor, columns = 1, 1
    if isinstance(params, dict):
        predictor = params.get("Predictor", 1) if isinstance(params.get("Predictor"), int) else 1
        columns = params.get("Columns", 1) if isinstance(params.get("Columns"), int) else 1
    if filters is None:
        decoded = raw
    elif filters == "FlateDecode":
        bound = limit if expected is None else expected + (expected // max(columns, 1) + 1
                                                           if predictor >= 10 else 0)
        if len(raw) * DEFLATE_MAX_RATIO + 1024 < (expected or 0):
            raise PdfSyntaxError("declares more data than its compressed bytes can hold")
        inflater = zlib.decompressobj()
        try:
            decoded = inflater.decompress(raw, min(bound, limit) + 1)
        except zlib.error as e:
            raise PdfSyntaxError(f"its compressed data is damaged ({e})") from None
        if len(decoded) > min(bound, limit):
            raise PdfSyntaxError("inflates to more data than it declares")
    else:
        raise PdfSyntaxError(f"an unsupported filter ({filters})")
    if predictor >= 10:
        decoded = _png_unpredict(decoded, columns)
    elif predictor not in (1, None):
        raise PdfSyntaxError(f"an unsupported predictor ({predictor})")
    return decoded


def _png_unpredict(data: bytes, columns: int) -> bytes:
    if columns <= 0 or columns > 1024:
        raise PdfSyntaxError("a predictor with an unusable /Columns")
    row_length = columns + 1
    if len(data) % row_length:
        raise PdfSyntaxError("predicted rows do not fill the data")
    out = bytearray()
    previous = bytearray(columns)
    for start in range(0, len(data), row_length):
        kind = data[start]
        row = bytearray(data[start + 1:start + row_length])
        if kind == 2:
            for i in range(columns):
                row[i] = (row[i] + previous[i]) & 0xFF
        elif kind == 1:
            for i in range(1, columns):
                row[i] = (row[i] + row[i - 1]) & 0xFF
        elif kind != 0:
            raise PdfSyntaxError(f"an unsupported PNG predictor row type {kind}")
        out += row
        previous = row
    return bytes(out)

