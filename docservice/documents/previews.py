"""Readable pages of a PDF: images (poppler's pdftoppm) and text (pdftotext), cached by SHA-256."""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader

from docservice.errors import ConversionError, NotFound

#: 120 dpi: an A4 page is 993 pixels wide, as wide as the signing page's column on a computer
#: and twice a phone's, so the text reads at the column's width and stays sharp when zoomed.
PREVIEW_DPI = 120
#: Bump when what the cached page descriptions hold changes.
_TEXT_VERSION = 2
_BLANK_LINES = re.compile(r"\n\s*\n")
#: Word's Symbol-font bullet comes out of pdftotext as a private-use code point; others are
#: glyphs without meaning (icons, dingbats) that a screen reader would spell out.
_SYMBOL_BULLET = "\uf0b7"
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_CLAUSE_NUMBER = re.compile(r"\d+\.(?:\d+\.?)*")
_CLAUSE_START = re.compile(r"(?:\d+\.\d+(?:\.\d+)*\.? |• )")
#: A line this much of the page's longest or longer was wrapped by the page, not ended.
_FULL_LINE = 0.6


@dataclass(frozen=True)
class PagePreview:
    """One page as the signing page shows it: its image's size in pixels and its text."""

    number: int
    width: int
    height: int
    paragraphs: tuple[str, ...]


def page_count(pdf: bytes) -> int:
    """How many pages `pdf` has."""
    return len(PdfReader(io.BytesIO(pdf)).pages)


def page_png(pdf: bytes, sha256: str, page: int, cache: Path, *, dpi: int = PREVIEW_DPI) -> bytes:
    """PNG of 1-based `page`, rendered once and then read from `cache`."""
    if not 1 <= page <= page_count(pdf):
        raise NotFound(f"page {page}")
    target = cache / sha256[:2] / f"{sha256}-{page}-{dpi}.png"
    if target.exists():
        return target.read_bytes()
    with tempfile.TemporaryDirectory(prefix="docservice-preview-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        # poppler 22 writes images only to files, not to standard output.
        done = _poppler(["pdftoppm", "-f", str(page), "-l", str(page), "-r", str(dpi), "-png",
                         "-singlefile", str(source), str(Path(tmp) / "page")],
                        f"rendering page {page}")
        image = Path(tmp) / "page.png"
        if done.returncode != 0 or not image.exists():
            raise ConversionError(f"pdftoppm could not render page {page}: {done.stderr[:200]!r}")
        png = image.read_bytes()
    _write_once(target, png)
    return png


def page_previews(pdf: bytes, sha256: str, cache: Path, *, dpi: int = PREVIEW_DPI
                  ) -> list[PagePreview]:
    """Every page's image size at `dpi` and its text in paragraphs; worked out once per PDF
    and then read from `cache`, beside the page images."""
    count = page_count(pdf)
    target = cache / sha256[:2] / f"{sha256}-pages-{dpi}-v{_TEXT_VERSION}.json"
    if target.exists():
        cached = [_from_json(item) for item in json.loads(target.read_text("utf-8"))]
        if len(cached) == count:
            return cached
    reader = PdfReader(io.BytesIO(pdf))
    texts = page_texts(pdf)
    pages = []
    for number, page in enumerate(reader.pages, start=1):
        # pdftoppm renders the crop box, turned by the page's /Rotate.
        width, height = float(page.cropbox.width), float(page.cropbox.height)
        if page.rotation % 180:
            width, height = height, width
        text = texts[number - 1] if number <= len(texts) else ""
        pages.append(PagePreview(number, _pixels(width, dpi), _pixels(height, dpi),
                                 paragraphs(text)))
    _write_once(target, json.dumps([_to_json(p) for p in pages], ensure_ascii=False)
                .encode("utf-8"))
    return pages


def page_texts(pdf: bytes) -> list[str]:
    """The text of each page in reading order, as pdftotext extracts it (one run for all)."""
    with tempfile.TemporaryDirectory(prefix="docservice-text-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        done = _poppler(["pdftotext", "-enc", "UTF-8", "-eol", "unix", str(source), "-"],
                        "extracting the text")
    if done.returncode != 0:
        raise ConversionError(f"pdftotext could not read the PDF: {done.stderr[:200]!r}")
    # pdftotext ends every page with a form feed.
    return done.stdout.decode("utf-8", "replace").split("\f")[:-1] or [""]


def paragraphs(text: str) -> tuple[str, ...]:
    """`text` as pdftotext gives it, cut into paragraphs that reflow: lines the page wrapped
    are joined again; a heading, a paragraph's last line and a numbered clause keep their own
    line, and a clause's number goes with its text."""
    text = _PRIVATE_USE.sub("", text.replace(_SYMBOL_BULLET, "•"))
    blocks = [[line.strip() for line in block.splitlines() if line.strip() not in ("", "•")]
              for block in _BLANK_LINES.split(text)]
    full = _FULL_LINE * max((len(line) for block in blocks for line in block), default=0)
    result: list[str] = []
    label = ""
    for block in blocks:
        trailing = ""
        if block and _CLAUSE_NUMBER.fullmatch(block[-1]):
            # pdftotext puts a clause's number ("1.2") apart, before its text's block.
            trailing, block = block[-1] + " ", block[:-1]
        if not block:
            label += trailing
            continue
        paragraph = label + block[0]
        for previous, line in itertools.pairwise(block):
            if len(previous) < full or _CLAUSE_START.match(line):
                paragraph += "\n" + line
            elif previous.endswith("-") and not previous.endswith(" -"):
                paragraph += line  # a compound word broken at its own hyphen
            else:
                paragraph += " " + line
        result.append(paragraph)
        label = trailing
    if label:
        result.append(label.strip())
    return tuple(result)


def _poppler(command: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(command, capture_output=True, timeout=60, check=False)
    except FileNotFoundError as e:
        raise ConversionError(f"{command[0]} is missing: apt-get install poppler-utils") from e
    except subprocess.TimeoutExpired as e:
        raise ConversionError(f"{what} took too long") from e


def _pixels(points: float, dpi: int) -> int:
    return max(1, math.ceil(points * dpi / 72))  # as pdftoppm rounds


def _to_json(page: PagePreview) -> dict[str, object]:
    return {"number": page.number, "width": page.width, "height": page.height,
            "paragraphs": list(page.paragraphs)}


def _from_json(item: dict[str, object]) -> PagePreview:
    number, width, height, texts = (item["number"], item["width"], item["height"],
                                    item["paragraphs"])
    if not (isinstance(number, int) and isinstance(width, int) and isinstance(height, int)
            and isinstance(texts, list)):
        raise ValueError(f"not a page preview: {item!r}")
    return PagePreview(number, width, height, tuple(str(t) for t in texts))


def _write_once(target: Path, data: bytes) -> None:
    # Written beside the target and renamed: a reader never sees half a file.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
