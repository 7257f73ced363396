"""Readable pages for the signing page: image sizes and each page's text, cached per PDF."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from docservice.documents import previews
from docservice.errors import NotFound
from tests.signing.samples import BODY_TEXT, contract_pdf


def test_each_page_has_its_own_text_and_its_image_size(tmp_path: Path) -> None:
    pdf = contract_pdf("Stageovereenkomst", pages=3)
    sha = hashlib.sha256(pdf).hexdigest()
    pages = previews.page_previews(pdf, sha, tmp_path)
    assert [p.number for p in pages] == [1, 2, 3]
    # A4 (595 × 842 points) at 120 dpi, as pdftoppm renders it.
    assert {(p.width, p.height) for p in pages} == {(992, 1404)}
    for number, page in enumerate(pages, start=1):
        assert page.paragraphs[0].startswith("Stageovereenkomst"), page.paragraphs
        assert BODY_TEXT.decode() in "\n".join(page.paragraphs)
        assert f"pagina {number}" in page.paragraphs[-1]
    png = previews.page_png(pdf, sha, 2, tmp_path)
    assert png.startswith(b"\x89PNG")
    assert int.from_bytes(png[16:20], "big") == pages[1].width


def test_the_pages_are_worked_out_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = contract_pdf(pages=2)
    sha = hashlib.sha256(pdf).hexdigest()
    first = previews.page_previews(pdf, sha, tmp_path)

    def no_second_run(_pdf: bytes) -> list[str]:
        raise AssertionError("pdftotext ran again")

    monkeypatch.setattr(previews, "page_texts", no_second_run)
    assert previews.page_previews(pdf, sha, tmp_path) == first


def test_a_page_that_does_not_exist_is_not_found(tmp_path: Path) -> None:
    pdf = contract_pdf(pages=1)
    with pytest.raises(NotFound):
        previews.page_png(pdf, hashlib.sha256(pdf).hexdigest(), 2, tmp_path)


def test_wrapped_lines_reflow_and_headings_and_clauses_keep_their_line() -> None:
    text = ("Stageovereenkomst – Zoë Vermeulen-D'Hondt – Janssens & Zonen BV\n\n"
            "Artikel 1 – Partijen\n"
            "1.1 De student: Zoë Vermeulen-D'Hondt, studentennummer r0123456, e-mail\n"
            "student0@student.example.org, hierna “de student”;\n"
            "1.2\n\n"
            "Het stagebedrijf: Janssens & Zonen BV, gevestigd te Grote Markt 1, 2800\n"
            "Mechelen, hier vertegenwoordigd door Els Janssens, zaakvoerder, voor zijn kmo-\n"
            "klanten. De student beantwoordt wekelijks de volgende vragen over de stage:\n"
            "\uf0b7\n\n"
            "Wat heb ik geleerd gedurende de voorbije week?\n\n"
            "pagina 1 van 5\n")
    assert previews.paragraphs(text) == (
        "Stageovereenkomst – Zoë Vermeulen-D'Hondt – Janssens & Zonen BV",
        "Artikel 1 – Partijen\n"
        "1.1 De student: Zoë Vermeulen-D'Hondt, studentennummer r0123456, e-mail "
        "student0@student.example.org, hierna “de student”;",
        "1.2 Het stagebedrijf: Janssens & Zonen BV, gevestigd te Grote Markt 1, 2800 Mechelen, "
        "hier vertegenwoordigd door Els Janssens, zaakvoerder, voor zijn kmo-klanten. De "
        "student beantwoordt wekelijks de volgende vragen over de stage:",
        "Wat heb ik geleerd gedurende de voorbije week?",
        "pagina 1 van 5",
    )
