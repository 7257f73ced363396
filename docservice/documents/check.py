"""Does an edited template still work? Variables, signature anchors, and a real conversion.

For office staff (`docservice templates check`): every problem is said in plain words, one
template at a time, and nothing is generated or stored.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from docx import Document as open_docx
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from docservice.documents.catalogue import SIGNATURE_ANCHORS
from docservice.documents.fields import locate_fields, text_layout
from docservice.documents.generate import PdfConverter
from docservice.documents.render import XML_LOCK, render_docx, variables_used
from docservice.documents.sample import documented_variables, sample_context
from docservice.domain import LANGUAGES
from docservice.errors import (
    ConversionError,
    SignatureBlockNotFound,
    TemplateError,
    TemplateVariableMissing,
)

log = logging.getLogger(__name__)

#: Left in a PDF, these mean a tag docxtpl did not see (typed in pieces, or a typo in it).
_TAG_MARKS = ("{{", "}}", "{%", "%}")


@dataclass(frozen=True)
class TemplateCheck:
    """The verdict on one template file: ok, or what is wrong with it."""

    name: str  # "nl/stageovereenkomst.docx"
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        """One line for whoever edited the template."""
        return f"{self.name}: " + ("ok" if self.ok else "; ".join(self.problems))


def check_templates(paths: Sequence[Path], converter: PdfConverter, *, pdfa: bool,
                    workers: int = 1) -> list[TemplateCheck]:
    """Check each of `paths`, `workers` at a time (LibreOffice converts side by side)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda path: check_template(path, converter, pdfa=pdfa), paths))


def check_template(path: Path, converter: PdfConverter, *, pdfa: bool) -> TemplateCheck:
    """Check one template file; its folder (nl/ or en/) says its language."""
    name = f"{path.parent.name}/{path.name}"
    try:
        problems = _problems(path, converter, pdfa=pdfa)
    except Exception as e:  # a file no rule foresaw: say so in a line, the detail to the log
        log.exception("checking template %s failed", path)
        problems = [f"could not be checked ({type(e).__name__}: {e}); "
                    "open and save it again in Word, or ask the developers"]
    return TemplateCheck(name, tuple(problems))


def _problems(path: Path, converter: PdfConverter, *, pdfa: bool) -> list[str]:
    if not path.is_file():
        return ["the file is missing"]
    language = path.parent.name
    if language not in LANGUAGES:
        return [f"put it in a folder named {' or '.join(LANGUAGES)}, "
                "so that its language (and its signature anchors) are known"]
    try:
        paragraphs = _paragraph_texts(path)
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError):
        return ["cannot be opened as a Word document (.docx): save it again as .docx"]
    anchors = SIGNATURE_ANCHORS[language]
    try:
        unknown = sorted(variables_used(path) - documented_variables())
    except TemplateError as e:
        return [_broken_tag(e)]
    problems = [f"unknown variable {{{{ {variable} }}}}" for variable in unknown]
    problems += _anchor_problems(paragraphs, anchors.values())
    if problems:
        return problems  # rendering would only fail again on the same mistakes
    problems = _render_and_place(path, anchors, options=True, pdfa=pdfa, converter=converter)
    # The same template with every option off: other paragraphs, another page break.
    problems += [f"without NDA, copyright waiver, thesis and allowance: {problem}"
                 for problem in _render_and_place(path, anchors, options=False, pdfa=pdfa,
                                                  converter=converter)
                 if problem not in problems]
    return problems


def _paragraph_texts(path: Path) -> list[str]:
    """The text of every paragraph in the body, table cells included."""
    with XML_LOCK:
        body = open_docx(str(path)).element.body
        return ["".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p"))]


def _anchor_problems(paragraphs: list[str], anchors: Iterable[str]) -> list[str]:
    problems = []
    for anchor in anchors:
        alone = sum(1 for text in paragraphs if text.strip() == anchor)
        anywhere = sum(text.count(anchor) for text in paragraphs)
        if anywhere == 0:
            problems.append(f"signature anchor '{anchor}' is missing")
        elif anywhere > 1:
            problems.append(f"signature anchor '{anchor}' appears {anywhere} times; "
                            "it must appear exactly once")
        elif alone == 0:
            problems.append(f"signature anchor '{anchor}' must stand alone on its own line")
    return problems


def _render_and_place(path: Path, anchors: dict[str, str], *, options: bool, pdfa: bool,
                      converter: PdfConverter) -> list[str]:
    """Fill in the sample placement, convert with LibreOffice, place the signature fields."""
    name = f"{path.parent.name}/{path.name}"
    try:
        with XML_LOCK:
            docx = render_docx(path, sample_context(path.stem, options=options))
    except TemplateVariableMissing as e:
        return [f"{{{{ {e.variable} }}}} cannot be filled in"]
    except TemplateError as e:
        return [_broken_tag(e)]
    try:
        pdf: bytes = converter.convert(docx, pdfa=pdfa).pdf
    except ConversionError as e:
        return [f"LibreOffice could not make a PDF of it ({e})"]
    try:
        locate_fields(name, text_layout(pdf, anchors.values()), anchors)
    except SignatureBlockNotFound as e:
        return [str(e).removeprefix(f"{name}: ")]
    except ConversionError as e:
        return [f"the PDF LibreOffice made cannot be read ({e})"]
    leftover = _unfilled_tag(pdf)
    if leftover is not None:
        return [f"the PDF still shows '{leftover}': a placeholder was not filled in; "
                "type it again in one go, without formatting part of it"]
    return []


def _unfilled_tag(pdf: bytes) -> str | None:
    try:
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    except PdfReadError:
        return None  # already read once by text_layout: not expected
    return next((mark for mark in _TAG_MARKS if mark in text), None)


def _broken_tag(error: TemplateError) -> str:
    detail = str(error).partition(" has a syntax error: ")[2] or str(error)
    return f"a {{{{ }}}} or {{% %}} tag is broken ({detail})"
