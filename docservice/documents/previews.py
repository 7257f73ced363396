"""Page images of a PDF (poppler's pdftoppm), cached by the PDF's SHA-256."""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from pathlib import Path

from pypdf import PdfReader

from docservice.errors import ConversionError, NotFound

PREVIEW_DPI = 60


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
        try:
            # poppler 22 writes images only to files, not to standard output.
            done = subprocess.run(
                ["pdftoppm", "-f", str(page), "-l", str(page), "-r", str(dpi), "-png",
                 "-singlefile", str(source), str(Path(tmp) / "page")],
                capture_output=True, timeout=60, check=False)
        except FileNotFoundError as e:
            raise ConversionError("pdftoppm is missing: apt-get install poppler-utils") from e
        except subprocess.TimeoutExpired as e:
            raise ConversionError(f"rendering page {page} took too long") from e
        image = Path(tmp) / "page.png"
        if done.returncode != 0 or not image.exists():
            raise ConversionError(f"pdftoppm could not render page {page}: {done.stderr[:200]!r}")
        png = image.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(png)
    os.replace(tmp, target)
    return png
