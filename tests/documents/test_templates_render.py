"""The DOCX contract templates render with docxtpl and convert to PDF with the real LibreOffice.

Self-contained on purpose (no project fixtures): it checks the files in
templates/ as office staff leave them, with the documented variables only (the
sample placement's, docservice/documents/sample.py), and reads the sentences each
PDF must carry from templates/expected_clauses.toml.
"""

from __future__ import annotations

import copy
import re
import subprocess
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

import jinja2
import pytest
from docxtpl import DocxTemplate
from pypdf import PdfReader

from docservice.documents.sample import ASSIGNMENT, sample_context

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
NAMES = ("stageovereenkomst", "geheimhoudingsverklaring", "afstand-auteursrecht")
LANGUAGES = ("nl", "en")

ANCHORS = {
    "nl": ("Handtekening student", "Handtekening stagebedrijf", "Handtekening hogeschool"),
    "en": ("Signature student", "Signature company", "Signature school"),
}

#: Per template, what its PDF must say (the data file beside the templates).
EXPECTED = tomllib.loads((TEMPLATES / "expected_clauses.toml").read_text(encoding="utf-8"))


def render_docx(template: Path, context: dict[str, Any], target: Path) -> None:
    tpl = DocxTemplate(str(template))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
    tpl.render(context, jinja_env=env, autoescape=True)
    tpl.save(str(target))


def normalise(text: str) -> str:
    """NFKC (ligatures), no line break after a hyphen, one space for any other whitespace."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"(?<=\w)-[ \t]*\n\s*(?=\w)", "-", text)
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def pdf_texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Render all templates (and the agreements without options) and convert in one call."""
    workdir = tmp_path_factory.mktemp("templates_render")
    jobs: dict[str, Path] = {}
    for language in LANGUAGES:
        for name in NAMES:
            key = f"{language}-{name}"
            jobs[key] = workdir / f"{key}.docx"
            render_docx(TEMPLATES / language / f"{name}.docx", sample_context(name), jobs[key])
        key = f"{language}-stageovereenkomst-without-options"
        jobs[key] = workdir / f"{key}.docx"
        render_docx(
            TEMPLATES / language / "stageovereenkomst.docx",
            sample_context("stageovereenkomst", options=False),
            jobs[key],
        )

    profile = workdir / "lo-profile"  # own profile: never clash with a running soffice
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(workdir),
            *map(str, jobs.values()),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    texts = {}
    for key, docx in jobs.items():
        reader = PdfReader(docx.with_suffix(".pdf"))
        pages = [page.extract_text() for page in reader.pages]
        texts[key] = normalise("\n".join(pages))
        texts[key + "#pages"] = str(len(pages))
    return texts


CASES = [(language, name) for language in LANGUAGES for name in NAMES]


@pytest.mark.parametrize(("language", "name"), CASES)
def test_pdf_carries_parties_dates_and_clauses(
    pdf_texts: dict[str, str], language: str, name: str
) -> None:
    text = pdf_texts[f"{language}-{name}"]
    for expected in (
        "Zoë Vermeulen-D'Hondt",
        "Janssens & Zonen BVBA",
        "Seán O'Neill",
        "Renée Janssens",
        "Frank Vandromme",
        "19/02/2024",
        "17/05/2024",
        f"DS-2023-2024-r0123456-{name}",
        *EXPECTED[f"{language}/{name}.docx"]["clauses"],
    ):
        assert expected in text, f"{expected!r} missing from {language}/{name}"
    assert "{{" not in text and "{%" not in text
    assert "&amp;" not in text and "&#39;" not in text  # escaped once, not twice


@pytest.mark.parametrize(("language", "name"), CASES)
def test_each_signature_anchor_exactly_once(
    pdf_texts: dict[str, str], language: str, name: str
) -> None:
    text = pdf_texts[f"{language}-{name}"]
    for anchor in ANCHORS[language]:
        assert text.count(anchor) == 1, f"{anchor!r} in {language}/{name}"


@pytest.mark.parametrize(("language", "name"), CASES)
def test_page_count_stays_reasonable(pdf_texts: dict[str, str], language: str, name: str) -> None:
    pages = int(pdf_texts[f"{language}-{name}#pages"])
    assert 1 <= pages <= (6 if name == "stageovereenkomst" else 2)


@pytest.mark.parametrize("language", LANGUAGES)
def test_agreement_options(pdf_texts: dict[str, str], language: str) -> None:
    with_options = pdf_texts[f"{language}-stageovereenkomst"]
    without = pdf_texts[f"{language}-stageovereenkomst-without-options"]
    assert "€ 150 per maand" in with_options
    assert "€ 150 per maand" not in without
    assert ASSIGNMENT in with_options
    expected = EXPECTED[f"{language}/stageovereenkomst.docx"]
    for clause in expected["with_options"]:
        assert clause in with_options, clause
    for clause in expected["without_options"]:
        assert clause in without, clause
    # Clause numbering stays continuous whichever branch is rendered.
    for text in (with_options, without):
        for number in expected["in_both"]:
            assert number in text, number


@pytest.mark.parametrize(("language", "name"), CASES)
@pytest.mark.parametrize("options", [True, False])
def test_every_branch_uses_only_documented_variables(
    tmp_path: Path, language: str, name: str, options: bool
) -> None:
    render_docx(
        TEMPLATES / language / f"{name}.docx",
        sample_context(name, options=options),
        tmp_path / "out.docx",
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_missing_variable_fails_loudly(tmp_path: Path, language: str) -> None:
    context = copy.deepcopy(sample_context("stageovereenkomst"))
    del context["mentor"]["phone"]
    with pytest.raises(jinja2.UndefinedError, match="phone"):
        render_docx(TEMPLATES / language / "stageovereenkomst.docx", context, tmp_path / "out.docx")


def test_expected_clauses_name_every_template() -> None:
    assert set(EXPECTED) == {f"{language}/{name}.docx" for language, name in CASES}
