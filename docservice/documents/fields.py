"""Empty signature fields placed over each party's place in the rendered signature block."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from docservice.domain import signature_field_name
from docservice.errors import ConversionError, SignatureBlockNotFound

#: The field's size in points; a visible stamp (name, role, date) must fit.
FIELD_WIDTH = 150.0
FIELD_HEIGHT = 50.0
#: Room kept between the anchor's baseline and the field, and between columns.
GAP = 3.0


@dataclass(frozen=True)
class Box:
    """A rectangle in points, origin top-left."""

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


def text_layout(pdf: bytes, anchors: Iterable[str] = ()) -> list[Page]:
    """Lines of text with their (estimated) boxes, page by page from the last one.

    Reading stops at the first page, counted from the end, by which every one of
    `anchors` has been seen: the signature block closes a document, and reading
    every page of a long contract would cost more than converting it.
    """
    try:
        reader = PdfReader(io.BytesIO(pdf))
        count = len(reader.pages)
    except PdfReadError as e:
        raise ConversionError(f"the converted PDF cannot be read: {e}") from e
    wanted = set(anchors)
    pages: list[Page | None] = [None] * count
    for number in range(count - 1, -1, -1):
        page = reader.pages[number]
        box = page.mediabox
        width, height = float(box.width), float(box.height)
        lines: list[Line] = []

        def visit(text: str, cm: list[float], tm: list[float], font_dict: Any, size: float,
                  number: int = number, height: float = height, lines: list[Line] = lines) -> None:
            text = text.strip()
            if not text:
                return
            # Text space to page space: the text matrix, then the current transformation.
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            scale = abs(tm[3] * cm[3]) or 1.0
            font = (size or 10.0) * scale
            lines.append(Line(number, text, Box(
                x, height - y - font * 0.9, x + _text_width(text, font_dict) * font,
                height - y + font * 0.3)))

        page.extract_text(visitor_text=visit)
        pages[number] = Page(number, width, height, lines, [line.box for line in lines])
        if wanted and wanted <= {line.text for p in pages if p for line in p.lines}:
            break
    return [p if p is not None else Page(i, 0, 0, [], []) for i, p in enumerate(pages)]


def _text_width(text: str, font_dict: Any) -> float:
    """Estimated width of `text` in em: characters times the font's mean glyph width.

    LibreOffice embeds subset fonts whose codes are glyph indices, so the text
    cannot be mapped back to /Widths one by one; a subset's mean width is close
    (its glyphs are the ones the document uses) and adapts to the font.
    """
    try:
        widths = [float(w) for w in font_dict["/Widths"] if float(w) > 0]
        mean = sum(widths) / len(widths) / 1000
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        mean = 0.6  # no simple widths: 0.6 em errs on the wide, safe side
    return len(text) * mean


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
        row = sorted(other.box.x0 for other in found.values()
                     if other.page == line.page and abs(other.box.y0 - line.box.y0) < FIELD_HEIGHT)
        to_the_right = [x for x in row if x > line.box.x0]
        if to_the_right:
            right_limit = to_the_right[0] - 4 * GAP
        elif len(row) > 1:
            # The last column: as wide as the columns before it (the table's are equal).
            right_limit = line.box.x0 + (row[-1] - row[0]) / (len(row) - 1) - 4 * GAP
        else:
            right_limit = page.width
        width = min(FIELD_WIDTH, right_limit - line.box.x0)
        box = Box(line.box.x0, line.box.y1 + GAP, line.box.x0 + width, line.box.y1 + GAP + FIELD_HEIGHT)
        if width < FIELD_WIDTH * 0.6 or box.y1 > page.height:
            raise SignatureBlockNotFound(document, anchors[role], "has no room for a signature")
        in_the_way = [other.text for other in page.lines if box.overlaps(other.box)]
        if in_the_way:
            raise SignatureBlockNotFound(
                document, anchors[role],
                f"has text where the signature goes ({in_the_way[0]!r}): leave space below it",
            )
        rect = (box.x0, page.height - box.y1, box.x1, page.height - box.y0)
        placed.append(PlacedField(role, signature_field_name(role), line.page, rect))
    return placed
