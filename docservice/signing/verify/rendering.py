"""Each page of a PDF rendered by poppler and by MuPDF, in child processes, with its boxes.

Both renderers run in parallel in a private temporary folder, within a deadline and an output
budget; a renderer that fails on a file is recorded in its `RendererRun`, never raised. The
page boxes (and the output intents' digest) are read from the PDF meanwhile. `visual.py`
compares two renderings. Within `drawing_ahead`, files can be drawn before anyone asks for them
(the archive draws the signed revisions while it completes the document).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from docservice.signing.verify.renderers import (
    MUPDF,
    POPPLER,
    Job,
    RendererRun,
    RendererUnavailable,
    Runner,
    StopSignal,
    VisualTimeout,
    command,
    private_file,
)

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in the page's default user space

#: 36 dpi (half a point per pixel): what a person sees at a glance, and a 9 pt glyph is still
#: ~4.5 px tall with anti-aliasing, so one changed character changes pixels.
DEFAULT_DPI = 36.0
#: Pages rendered per file; more are counted (page boxes) but not drawn.
DEFAULT_MAX_PAGES = 100
#: Bytes of images one renderer may produce for one file before it is stopped (A4 at 36 dpi is
#: 126 KB a page): a hostile page size must not fill the memory.
DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024
# poppler turns a catalog's single OutputIntent into its display profile again for every page,
# reversing the profile's tone curves each time: ~120 ms a page for LibreOffice's PDF/A sRGB
# profile, 13 times the rest of the rendering. Renamed in poppler's copy (same length, so every
# offset and every object stays where it was) the key is ignored and the page drawn to poppler's
# default sRGB: both revisions get the same treatment, MuPDF reads the untouched file, and a
# change of the intents themselves is compared apart (Rendering.output_intents).
_OUTPUT_INTENTS = b"/OutputIntents"
_OUTPUT_INTENTS_HIDDEN = b"/OutputIntentX"



@dataclass(frozen=True)
class PageBoxes:
    """A page's geometry as the PDF declares it (inherited values resolved)."""

    media_box: Rect
    crop_box: Rect  # as renderers draw it: the CropBox clipped to the MediaBox
    rotate: int  # /Rotate modulo 360
    user_unit: float = 1.0


@dataclass(frozen=True)
class Rendering:
    """One PDF rendered by both renderers, with each page's boxes read from the PDF."""

    dpi: float
    poppler: RendererRun
    mupdf: RendererRun
    boxes: tuple[PageBoxes, ...] | None  # None: the page tree could not be read
    boxes_problem: str | None = None
    #: A digest of the catalog's /OutputIntents ("" when none): poppler-based viewers draw
    #: through its profile, which poppler's own copy here does not (see _OUTPUT_INTENTS).
    output_intents: str = ""
    max_pages: int = DEFAULT_MAX_PAGES

    @property
    def runs(self) -> tuple[RendererRun, RendererRun]:
        """Both renderers' results, poppler first."""
        return self.poppler, self.mupdf

    @property
    def problems(self) -> list[str]:
        """Why comparing with this rendering may be incomplete (for the log or an INDETERMINATE)."""
        problems = [f"{run.renderer}: {run.failure()}" for run in self.runs if run.failed]
        if self.boxes is None:
            problems.append(f"page boxes: {self.boxes_problem or 'unreadable'}")
        elif len(self.boxes) > self.max_pages:
            problems.append(f"only the first {self.max_pages} of {len(self.boxes)} pages drawn")
        return problems


def render(pdf: bytes, *, dpi: float = DEFAULT_DPI, deadline: float,
           max_pages: int = DEFAULT_MAX_PAGES, max_output: int = DEFAULT_MAX_OUTPUT) -> Rendering:
    """Render every page with pdftoppm and mutool, both started in parallel, in a private temp dir.

    `deadline` is a time.monotonic() value: past it the renderers are killed and VisualTimeout
    raised. A renderer that fails on the file is recorded in the result, never raised.
    """
    return render_many([pdf], dpi=dpi, deadline=deadline, max_pages=max_pages,
                       max_output=max_output)[0]


def render_many(pdfs: Sequence[bytes], *, dpi: float = DEFAULT_DPI, deadline: float,
                max_pages: int = DEFAULT_MAX_PAGES, max_output: int = DEFAULT_MAX_OUTPUT,
                parallel: int | None = None) -> list[Rendering]:
    """`render` of each PDF, with up to `parallel` renderer processes running at once (default:
    one per core, at least two) and the page boxes read meanwhile; identical PDFs (a document
    timestamp that covers the whole file) are rendered once, and so are PDFs already being drawn
    ahead (`drawing_ahead`) with the same settings: their renderings are waited for."""
    unique = list(dict.fromkeys(pdfs))
    ahead = _AHEAD.get()
    settings = (dpi, max_pages, max_output)
    borrowed = {pdf: future for pdf in unique
                if ahead is not None and (future := ahead.drawing(pdf, settings)) is not None}
    missing = [pdf for pdf in unique if pdf not in borrowed]
    drawn = dict(zip(missing, _render_unique(missing, dpi=dpi, deadline=deadline,
                                             max_pages=max_pages, max_output=max_output,
                                             parallel=parallel), strict=True)) if missing else {}
    for pdf, future in borrowed.items():
        try:
            drawn[pdf] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout as e:
            raise VisualTimeout(time.monotonic() - deadline) from e
        except RendererUnavailable:
            raise
        except Exception:  # noqa: BLE001 - stopped, or past the deadline it was started with
            drawn[pdf] = _render_unique([pdf], dpi=dpi, deadline=deadline, max_pages=max_pages,
                                        max_output=max_output, parallel=parallel)[0]
    return [drawn[pdf] for pdf in pdfs]


def _render_unique(unique: Sequence[bytes], *, dpi: float, deadline: float, max_pages: int,
                   max_output: int, parallel: int | None,
                   stop: StopSignal | None = None) -> list[Rendering]:
    """`render` of each of these distinct PDFs; `stop` ends the drawing early (`Stopped`)."""
    parallel = max(1, parallel or max(2, os.cpu_count() or 2))
    # Not a `with`: its exit would wait for a hostile page tree past the deadline.
    boxes_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="visual-boxes")
    try:
        with tempfile.TemporaryDirectory(prefix="docservice-visual-") as tmp:
            folder = Path(tmp)  # mkdtemp makes it 0700
            jobs: list[Job] = []
            for index, pdf in enumerate(unique):
                original = private_file(folder / f"{index}.pdf", pdf)
                poppler_path = original
                if _OUTPUT_INTENTS in pdf:
                    poppler_path = private_file(
                        folder / f"{index}-poppler.pdf",
                        pdf.replace(_OUTPUT_INTENTS, _OUTPUT_INTENTS_HIDDEN))
                jobs.append(Job(index, POPPLER, command(POPPLER, poppler_path, dpi, max_pages)))
                jobs.append(Job(index, MUPDF, command(MUPDF, original, dpi, max_pages)))
            boxes = boxes_reader.submit(lambda: [_read_boxes(pdf) for pdf in unique])
            runner = Runner(jobs, parallel=parallel, deadline=deadline, max_output=max_output,
                             stop=stop)
            try:
                runner.finish()
            finally:
                runner.kill_all()
        try:
            read = boxes.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout as e:
            raise VisualTimeout(time.monotonic() - deadline) from e
    finally:
        boxes_reader.shutdown(wait=False, cancel_futures=True)
    runs = {(job.index, job.renderer): job.result() for job in jobs}
    return [Rendering(dpi=dpi, poppler=runs[index, POPPLER], mupdf=runs[index, MUPDF],
                      boxes=read[index][0], boxes_problem=read[index][2],
                      output_intents=read[index][1], max_pages=max_pages)
            for index in range(len(unique))]


#: What makes two renderings of the same bytes the same: dpi, max_pages, max_output.
_Settings = tuple[float, int, int]
_DEFAULTS: _Settings = (DEFAULT_DPI, DEFAULT_MAX_PAGES, DEFAULT_MAX_OUTPUT)


class DrawingAhead:
    """Files being drawn in the background before anyone asks for them.

    Within `drawing_ahead`, `render_many` takes the rendering of the very same bytes at the same
    settings from here instead of drawing them again: both renderers still draw every file, only
    earlier (rendering the same bytes is deterministic). One that failed here is drawn again.
    """

    def __init__(self, *, seconds: float) -> None:
        self._seconds = seconds
        self._pending: dict[tuple[bytes, _Settings], Future[Rendering]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = StopSignal()
        self._pid = os.getpid()  # a forked child has none of these drawings' threads

    def draw(self, pdfs: Sequence[bytes]) -> None:
        """Start drawing `pdfs` (at the default settings) in a thread of their own."""
        with self._lock:
            futures: dict[bytes, Future[Rendering]] = {
                pdf: Future() for pdf in dict.fromkeys(pdfs) if (pdf, _DEFAULTS) not in
                self._pending}
            self._pending.update({(pdf, _DEFAULTS): f for pdf, f in futures.items()})
            if not futures:
                return
            thread = threading.Thread(target=self._draw, name="visual-ahead", daemon=True,
                                      args=(futures, time.monotonic() + self._seconds))
            self._threads.append(thread)
        thread.start()

    def drawing(self, pdf: bytes, settings: _Settings) -> Future[Rendering] | None:
        """The rendering of `pdf` at `settings` being drawn here, if it is."""
        if os.getpid() != self._pid:
            return None
        with self._lock:
            return self._pending.get((pdf, settings))

    def _draw(self, futures: dict[bytes, Future[Rendering]], deadline: float) -> None:
        pdfs = list(futures)
        try:
            drawn = _render_unique(pdfs, dpi=_DEFAULTS[0], deadline=deadline,
                                   max_pages=_DEFAULTS[1], max_output=_DEFAULTS[2],
                                   parallel=None, stop=self._stop)
        except Exception as e:  # noqa: BLE001 - handed to whoever waits for these renderings
            for future in futures.values():
                future.set_exception(e)
            return
        for pdf, rendering in zip(pdfs, drawn, strict=True):
            futures[pdf].set_result(rendering)

    def close(self) -> None:
        """Stop what is still being drawn (its renderers killed) and wait for that."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join()
        self._stop.close()


_AHEAD: ContextVar[DrawingAhead | None] = ContextVar("drawing_ahead", default=None)


@contextlib.contextmanager
def drawing_ahead(pdfs: Sequence[bytes] = (), *, seconds: float = 30.0
                  ) -> Iterator[DrawingAhead]:
    """Draw `pdfs` in the background now (more with `.draw`); `render_many` calls within the
    block (in this context: a thread started in it needs `contextvars.copy_context`) take those
    renderings. Each drawing stops `seconds` after it starts; whatever runs at the end of the
    block is stopped."""
    ahead = DrawingAhead(seconds=seconds)
    token = _AHEAD.set(ahead)
    try:
        ahead.draw(pdfs)
        yield ahead
    finally:
        _AHEAD.reset(token)
        ahead.close()


def _read_boxes(pdf: bytes) -> tuple[tuple[PageBoxes, ...] | None, str, str | None]:
    """Each page's boxes and the output intents' digest, or None and why they cannot be read
    (strictly first: twice as fast)."""
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=True)
        return _boxes(reader), _output_intents(reader), None
    except Exception:  # noqa: BLE001 - a sloppy file: read it as viewers do, leniently
        pass
    try:
        reader = PdfReader(io.BytesIO(pdf), strict=False)
        return _boxes(reader), _output_intents(reader), None
    except Exception as e:  # noqa: BLE001 - any unreadable page tree is a finding, not a crash
        return None, "", f"{type(e).__name__}: {e}"[:200]


def _output_intents(reader: PdfReader) -> str:
    try:
        root: Any = reader.trailer["/Root"].get_object()
        intents = root.get("/OutputIntents")
        if intents is None:
            return ""
        digest = hashlib.sha256()
        for item in intents.get_object():
            intent = item.get_object()
            digest.update(repr(sorted((str(k), str(v)) for k, v in intent.items()
                                      if k != "/DestOutputProfile")).encode())
            profile = intent.get("/DestOutputProfile")
            digest.update(profile.get_object().get_data() if profile is not None else b"-")
        return digest.hexdigest()
    except Exception as e:  # noqa: BLE001 - unreadable intents are compared as such
        return f"unreadable ({type(e).__name__})"


def _boxes(reader: PdfReader) -> tuple[PageBoxes, ...]:
    boxes = []
    for page in reader.pages:
        media = _normalise(tuple(float(v) for v in page.mediabox))
        crop = _normalise(tuple(float(v) for v in page.cropbox))
        clipped = (max(media[0], crop[0]), max(media[1], crop[1]),
                   min(media[2], crop[2]), min(media[3], crop[3]))
        if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
            clipped = media
        unit = page.get("/UserUnit", 1.0)
        boxes.append(PageBoxes(media_box=media, crop_box=clipped,
                               rotate=int(page.get("/Rotate", 0) or 0) % 360,
                               user_unit=float(unit) if isinstance(unit, int | float) else 1.0))
    return tuple(boxes)


def _normalise(values: tuple[float, ...]) -> Rect:
    if len(values) != 4:
        raise ValueError(f"a box of {len(values)} numbers")
    x0, y0, x1, y1 = values
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)
