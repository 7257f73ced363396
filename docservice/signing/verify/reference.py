"""The service's document reference, read from the footer text of the first page.

Only the first page of the first revision is decoded, with each font's /ToUnicode map: a
full text extraction (pypdf) costs 70-400 ms on a LibreOffice contract, this a few.
"""

from __future__ import annotations

import binascii
import re

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver

from docservice.signing.verify.structure import pdf_get

REFERENCE = re.compile(r"DS-\d{4}-\d{4}-[a-z0-9]+-[a-z-]+-\d+")
# Only what the text needs: names (for Tf), strings, the Tf and ET operators, and comments
# (so that nothing inside one is taken for a token). Numbers and other operators are skipped
# by the scan itself, which made this four times faster than tokenising everything.
_TOKEN = re.compile(
    rb"/[^\s/\[\]()<>{}%]*|\((?:\\.|[^\\()])*\)|<[0-9A-Fa-f\s]*>"
    rb"|(?<![A-Za-z'\"*])(?:Tf|ET)(?![A-Za-z'\"*])|%[^\r\n]*", re.DOTALL)
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.DOTALL)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.DOTALL)
_HEX_ITEM = re.compile(rb"<([0-9A-Fa-f\s]*)>|\[([^\]]*)\]")
_CODESPACE = re.compile(rb"begincodespacerange\s*<([0-9A-Fa-f]+)>", re.DOTALL)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
MAX_CONTENT = 4 * 1024 * 1024


def find_reference(resolver: HistoricalResolver) -> str | None:
    """The first "DS-..." reference in the text of the document's first page, if any."""
    try:
        found = _first_page(resolver.root)
        if found is None:
            return None
        page, resources = found
        data = _content(page)
        fonts = _fonts(resources)
    except Exception:  # noqa: BLE001 - the reference is optional; a bad page just has none
        return None
    text = _text(data, fonts)
    match = REFERENCE.search(text)
    return match.group(0) if match else None


def _first_page(node: object) -> tuple[generic.DictionaryObject, object] | None:
    """The first page and its (possibly inherited) resources."""
    current = pdf_get(node, "/Pages")
    resources = None
    for _ in range(64):
        if not isinstance(current, generic.DictionaryObject):
            return None
        resources = pdf_get(current, "/Resources", resources)
        kids = pdf_get(current, "/Kids")
        if not isinstance(kids, generic.ArrayObject):
            return current, resources
        if not kids:
            return None
        current = kids[0]
    return None


def _content(page: generic.DictionaryObject) -> bytes:
    contents = pdf_get(page, "/Contents")
    streams = contents if isinstance(contents, generic.ArrayObject) else [contents]
    out = b""
    for stream in streams[:64]:
        if isinstance(stream, generic.StreamObject):
            out += stream.data + b"\n"
            if len(out) > MAX_CONTENT:
                break
    return out[:MAX_CONTENT]


def _fonts(resources: object) -> dict[str, tuple[int, dict[bytes, str]]]:
    """Font resource name -> (code length in bytes, code -> text)."""
    fonts: dict[str, tuple[int, dict[bytes, str]]] = {}
    font_dict = pdf_get(resources, "/Font")
    if not isinstance(font_dict, generic.DictionaryObject):
        return fonts
    for name in list(font_dict)[:64]:
        font = pdf_get(font_dict, name)
        if not isinstance(font, generic.DictionaryObject):
            continue
        width = 2 if pdf_get(font, "/Subtype") == "/Type0" else 1
        mapping: dict[bytes, str] = {}
        cmap = pdf_get(font, "/ToUnicode")
        if isinstance(cmap, generic.StreamObject):
            width, mapping = _parse_cmap(cmap.data[:MAX_CONTENT], width)
        fonts[str(name)] = (width, mapping)
    return fonts


def _parse_cmap(data: bytes, width: int) -> tuple[int, dict[bytes, str]]:
    space = _CODESPACE.search(data)
    if space:
        width = max(1, len(space.group(1)) // 2)
    mapping: dict[bytes, str] = {}
    block: bytes
    for block in _BFCHAR.findall(data):
        items = [m.group(1) for m in _HEX_ITEM.finditer(bytes(block))]
        for code, value in zip(items[0::2], items[1::2], strict=False):
            if code is not None and value is not None:
                mapping[_unhex(code)] = _utf16(value)
    for block in _BFRANGE.findall(data):
        matches = list(_HEX_ITEM.finditer(block))
        for i in range(0, len(matches) - 2, 3):
            lo, hi, target = matches[i].group(1), matches[i + 1].group(1), matches[i + 2]
            if lo is None or hi is None:
                continue
            start, end = int.from_bytes(_unhex(lo), "big"), int.from_bytes(_unhex(hi), "big")
            size = len(_unhex(lo))
            if end - start > 0xFFFF:
                continue
            if target.group(1) is not None:
                base = _utf16(target.group(1))
                for offset, code in enumerate(range(start, end + 1)):
                    if base:
                        mapping[code.to_bytes(size, "big")] = base[:-1] + chr(ord(base[-1]) + offset)
            else:
                for code, value in zip(range(start, end + 1),
                                       re.findall(rb"<([0-9A-Fa-f\s]*)>", target.group(2)),
                                       strict=False):
                    mapping[code.to_bytes(size, "big")] = _utf16(value)
    return width, mapping


def _unhex(raw: bytes) -> bytes:
    digits = raw.translate(None, b" \t\n\r\f\x00\x0b")
    if len(digits) % 2:
        digits += b"0"
    return binascii.unhexlify(digits)


def _utf16(raw: bytes) -> str:
    try:
        return _unhex(raw).decode("utf-16-be", errors="replace")
    except ValueError:
        return ""


def _literal(raw: bytes) -> bytes:
    def unescape(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return _ESCAPES.get(code, code)

    return re.sub(rb"\\([0-7]{1,3}|.)", unescape, raw[1:-1], flags=re.DOTALL)


def _text(data: bytes, fonts: dict[str, tuple[int, dict[bytes, str]]]) -> str:
    """The page's strings decoded in content order, one line per text object."""
    lines: list[str] = []
    current: list[str] = []
    font: tuple[int, dict[bytes, str]] = (1, {})
    last_name = ""
    for match in _TOKEN.finditer(data):
        token = match.group(0)
        first = token[:1]
        if first == b"/":
            last_name = token.decode("latin-1")
        elif first in (b"(", b"<"):
            raw = _literal(token) if first == b"(" else _unhex(token[1:-1])
            width, mapping = font
            if mapping:
                current.append("".join(mapping.get(raw[i:i + width], "")
                                       for i in range(0, len(raw), width)))
            else:
                current.append(raw.decode("latin-1"))
        elif token == b"Tf":
            font = fonts.get(last_name, (1, {}))
        elif token == b"ET" and current:
            lines.append("".join(current))
            current = []
    if current:
        lines.append("".join(current))
    return "\n".join(lines)
