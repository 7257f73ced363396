"""LibreOffice killed or hung at random points while a cohort is generated: the pool restarts
it, the document is retried, and what is stored is whole (every document once, every PDF with
its signature fields, no temporary files or stray LibreOffice left). The generating command
itself killed outright at random points leaves no LibreOffice running and nothing half-written,
and running it again completes the cohort."""

from __future__ import annotations

import io
import math
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import docx
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docservice.archive.blobs import TEMPORARY_PREFIX
from docservice.config import CHECKOUT
from docservice.db import unit_of_work
from docservice.documents.convert import Converter, ConverterPool
from docservice.domain import SIGNER_ROLES, sha256_hex, signature_field_name
from docservice.errors import ConversionError
from docservice.jobs import archive_maintenance
from docservice.models import Document, Placement, Revision
from docservice.services.documents import generate_missing, placements_lacking_documents
from tests.conftest import TEST_ACTOR
from tests.faults.conftest import YEAR, Instance, seeded_rng
from tests.faults.procs import (
    age,
    children,
    descendants,
    is_gone,
    kill,
    named_below,
    processes_mentioning,
)

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None or not Path("/usr/bin/python3").exists(),
    reason="needs LibreOffice: apt-get install libreoffice-writer-nogui python3-uno",
)

KILLS = 20
FIELDS = {signature_field_name(role) for role in SIGNER_ROLES}


class KillDuringConversion:
    """Wraps `Converter._request`: for a document's first attempt, with probability `rate`,
    SIGKILL that converter's LibreOffice after a random delay (while it loads, exports, or just
    after, when it is idle). Retries are left alone, so each kill hits a different document."""

    def __init__(self, rng: random.Random, rate: float, max_delay: float) -> None:
        self.rng, self.rate, self.max_delay = rng, rate, max_delay
        self.seen: set[str] = set()
        self.landed = 0
        self.lock = threading.Lock()
        self.timers: list[threading.Timer] = []
        self.original = Converter._request

    def __call__(self, converter: Converter, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            first = request["in"] not in self.seen
            self.seen.add(request["in"])
            if first and self.landed < KILLS and self.rng.random() < self.rate:
                pid = converter.soffice_pid
                timer = threading.Timer(self.rng.uniform(0, self.max_delay), self._kill, [pid])
                self.timers.append(timer)
                timer.start()
        return self.original(converter, request)

    def _kill(self, pid: int) -> None:
        with self.lock:
            if self.landed < KILLS and kill(pid):
                self.landed += 1

    def wait(self) -> None:
        for timer in self.timers:
            timer.join()


def _generate(instance: Instance, pool: ConverterPool) -> int:
    runtime = instance.runtime
    with unit_of_work(runtime.db) as session:
        made = generate_missing(session, converter=pool, blobs=runtime.blobs,
                                templates_root=runtime.settings.templates_path, pdfa=True,
                                converters=2, actor=TEST_ACTOR, year=YEAR)
        return len(made)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_cohort_generation_survives_twenty_converter_kills(instance: Instance, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    faults = KillDuringConversion(seeded_rng("converter-kills"), rate=0.7, max_delay=0.5)
    monkeypatch.setattr(Converter, "_request", lambda self, request: faults(self, request))
    with ConverterPool(size=2, workdir=tmp_path) as pool:
        pool.warm_up()
        rounds = 0
        while faults.landed < KILLS:  # a fresh batch per round until twenty kills landed
            rounds += 1
            assert rounds <= 6, f"only {faults.landed} kills landed in {rounds - 1} rounds"
            instance.import_cohort(8, nda="ja", copyright_waiver="ja")
            assert _generate(instance, pool) == 24
            faults.wait()
        monkeypatch.undo()
        assert _generate(instance, pool) == 0  # a re-run finds nothing missing
        # LibreOffice's and our temporary files went with the killed processes.
        leftovers = [p.name for p in pool.workdir.iterdir() if not p.name.startswith("profile-")]
        assert leftovers == []
        assert len(list(pool.workdir.iterdir())) == 2, "one profile per living converter"
        workdir = pool.workdir
    assert not workdir.exists()
    assert processes_mentioning(str(workdir)) == []
    _check_cohort(instance)


def _check_cohort(instance: Instance) -> None:
    runtime = instance.runtime
    with unit_of_work(runtime.db) as session:
        placements = list(session.scalars(select(Placement)))
        assert len(placements) == instance.imported
        counts = Counter((d.placement_id, d.kind) for d in session.scalars(select(Document)))
        for placement in placements:
            for kind in placement.required_kinds():
                assert counts[(placement.id, kind.value)] == 1, (placement.id, kind)
            for document in placement.current_documents():
                [revision] = document.revisions
                pdf = runtime.blobs.get(revision.sha256)
                reader = PdfReader(io.BytesIO(pdf))
                assert len(reader.pages) >= 1
                assert set(reader.get_fields() or {}) >= FIELDS, document.reference
        assert sum(counts.values()) == sum(len(p.required_kinds()) for p in placements)
    assert not [p for p in runtime.settings.blob_path.rglob(f"{TEMPORARY_PREFIX}*")]


def _small_docx(text: str) -> bytes:
    document = docx.Document()
    for _ in range(30):
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_hung_libreoffice_times_out_is_killed_and_the_document_retried(tmp_path: Path):
    # Hung on every attempt (a clear error, nothing left running) is test_convert's
    # test_timeout_kills_the_converter; here it hangs once, at a random point.
    rng = seeded_rng("converter-hang")
    contract = _small_docx("Stageovereenkomst tussen student, bedrijf en hogeschool.")
    timeout = 3.0
    with ConverterPool(size=1, timeout=timeout, workdir=tmp_path) as pool:
        pool.warm_up()
        for trial in range(2):
            [frozen] = pool.pids()
            result: dict[str, Any] = {}
            started = time.monotonic()
            worker = threading.Thread(target=_convert_into, args=(pool, contract, result))
            worker.start()
            time.sleep(rng.uniform(0, 0.05))  # before it starts, or while it loads or exports
            assert kill(frozen, signal.SIGSTOP)
            worker.join(timeout=60)
            assert not worker.is_alive(), trial
            # The stopped LibreOffice was killed, a new one started and did the work.
            assert is_gone(frozen), trial
            assert "error" not in result, (trial, result.get("error"))
            assert result["pdf"].startswith(b"%PDF-"), trial
            assert timeout <= time.monotonic() - started < 30, trial
            assert len(pool.pids()) == 1 and pool.pids() != [frozen], trial
        leftovers = [p.name for p in pool.workdir.iterdir() if not p.name.startswith("profile-")]
        assert leftovers == []


def _convert_into(pool: ConverterPool, docx_bytes: bytes, result: dict[str, Any]) -> None:
    try:
        result["pdf"] = pool.convert(docx_bytes).pdf
    except ConversionError as e:
        result["error"] = e


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_libreoffice_killed_while_restarting_is_started_again(tmp_path: Path):
    contract = _small_docx("Geheimhoudingsverklaring.")
    with ConverterPool(size=1, workdir=tmp_path) as pool:
        pool.warm_up()
        [converter] = pool._converters
        assert converter.pid is not None
        [first] = pool.pids()
        kill(first)  # idle: the next document finds it dead and restarts it
        assert is_gone(first)
        killed_while_starting: list[int] = []

        def kill_the_next_one() -> None:
            # The restarted worker's soffice.bin, killed while it starts up (not ready yet).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                worker = converter.pid
                if worker is not None and worker != old_worker:
                    starting = named_below(worker, "soffice.bin")
                    if (starting and converter.soffice_pid is None and age(starting[0]) > 0.2
                            and kill(starting[0])):
                        killed_while_starting.append(starting[0])
                        return
                time.sleep(0.005)

        old_worker = converter.pid
        killer = threading.Thread(target=kill_the_next_one)
        killer.start()
        pdf = pool.convert(contract).pdf
        killer.join()
        assert pdf.startswith(b"%PDF-")
        assert killed_while_starting, "the kill landed while it started"
        assert pool.pids() and pool.pids()[0] not in (first, *killed_while_starting)


#: Placements per batch, one document each: one conversion per converter of the CLI's pool.
BATCH = 2
GENERATE = ["documents", "generate", "--year", YEAR]
#: Imports the CLI once, then forks a `docservice documents generate` for each line it reads
#: (the log to append to) and answers with the run's pid, then its exit status. A run starts
#: in a fraction of a second instead of the seconds its imports take (as gunicorn's preloading
#: master does for the web worker test), so that twenty kills fit in a minute or two.
FORKING_CLI = f"""
import os, sys, traceback
from docservice.cli import main
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        out = os.open(line.strip(), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        code = 1
        try:
            main({GENERATE!r}, prog_name="docservice")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class ForkingCli:
    """Runs of `docservice documents generate`, forked from one process that imported the CLI."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen([sys.executable, "-c", FORKING_CLI], cwd=CHECKOUT,
                                        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)

    def start(self) -> int:
        """Start a run; its pid."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{self.log}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def exit_status(self) -> int:
        """Once the run has ended: its exit status, -9 if SIGKILL ended it."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the forking process died: {self.log.read_text()[-2000:]}"
        return int(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_generating_process_killed_at_random_points_leaves_nothing_running_or_half_written(
        instance: Instance, tmp_path: Path):
    rng = seeded_rng("generating-process-kill")
    temp = tmp_path / "tmp"  # where the CLI's converter pool makes its folder
    temp.mkdir()
    env = {**instance.env, "TMPDIR": str(temp)}
    cli = ForkingCli(env, tmp_path / "generate.log")
    outcomes = Counter[str]()
    # Of each run that ended on its own: when its converters started (the app and the plan
    # come first) and when it was done, in seconds from its start. Trial 0 runs to the end.
    timings: list[tuple[float, float]] = []
    trial = 0
    try:
        while outcomes["killed"] < KILLS:
            assert trial <= 2 * KILLS, f"only {outcomes} in {trial} trials"
            if not _lacking(instance):  # the last run completed the cohort: a new batch
                instance.import_cohort(BATCH, nda="nee", copyright_waiver="nee")
            before = _generated(instance)
            # From just before its converters start to its end: while LibreOffice starts and
            # converts, the blobs are written, the rows commit, the pool stops. How long a
            # run takes varies with the load, hence the mean of those that ran to the end.
            at = math.inf
            if timings:
                at = rng.uniform(statistics.mean(t[0] for t in timings) - 0.2,
                                 statistics.mean(t[1] for t in timings))
            run, started, converting, ended = cli.start(), time.monotonic(), None, False
            while not ended and (elapsed := time.monotonic() - started) < at:
                if converting is None and children(run):
                    converting = elapsed
                ended = is_gone(run, within=0.01)
            below = descendants(run)
            if not ended:  # (once it ended, its pid is free for another process)
                kill(run)
            status = cli.exit_status()
            assert status in (0, -9), (trial, status, cli.log.read_text()[-2000:])
            if status == 0:  # it ended before the kill: a kill after its end is no kill
                assert converting is not None, trial
                timings.append((converting, time.monotonic() - started))
                outcomes["finished before the kill" if trial else "trial 0"] += 1
            else:
                outcomes["killed"] += 1
            # Its converters follow it (the worker watches its parent, soffice dies with the
            # worker), also one it was starting the moment it died.
            for pid in below:
                assert is_gone(pid, within=15), (trial, below[pid])
            assert _gone_within(lambda: processes_mentioning(str(temp)), 15) == [], trial
            _check_generated(instance, trial)
            after = _generated(instance)
            assert {k: v for k, v in after.items() if k in before} == before, trial
            outcomes["documents committed"] += len(after) - len(before)
            trial += 1
    finally:
        cli.close()
    print(f"outcomes after {trial} trials:", dict(outcomes))
    # The command run again generates what the killed runs did not.
    missing = instance.imported - len(_generated(instance))  # one document per placement
    rerun = subprocess.run([sys.executable, "-m", "docservice.cli", *GENERATE], cwd=CHECKOUT,
                           env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"Generated {missing} document(s)." in rerun.stdout, rerun.stdout
    assert _lacking(instance) == []
    # The pools of the killed runs left their folders; the next pool removed them.
    assert list(temp.iterdir()) == []
    # What a killed blob write left is swept, like the archive's partial writes.
    swept = archive_maintenance.sweep(instance.runtime, grace=timedelta(0))
    assert not list(instance.runtime.blobs.leftovers()), swept
    _check_cohort(instance)


def _gone_within(found: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    while (left := found()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _lacking(instance: Instance) -> list[int]:
    with unit_of_work(instance.runtime.db) as session:
        return [p.id for p in placements_lacking_documents(session, YEAR)]


def _generated(instance: Instance) -> dict[tuple[int, str], str]:
    """(placement id, kind) -> the SHA-256 of its generated PDF."""
    with unit_of_work(instance.runtime.db) as session:
        return {(d.placement_id, d.kind): d.revisions[0].sha256
                for d in session.scalars(select(Document))}


def _check_generated(instance: Instance, trial: int) -> None:
    """Every document that exists is whole: once per kind, its revision and docx stored and
    the bytes they name, the PDF with its signature fields."""
    blobs = instance.runtime.blobs
    with unit_of_work(instance.runtime.db) as session:
        documents = list(session.scalars(select(Document)))
        kinds = Counter((d.placement_id, d.kind) for d in documents)
        assert max(kinds.values(), default=1) == 1, (trial, kinds)
        for revision in session.scalars(select(Revision)):
            pdf = blobs.get(revision.sha256)  # checked against its name
            assert sha256_hex(pdf) == revision.sha256 and len(pdf) == revision.size, trial
        for document in documents:
            assert [r.number for r in document.revisions] == [0], (trial, document.reference)
            assert sha256_hex(blobs.get(document.docx_sha256)) == document.docx_sha256, trial
            reader = PdfReader(io.BytesIO(blobs.get(document.revisions[0].sha256)))
            assert set(reader.get_fields() or {}) >= FIELDS, (trial, document.reference)
