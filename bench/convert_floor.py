"""How fast DOCX becomes PDF: one soffice per file, the warm pool, and LibreOffice's own floor.

As a module (bench/ on sys.path): `from convert_floor import measure_floor, measure_naive`.
As a script: `.venv/bin/python bench/convert_floor.py [--docs 10] [--pdfa]`.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from docservice.documents.convert import ConverterPool

PARAGRAPH = (
    "De stagiair voert de opdrachten uit die in het stageplan zijn beschreven en volgt de "
    "richtlijnen van de stageplaats inzake veiligheid, vertrouwelijkheid en aanwezigheid. "
    "De stagementor begeleidt de stagiair, geeft tussentijds feedback en bezorgt op het einde "
    "van de stage een evaluatie aan de hogeschool. "
)


def measure_naive(docx_paths: Sequence[Path], outdir: Path, *, pdfa: bool = False) -> list[float]:
    """Seconds per file for one `soffice --headless --convert-to pdf` call per file.

    One private profile is created for the run and kept across the files, as a user would.
    """
    # The JSON filter options are the form LibreOffice 7.4 honours; `:SelectPdfVersion=2` is ignored.
    target = (
        'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}' if pdfa else "pdf"
    )
    soffice = shutil.which("soffice")
    if soffice is None:
        raise RuntimeError("soffice not found: apt-get install libreoffice-writer-nogui")
    outdir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="naive-profile-"))
    seconds: list[float] = []
    try:
        for path in docx_paths:
            started = time.perf_counter()
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={profile.as_uri()}",
                    "--headless",
                    "--convert-to",
                    target,
                    "--outdir",
                    str(outdir),
                    str(path),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            seconds.append(time.perf_counter() - started)
            if not (outdir / path.with_suffix(".pdf").name).exists():
                raise RuntimeError(f"soffice wrote no PDF for {path}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return seconds


def measure_floor(pool: ConverterPool, docx_blobs: Sequence[bytes], pdfa: bool) -> float:
    """Median milliseconds LibreOffice itself spends per document (load and export), one at a time."""
    pool.warm_up()
    return statistics.median(pool.convert(blob, pdfa=pdfa).libreoffice_ms for blob in docx_blobs)


def measure_pool_wall(
    pool: ConverterPool, docx_blobs: Sequence[bytes], pdfa: bool, threads: int
) -> float:
    """Wall-clock milliseconds per document converting all blobs from `threads` threads."""
    pool.warm_up()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as executor:
        list(executor.map(lambda blob: pool.convert(blob, pdfa=pdfa), docx_blobs))
    return (time.perf_counter() - started) * 1000 / len(docx_blobs)


def make_docx(number: int, pages: int = 4) -> bytes:
    """A DOCX of about `pages` pages of running text."""
    import docx  # python-docx, a dev dependency

    document = docx.Document()
    document.add_heading(f"Stageovereenkomst {number}", level=1)
    for page in range(pages):
        for paragraph in range(7):
            document.add_paragraph(f"{page + 1}.{paragraph + 1} " + PARAGRAPH * 2)
        if page < pages - 1:
            document.add_page_break()
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Print naive, pooled and floor figures for a batch of generated documents."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10)
    parser.add_argument("--pdfa", action="store_true", help="convert to PDF/A-2b")
    parser.add_argument("--converters", type=int, default=2)
    args = parser.parse_args(argv)

    blobs = [make_docx(i) for i in range(args.docs)]
    with tempfile.TemporaryDirectory(prefix="convert-floor-") as tmp:
        directory = Path(tmp)
        paths = []
        for i, blob in enumerate(blobs):
            path = directory / f"stage-{i:02d}.docx"
            path.write_bytes(blob)
            paths.append(path)
        load_before = os.getloadavg()[0]
        naive = measure_naive(paths, directory / "naive", pdfa=args.pdfa)
        with ConverterPool(size=args.converters) as pool:
            started = time.perf_counter()
            pool.warm_up()
            warm_up_s = time.perf_counter() - started
            startups = pool.startup_ms()
            measure_pool_wall(pool, blobs[:2], args.pdfa, args.converters)  # first-use effects
            pool_ms = measure_pool_wall(pool, blobs, args.pdfa, args.converters)
            floor_ms = measure_floor(pool, blobs, args.pdfa)

    naive_median = statistics.median(naive)
    kind = "PDF/A-2b" if args.pdfa else "PDF"
    print(f"{args.docs} DOCX of 4 pages to {kind}, {os.cpu_count()} cores, load {load_before:.2f}")
    print(
        f"naive soffice --convert-to: {naive_median:.2f} s/doc median "
        f"(first {naive[0]:.2f} s, mean {statistics.mean(naive):.2f} s)"
    )
    print(
        f"pool startup: {warm_up_s:.2f} s for {args.converters} converters side by side "
        f"(each {', '.join(f'{ms / 1000:.2f}' for ms in startups)} s)"
    )
    print(
        f"pool, {args.converters} converters from {args.converters} threads: {pool_ms:.0f} ms/doc wall"
    )
    print(f"LibreOffice-only floor: {floor_ms:.0f} ms/doc (median, one at a time)")
    print(f"naive / pool: {naive_median * 1000 / pool_ms:.1f}x")
    print(f"pool / floor: {pool_ms / floor_ms:.2f}x")
    print(
        f"pool / (floor / {args.converters} converters): "
        f"{pool_ms * args.converters / floor_ms:.2f}x (1.00 = no overhead beyond LibreOffice)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
