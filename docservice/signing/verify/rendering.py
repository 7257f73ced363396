"""Each page of a PDF rendered by poppler and by MuPDF, in child processes, with its boxes.

Both renderers run in parallel in a private temporary folder, within a deadline and an output
budget; a renderer that fails on a file is recorded in its `RendererRun`, never raised. The
page boxes (and the output intents' digest) are read from the PDF meanwhile. `visual.py`
compares two renderings.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import selectors
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pypdf import PdfReader

from docservice.signing.errors import SigningError

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in the page's default user space

#: 36 dpi (half a point per pixel): what a person sees at a glance, and a 9 pt glyph is still
#: ~4.5 px tall with anti-aliasing, so one changed character changes pixels.
DEFAULT_DPI = 36.0
#: Pages rendered per file; more are counted (page boxes) but not drawn.
DEFAULT_MAX_PAGES = 100
#: Bytes of images one renderer may produce for one file before it is stopped (A4 at 36 dpi is
#: 126 KB a page): a hostile page size must not fill the memory.
DEFAULT_MAX_OUTPUT = 32 * 1024 * 1024
_MAX_MESSAGES = 5
_MAX_STDERR = 64 * 1024
_READ_CHUNK = 256 * 1024
_PIPE_SIZE = 1024 * 1024
_NOISE = ("warning: ICC support is not available",)
# poppler turns a catalog's single OutputIntent into its display profile again for every page,
# reversing the profile's tone curves each time: ~120 ms a page for LibreOffice's PDF/A sRGB
# profile, 13 times the rest of the rendering. Renamed in poppler's copy (same length, so every
# offset and every object stays where it was) the key is ignored and the page drawn to poppler's
# default sRGB: both revisions get the same treatment, MuPDF reads the untouched file, and a
# change of the intents themselves is compared apart (Rendering.output_intents).
_OUTPUT_INTENTS = b"/OutputIntents"
_OUTPUT_INTENTS_HIDDEN = b"/OutputIntentX"

POPPLER = "poppler"
MUPDF = "MuPDF"


class VisualTimeout(SigningError):
    """Rendering the pages went past the deadline (the renderers were stopped)."""

    def __init__(self, seconds_over: float) -> None:
        super().__init__(f"rendering the pages went {seconds_over:.2f} s past the deadline")
        self.seconds_over = seconds_over


class RendererUnavailable(SigningError):
    """A renderer cannot be started (not installed): the comparison cannot be made at all."""

    def __init__(self, program: str, reason: str) -> None:
        super().__init__(f"renderer {program}: {reason}")
        self.program = program
        self.reason = reason


@dataclass(frozen=True)
class Bitmap:
    """One rendered page: `channels` bytes a pixel (1 = gray), rows top to bottom."""

    width: int
    height: int
    channels: int
    pixels: bytes = field(repr=False)


@dataclass(frozen=True)
class RendererRun:
    """What one renderer made of one PDF: its pages in order, and whether it complained."""

    renderer: str  # POPPLER or MUPDF
    pages: tuple[Bitmap, ...]
    exit_code: int  # the process's; negative = killed by a signal
    messages: tuple[str, ...] = ()  # its first error lines, noise removed
    complete: bool = True  # False: its output stops in the middle of a page
    too_large: bool = False  # stopped for producing more than the output budget

    @property
    def failed(self) -> bool:
        """Whether the renderer did not render the whole file cleanly."""
        return self.exit_code != 0 or not self.complete or self.too_large or not self.pages

    def failure(self) -> str:
        """What went wrong, in a few words ("" when nothing did)."""
        if not self.failed:
            return ""
        if self.too_large:
            what = "stopped: too large to render"
        elif not self.complete:
            what = "output cut short"
        elif self.exit_code < 0:
            what = f"killed by signal {-self.exit_code}"
        elif self.exit_code:
            what = f"exit status {self.exit_code}"
        else:
            what = "no pages"
        return f"{what}: {self.messages[0]}" if self.messages else what


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
    timestamp that covers the whole file) are rendered once."""
    parallel = max(1, parallel or max(2, os.cpu_count() or 2))
    position = {pdf: index for index, pdf in enumerate(dict.fromkeys(pdfs))}
    unique = list(position)
    # Not a `with`: its exit would wait for a hostile page tree past the deadline.
    boxes_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="visual-boxes")
    try:
        with tempfile.TemporaryDirectory(prefix="docservice-visual-") as tmp:
            folder = Path(tmp)  # mkdtemp makes it 0700
            jobs: list[_Job] = []
            for index, pdf in enumerate(unique):
                original = _private_file(folder / f"{index}.pdf", pdf)
                poppler_path = original
                if _OUTPUT_INTENTS in pdf:
                    poppler_path = _private_file(
                        folder / f"{index}-poppler.pdf",
                        pdf.replace(_OUTPUT_INTENTS, _OUTPUT_INTENTS_HIDDEN))
                jobs.append(_Job(index, POPPLER, _command(POPPLER, poppler_path, dpi, max_pages)))
                jobs.append(_Job(index, MUPDF, _command(MUPDF, original, dpi, max_pages)))
            boxes = boxes_reader.submit(lambda: [_read_boxes(pdf) for pdf in unique])
            runner = _Runner(jobs, parallel=parallel, deadline=deadline, max_output=max_output)
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
    renderings = [Rendering(dpi=dpi, poppler=runs[index, POPPLER], mupdf=runs[index, MUPDF],
                            boxes=read[index][0], boxes_problem=read[index][2],
                            output_intents=read[index][1],
                            max_pages=max_pages)
                  for index in range(len(unique))]
    return [renderings[position[pdf]] for pdf in pdfs]



def _private_file(path: Path, data: bytes) -> Path:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(data)
    return path


def _command(renderer: str, path: Path, dpi: float, max_pages: int) -> list[str]:
    resolution = f"{dpi:g}"
    if renderer == POPPLER:
        return ["pdftoppm", "-r", resolution, "-gray", "-cropbox", "-f", "1",
                "-l", str(max_pages), str(path)]
    return ["mutool", "draw", "-q", "-r", resolution, "-c", "gray", "-F", "pgm", "-o", "-",
            str(path), f"1-{max_pages}"]


@dataclass(eq=False)
class _Job:
    index: int
    renderer: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    open_streams: int = 0
    over_budget: bool = False
    exit_code: int | None = None

    def result(self) -> RendererRun:
        pages, complete = _parse_pnm_stream(bytes(self.out))
        lines = [line.strip() for line in self.err.decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line and not line.startswith(_NOISE)]
        # Errors before warnings: the first message is the one a reason quotes.
        lines.sort(key=lambda line: "error" not in line.lower())
        messages = tuple(dict.fromkeys(lines))[:_MAX_MESSAGES]
        return RendererRun(renderer=self.renderer, pages=tuple(pages),
                           exit_code=-9 if self.exit_code is None else self.exit_code,
                           messages=messages, complete=complete, too_large=self.over_budget)


class _Runner:
    """Runs renderer processes, at most `parallel` at once, reading their pipes until each ends."""

    def __init__(self, jobs: list[_Job], *, parallel: int, deadline: float,
                 max_output: int) -> None:
        self.waiting = deque(jobs)
        self.running: list[_Job] = []
        self.parallel = parallel
        self.deadline = deadline
        self.max_output = max_output
        self.selector = selectors.DefaultSelector()

    def start_some(self) -> None:
        while self.waiting and len(self.running) < self.parallel:
            job = self.waiting.popleft()
            try:
                job.process = subprocess.Popen(
                    job.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, cwd="/", env=_renderer_env())
            except OSError as e:
                raise RendererUnavailable(job.argv[0], str(e)) from e
            self.running.append(job)
            for stream in (job.process.stdout, job.process.stderr):
                assert stream is not None
                os.set_blocking(stream.fileno(), False)
                with contextlib.suppress(AttributeError, OSError):  # Linux: a 1 MB pipe, so a
                    # renderer rarely waits for us to read while the boxes are being read
                    fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
                self.selector.register(stream, selectors.EVENT_READ, job)
                job.open_streams += 1

    def finish(self) -> None:
        while self.running or self.waiting:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise VisualTimeout(-remaining)
            self.start_some()
            for key, _ in self.selector.select(remaining):
                self._read(key.fileobj, key.data)  # type: ignore[arg-type]

    def _read(self, stream: IO[bytes], job: _Job) -> None:
        try:
            chunk = os.read(stream.fileno(), _READ_CHUNK)
        except BlockingIOError:
            return
        assert job.process is not None
        if chunk and stream is job.process.stdout:
            job.out += chunk
            if len(job.out) > self.max_output:
                job.over_budget = True
                job.process.kill()
                self._close(stream, job)
        elif chunk:
            if len(job.err) < _MAX_STDERR:
                job.err += chunk[:_MAX_STDERR - len(job.err)]
        else:
            self._close(stream, job)

    def _close(self, stream: IO[bytes], job: _Job) -> None:
        self.selector.unregister(stream)
        stream.close()
        job.open_streams -= 1
        if job.open_streams == 0:
            assert job.process is not None
            try:
                job.exit_code = job.process.wait(max(0.0, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired as e:
                raise VisualTimeout(time.monotonic() - self.deadline) from e
            self.running.remove(job)

    def kill_all(self) -> None:
        """Stop whatever still runs (after a timeout or an error) and release the pipes."""
        for job in self.running:
            assert job.process is not None
            if job.process.poll() is None:
                job.process.kill()
            job.process.wait()
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


def _renderer_env() -> dict[str, str]:
    # Same fonts and locale whoever calls us; HOME for fontconfig's cache.
    keep = ("PATH", "HOME", "FONTCONFIG_FILE", "FONTCONFIG_PATH", "XDG_CACHE_HOME")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["LC_ALL"] = "C"
    return env


def _parse_pnm_stream(data: bytes) -> tuple[list[Bitmap], bool]:
    """The PGM/PPM (P5/P6, 8-bit) images written one after another; False if the stream was cut
    short or holds something else."""
    pages: list[Bitmap] = []
    at = 0
    while at < len(data):
        header = _pnm_header(data, at)
        if header is None:
            return pages, False
        width, height, channels, start = header
        end = start + width * height * channels
        if end > len(data):
            return pages, False
        pages.append(Bitmap(width, height, channels, data[start:end]))
        at = end
    return pages, True


def _pnm_header(data: bytes, at: int) -> tuple[int, int, int, int] | None:
    magic = data[at:at + 2]
    if magic not in (b"P5", b"P6"):
        return None
    at += 2
    values: list[int] = []
    while len(values) < 3:
        while at < len(data) and data[at:at + 1].isspace():
            at += 1
        if data[at:at + 1] == b"#":
            newline = data.find(b"\n", at)
            if newline < 0:
                return None
            at = newline + 1
            continue
        start = at
        while at < len(data) and data[at:at + 1].isdigit():
            at += 1
        if start == at or at - start > 9:
            return None
        values.append(int(data[start:at]))
    if at >= len(data) or not data[at:at + 1].isspace() or values[2] != 255:
        return None
    return values[0], values[1], 1 if magic == b"P5" else 3, at + 1


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
