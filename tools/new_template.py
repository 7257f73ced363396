"""Make a new, empty contract template: page, styles, header, footer and signature block.

The DOCX files in templates/ are the source of every document's text, edited in Word or
LibreOffice Writer; nothing regenerates them. This makes only the skeleton of a new one,
to be filled in by hand:

    .venv/bin/python tools/new_template.py templates/nl/stagecharter.docx --title Stagecharter

The folder (nl/ or en/) sets the language. The skeleton uses only documented variables
and carries the three signature anchors as templates/README.md describes, so that
`docservice templates check` passes on it as made. It never overwrites a file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Pt, RGBColor
from docx.styles.style import BaseStyle
from docx.text.paragraph import Paragraph

from docservice.documents.catalogue import SIGNATURE_ANCHORS
from docservice.domain import LANGUAGES, SIGNER_ROLES

FONT = "Calibri"  # LibreOffice prints it with the metric-compatible Carlito
BODY_SIZE = Pt(10.5)
SMALL_SIZE = Pt(8)
PAGE_WIDTH, PAGE_HEIGHT = Cm(21.0), Cm(29.7)
MARGIN_SIDE, MARGIN_TOP, MARGIN_BOTTOM = Cm(2.5), Cm(2.2), Cm(2.2)
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN_SIDE  # 16.0 cm
SIGNATURE_COLUMN = TEXT_WIDTH // 3  # about 5.33 cm: each anchor fits on one line
# Empty lines under each signature anchor: one line of 10.5 pt Carlito is about 12.8 pt,
# so 7 lines give about 90 pt for a 50 pt high signature field.
SIGNATURE_EMPTY_LINES = 7
GREY = RGBColor(0x59, 0x59, 0x59)


@dataclass(frozen=True)
class Words:
    """The few words of the skeleton in one language (the document's text is the user's)."""

    code: str  # w:lang
    page: str
    of: str
    placeholder: str
    signatures_heading: str
    signatures_sentence: str
    party_headings: tuple[str, str, str]
    student_role: str
    student_number_label: str
    coordinator_role: str


WORDS = {
    "nl": Words(
        code="nl-BE", page="pagina", of="van",
        placeholder="Schrijf hier de tekst van het document. De variabelen die je kunt "
                    "gebruiken, zoals {{ student.full_name }}, staan in templates/README.md.",
        signatures_heading="Ondertekening",
        signatures_sentence="Opgemaakt in drie exemplaren, één voor elke partij, en elektronisch "
                            "ondertekend door de student, het stagebedrijf en de hogeschool, in "
                            "die volgorde.",
        party_headings=("De student", "Het stagebedrijf", "De hogeschool"),
        student_role="stagestudent", student_number_label="studentennummer",
        coordinator_role="stagecoördinator",
    ),
    "en": Words(
        code="en-GB", page="page", of="of",
        placeholder="Write the text of the document here. The variables you can use, such "
                    "as {{ student.full_name }}, are listed in templates/README.md.",
        signatures_heading="Signatures",
        signatures_sentence="Drawn up in three copies, one for each party, and signed "
                            "electronically by the student, the company and the university "
                            "college, in that order.",
        party_headings=("The student", "The company", "The university college"),
        student_role="intern", student_number_label="student number",
        coordinator_role="internship coordinator",
    ),
}


def set_fonts(style: BaseStyle) -> None:
    """Name the font in all four slots and drop theme fonts, which would override it."""
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)


def setup(doc: DocumentObject, words: Words) -> None:
    """A4 with the house margins; Normal, headings, header, footer and signature cell styles."""
    section = doc.sections[0]
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin = section.right_margin = MARGIN_SIDE
    section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
    section.header_distance = section.footer_distance = Cm(1.0)

    styles = doc.styles
    normal = styles["Normal"]
    normal.font.size = BODY_SIZE
    set_fonts(normal)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), words.code)
    normal.element.get_or_add_rPr().append(lang)
    normal.paragraph_format.space_after = Pt(4)
    for name, size in (("Heading 1", Pt(16)), ("Heading 2", Pt(11))):
        heading = styles[name]
        set_fonts(heading)
        heading.font.size = size
        heading.font.color.rgb = RGBColor(0, 0, 0)
        heading.paragraph_format.keep_with_next = True
    styles["Heading 1"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    cell = styles.add_style("Signature cell", WD_STYLE_TYPE.PARAGRAPH)
    cell.base_style = normal
    cell.paragraph_format.space_after = Pt(0)
    cell.paragraph_format.keep_with_next = True
    for name in ("Header", "Footer"):
        style = styles[name]
        style.font.size = SMALL_SIZE
        style.font.color.rgb = GREY
        style.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)


def add_page_field(paragraph: Paragraph, instruction: str) -> None:
    """A PAGE or NUMPAGES field, which Word and LibreOffice fill in when they lay out."""

    def run_with(child: BaseOxmlElement) -> None:
        paragraph.add_run()._r.append(child)

    def field_char(kind: str) -> BaseOxmlElement:
        char = OxmlElement("w:fldChar")
        char.set(qn("w:fldCharType"), kind)
        return char

    run_with(field_char("begin"))
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run_with(instr)
    run_with(field_char("separate"))
    paragraph.add_run("1")
    run_with(field_char("end"))


def header_and_footer(doc: DocumentObject, title: str, words: Words) -> None:
    section = doc.sections[0]
    header = section.header.paragraphs[0]
    header.style = doc.styles["Header"]
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    # Each Jinja tag in a run of its own: docxtpl reads that most reliably.
    for text in (f"{title} ", "{{ year.code }}", " – ", "{{ student.full_name }}", " – ",
                 "{{ company.name }}"):
        header.add_run(text)
    footer = section.footer.paragraphs[0]
    footer.style = doc.styles["Footer"]
    footer.add_run("{{ document.reference }}")
    footer.add_run(f"\t{words.page} ")
    add_page_field(footer, "PAGE")
    footer.add_run(f" {words.of} ")
    add_page_field(footer, "NUMPAGES")


def signature_block(doc: DocumentObject, language: str, words: Words) -> None:
    """The block templates/README.md prescribes: heading, sentence, one row of three cells."""
    doc.add_paragraph(words.signatures_heading, style="Heading 2")
    sentence = doc.add_paragraph(words.signatures_sentence)
    sentence.paragraph_format.keep_with_next = True
    sentence.paragraph_format.space_after = Pt(8)
    table = doc.add_table(rows=1, cols=3)
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False  # fixed columns, wide enough for each anchor on one line
    for column in table.columns:
        column.width = SIGNATURE_COLUMN
    row = table.rows[0]
    row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    names = {
        "student": ("{{ student.full_name }}", words.student_role,
                    f"{words.student_number_label} {{{{ student.number }}}}"),
        "company": ("{{ company.signatory_name }}", "{{ company.signatory_title }}",
                    "{{ company.name }}"),
        "school": ("{{ school.coordinator_name }}", words.coordinator_role, "{{ school.name }}"),
    }
    for cell, role, heading in zip(row.cells, SIGNER_ROLES, words.party_headings, strict=True):
        cell.width = SIGNATURE_COLUMN
        first = cell.paragraphs[0]
        first.style = doc.styles["Signature cell"]
        first.add_run(heading).bold = True
        for line in names[role]:
            cell.add_paragraph(line, style="Signature cell")
        anchor = cell.add_paragraph(SIGNATURE_ANCHORS[language][role], style="Signature cell")
        anchor.paragraph_format.space_before = Pt(8)
        for _ in range(SIGNATURE_EMPTY_LINES):
            cell.add_paragraph(style="Signature cell")
        cell.paragraphs[-1].paragraph_format.keep_with_next = False


def skeleton(language: str, title: str) -> DocumentObject:
    """A new template in `language` titled `title`, with an empty body to write."""
    words = WORDS[language]
    doc = Document()
    body = doc.element.body
    for paragraph in list(body.iterchildren(qn("w:p"))):
        body.remove(paragraph)  # python-docx's own template starts with an empty one
    setup(doc, words)
    header_and_footer(doc, title, words)
    doc.add_paragraph(title.upper(), style="Heading 1")
    doc.add_paragraph(words.placeholder)
    signature_block(doc, language, words)
    props = doc.core_properties
    props.title = props.subject = title
    props.author = "Stagebureau"
    props.comments = "docxtpl template; variables in templates/README.md"
    props.language = words.code
    props.created = props.modified = datetime.now(UTC).replace(microsecond=0)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("target", type=Path,
                        help="the new file, in a folder named after its language "
                             "(e.g. templates/nl/stagecharter.docx)")
    parser.add_argument("--title", required=True, help="the document's title")
    args = parser.parse_args(argv)
    target: Path = args.target
    language = target.parent.name
    if language not in LANGUAGES or target.suffix != ".docx":
        parser.error(f"the target must be a .docx file in a folder named "
                     f"{' or '.join(LANGUAGES)}")
    if target.exists():
        print(f"{target} exists: a template is never overwritten", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    skeleton(language, args.title).save(str(target))
    print(f"wrote {target}; write its text, then run: docservice templates check {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
