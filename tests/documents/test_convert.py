"""DOCX to PDF through the pool of warm LibreOffice converters, with the real LibreOffice."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader
from pypdf.generic import StreamObject

from docservice.documents.convert import ConverterPool
from docservice.errors import ConversionError

NAME = "Zoë O'Neill & Janssens"

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None or not Path("/usr/bin/python3").exists(),
    reason="needs LibreOffice: apt-get install libreoffice-writer-nogui python3-uno",
)


def make_docx(*paragraphs: str) -> bytes:
    """A small DOCX holding `paragraphs`."""
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def xmp(pdf: bytes) -> bytes:
    metadata = PdfReader(io.BytesIO(pdf)).root_object["/Metadata"].get_object()
    assert isinstance(metadata, StreamObject)
    return metadata.get_data()


def is_gone(pid: int, within: float = 10.0) -> bool:
    """Whether `pid` has exited (a zombie counts as gone) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def processes_under(directory: Path) -> list[str]:
    """Command lines of running processes that mention `directory` (profiles live there)."""
    found = subprocess.run(
        ["pgrep", "-af", str(directory)], capture_output=True, text=True, check=False
    )
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConverterPool]:
    with ConverterPool(size=2, workdir=tmp_path_factory.mktemp("convert")) as pool:
        pool.warm_up()
        yield pool


@pytest.fixture(scope="module")
def contract() -> bytes:
    return make_docx("Stageovereenkomst", NAME, "Handtekening student")


def test_text_survives_conversion(pool: ConverterPool, contract: bytes) -> None:
    result = pool.convert(contract)
    assert result.pdf.startswith(b"%PDF-")
    assert NAME in pdf_text(result.pdf)
    assert 0 < result.libreoffice_ms < 10_000


def test_pdfa_declares_part_2_conformance_b(pool: ConverterPool, contract: bytes) -> None:
    result = pool.convert(contract, pdfa=True)
    metadata = xmp(result.pdf)
    assert re.search(rb"pdfaid:part(>|=\")2", metadata)
    assert re.search(rb"pdfaid:conformance(>|=\")B", metadata)
    assert NAME in pdf_text(result.pdf)


def test_plain_pdf_is_not_pdfa(pool: ConverterPool, contract: bytes) -> None:
    assert b"pdfaid" not in pool.convert(contract).pdf


def test_converters_stay_warm(pool: ConverterPool, contract: bytes) -> None:
    before = sorted(pool.pids())
    assert len(before) == 2
    for _ in range(5):
        pool.convert(contract)
    assert sorted(pool.pids()) == before


def test_parallel_conversions_from_threads(pool: ConverterPool) -> None:
    documents = [make_docx(f"Stagiair nummer {i}", NAME) for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as executor:
        results = list(executor.map(lambda d: pool.convert(d, pdfa=True), documents))
    for i, result in enumerate(results):
        assert f"Stagiair nummer {i}" in pdf_text(result.pdf)


def test_garbage_is_refused_and_converter_stays_usable(
    pool: ConverterPool, contract: bytes
) -> None:
    before = sorted(pool.pids())
    for _ in range(2):  # once on each converter
        with pytest.raises(ConversionError, match="could not load the document"):
            pool.convert(b"this is not a DOCX \x00\x01\x02" * 100)
    assert NAME in pdf_text(pool.convert(contract).pdf)
    assert sorted(pool.pids()) == before


def test_temporary_files_are_removed(pool: ConverterPool, contract: bytes) -> None:
    pool.convert(contract)
    with pytest.raises(ConversionError):
        pool.convert(b"garbage")
    leftovers = [p.name for p in pool.workdir.iterdir() if not p.name.startswith("profile-")]
    assert leftovers == []


def test_killed_libreoffice_is_restarted(pool: ConverterPool, contract: bytes) -> None:
    killed = pool.pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    for pid in killed:
        assert is_gone(pid)
    for _ in range(2):  # both converters must come back
        assert NAME in pdf_text(pool.convert(contract).pdf)
    assert len(pool.pids()) == 2
    assert not set(pool.pids()) & set(killed)


def test_timeout_kills_the_converter(tmp_path: Path, pool: ConverterPool, contract: bytes) -> None:
    with ConverterPool(size=1, timeout=0.01, workdir=tmp_path) as hasty:
        hasty.warm_up()
        [stuck] = hasty.pids()
        with pytest.raises(ConversionError, match=r"timeout of 0\.01 s"):
            hasty.convert(contract)
        assert is_gone(stuck)
        assert hasty.pids() == []
    assert NAME in pdf_text(pool.convert(contract).pdf)


def test_close_leaves_no_libreoffice(tmp_path: Path, contract: bytes) -> None:
    pool = ConverterPool(size=1, workdir=tmp_path)
    pool.convert(contract)
    [pid] = pool.pids()
    assert processes_under(tmp_path)
    pool.close()
    assert is_gone(pid)
    assert processes_under(tmp_path) == []
    assert not pool.workdir.exists()
    with pytest.raises(ConversionError, match="closed"):
        pool.convert(contract)


def test_missing_uno_interpreter_says_what_to_install(tmp_path: Path) -> None:
    pool = ConverterPool(size=1, uno_python="/nonexistent/python3", workdir=tmp_path)
    with pool, pytest.raises(ConversionError, match=r"apt-get install .*python3-uno"):
        pool.warm_up()


@pytest.mark.skipif(importlib.util.find_spec("uno") is not None, reason="this Python has uno")
def test_interpreter_without_uno_says_what_to_install(tmp_path: Path) -> None:
    pool = ConverterPool(size=1, uno_python=sys.executable, workdir=tmp_path)
    with pool, pytest.raises(ConversionError, match=r"cannot import uno.*python3-uno"):
        pool.warm_up()


def test_missing_soffice_says_what_to_install(tmp_path: Path) -> None:
    pool = ConverterPool(size=1, soffice="/nonexistent/soffice", workdir=tmp_path)
    with pool, pytest.raises(ConversionError, match="apt-get install libreoffice-writer-nogui"):
        pool.warm_up()
