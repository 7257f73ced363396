"""What people see: revisions rendered by poppler and MuPDF (for real), compared outside widgets."""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from docservice.signing.pki import Pki
from docservice.signing.verify import Trust, rendering, verify_pdf
from docservice.signing.verify.engine import drawing_signed_revisions_ahead
from docservice.signing.verify.renderers import RendererUnavailable, VisualTimeout
from docservice.signing.verify.rendering import (
    DEFAULT_DPI,
    DEFAULT_MAX_OUTPUT,
    DEFAULT_MAX_PAGES,
    Rect,
    Rendering,
    drawing_ahead,
    render,
    render_many,
)
from docservice.signing.verify.visual import differences
from tests.signing.conftest import SignedContract
from tests.signing.samples import contract_pdf
from tests.signing.verify.tamper import append_content_update

#: contract_pdf()'s signature fields, on its last page (index 1), as the document layer places them.
STUDENT_BOX: Rect = (60, 120, 210, 170)
COMPANY_BOX: Rect = (230, 120, 380, 170)
SCHOOL_BOX: Rect = (400, 120, 550, 170)


def rendered(pdf: bytes) -> Rendering:
    return render(pdf, deadline=time.monotonic() + 20)


def updated(pdf: bytes, change: object) -> bytes:
    """`pdf` with an incremental update made by `change(writer)`."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)  # type: ignore[operator]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def paint_box(pdf: bytes, page: int, rect: Rect) -> bytes:
    """An incremental update that paints a black rectangle over `rect` (user space) on `page`."""
    x0, y0, x1, y1 = rect

    def change(writer: IncrementalPdfFileWriter) -> None:
        stream = generic.StreamObject(stream_data=b"q 0 g %g %g %g %g re f Q" % (
            x0, y0, x1 - x0, y1 - y0))
        writer.add_stream_to_page(page, writer.add_object(stream))

    return updated(pdf, change)


def set_page_entry(pdf: bytes, page: int, key: str, value: generic.PdfObject) -> bytes:
    """An incremental update that sets `key` in the dictionary of `page`."""
    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref, _ = writer.find_page_for_modification(page)
        page_dict = page_ref.get_object()
        page_dict[pdf_name(key)] = value
        writer.update_container(page_dict)

    return updated(pdf, change)


def add_page(pdf: bytes) -> bytes:
    """An incremental update that appends a page with one line of text."""
    def change(writer: IncrementalPdfFileWriter) -> None:
        stream = generic.StreamObject(stream_data=b"0 g 72 700 300 20 re f")
        writer.insert_page(PageObject(contents=writer.add_object(stream),
                                      media_box=(0, 0, 595, 842)))

    return updated(pdf, change)


def turned_page_pdf(rotate: int) -> bytes:
    """One page with text, a /Rotate and a CropBox that does not start at the origin."""
    writer = PdfFileWriter(stream_xrefs=False)
    content = b"0 g 100 600 200 30 re f 0.5 g 300 200 100 100 re f"
    page = PageObject(contents=writer.add_object(generic.StreamObject(stream_data=content)),
                      media_box=(0, 0, 612, 792))
    page[pdf_name("/CropBox")] = generic.ArrayObject(
        generic.FloatObject(v) for v in (36, 50, 580, 760))
    page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_same_file_rendered_twice_shows_no_difference() -> None:
    pdf = contract_pdf()
    first, second = rendered(pdf), rendered(pdf)
    assert first.problems == []
    assert [len(run.pages) for run in first.runs] == [2, 2]
    assert first.boxes is not None and first.boxes[0].crop_box == (0, 0, 595, 842)
    assert differences(first, second, masks={}) == []


def test_new_text_painted_on_page_one_is_named() -> None:
    signed = contract_pdf()
    signed_view, final_view = render_many([signed, append_content_update(signed)],
                                          deadline=time.monotonic() + 20)
    reasons = differences(signed_view, final_view, masks={})
    assert len(reasons) == 1
    assert reasons[0].startswith("page 1 looks different after signing")
    assert "poppler and MuPDF" in reasons[0]
    # The text is painted at (72, 700), 12 pt: the reason says where to look.
    assert "x=72.." in reasons[0] and "y=69" in reasons[0]


def test_a_change_inside_a_signature_widget_is_masked() -> None:
    signed = contract_pdf()
    final = paint_box(signed, 1, (240, 130, 370, 160))
    signed_view, final_view = render_many([signed, final], deadline=time.monotonic() + 20)
    assert differences(signed_view, final_view, masks={1: [COMPANY_BOX]}) == []
    unmasked = differences(signed_view, final_view, masks={1: [STUDENT_BOX]})
    assert [reason.split(" (")[0] for reason in unmasked] == [
        "page 2 looks different after signing"]


def test_the_next_signature_appears_only_inside_its_field(
        signed_contract: SignedContract) -> None:
    views = render_many(signed_contract.revisions[1:], deadline=time.monotonic() + 30)
    by_student, by_company, by_school = views
    assert differences(by_student, by_school, masks={1: [COMPANY_BOX, SCHOOL_BOX]}) == []
    assert differences(by_company, by_school, masks={1: [SCHOOL_BOX]}) == []
    # Unmasked, the stamps are what changed, on the signature page only.
    reasons = differences(by_student, by_school, masks={})
    assert [reason.split(" (")[0] for reason in reasons] == [
        "page 2 looks different after signing"]


def test_a_page_added_after_signing_is_a_page_count_difference() -> None:
    signed = contract_pdf()
    signed_view, final_view = render_many([signed, add_page(signed)],
                                          deadline=time.monotonic() + 20)
    reasons = differences(signed_view, final_view, masks={})
    assert reasons == ["the document has 3 pages after signing instead of 2"]


def test_a_changed_media_box_is_named() -> None:
    signed = contract_pdf()
    final = set_page_entry(signed, 0, "/MediaBox", generic.ArrayObject(
        generic.NumberObject(v) for v in (0, 0, 612, 792)))
    reasons = differences(rendered(signed), rendered(final), masks={})
    assert "page 1 has a different MediaBox after signing (0 0 612 792 instead of 0 0 595 842)" \
        in reasons
    assert "page 1 looks different after signing (poppler and MuPDF: drawn at 306×396 px " \
        "instead of 298×421 px)" in reasons


def test_a_rotated_page_is_named() -> None:
    signed = contract_pdf()
    final = set_page_entry(signed, 1, "/Rotate", generic.NumberObject(90))
    reasons = differences(rendered(signed), rendered(final), masks={})
    assert "page 2 is rotated 90° after signing instead of 0°" in reasons


def test_a_colour_profile_added_after_signing_is_named() -> None:
    def change(writer: IncrementalPdfFileWriter) -> None:
        profile = writer.add_object(generic.StreamObject(
            {pdf_name("/N"): generic.NumberObject(3)}, stream_data=b"not really an ICC profile"))
        writer.root[pdf_name("/OutputIntents")] = generic.ArrayObject([generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/OutputIntent"), pdf_name("/S"): pdf_name("/GTS_PDFA1"),
            pdf_name("/DestOutputProfile"): profile})])
        writer.update_root()

    signed = contract_pdf()
    reasons = differences(rendered(signed), rendered(updated(signed, change)), masks={})
    assert reasons == ["the colour profile viewers draw with (/OutputIntents) changed after "
                       "signing"]


@pytest.mark.parametrize("final", [b"", b"%PDF-1.7\ngarbage", "cut"],
                         ids=["empty", "garbage", "truncated"])
def test_an_unreadable_final_file_is_a_reason_not_an_exception(final: bytes | str) -> None:
    signed = contract_pdf()
    # Cut before the first trailer: every page's objects are there, no cross-reference table.
    final_bytes = signed[:signed.index(b"trailer")] if final == "cut" else final
    assert isinstance(final_bytes, bytes)
    signed_view, final_view = render_many([signed, final_bytes], deadline=time.monotonic() + 20)
    reasons = differences(signed_view, final_view, masks={})
    assert reasons
    assert final_view.problems
    if final == "cut":
        # MuPDF repairs what poppler refuses: the renderer that cannot read it is named.
        assert any(reason.startswith("poppler cannot render the document after signing (exit "
                                     "status 1") for reason in reasons), reasons
    # Failing the same way on both sides is no difference.
    assert differences(final_view, final_view, masks={}) == []


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_a_mask_lands_on_the_right_pixels_of_a_turned_and_cropped_page(rotate: int) -> None:
    signed = turned_page_pdf(rotate)
    widget: Rect = (420, 600, 540, 640)
    final = paint_box(signed, 0, widget)
    signed_view, final_view = render_many([signed, final], deadline=time.monotonic() + 20)
    assert final_view.boxes is not None and final_view.boxes[0].rotate == rotate
    assert differences(signed_view, final_view, masks={0: [widget]}) == []
    # The same rectangle mirrored elsewhere on the page hides nothing: the reason says where.
    reasons = differences(signed_view, final_view, masks={0: [(72, 152, 192, 192)]})
    assert len(reasons) == 1
    assert reasons[0].startswith("page 1 looks different after signing (poppler and MuPDF: ")
    assert "x=420..540 pt, y=600..640 pt" in reasons[0]


def slow_to_draw(pages: int = 20, shapes: int = 60_000) -> bytes:
    """A PDF both renderers take over a second to draw on this machine (20 pages of 60,000 tiny
    filled squares), however fast they draw text: for the deadline and stop tests."""
    writer = PdfWriter()
    content = DecodedStreamObject()
    content.set_data(b"".join(b"%d %d 0.5 0.5 re f\n" % (i % 590, (i // 590) % 840)
                              for i in range(shapes)))
    shared = writer._add_object(content)
    for _ in range(pages):
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Contents")] = shared
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("seconds", [-1.0, 0.05])
def test_a_deadline_stops_the_renderers_and_leaves_nothing_behind(
        seconds: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_document = slow_to_draw()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    started = time.monotonic()
    try:
        finished = render(long_document, deadline=started + seconds)
    except VisualTimeout:
        pass
    else:  # say what the renderers did in that time, to tell a crash from a fast machine
        pytest.fail(f"no VisualTimeout after {time.monotonic() - started:.3f} s: poppler "
                    f"{finished.poppler.failure() or 'ok'}, {len(finished.poppler.pages)} "
                    f"pages; MuPDF {finished.mupdf.failure() or 'ok'}, "
                    f"{len(finished.mupdf.pages)} pages")
    assert time.monotonic() - started < 2
    assert list(tmp_path.iterdir()) == []
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    if children.exists():  # no renderer left running (other tests may keep other children)
        renderers = [pid for pid in children.read_text().split()
                     if Path(f"/proc/{pid}/comm").exists()
                     and Path(f"/proc/{pid}/comm").read_text().strip() in ("pdftoppm", "mutool")]
        assert renderers == []


def test_a_missing_renderer_is_an_error_not_an_empty_comparison(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RendererUnavailable, match="pdftoppm"):
        rendered(contract_pdf())


# -- drawing ahead: the same drawings, started earlier ------------------------------------------

DEFAULTS = (DEFAULT_DPI, DEFAULT_MAX_PAGES, DEFAULT_MAX_OUTPUT)


def drawn_here(monkeypatch: pytest.MonkeyPatch) -> list[list[bytes]]:
    """The PDFs each call draws from now on (ahead or not), in the order the calls start."""
    calls: list[list[bytes]] = []
    real = rendering._render_unique

    def recording(unique: list[bytes], **options: object) -> list[Rendering]:
        calls.append(list(unique))
        return real(unique, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(rendering, "_render_unique", recording)
    return calls


def test_a_file_drawn_ahead_is_taken_not_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    signed = contract_pdf()
    final = append_content_update(signed)
    expected = render_many([signed, final], deadline=time.monotonic() + 20)
    calls = drawn_here(monkeypatch)
    with drawing_ahead([signed]):
        views = render_many([signed, final], deadline=time.monotonic() + 20)
    assert calls == [[signed], [final]]
    assert views == expected
    assert differences(*views, masks={}) == differences(*expected, masks={})


def test_a_drawing_ahead_at_other_settings_or_outside_the_block_is_not_taken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = contract_pdf()
    calls = drawn_here(monkeypatch)
    with drawing_ahead([pdf]) as ahead:
        assert ahead.drawing(pdf, DEFAULTS) is not None
        assert ahead.drawing(pdf, (72.0, DEFAULT_MAX_PAGES, DEFAULT_MAX_OUTPUT)) is None
        render(pdf, dpi=72.0, deadline=time.monotonic() + 20)
    render(pdf, deadline=time.monotonic() + 20)
    assert calls == [[pdf], [pdf], [pdf]]


def test_a_drawing_ahead_that_failed_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = contract_pdf()
    with drawing_ahead([pdf], seconds=-1.0):  # past its deadline before it starts
        view = render(pdf, deadline=time.monotonic() + 20)
    assert view.problems == []
    assert view == render(pdf, deadline=time.monotonic() + 20)


def test_leaving_the_block_stops_what_is_drawn_ahead_and_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_document = slow_to_draw()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    started = time.monotonic()
    with drawing_ahead([long_document]) as ahead:
        future = ahead.drawing(long_document, DEFAULTS)
        time.sleep(0.05)
    assert time.monotonic() - started < 0.3
    assert future is not None and future.done() and future.exception() is not None
    assert list(tmp_path.iterdir()) == []
    renderers = [pid for pid in Path("/proc").iterdir() if pid.name.isdigit()
                 and _parent(pid) == os.getpid() and _command(pid) in ("pdftoppm", "mutool")]
    assert renderers == []


def _parent(pid: Path) -> int | None:
    try:
        return int((pid / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _command(pid: Path) -> str:
    try:
        return (pid / "comm").read_text().strip()
    except OSError:
        return ""


def test_the_signed_revisions_are_drawn_ahead_and_the_engine_draws_only_the_rest(
        signed_contract: SignedContract, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    trust = Trust(roots=pki.trust_roots, crls=pki.crls)
    reader = PdfFileReader(io.BytesIO(signed_contract.by_school), strict=False)
    final = add_validation_info(reader.embedded_signatures[-1], ValidationContext(
        trust_roots=list(pki.trust_roots), crls=list(pki.crls), allow_fetching=False)).getvalue()
    expected = verify_pdf(final, trust=trust)
    calls = drawn_here(monkeypatch)
    with drawing_signed_revisions_ahead(signed_contract.by_school) as ahead:
        assert ahead.drawing(signed_contract.unsigned, DEFAULTS) is None
        report = verify_pdf(final, trust=trust)
    assert calls == [signed_contract.revisions[1:], [final]]
    assert report.passed and expected.passed, report.reasons
    assert report.warnings == expected.warnings
