"""Whether a new annotation covers what the signer saw: text or annotations on its page."""

from __future__ import annotations

import io

from pypdf import PdfReader

Rect = tuple[float, float, float, float]


def covered_content(pdf: bytes, page_index: int, rect: Rect) -> str | None:
    """A description of what `rect` covers on page `page_index` of `pdf`, or None."""
    try:
        page = PdfReader(io.BytesIO(pdf)).pages[page_index]
    except (IndexError, ValueError, KeyError, TypeError, OSError):
        return "content that cannot be read"
    for annot in page.get("/Annots") or []:
        try:
            other = [float(v) for v in annot.get_object()["/Rect"]]
        except (KeyError, TypeError, ValueError):
            continue
        if _overlaps(rect, (min(other[0], other[2]), min(other[1], other[3]),
                            max(other[0], other[2]), max(other[1], other[3]))):
            return f"an existing annotation or signature on page {page_index + 1}"
    hits: list[str] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip() or hits:
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        height = (size or 10.0) * (abs(tm[3] * cm[3]) or 1.0)
        width = len(text) * height * 0.5
        if _overlaps(rect, (x, y - height * 0.3, x + width, y + height)):
            hits.append(text.strip()[:40])

    try:
        page.extract_text(visitor_text=visit)
    except Exception:  # noqa: BLE001 - unreadable content: assume the worst
        return f"content of page {page_index + 1} that cannot be read"
    return f"text on page {page_index + 1} ({hits[0]!r})" if hits else None


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
