"""What people see: each page rendered by poppler and by MuPDF, compared between revisions.

The structural reader rejects what two parsers could read differently; this is the backstop
(as the EU DSS validator's visual-difference check): a signed revision (itself a complete PDF)
and the final file are rendered by two independent renderers, and any pixel that differs outside
the signature widgets' rectangles, a different page count, page box, rotation or output intent,
or a renderer that reads one file but not the other, is a difference. Both renderers failing
alike on both files is no difference: `Rendering.problems` says the comparison is incomplete.

    signed, final = rendering.render_many([revision_bytes, final_bytes],
                                          deadline=time.monotonic() + 5)
    reasons = differences(signed, final, masks={2: [(60, 120, 210, 170)]})

Rendering the same bytes with the same renderer is deterministic, so pages are compared exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from docservice.signing.verify.renderers import MUPDF, POPPLER, Bitmap
from docservice.signing.verify.rendering import PageBoxes, Rect, Rendering

#: Widgets' rectangles widened by this many pixels, for anti-aliasing and rounding at their edges.
MASK_MARGIN_PX = 2
#: Pages described one by one in `differences`; more are counted in one last reason.
MAX_PAGE_REASONS = 10


def differences(signed: Rendering, final: Rendering, *,
                masks: Mapping[int, Sequence[Rect]]) -> list[str]:
    """Why what viewers show of `final` is not what was signed; an empty list when it is the same.

    Compares page count, page boxes and rotation, the output intents' colour profile, and for
    each renderer and page every pixel outside `masks` (0-based page index -> rectangles in that
    page's user space, each widened by MASK_MARGIN_PX to absorb anti-aliasing). A renderer or
    box reader that fails on one file and not on the other is a difference; failing equally on
    both is not (check `problems` of both renderings for that).
    """
    reasons = _page_count_reasons(signed, final)
    reasons += _box_reasons(signed, final)
    if signed.boxes is not None and final.boxes is not None and \
            signed.output_intents != final.output_intents:
        reasons.append("the colour profile viewers draw with (/OutputIntents) changed after "
                       "signing")
    for before, after in zip(signed.runs, final.runs, strict=True):
        if after.failed and not before.failed:
            reasons.append(f"{after.renderer} cannot render the document after signing "
                           f"({after.failure()})")
        elif before.failed and not after.failed:
            reasons.append(f"{after.renderer} could not render the signed document but renders "
                           f"the final one ({before.failure()})")
    count = min(max(len(run.pages) for run in rendering.runs) for rendering in (signed, final))
    changed_pages = 0
    for index in range(count):
        changes: list[tuple[str, str]] = []
        for before, after in zip(signed.runs, final.runs, strict=True):
            if index >= len(before.pages) or index >= len(after.pages):
                continue
            change = _page_change(before.pages[index], after.pages[index],
                                  _page_boxes(final, signed, index), masks.get(index, ()),
                                  final.dpi)
            if change:
                changes.append((after.renderer, change))
        if changes:
            changed_pages += 1
            if changed_pages <= MAX_PAGE_REASONS:
                reasons.append(f"page {index + 1} looks different after signing "
                               f"({_join_changes(changes)})")
    if changed_pages > MAX_PAGE_REASONS:
        reasons.append(f"{_more_pages(changed_pages - MAX_PAGE_REASONS, 'looks', 'look')} "
                       f"different after signing too")
    return reasons


def _page_count_reasons(signed: Rendering, final: Rendering) -> list[str]:
    reasons: list[str] = []
    declared: tuple[int, int] | None = None
    if signed.boxes is not None and final.boxes is not None:
        declared = len(signed.boxes), len(final.boxes)
        if declared[0] != declared[1]:
            reasons.append(f"the document has {_pages(declared[1])} after signing instead of "
                           f"{declared[0]}")
    elif final.boxes is None and signed.boxes is not None:
        reasons.append(f"the pages cannot be read after signing ({final.boxes_problem})")
    elif signed.boxes is None and final.boxes is not None:
        reasons.append(f"the pages of the signed document could not be read but those of the "
                       f"final one can ({signed.boxes_problem})")
    for before, after in zip(signed.runs, final.runs, strict=True):
        seen = len(before.pages), len(after.pages)
        capped = (min(declared[0], signed.max_pages), min(declared[1], final.max_pages)) \
            if declared else None
        if seen[0] != seen[1] and seen != capped and before.failed == after.failed:
            reasons.append(f"{after.renderer} shows {_pages(seen[1])} after signing instead of "
                           f"{seen[0]}")
    return reasons


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def _more_pages(count: int, one: str, many: str) -> str:
    return f"1 more page {one}" if count == 1 else f"{count} more pages {many}"


def _box_reasons(signed: Rendering, final: Rendering) -> list[str]:
    if signed.boxes is None or final.boxes is None:
        return []
    reasons: list[str] = []
    pages_changed = 0
    for index, (before, after) in enumerate(zip(signed.boxes, final.boxes, strict=False)):
        if before == after:
            continue
        pages_changed += 1
        if pages_changed > MAX_PAGE_REASONS:
            continue
        page = f"page {index + 1}"
        if before.media_box != after.media_box:
            reasons.append(f"{page} has a different MediaBox after signing "
                           f"({_box(after.media_box)} instead of {_box(before.media_box)})")
        cropped = before.crop_box != before.media_box or after.crop_box != after.media_box
        if before.crop_box != after.crop_box and cropped:  # else said by the MediaBox
            reasons.append(f"{page} shows a different area after signing (CropBox "
                           f"{_box(after.crop_box)} instead of {_box(before.crop_box)})")
        if before.rotate != after.rotate:
            reasons.append(f"{page} is rotated {after.rotate}° after signing "
                           f"instead of {before.rotate}°")
        if before.user_unit != after.user_unit:
            reasons.append(f"{page} has a different scale after signing (UserUnit "
                           f"{after.user_unit:g} instead of {before.user_unit:g})")
    if pages_changed > MAX_PAGE_REASONS:
        reasons.append(f"{_more_pages(pages_changed - MAX_PAGE_REASONS, 'has', 'have')} "
                       f"different boxes after signing too")
    return reasons


def _box(rect: Rect) -> str:
    return " ".join(f"{v:g}" for v in rect)


@dataclass(frozen=True)
class _Geometry:
    """How a page's user space maps onto a renderer's pixels (y down, after /Rotate)."""

    crop: Rect
    rotate: int  # 0, 90, 180 or 270, clockwise as displayed
    sx: float  # pixels per point along the unrotated page's width
    sy: float  # ... and along its height

    @classmethod
    def of(cls, boxes: PageBoxes | None, bitmap: Bitmap, dpi: float) -> _Geometry:
        """The mapping for `bitmap`, from its page's boxes (none: an unrotated page at 0, 0)."""
        if boxes is None:
            scale = dpi / 72.0
            return cls((0.0, 0.0, bitmap.width / scale, bitmap.height / scale), 0, scale, scale)
        rotate = boxes.rotate if boxes.rotate in (90, 180, 270) else 0
        width, height = (bitmap.height, bitmap.width) if rotate in (90, 270) else (
            bitmap.width, bitmap.height)
        x0, y0, x1, y1 = boxes.crop_box
        # From the image's own size: whatever a renderer makes of /UserUnit or rounding.
        return cls(boxes.crop_box, rotate, width / (x1 - x0), height / (y1 - y0))

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        """Where user-space point (x, y) lands in the image."""
        cx0, cy0, cx1, cy1 = self.crop
        u, v = (x - cx0) * self.sx, (cy1 - y) * self.sy
        width, height = (cx1 - cx0) * self.sx, (cy1 - cy0) * self.sy
        if self.rotate == 90:
            return height - v, u
        if self.rotate == 180:
            return width - u, height - v
        if self.rotate == 270:
            return v, width - u
        return u, v

    def to_points(self, px: float, py: float) -> tuple[float, float]:
        """The user-space point shown at image position (px, py)."""
        cx0, cy0, cx1, cy1 = self.crop
        width, height = (cx1 - cx0) * self.sx, (cy1 - cy0) * self.sy
        if self.rotate == 90:
            u, v = py, height - px
        elif self.rotate == 180:
            u, v = width - px, height - py
        elif self.rotate == 270:
            u, v = width - py, px
        else:
            u, v = px, py
        return cx0 + u / self.sx, cy1 - v / self.sy

    def rect_to_pixels(self, rect: Rect, margin: int) -> tuple[int, int, int, int]:
        """The pixels [x0, x1) × [y0, y1) that `rect` covers, widened by `margin` each side."""
        corners = [self.to_pixels(x, y) for x in (rect[0], rect[2]) for y in (rect[1], rect[3])]
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        return (math.floor(min(xs)) - margin, math.floor(min(ys)) - margin,
                math.ceil(max(xs)) + margin, math.ceil(max(ys)) + margin)


def _page_boxes(final: Rendering, signed: Rendering, index: int) -> PageBoxes | None:
    """Page `index`'s boxes in the final file (where the widgets are), else in the signed one."""
    for rendering in (final, signed):
        if rendering.boxes is not None and index < len(rendering.boxes):
            return rendering.boxes[index]
    return None


def _page_change(before: Bitmap, after: Bitmap, boxes: PageBoxes | None,
                 masks: Sequence[Rect], dpi: float) -> str:
    """How `after` differs from `before` outside the masks ("" when it does not)."""
    if (before.width, before.height, before.channels) != (after.width, after.height,
                                                          after.channels):
        return (f"drawn at {after.width}×{after.height} px instead of "
                f"{before.width}×{before.height} px")
    if before.pixels == after.pixels:
        return ""
    geometry = _Geometry.of(boxes, after, dpi)
    holes = [geometry.rect_to_pixels(rect, MASK_MARGIN_PX) for rect in masks]
    width, stride = after.width, after.width * after.channels
    changed = 0
    left, top, right, bottom = width, after.height, -1, -1
    for y in range(after.height):
        start = y * stride
        row_before, row_after = before.pixels[start:start + stride], after.pixels[start:start + stride]
        if row_before == row_after:
            continue
        diff = _row_difference(row_before, row_after, after.channels, width)
        for x0, y0, x1, y1 in holes:
            if y0 <= y < y1 and x0 < width and x1 > 0:
                diff[max(0, x0):min(width, x1)] = bytes(min(width, x1) - max(0, x0))
        count = width - diff.count(0)
        if not count:
            continue
        changed += count
        left = min(left, width - len(diff.lstrip(b"\0")))
        right = max(right, len(diff.rstrip(b"\0")) - 1)
        top, bottom = min(top, y), max(bottom, y)
    if not changed:
        return ""
    corners = [geometry.to_points(px, py) for px in (left, right + 1) for py in (top, bottom + 1)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    return (f"{changed} pixel{'s' if changed != 1 else ''} changed around "
            f"x={min(xs):.0f}..{max(xs):.0f} pt, y={min(ys):.0f}..{max(ys):.0f} pt")


def _row_difference(before: bytes, after: bytes, channels: int, width: int) -> bytearray:
    """One byte a pixel, non-zero where the rows differ (XOR of big integers: no Python loop)."""
    xor = (int.from_bytes(before, "big") ^ int.from_bytes(after, "big")).to_bytes(len(after), "big")
    if channels == 1:
        return bytearray(xor)
    merged = 0
    for channel in range(channels):
        merged |= int.from_bytes(xor[channel::channels], "big")
    return bytearray(merged.to_bytes(width, "big"))


def _join_changes(changes: list[tuple[str, str]]) -> str:
    if len(changes) == 1:
        renderer, change = changes[0]
        other = MUPDF if renderer == POPPLER else POPPLER
        return f"{renderer} only, {other} shows no change: {change}"
    if changes[0][1] == changes[1][1]:
        return f"{changes[0][0]} and {changes[1][0]}: {changes[0][1]}"
    return "; ".join(f"{renderer}: {change}" for renderer, change in changes)
