"""LibreOffice killed or hung at random points while a cohort is generated: the pool restarts
it, the document is retried, and what is stored is whole (every document once, every PDF with
its signature fields, no temporary files or stray LibreOffice left)."""

from __future__ import annotations

import io
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import docx
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docservice.archive.blobs import TEMPORARY_PREFIX
from docservice.db import unit_of_work
from docservice.documents.catalogue import SIGNER_ROLES, signature_field_name
from docservice.documents.convert import Converter, ConverterPool
from docservice.errors import ConversionError
from docservice.models import Document, Placement
from docservice.services.documents import generate_missing
from tests.conftest import TEST_ACTOR
from tests.faults.conftest import YEAR, Instance, seeded_rng
from tests.faults.procs import age, descendants, is_gone, kill, named_below, processes_mentioning

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


POOL_OWNER = """
import sys
from pathlib import Path
from docservice.documents.convert import ConverterPool
pool = ConverterPool(size=1, workdir=Path(sys.argv[1]))
pool.warm_up()
print(pool.workdir, pool.pids()[0], flush=True)
sys.stdin.readline()
"""


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_generating_process_killed_outright_leaves_nothing_running_or_behind(tmp_path: Path):
    owner = subprocess.Popen([sys.executable, "-c", POOL_OWNER, str(tmp_path)], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert owner.stdout is not None
    workdir, soffice = owner.stdout.readline().split()
    below = descendants(owner.pid)
    assert int(soffice) in below
    kill(owner.pid)
    owner.wait(10)
    # Its LibreOffice follows it (the worker watches its parent, soffice dies with the worker).
    for pid in below:
        assert is_gone(pid, within=10), below[pid]
    assert Path(workdir).exists()
    # The next pool in the same place removes what the dead one left.
    with ConverterPool(size=1, workdir=tmp_path) as pool:
        assert not Path(workdir).exists()
        assert [p for p in tmp_path.iterdir()] == [pool.workdir]
    assert processes_mentioning(workdir) == []
