"""The renderers' child processes: poppler's pdftoppm and MuPDF's mutool draw, run side by side
within a deadline and an output budget, their PNM output parsed into bitmaps (`rendering.py`
decides what to draw and reads the page boxes)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from docservice.signing.errors import SigningError

POPPLER = "poppler"
MUPDF = "MuPDF"
_MAX_MESSAGES = 5
_MAX_STDERR = 64 * 1024
_READ_CHUNK = 256 * 1024
_PIPE_SIZE = 1024 * 1024
_NOISE = ("warning: ICC support is not available",)


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


class Stopped(Exception):
    """A drawing ahead was stopped before it finished (nobody needs it any more)."""


class StopSignal:
    """A pipe that becomes readable when `set`: wakes every runner waiting on its renderers."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()

    def fileno(self) -> int:
        return self._read

    def set(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write, b".")

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


def private_file(path: Path, data: bytes) -> Path:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(data)
    return path


def command(renderer: str, path: Path, dpi: float, max_pages: int) -> list[str]:
    resolution = f"{dpi:g}"
    if renderer == POPPLER:
        return ["pdftoppm", "-r", resolution, "-gray", "-cropbox", "-f", "1",
                "-l", str(max_pages), str(path)]
    return ["mutool", "draw", "-q", "-r", resolution, "-c", "gray", "-F", "pgm", "-o", "-",
            str(path), f"1-{max_pages}"]


@dataclass(eq=False)
class Job:
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
        pages, complete = parse_pnm_stream(bytes(self.out))
        lines = [line.strip() for line in self.err.decode("utf-8", "replace").splitlines()]
        lines = [line for line in lines if line and not line.startswith(_NOISE)]
        # Errors before warnings: the first message is the one a reason quotes.
        lines.sort(key=lambda line: "error" not in line.lower())
        messages = tuple(dict.fromkeys(lines))[:_MAX_MESSAGES]
        return RendererRun(renderer=self.renderer, pages=tuple(pages),
                           exit_code=-9 if self.exit_code is None else self.exit_code,
                           messages=messages, complete=complete, too_large=self.over_budget)


class Runner:
    """Runs renderer processes, at most `parallel` at once, reading their pipes until each ends."""

    def __init__(self, jobs: list[Job], *, parallel: int, deadline: float,
                 max_output: int, stop: StopSignal | None = None) -> None:
        self.waiting = deque(jobs)
        self.running: list[Job] = []
        self.parallel = parallel
        self.deadline = deadline
        self.max_output = max_output
        self.selector = selectors.DefaultSelector()
        self.stop = stop
        if stop is not None:
            self.selector.register(stop, selectors.EVENT_READ, None)

    def start_some(self) -> None:
        while self.waiting and len(self.running) < self.parallel:
            job = self.waiting.popleft()
            try:
                job.process = subprocess.Popen(
                    job.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, cwd="/", env=renderer_env())
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
                if key.data is None:
                    raise Stopped
                self._read(key.fileobj, key.data)  # type: ignore[arg-type]

    def _read(self, stream: IO[bytes], job: Job) -> None:
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

    def _close(self, stream: IO[bytes], job: Job) -> None:
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
            if key.fileobj is not self.stop:  # the signal is its owner's to close
                key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


def renderer_env() -> dict[str, str]:
    # Same fonts and locale whoever calls us; HOME for fontconfig's cache.
    keep = ("PATH", "HOME", "FONTCONFIG_FILE", "FONTCONFIG_PATH", "XDG_CACHE_HOME")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["LC_ALL"] = "C"
    return env


def parse_pnm_stream(data: bytes) -> tuple[list[Bitmap], bool]:
    """The PGM/PPM (P5/P6, 8-bit) images written one after another; False if the stream was cut
    short or holds something else."""
    pages: list[Bitmap] = []
    at = 0
    while at < len(data):
        header = pnm_header(data, at)
        if header is None:
            return pages, False
        width, height, channels, start = header
        end = start + width * height * channels
        if end > len(data):
            return pages, False
        pages.append(Bitmap(width, height, channels, data[start:end]))
        at = end
    return pages, True


def pnm_header(data: bytes, at: int) -> tuple[int, int, int, int] | None:
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
