"""What people see: each page rendered by poppler and by MuPDF, compared between revisions.

The structural reader rejects what two parsers could read differently; this is the backstop
(as the EU DSS validator's visual-difference check): a signed revision (itself a complete PDF)
and the final file are rendered by two independent renderers, and any pixel that differs outside
the signature widgets' rectangles, a different page count, page box, rotation or output intent,
or a renderer that reads one file but not the other, is a difference. Both renderers failing
alike on both files is no difference: `Rendering.problems` says the comparison is incomplete.

    signed, final = render_many([revision_bytes, final_bytes], deadline=time.monotonic() + 5)
    reasons = differences(signed, final, masks={2: [(60, 120, 210, 170)]})

Rendering the same bytes with the same renderer is deterministic, so pages are compared exactly.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import math
import os
import selectors
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
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
#: Widgets' rectangles widened by this many pixels, for anti-aliasing and rounding at their edges.
MASK_MARGIN_PX = 2
#: Pages described one by one in `differences`; more are counted in one last reason.
MAX_PAGE_REASONS = 10
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


# Rendering ----------------------------------------------------------------------------------


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


# Comparing ----------------------------------------------------------------------------------


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
