"""Benchmark: generate a cohort's documents (render + convert + signature fields) and compare.

Prints documents per second, ms per document, peak RSS of this (service) process and of
the LibreOffice converters, the naive way (one `soffice --convert-to pdf` per file) on 10
of the same documents, and LibreOffice's own load-and-export floor over UNO.

    .venv/bin/python bench/generate.py [--placements 300] [--converters N] [--no-pdfa]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convert_floor import measure_naive

from docservice import create_app, migrate
from docservice.archive.audit import Actor
from docservice.config import CHECKOUT, Settings
from docservice.db import unit_of_work
from docservice.documents.convert import ConverterPool
from docservice.documents.render import render_docx
from docservice.services.documents import (
    generate_missing,
    placements_lacking_documents,
    plan_generation,
)
from docservice.services.placements import import_placements
from docservice.services.years import load_year_file
from tests.factories import csv_bytes, row


class RecordingConverter:
    """The real pool, noting how long LibreOffice itself spent on each document."""

    def __init__(self, pool: ConverterPool) -> None:
        self.pool = pool
        self.libreoffice_ms: list[float] = []
        self._lock = threading.Lock()

    def convert(self, docx: bytes, *, pdfa: bool = False):
        result = self.pool.convert(docx, pdfa=pdfa)
        with self._lock:
            self.libreoffice_ms.append(result.libreoffice_ms)
        return result


def peak_rss_mb(pid: int) -> float:
    """Peak resident set of a live process (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cohort_csv(n: int) -> bytes:
    rows = []
    for i in range(n):
        rows.append(row(i, nda="ja" if i % 3 == 0 else "nee",
                        copyright_waiver="ja" if i % 3 == 1 else "nee",
                        student_last_name=f"Peeters-{i:03d}"))
    return csv_bytes(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--placements", type=int, default=300)
    parser.add_argument("--converters", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-pdfa", action="store_true")
    parser.add_argument("--threads", type=int, default=0,
                        help="render/convert threads (default: twice the converters, as the service)")
    parser.add_argument("--naive", type=int, default=10, help="documents for the naive way")
    args = parser.parse_args()
    pdfa = not args.no_pdfa

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp)
        settings = Settings(env="testing", instance_path=root, blob_path=root / "blobs",
                            outbox_path=root / "outbox", converters=args.converters,
                            templates_path=CHECKOUT / "templates").validated()
        app = create_app(settings=settings)
        rt = app.extensions["docservice"]
        migrate.upgrade(rt.db)
        actor = Actor("bench")
        with unit_of_work(rt.db) as session:
            load_year_file(session, CHECKOUT / "data" / "academic-years" / "2023-2024.toml")
            import_placements(session, cohort_csv(args.placements), actor=actor)

        with ConverterPool(size=args.converters) as pool:
            t = time.perf_counter()
            pool.warm_up()
            print(f"converters: {args.converters}, warm-up {time.perf_counter() - t:.1f} s "
                  f"(not counted below)")
            recording = RecordingConverter(pool)
            start = time.perf_counter()
            with unit_of_work(rt.db) as session:
                made = generate_missing(session, converter=recording, blobs=rt.blobs,
                                        templates_root=settings.templates_path, pdfa=pdfa,
                                        converters=args.threads // 2 if args.threads else args.converters,
                                        actor=actor)
            wall = time.perf_counter() - start
            converter_rss = [peak_rss_mb(pid) for pid in pool.pids()]
            # The floor measured in this same run: LibreOffice's own load+export per document.
            floor_ms = statistics.median(recording.libreoffice_ms) / args.converters

        n = len(made)
        ms_per_doc = wall * 1000 / n
        print(f"documents: {n} for {args.placements} placements (pdfa={pdfa})")
        print(f"service: {n / wall:.1f} documents/s, {ms_per_doc:.0f} ms per document "
              f"(wall {wall:.1f} s)")
        service_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: service process {service_rss:.0f} MB; converters "
              + ", ".join(f"{r:.0f} MB" for r in converter_rss))

        # The naive way on the same documents: one soffice start per file.
        with unit_of_work(rt.db) as session:
            jobs = plan_generation(placements_lacking_documents(session), settings.templates_path)
        docx_dir = root / "naive"
        docx_dir.mkdir()
        with unit_of_work(rt.db) as session:
            documents = [d for d in made[: args.naive]]
            paths = []
            for i, document in enumerate(documents):
                path = docx_dir / f"doc{i}.docx"
                path.write_bytes(rt.blobs.get(document.docx_sha256))
                paths.append(path)
        naive = measure_naive(paths, root / "naive-out")
        naive_ms = statistics.mean(naive) * 1000
        print(f"naive: {naive_ms:.0f} ms per document (one soffice per file, {len(paths)} files)")
        print(f"speed-up over naive: {naive_ms / ms_per_doc:.1f}x (target >= 8x)")
        print(f"floor: LibreOffice load+export {floor_ms * args.converters:.0f} ms per document "
              f"/ {args.converters} converters = {floor_ms:.0f} ms; service is "
              f"{ms_per_doc / floor_ms:.2f}x the floor (target <= 1.3x)")
        assert not jobs
        rt.close()
        _ = render_docx  # keeps the renderer's import cost inside the measured process


if __name__ == "__main__":
    main()
