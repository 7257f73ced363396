"""The visual check on the real agreement: each signed revision and the final file, two renderers.

    .venv/bin/python bench/visual.py [FOLDER] [--runs 15] [--dpi 24 36 48]

FOLDER holds bench/agreement.py's stages (default /tmp/agreement). Measures, per dpi: each
renderer alone on each PDF (wall and CPU), `render` of one PDF (both renderers in parallel),
`render_many` of the 3 signed revisions + the final file, and `differences` against the final.
Target: both renderers on one PDF <= ~120 ms, so the engine's strict verification stays <= 1 s.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402

from docservice.signing.verify import renderers  # noqa: E402
from docservice.signing.verify.rendering import Rect, render, render_many  # noqa: E402
from docservice.signing.verify.visual import differences  # noqa: E402


def revisions_and_masks(final: bytes) -> tuple[list[bytes], dict[int, list[Rect]]]:
    """The bytes each signature covers (distinct, oldest first) and the widgets' rectangles."""
    reader = PdfFileReader(io.BytesIO(final), strict=False)
    pages = [ref.get_object() for ref in _page_refs(reader.root["/Pages"])]
    revisions: list[bytes] = []
    masks: dict[int, list[Rect]] = {}
    for signature in reader.embedded_signatures:
        byte_range = signature.byte_range
        revision = final[:byte_range[2] + byte_range[3]]
        if revision != final and revision not in revisions:
            revisions.append(revision)
        widget = signature.sig_field
        x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
        if x1 > x0 and "/P" in widget:
            index = pages.index(widget["/P"])
            masks.setdefault(index, []).append((x0, y0, x1, y1))
    return revisions, masks


def _page_refs(node: Any) -> list[Any]:
    kids = node.get_object()["/Kids"]
    found: list[Any] = []
    for kid in kids:
        if kid.get_object().get("/Type") == "/Pages":
            found.extend(_page_refs(kid))
        else:
            found.append(kid)
    return found


def render_final(pdf: bytes, dpi: float) -> object:
    return render(pdf, dpi=dpi, deadline=time.monotonic() + 30)


def render_all(pdfs: list[bytes], dpi: float) -> object:
    return render_many(pdfs, dpi=dpi, deadline=time.monotonic() + 30)


def measure(runs: int, action: Callable[[], object]) -> tuple[float, float]:
    """Median wall and median child-process CPU time of `action`, in ms."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        action()
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("/tmp/agreement"))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--dpi", type=float, nargs="+", default=[24, 36, 48])
    args = parser.parse_args()
    final = (args.folder / "4-archived.pdf").read_bytes()
    revisions, masks = revisions_and_masks(final)
    pdfs = [*revisions, final]
    print(f"{len(revisions)} signed revisions + final ({len(final):,} bytes); masks {masks}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "final.pdf"
        path.write_bytes(final)
        hidden = Path(tmp) / "final-poppler.pdf"
        hidden.write_bytes(final.replace(b"/OutputIntents", b"/OutputIntentX"))
        for dpi in args.dpi:
            commands = {
                "pdftoppm (as the file is)": renderers.command(renderers.POPPLER, path, dpi, 100),
                "pdftoppm (OutputIntents hidden)": renderers.command(renderers.POPPLER, hidden,
                                                                         dpi, 100),
                "mutool draw": renderers.command(renderers.MUPDF, path, dpi, 100),
            }
            print(f"\ndpi {dpi:g}")
            for name, argv in commands.items():
                wall, cpu = measure(args.runs, partial(
                    subprocess.run, argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    check=False))
                print(f"  {name:34} final file   wall {wall:6.0f} ms  cpu {cpu:6.0f} ms")
            wall, cpu = measure(args.runs, partial(render_final, final, dpi))
            print(f"  {'render (both, parallel)':34} final file   wall {wall:6.0f} ms  cpu "
                  f"{cpu:6.0f} ms")
            wall, cpu = measure(args.runs, partial(render_all, pdfs, dpi))
            print(f"  {'render_many':34} {len(pdfs)} PDFs       wall {wall:6.0f} ms  cpu "
                  f"{cpu:6.0f} ms  ({wall / len(pdfs):.0f} ms a PDF)")
            views = render_many(pdfs, dpi=dpi, deadline=time.monotonic() + 30)
            start = time.perf_counter()
            found = [differences(view, views[-1], masks=masks) for view in views[:-1]]
            print(f"  {'differences x' + str(len(views) - 1):34} {'':12} wall "
                  f"{(time.perf_counter() - start) * 1000:6.1f} ms  -> {found}")


if __name__ == "__main__":
    main()
