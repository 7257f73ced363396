"""Empty signature fields placed over each party's place in the rendered signature block."""

from __future__ import annotations

import io
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field

from docservice.documents.catalogue import signature_field_name
from docservice.errors import ConversionError, SignatureBlockNotFound

_XHTML = "{http://www.w3.org/1999/xhtml}"

#: The field's size in points; a visible stamp (name, role, date) must fit.
FIELD_WIDTH = 150.0
FIELD_HEIGHT = 50.0
#: Room kept between the anchor's baseline and the field, and between columns.
GAP = 3.0


@dataclass(frozen=True)
class Box:
    """A rectangle in points, origin top-left (as pdftotext reports it)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1


@dataclass(frozen=True)
class Line:
    """One line of text on a page."""

    page: int
    text: str
    box: Box


@dataclass(frozen=True)
class Page:
    """A page's size and the lines and words on it."""

    number: int  # 0-based
    width: float
    height: float
    lines: list[Line]
    words: list[Box]


@dataclass(frozen=True)
class PlacedField:
    """Where a signature field went: page (0-based) and box in PDF coordinates (bottom-left)."""

    role: str
    name: str
    page: int
    rect: tuple[float, float, float, float]


def text_layout(pdf: bytes) -> list[Page]:
    """Every page's lines and words with their boxes, read by poppler's pdftotext."""
    try:
        done = subprocess.run(
            ["pdftotext", "-bbox-layout", "-", "-"], input=pdf, capture_output=True, timeout=60,
            check=False,
        )
    except FileNotFoundError as e:
        raise ConversionError("pdftotext is missing: apt-get install poppler-utils") from e
    if done.returncode != 0:
        raise ConversionError(f"pdftotext could not read the PDF: {done.stderr.decode()[:200]}")
    root = ET.fromstring(done.stdout)
    pages = []
    for number, page in enumerate(root.iter(f"{_XHTML}page")):
        lines, words = [], []
        for line in page.iter(f"{_XHTML}line"):
            line_words = list(line.iter(f"{_XHTML}word"))
            for word in line_words:
                words.append(_box(word))
            text = " ".join((w.text or "") for w in line_words)
            lines.append(Line(number, text, _box(line)))
        pages.append(Page(number, float(page.get("width", 0)), float(page.get("height", 0)),
                          lines, words))
    return pages


def _box(element: ET.Element) -> Box:
    return Box(*(float(element.get(k, 0)) for k in ("xMin", "yMin", "xMax", "yMax")))


def locate_fields(document: str, pages: list[Page], anchors: dict[str, str]) -> list[PlacedField]:
    """One field per role, right under that role's anchor text, on free space."""
    found: dict[str, Line] = {}
    for role, anchor in anchors.items():
        matches = [line for page in pages for line in page.lines if line.text.strip() == anchor]
        if not matches:
            raise SignatureBlockNotFound(document, anchor)
        if len(matches) > 1:
            raise SignatureBlockNotFound(document, anchor, f"appears {len(matches)} times")
        found[role] = matches[0]
    placed = []
    for role, line in found.items():
        page = pages[line.page]
        # Never wider than the room up to the next party's anchor on the same row.
        right_limit = page.width
        for other in found.values():
            same_row = other.page == line.page and abs(other.box.y0 - line.box.y0) < FIELD_HEIGHT
            if same_row and other.box.x0 > line.box.x0:
                right_limit = min(right_limit, other.box.x0 - 4 * GAP)
        width = min(FIELD_WIDTH, right_limit - line.box.x0)
        box = Box(line.box.x0, line.box.y1 + GAP, line.box.x0 + width, line.box.y1 + GAP + FIELD_HEIGHT)
        if width < FIELD_WIDTH * 0.6 or box.y1 > page.height:
            raise SignatureBlockNotFound(document, anchors[role], "has no room for a signature")
        if any(box.overlaps(word) for word in page.words):
            raise SignatureBlockNotFound(
                document, anchors[role], "has text where the signature goes: leave space below it"
            )
        rect = (box.x0, page.height - box.y1, box.x1, page.height - box.y0)
        placed.append(PlacedField(role, signature_field_name(role), line.page, rect))
    return placed


def add_signature_fields(pdf: bytes, fields: list[PlacedField]) -> bytes:
    """`pdf` with one empty signature field per entry of `fields`, as an incremental update."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for field in fields:
        append_signature_field(
            writer,
            SigFieldSpec(
                sig_field_name=field.name,
                on_page=field.page,
                box=tuple(round(v, 2) for v in field.rect),  # type: ignore[arg-type]
            ),
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
