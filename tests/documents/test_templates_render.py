"""The DOCX contract templates render with docxtpl and convert to PDF with the real LibreOffice.

Self-contained on purpose (no project fixtures): it checks the files in
templates/ as office staff leave them, with the documented variables only.
"""

from __future__ import annotations

import copy
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import jinja2
import pytest
from docxtpl import DocxTemplate
from pypdf import PdfReader

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
NAMES = ("stageovereenkomst", "geheimhoudingsverklaring", "afstand-auteursrecht")
LANGUAGES = ("nl", "en")

ANCHORS = {
    "nl": ("Handtekening student", "Handtekening stagebedrijf", "Handtekening hogeschool"),
    "en": ("Signature student", "Signature company", "Signature school"),
}

KEYWORDS = {
    ("nl", "stageovereenkomst"): (
        "Artikel 1 – Partijen",
        "arbeidsovereenkomst",
        "verzekerd tegen ongevallen",
        "auteursrecht",
        "onbezoldigd",
        "regelmatig student",
        "binnen de 7 dagen",
        "halve dag per week",
        "tussentijdse evaluatie",
        "75%",
        "25%",
        "15/12/2023",
        "0123.456.749",
        "Grote Markt 1, 2800 Mechelen",
        "r0123456",
    ),
    ("en", "stageovereenkomst"): (
        "Article 1 – Parties",
        "employment contract",
        "insured against accidents",
        "copyright",
        "unpaid",
        "regular student",
        "within 7 days",
        "half a day per week",
        "midterm evaluation",
        "75%",
        "25%",
        "15/12/2023",
        "0123.456.749",
        "Grote Markt 1, 2800 Mechelen",
        "r0123456",
    ),
    ("nl", "geheimhoudingsverklaring"): (
        "GEHEIMHOUDINGSVERKLARING",
        "vertrouwelijke informatie",
        "strikt geheim",
        "stageovereenkomst",
    ),
    ("en", "geheimhoudingsverklaring"): (
        "NON-DISCLOSURE AGREEMENT",
        "confidential information",
        "strictly secret",
        "internship agreement",
    ),
    ("nl", "afstand-auteursrecht"): (
        "AFSTAND VAN AUTEURSRECHT",
        "auteursrecht",
        "vermogensrechten",
        "morele rechten",
        "stageovereenkomst",
    ),
    ("en", "afstand-auteursrecht"): (
        "COPYRIGHT WAIVER",
        "copyright",
        "economic rights",
        "moral rights",
        "internship agreement",
    ),
}

ASSIGNMENT = (
    "Analyse en verbetering van het beheer van toegangsrechten (IAM) in de interne "
    "applicaties: inventaris van rollen en rechten, risicoanalyse volgens ISO/IEC 27001, "
    "ontwerp van een rolgebaseerd toegangsmodel, een proof of concept met Microsoft Entra ID "
    "en PowerShell-scripts voor periodieke hercertificering, documentatie voor beheerders en "
    "eindgebruikers, en een presentatie van de resultaten aan het IT-team. De student werkt "
    "mee in het securityteam en volgt de interne change-procedures; wekelijks is er overleg "
    "met de stagementor over voortgang & prioriteiten <kritiek>. Eindpunt: een werkend model."
)


def sample_context(name: str, *, options: bool = True) -> dict[str, dict[str, Any]]:
    """Exactly the documented variables (templates/README.md), with accents and specials."""
    return {
        "school": {
            "name": "Thomas More Mechelen-Antwerpen",
            "campus": "Mechelen",
            "programme": "Information Management & Security",
            "coordinator_name": "Frank Vandromme",
            "coordinator_email": "frank.vandromme@thomasmore.be",
        },
        "year": {
            "code": "2023-2024",
            "period_start": "12/02/2024",
            "period_end": "17/05/2024",
            "weeks": "12",
            "thesis_permission_deadline": "27/10/2023",
            "preference_deadline": "17/11/2023",
            "contract_deadline": "15/12/2023",
        },
        "student": {
            "first_name": "Zoë",
            "last_name": "Vermeulen-D'Hondt",
            "full_name": "Zoë Vermeulen-D'Hondt",
            "number": "r0123456",
            "email": "zoe.vermeulen-dhondt@student.thomasmore.be",
            "programme": "PBA Informatiemanagement en multimedia",
        },
        "company": {
            "name": "Janssens & Zonen BVBA",
            "number": "0123.456.749",
            "address": "Grote Markt 1, 2800 Mechelen",
            "signatory_name": "Renée Janssens",
            "signatory_title": "zaakvoerder",
            "signatory_email": "renee@janssens-zonen.be",
        },
        "mentor": {
            "name": "Seán O'Neill",
            "email": "sean.oneill@janssens-zonen.be",
            "phone": "+32 15 12 34 56",
        },
        "docent": {"name": "Lotte Peeters", "email": "lotte.peeters@thomasmore.be"},
        "placement": {
            "start_date": "19/02/2024",
            "end_date": "17/05/2024",
            "assignment": ASSIGNMENT,
            "expense_allowance": "€ 150 per maand" if options else None,
            "thesis_at_company": options,
            "nda": options,
            "copyright_waiver": options,
        },
        "document": {"reference": f"DS-2023-2024-r0123456-{name}"},
    }


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
        *KEYWORDS[(language, name)],
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
    if language == "nl":
        assert "geen onkosten- of verplaatsingsvergoeding" in without
        assert "ondertekenen daarnaast een afzonderlijke geheimhoudingsverklaring" in with_options
        assert "geen afzonderlijke geheimhoudingsverklaring gevraagd" in without
        assert "afzonderlijke verklaring van afstand van auteursrecht, die samen" in with_options
        assert "geen afstand van auteursrecht overeengekomen" in without
        assert "toestemming gekregen om het onderwerp van de bachelorproef" in with_options
        assert "niet verleend" in without
    else:
        assert "No expense or travel allowance is agreed" in without
        assert "sign a separate non-disclosure agreement" in with_options
        assert "No separate non-disclosure agreement was requested" in without
        assert "separate copyright waiver, signed together" in with_options
        assert "No copyright waiver has been agreed" in without
        assert "obtained permission in advance" in with_options
        assert "which was not granted" in without
    # Clause numbering stays continuous whichever branch is rendered.
    for text in (with_options, without):
        assert "5.3" in text and "13.3" in text and "18.3" in text


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
