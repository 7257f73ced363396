"""DOCX to PDF with a pool of warm LibreOffice processes driven over UNO."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from docservice.config import Settings
from docservice.errors import ConversionError

log = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).with_name("uno_worker.py")
INSTALL_HINT = "install them with: apt-get install libreoffice-writer-nogui python3-uno"


@dataclass(frozen=True)
class ConversionResult:
    """A converted PDF and the time LibreOffice itself spent on it (load and export)."""

    pdf: bytes
    libreoffice_ms: float


class _WorkerDied(Exception):
    """The worker or its soffice died while converting; a restart may help."""


class _WorkerHung(_WorkerDied):
    """The worker did not answer within the timeout; it is killed, and a restart may help."""


class _StartCrashed(ConversionError):
    """LibreOffice died or stalled while starting (not: it is missing); starting again may help."""


#: Attempts at one document: LibreOffice dying (or hanging) on it twice is the document's fault.
ATTEMPTS = 2
#: Starts in a row before a converter gives up: a kill can land on a restart too.
STARTS = 3


class Converter:
    """One worker process with its own soffice, started lazily and restarted when it dies."""

    def __init__(
        self,
        *,
        workdir: Path,
        uno_python: str = "/usr/bin/python3",
        soffice: str = "soffice",
        timeout: float = 60.0,
        start_timeout: float = 30.0,
    ) -> None:
        self.workdir = workdir
        self.uno_python = uno_python
        self.soffice = soffice
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._soffice_pid: int | None = None
        self._profile: Path | None = None
        self._buffer = b""
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._closed = False
        self.startup_ms: float | None = None

    @property
    def pid(self) -> int | None:
        """The worker's pid while it runs."""
        process = self._process
        return process.pid if process is not None else None

    @property
    def soffice_pid(self) -> int | None:
        """The pid of the soffice.bin process doing the work, while it runs."""
        return self._soffice_pid

    def start(self) -> None:
        """Start the worker and its soffice unless they run already."""
        with self._lock:
            if self._closed:
                raise ConversionError("the converter is closed")
            self._ensure_started()

    def convert(self, docx: bytes, *, pdfa: bool = False) -> ConversionResult:
        """The PDF of `docx`, as PDF/A-2b when `pdfa`."""
        with self._lock:
            if self._closed:
                raise ConversionError("the converter is closed")
            # A folder per document: LibreOffice writes lock and lu*.tmp files next to its
            # target, and one killed while exporting leaves them behind.
            folder = self.workdir / uuid.uuid4().hex
            folder.mkdir()
            source = folder / "source.docx"
            try:
                source.write_bytes(docx)
                reply, target = self._convert_with_retry(source, folder, pdfa=pdfa)
                if not reply.get("ok"):
                    if reply.get("stage") == "load":
                        raise ConversionError(
                            f"LibreOffice could not load the document: {reply.get('error')}"
                        )
                    raise ConversionError(
                        f"LibreOffice could not convert the document: {reply.get('error')}"
                    )
                try:
                    pdf = target.read_bytes()
                except FileNotFoundError:
                    raise ConversionError("LibreOffice reported success but wrote no PDF") from None
                return ConversionResult(pdf=pdf, libreoffice_ms=float(reply["ms"]))
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Stop the worker and its soffice; the converter cannot be used afterwards."""
        with self._lock:
            self._closed = True
            self._stop()

    def _convert_with_retry(self, source: Path, folder: Path, *,
                            pdfa: bool) -> tuple[dict[str, Any], Path]:
        for attempt in range(1, ATTEMPTS + 1):
            # A fresh name each attempt: a LibreOffice killed while exporting leaves a lock
            # file on its target, and the next one then refuses to write there (IO Abort).
            target = folder / f"attempt-{attempt}.pdf"
            request = {"in": str(source), "out": str(target), "pdfa": pdfa}
            self._ensure_started()
            try:
                return self._request(request), target
            except _WorkerHung:
                self._kill()
                if attempt == ATTEMPTS:
                    raise ConversionError(
                        f"LibreOffice did not finish within the timeout of {self.timeout:g} s,"
                        f" {ATTEMPTS} times; its process was killed and will be restarted"
                    ) from None
                log.warning("LibreOffice converter hung for %g s; killed it, restarting and"
                            " retrying", self.timeout)
            except _WorkerDied as e:
                self._kill()
                if attempt == ATTEMPTS:
                    raise ConversionError(
                        f"LibreOffice crashed {ATTEMPTS} times on this document: {e}"
                    ) from None
                log.warning("LibreOffice converter died (%s); restarting it and retrying", e)
        raise AssertionError("unreachable")

    def _ensure_started(self) -> None:
        # A crash while (re)starting is retried too: otherwise one kill during a restart
        # fails the document (and with it a whole cohort's generation).
        for start in range(1, STARTS + 1):
            if self._process is not None:
                return
            try:
                self._start()
            except _StartCrashed as e:
                if start == STARTS:
                    raise ConversionError(f"{e} ({STARTS} attempts)") from None
                log.warning("%s; starting it again", e)

    def _start(self) -> None:
        if shutil.which(self.uno_python) is None:
            raise ConversionError(
                f"the UNO Python interpreter {self.uno_python} is missing; {INSTALL_HINT}"
            )
        if shutil.which(self.soffice) is None:
            raise ConversionError(f"LibreOffice ({self.soffice}) is not installed; {INSTALL_HINT}")
        self._profile = Path(tempfile.mkdtemp(prefix="profile-", dir=self.workdir))
        # LibreOffice's own temporary files go inside the profile folder, which is removed
        # with it: a killed soffice otherwise leaves its lu*.tmp behind in /tmp every time.
        private_tmp = self._profile / "tmp"
        private_tmp.mkdir()
        self._buffer = b""
        self._stderr_tail.clear()
        started = time.monotonic()
        process = subprocess.Popen(
            [
                self.uno_python,
                str(WORKER_SCRIPT),
                "--soffice",
                self.soffice,
                "--profile",
                str(self._profile),
                "--pipe-name",
                f"docservice-{os.getpid()}-{uuid.uuid4().hex[:12]}",
                "--start-timeout",
                str(self.start_timeout),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own process group, so that killing the group takes soffice along.
            start_new_session=True,
            env={**os.environ, "TMPDIR": str(private_tmp)},
        )
        self._process = process
        assert process.stderr is not None
        threading.Thread(target=self._forward_stderr, args=(process.stderr,), daemon=True).start()
        try:
            ready = self._read_reply(started + self.start_timeout + 5)
        except TimeoutError:
            self._kill()
            raise _StartCrashed(
                f"LibreOffice did not start within {self.start_timeout:g} s{self._tail()}"
            ) from None
        except _WorkerDied as e:
            self._kill()
            raise _StartCrashed(f"LibreOffice could not start: {e}") from None
        if not ready.get("ready"):
            self._kill()
            error = str(ready.get("error"))
            if "python3-uno" in error:
                raise ConversionError(f"LibreOffice could not start: {error}; {INSTALL_HINT}")
            if error.endswith(" not found"):  # no soffice.bin behind the launcher
                raise ConversionError(f"LibreOffice could not start: {error}")
            raise _StartCrashed(f"LibreOffice could not start: {error}")
        self._soffice_pid = int(ready["soffice_pid"])
        self.startup_ms = (time.monotonic() - started) * 1000
        log.info(
            "LibreOffice converter started in %.0f ms (worker %d, soffice %d)",
            self.startup_ms,
            process.pid,
            self._soffice_pid,
        )

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdin is not None
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise _WorkerDied(f"the worker stopped listening ({e}){self._tail()}") from None
        try:
            reply = self._read_reply(time.monotonic() + self.timeout)
        except TimeoutError:
            raise _WorkerHung(f"no answer within {self.timeout:g} s") from None
        if reply.get("fatal"):
            raise _WorkerDied(str(reply.get("error")))
        return reply

    def _read_reply(self, deadline: float) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdout is not None
        fd = process.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if not poller.poll(remaining * 1000):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                status = process.poll()
                raise _WorkerDied(f"the worker exited (status {status}){self._tail()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply: dict[str, Any] = json.loads(line)
        except ValueError:
            raise _WorkerDied(f"the worker wrote garbage: {line[:200]!r}") from None
        return reply

    def _forward_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                log.debug("%s", line)
        stream.close()

    def _tail(self) -> str:
        lines = list(self._stderr_tail)[-5:]
        return ("; stderr: " + " | ".join(lines)) if lines else ""

    def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        assert process.stdin is not None
        try:
            process.stdin.close()  # end of input: the worker terminates soffice and exits
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            log.warning("LibreOffice converter %d did not stop in time; killing it", process.pid)
        self._kill()

    def _kill(self) -> None:
        process = self._process
        if process is None:
            return
        # Kill the group before reaping the worker: its pid keeps the group id from reuse.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._process = None
        self._soffice_pid = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None


#: A pool's temporary folder is named after the process that owns it.
WORKDIR_PREFIX = "docservice-convert-"


def _remove_workdirs_of_dead_processes(parent: Path) -> None:
    """Remove the folders that pools of processes killed outright (SIGKILL) left in `parent`.

    Their LibreOffice went with them (it dies with its worker, which watches its parent);
    only the profiles stayed behind, about a megabyte each time.
    """
    for folder in parent.glob(f"{WORKDIR_PREFIX}*-*"):
        owner = folder.name[len(WORKDIR_PREFIX):].split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            log.info("removing %s, left by process %s that no longer runs", folder, owner)
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's process: alive, and not ours to clean


class ConverterPool:
    """Warm LibreOffice converters, one per core by default, shared by threads."""

    def __init__(
        self,
        *,
        size: int | None = None,
        uno_python: str = "/usr/bin/python3",
        soffice: str = "soffice",
        timeout: float = 60.0,
        start_timeout: float = 30.0,
        workdir: Path | None = None,
    ) -> None:
        size = size if size is not None else (os.cpu_count() or 1)
        if size < 1:
            raise ValueError(f"a converter pool needs at least one converter, not {size}")
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-",
                                             dir=workdir))
        _remove_workdirs_of_dead_processes(self.workdir.parent)
        self._converters = [
            Converter(
                workdir=self.workdir,
                uno_python=uno_python,
                soffice=soffice,
                timeout=timeout,
                start_timeout=start_timeout,
            )
            for _ in range(size)
        ]
        self._idle: queue.SimpleQueue[Converter] = queue.SimpleQueue()
        for converter in self._converters:
            self._idle.put(converter)
        self._closed = False

    def convert(self, docx: bytes, *, pdfa: bool = False) -> ConversionResult:
        """The PDF of `docx`; blocks until a converter is free."""
        if self._closed:
            raise ConversionError("the converter pool is closed")
        converter = self._idle.get()
        try:
            return converter.convert(docx, pdfa=pdfa)
        finally:
            self._idle.put(converter)

    def warm_up(self) -> None:
        """Start every converter now, side by side, instead of on first use."""
        if self._closed:
            raise ConversionError("the converter pool is closed")
        with ThreadPoolExecutor(max_workers=len(self._converters)) as executor:
            for future in [executor.submit(c.start) for c in self._converters]:
                future.result()

    def pids(self) -> list[int]:
        """The pids of the running soffice processes."""
        return [pid for c in self._converters if (pid := c.soffice_pid) is not None]

    def startup_ms(self) -> list[float]:
        """How long each started converter took to become ready, in milliseconds."""
        return [ms for c in self._converters if (ms := c.startup_ms) is not None]

    def close(self) -> None:
        """Stop every converter and remove the pool's temporary files."""
        self._closed = True
        for converter in self._converters:
            converter.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def pool_from_settings(settings: Settings, *, size: int | None = None) -> ConverterPool:
    """The pool the settings describe (DOCSERVICE_CONVERTERS, _SOFFICE, _UNO_PYTHON, ...)."""
    return ConverterPool(
        size=size if size is not None else (settings.converters or None),
        uno_python=settings.uno_python,
        soffice=settings.soffice,
        timeout=settings.conversion_timeout,
    )
