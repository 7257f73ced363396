"""Verification of untrusted PDFs in a child process, bounded in memory and in time.

The engine checks its own bounds, but a parser stuck inside one call, or one allocation that
takes the machine's memory, cannot be stopped from within. So `verify_untrusted` runs
`verify_pdf` in a child process with an address-space limit (RLIMIT_AS) and a wall-clock
deadline. A child that goes over either, or dies, becomes a clean TOTAL_FAILED report
("te groot of te complex om te verifiëren"); the parent carries on serving.

Children fork from a multiprocessing forkserver that imported the engine once, so each
verification costs a fork, not an interpreter start; each is a fresh process that the parent
can kill, and nothing a hostile file did to one is seen by the next. The child's log records
are handed to the parent's logging; what it writes on stderr goes to the log, not a terminal.

    report = verify_untrusted(pdf, trust=rt.trust, policy="strict", expected=...,
                              memory_mb=rt.settings.verify_memory_mb,
                              seconds=rt.settings.verify_seconds)
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import logging
import logging.handlers
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import tempfile
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, fields
from datetime import datetime
from multiprocessing.connection import Connection, wait
from typing import Any

from asn1crypto.core import Asn1Value

from docservice.domain import sha256_hex
from docservice.signing.verify.engine import verify_pdf
from docservice.signing.verify.policy import PolicyChoice, chosen
from docservice.signing.verify.report import (
    FORMAT_FAILURE,
    INDETERMINATE,
    TOTAL_FAILED,
    TOTAL_PASSED,
    TRY_LATER,
    Report,
)
from docservice.signing.verify.verification import Expected, Limits, Trust

DEFAULT_MEMORY_MB = 512
DEFAULT_SECONDS = 20.0
TOO_LARGE = "te groot of te complex om te verifiëren"
_ENGLISH = "the file is too large or too complex to verify"
# A child whose address space came this close to the limit and failed was stopped by it:
# a MemoryError the engine caught and reported leaves no other trace.
_NEAR_LIMIT = 0.75
_MAX_RECORDS = 200  # log records a child may hand back
_MAX_RESULT_BYTES = 64 * 2**20
_MAX_STDERR_BYTES = 16 * 1024
_M_ARENA_MAX = -8  # glibc's mallopt parameter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxRun:
    """One verification in a child process: the report and what it took."""

    report: Report
    seconds: float  # wall clock in the parent, the child's start included
    # why the engine's report was replaced: "memory", "time", "died", "not started"; None
    stopped: str | None
    child_peak_rss_mb: float | None  # the child's resident peak (VmHWM), when known
    child_peak_vm_mb: float | None  # its address-space peak (VmPeak): what RLIMIT_AS bounds
    # its resident size before verifying (mostly pages shared with the forkserver): the peak
    # less this is what the verification itself took
    child_start_rss_mb: float | None = None


def verify_untrusted(pdf: bytes, *, trust: Trust, policy: PolicyChoice = "auto",
                     expected: Expected | None = None, at: datetime | None = None,
                     limits: Limits | None = None, memory_mb: int | None = None,
                     seconds: float | None = None) -> Report:
    """`verify_pdf` in a child process of at most `memory_mb` of address space (default
    512) and `seconds` of wall clock (default 20); over either, or if the child dies, a
    TOTAL_FAILED / FORMAT_FAILURE report saying the file is too large or complex to verify
    (if no child can be started at all: INDETERMINATE / TRY_LATER). Never raises for
    anything the file contains, and never waits past the deadline."""
    return run_untrusted(pdf, trust=trust, policy=policy, expected=expected, at=at,
                         limits=limits, memory_mb=memory_mb, seconds=seconds).report


def run_untrusted(pdf: bytes, *, trust: Trust, policy: PolicyChoice = "auto",
                  expected: Expected | None = None, at: datetime | None = None,
                  limits: Limits | None = None, memory_mb: int | None = None,
                  seconds: float | None = None) -> SandboxRun:
    """`verify_untrusted`, with how long it took and how much memory the child used."""
    memory_mb = memory_mb or DEFAULT_MEMORY_MB
    seconds = seconds or DEFAULT_SECONDS
    job = _Job(pdf=pdf, trust=_packed(trust), policy=policy, expected=expected, at=at,
               limits=limits, memory_bytes=memory_mb * 2**20,
               log_level=logging.getLogger().getEffectiveLevel())
    start = time.monotonic()
    pipe: tuple[Connection, Connection] | None = None
    try:
        context = _context()  # the forkserver starts (once) before the clock does
        start = time.monotonic()
        receiver, sender = pipe = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(sender, job), name="docservice-verify",
                                  daemon=True)
        process.start()
    except (OSError, EOFError) as e:
        # No process to verify in (no memory or processes left, the forkserver gone): not
        # the document's fault, so not its failure either.
        for end in pipe or ():
            end.close()
        logger.exception("no process could be started to verify %s",
                         sha256_hex(pdf))
        return SandboxRun(_not_started(pdf, policy, expected, e), time.monotonic() - start,
                          "not started", None, None)
    try:
        sender.close()
        result, timed_out, peaks = _await(receiver, process, start + seconds)
    finally:
        sender.close()
        _stop(process)
        receiver.close()
    elapsed = time.monotonic() - start
    start_rss = None
    if result is not None:
        _replay(result)
        peaks, start_rss = result.peaks, result.start_rss
    stopped, report = _judge(result, timed_out, process.exitcode, pdf, policy, expected,
                             memory_mb, seconds)
    with contextlib.suppress(ValueError):  # one that would not die stays unclosed
        process.close()
    return SandboxRun(report=report, seconds=elapsed, stopped=stopped,
                      child_peak_rss_mb=peaks[0], child_peak_vm_mb=peaks[1],
                      child_start_rss_mb=start_rss)


# --- the parent's side -------------------------------------------------------------------

_lock = threading.Lock()
_started: Any = None
_last_packed: tuple[int, weakref.ref[Trust], dict[str, Any]] | None = None


def _context() -> Any:
    """The forkserver context, its server running with the engine imported."""
    global _started
    from multiprocessing import forkserver

    with _lock:
        first = _started is None
        if first:
            _started = multiprocessing.get_context("forkserver")
            _started.set_forkserver_preload(["docservice.signing.verify", *_main_imports()])
        # The forkserver writes on the stderr this process has now (a terminal, for the
        # CLI): its imports run with warnings off (pyhanko's DSA deprecation is printed at
        # import). -W options are all it takes from us; its children log warnings instead.
        sys.warnoptions.append("ignore")
        try:
            forkserver.ensure_running()  # cheap once running; restarts one that died
        finally:
            sys.warnoptions.remove("ignore")
        if first:
            # The server answers once it has imported the engine (a second or two): wait for
            # it here, so that the first verification's deadline does not pay for it.
            warm = _started.Process(target=_nothing, name="docservice-verify-warm-up")
            warm.start()
            warm.join(120)
        return _started


def _main_imports() -> list[str]:
    """The modules the program's main script imports.

    Each child runs the main script again, and Python 3.11's forkserver cannot preload it (its
    "__main__" preload never receives the path). Run again, the `docservice` script imports
    the whole CLI: most of a second per verification, unless the server imported it first.
    """
    path = getattr(sys.modules["__main__"], "__file__", None)
    try:
        with open(path or "", "rb") as script:
            tree = ast.parse(script.read())
    except (OSError, SyntaxError, ValueError):
        return []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return sorted(names - {"__main__", "__future__"})


def _nothing() -> None:
    """A child that does nothing: the forkserver is ready once it has run."""


@dataclass(frozen=True)
class _Der:
    """An asn1crypto value crossing the process boundary as its DER bytes."""

    kind: type[Asn1Value]
    der: bytes


@dataclass(frozen=True)
class _Job:
    pdf: bytes
    trust: dict[str, Any]
    policy: PolicyChoice
    expected: Expected | None
    at: datetime | None
    limits: Limits | None
    memory_bytes: int
    log_level: int


@dataclass(frozen=True)
class _Result:
    report: Report | None  # None: a MemoryError outside the engine
    out_of_memory: bool
    peaks: tuple[float | None, float | None]  # VmHWM, VmPeak in MB
    start_rss: float | None  # VmRSS in MB before verifying
    records: tuple[logging.LogRecord, ...]
    dropped: int


def _packed(trust: Trust) -> dict[str, Any]:
    """Trust's fields, certificates and CRLs as DER (the last one packed is kept)."""
    global _last_packed
    with _lock:
        if _last_packed is not None and _last_packed[0] == id(trust) \
                and _last_packed[1]() is trust:
            return _last_packed[2]
    packed = {}
    for f in fields(trust):
        value = getattr(trust, f.name)
        if isinstance(value, tuple):
            value = tuple(_Der(type(v), v.dump()) if isinstance(v, Asn1Value) else v
                          for v in value)
        packed[f.name] = value
    with _lock:
        _last_packed = (id(trust), weakref.ref(trust), packed)
    return packed


def _await(receiver: Connection, process: Any, deadline: float
           ) -> tuple[_Result | None, bool, tuple[float | None, float | None]]:
    """The child's result (None if it died or the deadline passed), whether the deadline
    passed, and then the child's peaks as they were."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, True, _peaks_of(process.pid)
        ready = wait([receiver, process.sentinel], timeout=remaining)
        if receiver in ready or (ready and receiver.poll(0)):
            try:
                return pickle.loads(receiver.recv_bytes(_MAX_RESULT_BYTES)), False, (None, None)
            except (EOFError, OSError, pickle.UnpicklingError):
                return None, False, (None, None)
        if ready:  # the child ended without a word
            return None, False, (None, None)


def _stop(process: Any) -> None:
    """Make sure the child and whatever it started are gone, and reap it."""
    if process.pid is None:
        return
    if process.exitcode is None and process.is_alive():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the child leads its own group
        process.kill()
    process.join(5)


def _replay(result: _Result) -> None:
    """Hand the child's log records to this process's logging."""
    for record in result.records:
        logging.getLogger(record.name).handle(record)
    if result.dropped:
        logger.debug("the verifying process logged %d more record(s)", result.dropped)


def _judge(result: _Result | None, timed_out: bool, exitcode: int | None, pdf: bytes,
           policy: PolicyChoice, expected: Expected | None, memory_mb: int, seconds: float
           ) -> tuple[str | None, Report]:
    """Why the child's report is replaced (None: it is not), and the report to give."""
    if timed_out:
        return "time", _too_large(pdf, policy, expected, f"over {seconds:g} s")
    if result is None:
        how = ("no exit status" if exitcode is None
               else f"signal {signal.Signals(-exitcode).name}" if exitcode < 0
               else f"exit status {exitcode}")
        logger.warning("the process verifying %s stopped (%s)",
                       sha256_hex(pdf), how)
        return "died", _too_large(pdf, policy, expected,
                                  f"the verifying process stopped ({how})")
    report = result.report
    vm_peak = result.peaks[1]
    near = vm_peak is not None and vm_peak >= _NEAR_LIMIT * memory_mb
    if report is None or result.out_of_memory or (near and report.indication != TOTAL_PASSED):
        return "memory", _too_large(pdf, policy, expected, f"over {memory_mb} MB of memory",
                                    report.reasons if report is not None else ())
    return None, report


def _too_large(pdf: bytes, policy: PolicyChoice, expected: Expected | None, why: str,
               more: tuple[str, ...] = ()) -> Report:
    reason = f"{TOO_LARGE} ({_ENGLISH}: {why})"
    return Report(indication=TOTAL_FAILED, sub_indication=FORMAT_FAILURE,
                  reasons=tuple(dict.fromkeys((reason, *more))),
                  sha256=sha256_hex(pdf), revisions=0,
                  policy=_policy_name(policy, expected), size=len(pdf))


def _not_started(pdf: bytes, policy: PolicyChoice, expected: Expected | None,
                 error: BaseException) -> Report:
    return Report(indication=INDETERMINATE, sub_indication=TRY_LATER,
                  reasons=(f"the file could not be verified now: no process to verify it in "
                           f"could be started ({type(error).__name__}: {error}); try again "
                           "later",),
                  sha256=sha256_hex(pdf), revisions=0,
                  policy=_policy_name(policy, expected), size=len(pdf))


def _policy_name(policy: PolicyChoice, expected: Expected | None) -> str:
    """The policy the engine would have named in its report (as engine.verify_pdf does)."""
    return chosen(policy, service=expected is not None).name


def _peaks_of(pid: int | None) -> tuple[float | None, float | None]:
    """VmHWM and VmPeak of process `pid` in MB, from /proc (None where unknown)."""
    found = _status_mb(pid)
    return found.get("VmHWM"), found.get("VmPeak")


def _status_mb(pid: int | None) -> dict[str, float]:
    """The Vm* lines of /proc/PID/status, in MB (empty when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            lines = status.read().splitlines()
    except OSError:
        return {}
    return {key: int(value.split()[0]) / 1024 for key, _, value in
            (line.partition(":") for line in lines) if key.startswith("Vm") and value.strip()}


# --- the child's side --------------------------------------------------------------------


class _Collected(list):  # type: ignore[type-arg]
    """A 'queue' for QueueHandler that keeps the first records and counts the rest."""

    dropped = 0

    def put_nowait(self, record: logging.LogRecord) -> None:
        if len(self) < _MAX_RECORDS:
            self.append(record)
        else:
            self.dropped += 1


def _child(sender: Connection, job: _Job) -> None:
    """Runs in the child: bound this process, verify, send the result back.

    Whatever goes wrong here ends the child quietly (the parent reports it): no traceback
    reaches the terminal the parent may be writing to.
    """
    start_rss = _status_mb(os.getpid()).get("VmRSS")
    try:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as the child lives
        os.dup2(stderr.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
        os.setpgid(0, 0)  # a group of its own: the parent kills pdftoppm & co. with it
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _one_malloc_arena()
        resource.setrlimit(resource.RLIMIT_AS, (job.memory_bytes, job.memory_bytes))
        # The forkserver imported the engine with warnings off (see `_context`); here they
        # are logged, and the log goes to the parent.
        warnings.resetwarnings()
        collected = _Collected()
        root = logging.getLogger()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        root.addHandler(logging.handlers.QueueHandler(collected))  # type: ignore[arg-type]
        root.setLevel(job.log_level)
        logging.captureWarnings(True)
        report: Report | None = None
        out_of_memory = False
        try:
            report = verify_pdf(job.pdf, trust=Trust(**_unpacked(job.trust)),
                                policy=job.policy, expected=job.expected, at=job.at,
                                limits=job.limits)
        except MemoryError:
            out_of_memory = True
        _log_stderr(stderr)
        data = pickle.dumps(_Result(report, out_of_memory, _peaks_of(os.getpid()), start_rss,
                                    tuple(collected), collected.dropped))
        sender.send_bytes(data)
    except MemoryError:
        try:
            sender.send_bytes(pickle.dumps(_Result(None, True, _peaks_of(os.getpid()),
                                                   start_rss, (), 0)))
        except BaseException:  # noqa: BLE001
            os._exit(71)
    except BaseException:  # noqa: BLE001 - see the docstring
        os._exit(70)
    sender.close()


def _one_malloc_arena() -> None:
    """glibc reserves 64 MB of address space per thread that allocates (the renderers' reader
    threads): reservations, not use, that RLIMIT_AS would count. One arena for all threads."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)


def _unpacked(packed: dict[str, Any]) -> dict[str, Any]:
    return {name: tuple(v.kind.load(v.der) if isinstance(v, _Der) else v for v in value)
            if isinstance(value, tuple) else value for name, value in packed.items()}


def _log_stderr(stderr: Any) -> None:
    stderr.seek(0)
    text = stderr.read(_MAX_STDERR_BYTES).decode(errors="replace").strip()
    if text:
        logger.debug("the verifying process wrote: %s", text)
