"""The verification report as a PDF, beside its JSON and HTML: what a person prints or files.

Drawn directly with ReportLab (no LibreOffice round trip in the archiving job: about 20 ms a
report), in DejaVu Sans when the system has it (Debian's fonts-dejavu), else the Bitstream Vera
that ReportLab ships; fonts are embedded as subsets, so names in any Latin script print. The
same report gives the same bytes (ReportLab's invariant mode: no creation date, fixed ID), and
the PDF's metadata names the SHA-256 of the document it reports on (`report_subject`).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
_lock = threading.Lock()
_fonts: tuple[str, str] | None = None


def report_subject(pdf_sha256: str) -> str:
    """The /Subject of the report PDF of the document with this SHA-256."""
    return f"Verification report of the PDF with SHA-256 {pdf_sha256}"


def _register_fonts() -> tuple[str, str]:
    global _fonts
    with _lock:
        if _fonts is None:
            import reportlab
            from reportlab.pdfbase import pdfmetrics
            from reportlab.pdfbase.ttfonts import TTFont

            candidates = [(d / "DejaVuSans.ttf", d / "DejaVuSans-Bold.ttf") for d in _FONT_DIRS]
            shipped = Path(reportlab.__file__).parent / "fonts"
            candidates.append((shipped / "Vera.ttf", shipped / "VeraBd.ttf"))
            regular, bold = next((r, b) for r, b in candidates if r.is_file() and b.is_file())
            pdfmetrics.registerFont(TTFont("ReportSans", str(regular)))
            pdfmetrics.registerFont(TTFont("ReportSans-Bold", str(bold)))
            _fonts = ("ReportSans", "ReportSans-Bold")
        return _fonts


def render_report_pdf(report: Mapping[str, Any]) -> bytes:
    """The archive's verification report (`VerificationReport.to_json()`) as a PDF."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    regular, bold = _register_fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    h1 = ParagraphStyle("h1", parent=body, fontName=bold, fontSize=15, leading=19, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontName=bold, fontSize=11, leading=14, spaceBefore=8,
                        spaceAfter=3)

    def p(text: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape("" if text is None else str(text)), style)

    def both(dutch: str, english: str, style: ParagraphStyle) -> Paragraph:
        """A heading for every reader of an archived object: the Dutch, then the English in
        smaller, lighter type."""
        size = round(style.fontSize * 0.7, 1)
        return Paragraph(f'{escape(dutch)} <font size="{size}" color="#555555" name="{regular}">'
                         f"/ {escape(english)}</font>", style)

    th = ParagraphStyle("th", parent=small, fontName=bold)

    def table(header: list[tuple[str, str]], rows: list[list[Any]], widths: list[float]
              ) -> Table:
        data: list[list[Any]] = [[both(dutch, english, th) for dutch, english in header]]
        data += [[c if isinstance(c, Paragraph) else p(c, small) for c in row] for row in rows]
        t = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    sha = report.get("pdf_sha256", "")
    passed = report.get("verdict") == "passed"
    story: list[Any] = [
        both("Verificatierapport", "Verification report", h1),
        p(f"Document SHA-256 {sha} ({report.get('size')} bytes)"),
        p(f"Verified {report.get('verified_at')}: {report.get('verdict')}, PAdES level "
          f"{report.get('pades_level') or 'unknown'}."),
    ]
    story[-1].style = ParagraphStyle("verdict", parent=body, fontName=bold,
                                     textColor=colors.HexColor("#006600" if passed else "#aa0000"))
    story += [p(f"• {problem}") for problem in report.get("problems", [])]
    story.append(both("Handtekeningen", "Signatures", h2))
    story.append(table(
        [("veld", "field"), ("ondertekenaar", "signer"),
         ("tijdstip van ondertekening", "signing time"), ("oordeel", "engine"),
         ("kwalificatie", "qualification"),
         ("lange termijn (AdES LTA)", "long-term (AdES LTA)")],
        [[s.get("field_name"), s.get("signer"),
          s.get("timestamp_time") or s.get("claimed_signing_time"), s.get("engine_indication"),
          _qualification(s), (f"{s['lta'].get('indication')} {s['lta'].get('sub_indication')}"
                              if s.get("lta") else "not run")]
         for s in report.get("signatures", [])],
        [26, 30, 28, 24, 54, 18]))
    story.append(both("Documenttijdstempels", "Document timestamps", h2))
    story.append(table(
        [("tijdstip", "time"), ("tijdstempelautoriteit", "authority"),
         ("certificaat geldig tot", "certificate valid until"), ("algoritmen", "algorithms")],
        [[t.get("time"), t.get("tsa"), t.get("tsa_expires_at"),
          f"{t.get('digest_algorithm')}, {t.get('signature_algorithm')} {t.get('key_bits')} bits"]
         for t in report.get("document_timestamps", [])],
        [38, 62, 38, 44]))
    dss = report.get("dss")
    story.append(both("Validatiegegevens (DSS)", "Validation data (DSS)", h2))
    story.append(p(f"{dss.get('certificates')} certificates, {dss.get('crls')} CRLs, "
                   f"{dss.get('ocsps')} OCSP responses" if dss else "none"))
    long_term = report.get("long_term") or {}
    story.append(both("Vooruitzicht op lange termijn", "Long-term outlook", h2))
    if long_term.get("method"):
        story.append(p(f"Validation data needed until {long_term.get('at')} "
                       f"({long_term.get('method')}): "
                       + ("complete" if long_term.get("passed") else "incomplete")
                       + "".join(f"; {m}" for m in long_term.get("missing", [])) + "."))
    else:
        story.append(p(f"Simulated validation on {long_term.get('at')}: "
                       + ("passes" if long_term.get("passed") else "does not pass") + "."))
    story.append(both("Vertrouwen", "Trust", h2))
    story += [p(f"{t.get('subject')}  {t.get('sha256')}", small)
              for t in report.get("trust_roots", [])]
    story.append(Spacer(1, 4 * mm))
    story.append(p(f"Verification engine: {(report.get('engine') or {}).get('name')}. The "
                   "machine-readable reports beside this one: the JSON report and the ETSI TS "
                   "119 102-2 XML report of the same document.", small))
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
        bottomMargin=15 * mm, title=f"Verificatierapport / Verification report {sha[:12]}",
        subject=report_subject(sha), author="docservice", creator="docservice",
        keywords=f"sha256={sha}", invariant=True)
    document.build(story)
    return out.getvalue()


def _qualification(signature: dict[str, Any]) -> str:
    q = signature.get("qualification") or {}
    if not q:
        return ""
    return f"{q.get('level')}: {q.get('reason')}"


def read_subject(pdf: bytes) -> str | None:
    """The /Subject of a report PDF (None when unreadable): which document it reports on."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        info = PdfReader(io.BytesIO(pdf)).metadata
    except (PdfReadError, ValueError, OSError):
        return None
    return str(info.subject) if info is not None and info.subject else None
