"""One warm headless LibreOffice that converts DOCX to PDF, driven by JSON lines on stdin.

Runs under the interpreter that has Debian's `uno` module (python3-uno), not the
project's, so it imports nothing from docservice. Protocol, one JSON object a line:

    started     -> {"ready": true, "soffice_pid": 123, "connect_ms": 1700.0, "startup_ms": 2000.0}
                   or {"ready": false, "error": "..."} and exit
    request     <- {"in": "/tmp/x.docx", "out": "/tmp/x.pdf", "pdfa": true}
    reply       -> {"ok": true, "ms": 180.0, "load_ms": 130.0, "export_ms": 50.0}
                   or {"ok": false, "stage": "load"|"export", "fatal": false, "error": "..."}
    stdin EOF   -> LibreOffice is terminated and the worker exits

A reply with "fatal": true means LibreOffice died; the worker exits right after it.
Nothing else is written to stdout: logs, and LibreOffice's own output, go to stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import IO, Any

# soffice.bin asks to be started again (exit status 81) after it created a fresh profile.
RESTART_REQUESTED = 81
PR_SET_PDEATHSIG = 1
DOCX_IMPORT_FILTER = "MS Word 2007 XML"
NEVER_EXECUTE = 0  # com.sun.star.document.MacroExecMode
NO_UPDATE = 0  # com.sun.star.document.UpdateDocMode: do not fetch linked content
PRIME_DOCX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    ),
    "word/document.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>warm-up</w:t></w:r></w:p></w:body></w:document>"
    ),
}


def log(message: str) -> None:
    """Write one line to stderr, which the parent forwards to its log."""
    print(f"uno_worker[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


class StartError(Exception):
    """LibreOffice did not start or did not answer over UNO."""


class Worker:
    """A private soffice process and the UNO desktop that drives it."""

    def __init__(self, soffice: str, profile: Path, pipe_name: str) -> None:
        import uno
        from com.sun.star.beans import PropertyValue

        self._uno = uno
        self._property_value = PropertyValue
        self.soffice = soffice
        self.profile = profile
        self.pipe_name = pipe_name
        self.process: subprocess.Popen[bytes] | None = None
        self.desktop: Any = None

    def start(self, deadline: float) -> None:
        """Launch soffice and connect to it, launching it again when it asks to (fresh profile)."""
        from com.sun.star.connection import NoConnectException

        local = self._uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        url = f"uno:pipe,name={self.pipe_name};urp;StarOffice.ComponentContext"
        restarts = 0
        self.process = self._launch()
        while True:
            try:
                context = resolver.resolve(url)
                break
            except NoConnectException:
                pass
            returncode = self.process.poll()
            if returncode == RESTART_REQUESTED and restarts < 2:
                restarts += 1
                self.process = self._launch()
                continue
            if returncode is not None:
                raise StartError(f"soffice exited with status {returncode} while starting")
            if time.monotonic() > deadline:
                self.kill()
                raise StartError("soffice did not answer over UNO in time")
            time.sleep(0.05)
        self.desktop = context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", context
        )

    def _launch(self) -> subprocess.Popen[bytes]:
        args = [
            self.soffice,
            "--headless",
            "--invisible",
            "--nologo",
            "--norestore",
            "--nodefault",
            "--nolockcheck",
            f"--accept=pipe,name={self.pipe_name};urp;StarOffice.ComponentContext",
            f"-env:UserInstallation={self.profile.as_uri()}",
        ]
        # fd 1 is stderr by now (see main), so soffice cannot write into the protocol.
        # preexec_fn is safe here: soffice is launched before the watchdog thread starts.
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )

    def returncode(self) -> int | None:
        """soffice's exit status, None while it runs."""
        return self.process.poll() if self.process is not None else None

    def alive(self) -> bool:
        """Whether soffice is still running."""
        return self.process is not None and self.process.poll() is None

    def convert(self, source: str, target: str, *, pdfa: bool) -> dict[str, Any]:
        """Load `source` hidden and read-only, export it as PDF to `target`; the reply to send."""
        uno = self._uno
        started = time.monotonic()
        try:
            document = self.desktop.loadComponentFromURL(
                uno.systemPathToFileUrl(source),
                "_blank",
                0,
                (
                    self._property("Hidden", True),
                    self._property("ReadOnly", True),
                    # Named, so that bytes that are no DOCX fail instead of opening as text.
                    self._property("FilterName", DOCX_IMPORT_FILTER),
                    self._property("MacroExecutionMode", NEVER_EXECUTE),
                    self._property("UpdateDocMode", NO_UPDATE),
                ),
            )
        except Exception as e:  # noqa: BLE001 - every UNO exception is an answer to relay
            return self._failure("load", e)
        if document is None:
            return {
                "ok": False,
                "stage": "load",
                "fatal": not self.alive(),
                "error": "not a DOCX document LibreOffice can open",
            }
        loaded = time.monotonic()
        try:
            properties = [self._property("FilterName", "writer_pdf_Export")]
            if pdfa:
                filter_data = (self._property("SelectPdfVersion", 2),)
                properties.append(
                    self._property(
                        "FilterData", uno.Any("[]com.sun.star.beans.PropertyValue", filter_data)
                    )
                )
            document.storeToURL(uno.systemPathToFileUrl(target), tuple(properties))
        except Exception as e:  # noqa: BLE001
            return self._failure("export", e)
        finally:
            try:
                document.close(True)
            except Exception as e:  # noqa: BLE001 - a dead bridge shows in the next request
                log(f"closing the document failed: {e}")
        exported = time.monotonic()
        load_ms = (loaded - started) * 1000
        export_ms = (exported - loaded) * 1000
        return {
            "ok": True,
            "ms": round(load_ms + export_ms, 2),
            "load_ms": round(load_ms, 2),
            "export_ms": round(export_ms, 2),
        }

    def _failure(self, stage: str, error: Exception) -> dict[str, Any]:
        message = getattr(error, "Message", "") or str(error) or type(error).__name__
        disposed = type(error).__name__ == "DisposedException" or "disposed" in message
        return {
            "ok": False,
            "stage": stage,
            "fatal": disposed or not self.alive(),
            "error": f"{type(error).__name__}: {message}",
        }

    def _property(self, name: str, value: Any) -> Any:
        prop = self._property_value()
        prop.Name = name
        prop.Value = value
        return prop

    def prime(self, directory: Path) -> None:
        """Convert a one-line document so that the first real one does not pay for loading."""
        source = directory / "warm-up.docx"
        target = directory / "warm-up.pdf"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as package:
            for name, text in PRIME_DOCX_PARTS.items():
                package.writestr(name, text)
        source.write_bytes(buffer.getvalue())
        try:
            reply = self.convert(str(source), str(target), pdfa=True)
            if not reply["ok"]:
                log(f"warm-up conversion failed: {reply['error']}")
        finally:
            source.unlink(missing_ok=True)
            target.unlink(missing_ok=True)

    def terminate(self) -> None:
        """Ask soffice to quit, killing it if it does not within a few seconds."""
        if self.desktop is not None and self.alive():
            try:
                self.desktop.terminate()
            except Exception as e:  # noqa: BLE001 - the bridge may close before the reply
                log(f"terminate: {type(e).__name__}")
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """Kill soffice at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    # soffice gets SIGKILL if this worker dies for any reason, even SIGKILL.
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch_parent(worker: Worker, parent: int) -> None:
    # The parent may be killed without closing our stdin while we wait on LibreOffice.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            log("parent process is gone; stopping")
            worker.kill()
            os._exit(1)


def resolve_soffice(program: str) -> str:
    """The soffice.bin behind the `soffice` launcher, so that its pid is the real process."""
    found = shutil.which(program)
    if found is None:
        raise StartError(f"{program} not found")
    real = Path(found).resolve()
    binary = real.with_name("soffice.bin")
    # The launcher script execs oosplash, which forks soffice.bin: a pid we could not watch.
    if real.name == "soffice" and binary.exists():
        return str(binary)
    return str(real)


def serve(worker: Worker, replies: IO[str]) -> None:
    """Answer conversion requests until stdin closes or LibreOffice dies."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            source, target, pdfa = request["in"], request["out"], bool(request.get("pdfa"))
        except (ValueError, KeyError, TypeError) as e:
            reply: dict[str, Any] = {
                "ok": False,
                "stage": "request",
                "fatal": False,
                "error": f"bad request: {e}",
            }
        else:
            if worker.alive():
                reply = worker.convert(source, target, pdfa=pdfa)
            else:
                reply = {
                    "ok": False,
                    "stage": "load",
                    "fatal": True,
                    "error": f"soffice is not running (status {worker.returncode()})",
                }
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
        if reply.get("fatal"):
            log(f"LibreOffice died: {reply['error']}")
            worker.kill()
            return
    worker.terminate()


def main() -> int:
    """Start LibreOffice, announce readiness on stdout, then serve requests."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soffice", default="soffice")
    parser.add_argument("--profile", type=Path, help="private LibreOffice profile directory")
    parser.add_argument("--pipe-name", default=f"docservice-{os.getpid()}")
    parser.add_argument("--start-timeout", type=float, default=30.0)
    args = parser.parse_args()

    # Keep the protocol on a private copy of stdout; anything else printing goes to stderr.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    started = time.monotonic()
    profile_dir: str | None = None
    if args.profile is None:
        profile_dir = tempfile.mkdtemp(prefix="docservice-lo-profile-")
        args.profile = Path(profile_dir)
    try:
        try:
            worker = Worker(resolve_soffice(args.soffice), args.profile.resolve(), args.pipe_name)
        except ImportError as e:
            raise StartError(
                f"{sys.executable} cannot import uno ({e}); install python3-uno"
            ) from e
        worker.start(started + args.start_timeout)
        connect_ms = round((time.monotonic() - started) * 1000, 1)
        worker.prime(worker.profile)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises
        replies.write(json.dumps({"ready": False, "error": str(e)}) + "\n")
        replies.flush()
        if profile_dir is not None:
            shutil.rmtree(profile_dir, ignore_errors=True)
        return 1
    assert worker.process is not None
    threading.Thread(target=_watch_parent, args=(worker, os.getppid()), daemon=True).start()
    startup_ms = round((time.monotonic() - started) * 1000, 1)
    log(f"soffice {worker.process.pid} answered in {connect_ms} ms, warmed up in {startup_ms} ms")
    ready = {
        "ready": True,
        "soffice_pid": worker.process.pid,
        "connect_ms": connect_ms,
        "startup_ms": startup_ms,
    }
    replies.write(json.dumps(ready) + "\n")
    replies.flush()
    try:
        serve(worker, replies)
    finally:
        worker.kill()
        if profile_dir is not None:
            shutil.rmtree(profile_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
