"""Import a cohort's placements from CSV: all rows or none, every bad cell named."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from docservice.archive import audit
from docservice.domain import LANGUAGES
from docservice.errors import N_, ImportRejected, Reason, RowError
from docservice.models import AcademicYear, Placement
from docservice.services.text import forbidden_character

REQUIRED_COLUMNS = (
    "academic_year", "student_number", "student_first_name", "student_last_name",
    "student_email", "programme", "company_name", "company_number", "company_address",
    "company_signatory_name", "company_signatory_title", "company_signatory_email",
    "mentor_name", "mentor_email", "mentor_phone", "docent_name", "docent_email",
    "start_date", "end_date", "assignment", "nda", "copyright_waiver", "thesis_at_company",
)
OPTIONAL_COLUMNS = ("expense_allowance", "thesis_permission_date", "language")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: Longest text accepted per column (the database's limits).
MAX_LENGTH = {
    "student_number": 20, "student_first_name": 100, "student_last_name": 100,
    "company_address": 400, "mentor_phone": 40, "assignment": 5000,
    "expense_allowance": 200,
}
DEFAULT_MAX_LENGTH = 200
MAX_ROWS = 5000

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_STUDENT_NUMBER = re.compile(r"^[A-Za-z]?\d{5,10}$")
_PHONE = re.compile(r"^\+?[0-9 ./()-]{6,30}$")
_TRUE = {"yes", "ja", "y", "j", "true", "1"}
_FALSE = {"no", "nee", "n", "false", "0"}


class CellError(ValueError):
    """A cell's value is wrong; `reason` says why."""

    def __init__(self, msgid: str, text: str) -> None:
        self.reason = Reason(msgid, value=repr(text))
        super().__init__(str(self.reason))


def parse_date(text: str) -> date:
    """2024-02-12 or 12/02/2024 (Belgian day/month/year)."""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise CellError(N_("%(value)s is geen datum (schrijf 2024-02-12 of 12/02/2024)"), text)


def parse_bool(text: str) -> bool:
    """yes/no, also ja/nee."""
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CellError(N_("%(value)s is geen ja/nee (yes/no)"), text)


def parse_email(text: str) -> str:
    """An e-mail address fit to put in a To: header."""
    if len(text) > 254 or not _EMAIL.match(text):
        raise CellError(N_("%(value)s is geen e-mailadres"), text)
    return text


def normalize_enterprise_number(text: str) -> str:
    """A Belgian enterprise number checked by its mod-97 digits, as 0123.456.789."""
    digits = re.sub(r"[\s.]", "", text.upper().removeprefix("BE").strip())
    if not digits.isdigit() or len(digits) not in (9, 10):
        raise CellError(N_("%(value)s is geen ondernemingsnummer (0123.456.789)"), text)
    digits = digits.zfill(10)
    if digits[0] not in "01":
        raise CellError(N_("%(value)s is geen ondernemingsnummer: het begint met 0 of 1"),
                         text)
    if 97 - int(digits[:8]) % 97 != int(digits[8:]):
        raise CellError(N_("%(value)s klopt niet met de controlecijfers van een "
                            "ondernemingsnummer (mod 97)"), text)
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"


def _student_number(text: str) -> str:
    if not _STUDENT_NUMBER.match(text):
        raise CellError(N_("%(value)s is geen studentennummer (bv. r0123456)"), text)
    return text.lower()


def _phone(text: str) -> str:
    if not _PHONE.match(text):
        raise CellError(N_("%(value)s is geen telefoonnummer"), text)
    return text


def _language(text: str) -> str:
    if text.lower() not in LANGUAGES:
        raise CellError(N_("%(value)s is geen taal waarin we sjablonen hebben (nl, en)"), text)
    return text.lower()


_PARSERS: dict[str, Callable[[str], Any]] = {
    "student_number": _student_number,
    "student_email": parse_email,
    "company_signatory_email": parse_email,
    "mentor_email": parse_email,
    "docent_email": parse_email,
    "company_number": normalize_enterprise_number,
    "mentor_phone": _phone,
    "start_date": parse_date,
    "end_date": parse_date,
    "thesis_permission_date": parse_date,
    "nda": parse_bool,
    "copyright_waiver": parse_bool,
    "thesis_at_company": parse_bool,
    "language": _language,
}


@dataclass(frozen=True)
class ImportResult:
    """What an import stored."""

    placements: list[Placement]


#: How every .xlsx (and any zip) file starts.
ZIP_MAGIC = b"PK\x03\x04"


def _decode(data: bytes) -> str:
    """The CSV's text; refused with what to do instead when it is a workbook or not UTF-8.

    Never a guess at Windows-1252 (Excel's default in Belgium): a wrong guess would import
    wrong names without a word.
    """
    if data.startswith(ZIP_MAGIC):
        raise ImportRejected([RowError(1, "-", Reason(N_(
            "dit is een Excel-bestand: bewaar het als CSV UTF-8 "
            "(Bestand > Opslaan als > CSV UTF-8)")))])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ImportRejected([RowError(1, "-", Reason(N_(
            "het bestand is geen UTF-8: bewaar het in Excel als CSV UTF-8")))]) from e


def _unreadable(e: csv.Error) -> Reason:
    return Reason(N_("onleesbare CSV: %(detail)s"), detail=str(e))


def _reader(text: str) -> csv.DictReader[str]:
    header = text.split("\n", 1)[0]
    # Belgian spreadsheets save CSV with semicolons; take whichever the header uses.
    delimiter = ";" if header.count(";") > header.count(",") else ","
    return csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)


def import_placements(session: Session, data: bytes, *, actor: audit.Actor) -> ImportResult:
    """Store every placement in the CSV `data`, or none: raises ImportRejected with every error."""
    rows = read_rows(session, data, check=lambda rows: _already_imported(session, rows))
    placements = []
    for _, row in rows:
        year = row.pop("academic_year")
        placement = Placement(academic_year=year, **row)
        session.add(placement)
        placements.append(placement)
    session.flush()
    for placement in placements:
        audit.record(session, "placement.imported", actor, placement_id=placement.id,
                     student_number=placement.student_number, company=placement.company_name)
    return ImportResult(placements)


def read_rows(session: Session, data: bytes, *,
              check: Callable[[list[tuple[int, dict[str, Any]]]], list[RowError]]
              ) -> list[tuple[int, dict[str, Any]]]:
    """The checked rows of the CSV `data` as (line, values), or ImportRejected with every error.

    `check` adds the errors of the rows that parsed against the database: for an import, a
    placement that exists already; for an update, one that does not.
    """
    reader = _reader(_decode(data))
    errors: list[RowError] = []
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as e:
        raise ImportRejected([RowError(1, "-", _unreadable(e))]) from e
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    errors += [RowError(1, c, Reason(N_("verplichte kolom ontbreekt"))) for c in missing]
    errors += [RowError(1, c or "(empty)", Reason(N_("onbekende kolom"))) for c in unknown]
    duplicates = {c for c in header if header.count(c) > 1}
    errors += [RowError(1, c, Reason(N_("kolom komt meer dan eens voor")))
               for c in sorted(duplicates)]
    if errors:
        raise ImportRejected(errors)

    years = {y.code: y for y in session.scalars(select(AcademicYear))}
    seen: dict[tuple[str, str], int] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        for raw in reader:
            # line_num is where the row ends; a quoted cell may span several lines.
            embedded = sum(v.count("\n") for v in raw.values() if isinstance(v, str))
            line_of_row = reader.line_num - embedded
            if len(rows) >= MAX_ROWS:
                raise ImportRejected([RowError(line_of_row, "-", Reason(
                    N_("meer dan %(count)s rijen"), count=MAX_ROWS))])
            if None in raw:
                errors.append(RowError(line_of_row, "-", Reason(N_("meer cellen dan kolommen"))))
                continue
            if all(not (v or "").strip() for v in raw.values()):
                continue  # a blank line in the sheet
            row, row_errors = _parse_row(line_of_row, raw, years)
            errors += row_errors
            if row_errors:
                continue
            key = (row["academic_year"].code, row["student_number"])
            if key in seen:
                errors.append(RowError(line_of_row, "student_number", Reason(
                    N_("%(number)s staat al op regel %(line)s"), number=key[1],
                    line=seen[key])))
            seen[key] = line_of_row
            rows.append((line_of_row, row))
    except csv.Error as e:
        errors.append(RowError(reader.line_num, "-", _unreadable(e)))
    errors += check(rows)
    if not rows and not errors:
        errors.append(RowError(2, "-", Reason(N_("het bestand bevat geen plaatsingen"))))
    if errors:
        raise ImportRejected(errors)
    return rows


def unquote_formula_safe(text: str) -> str:
    """`text` without the quote that `spreadsheet_safe` put before a formula-like cell.

    The export writes '+32 9 … so that a spreadsheet shows it as text; importing that file
    again must give back +32 9 …, in every column. A quote before anything else ('s-Gravenwezel)
    is part of the value and stays.
    """
    if text.startswith("'") and text[1:].startswith(_FORMULA_START):
        return text[1:]
    return text


def _parse_row(line: int, raw: Mapping[str, str | None],
               years: dict[str, AcademicYear]) -> tuple[dict[str, Any], list[RowError]]:
    """One row's values parsed and checked, and every error in it (the import's and the edit
    form's one validator)."""
    errors: list[RowError] = []
    row: dict[str, Any] = {}
    for column in COLUMNS:
        text = unquote_formula_safe((raw.get(column) or "").strip())
        if column == "assignment":  # a form's text area (and Windows) end lines with CR LF
            text = text.replace("\r\n", "\n")
        problem = forbidden_character(text, multiline=column == "assignment")
        if problem:
            errors.append(RowError(line, column, problem))
            continue
        if not text:
            if column in REQUIRED_COLUMNS:
                errors.append(RowError(line, column, Reason(N_("is leeg"))))
            row[column] = None
            continue
        limit = MAX_LENGTH.get(column, DEFAULT_MAX_LENGTH)
        if len(text) > limit:
            errors.append(RowError(line, column, Reason(
                N_("is langer dan %(limit)s tekens"), limit=limit)))
            continue
        try:
            row[column] = _PARSERS.get(column, str)(text)
        except CellError as e:
            errors.append(RowError(line, column, e.reason))
    code = row.get("academic_year")
    if code is None:
        return row, errors
    year = years.get(code)
    if year is None:
        known = ", ".join(sorted(years))
        reason = (Reason(N_("onbekend academiejaar %(code)s (gekend: %(known)s)"),
                         code=repr(code), known=known) if known else
                  Reason(N_("onbekend academiejaar %(code)s (geen enkel geladen)"),
                         code=repr(code)))
        return row, [*errors, RowError(line, "academic_year", reason)]
    row["academic_year"] = year
    row["language"] = row.get("language") or "nl"
    # Check what parsed against the year too, so that one upload shows every error.
    errors += _check_against_year(line, row, year)
    return row, errors


def _check_against_year(line: int, row: dict[str, Any], year: AcademicYear) -> list[RowError]:
    errors = []
    period = f"{year.period_start:%d/%m/%Y} – {year.period_end:%d/%m/%Y}"
    start, end = row.get("start_date"), row.get("end_date")
    if start and end and end < start:
        errors.append(RowError(line, "end_date", Reason(N_("ligt vóór start_date"))))
    for column in ("start_date", "end_date"):
        if row.get(column) is None:
            continue
        if not year.period_start <= row[column] <= year.period_end:
            errors.append(RowError(line, column, Reason(
                N_("%(day)s ligt buiten de stageperiode van %(year)s (%(period)s)"),
                day=f"{row[column]:%d/%m/%Y}", year=year.code, period=period)))
    if row.get("thesis_at_company"):
        permitted = row.get("thesis_permission_date")
        deadline = f"{year.thesis_permission_deadline:%d/%m/%Y}"
        if permitted is None:
            errors.append(RowError(line, "thesis_at_company", Reason(
                N_("een bachelorproef bij het bedrijf vraagt een toestemming "
                   "(thesis_permission_date) uiterlijk op %(deadline)s"), deadline=deadline)))
        elif permitted > year.thesis_permission_deadline:
            errors.append(RowError(line, "thesis_permission_date", Reason(
                N_("de toestemming van %(day)s kwam na de deadline van %(deadline)s"),
                day=f"{permitted:%d/%m/%Y}", deadline=deadline)))
    return errors


def _already_imported(session: Session, rows: Iterable[tuple[int, dict[str, Any]]]) -> list[RowError]:
    errors = []
    for line, row in rows:
        exists = session.scalars(select(Placement.id).where(
            Placement.academic_year_id == row["academic_year"].id,
            Placement.student_number == row["student_number"],
        )).first()
        if exists is not None:
            errors.append(RowError(line, "student_number", already_placed(
                row["student_number"], row["academic_year"].code)))
    return errors


def already_placed(student_number: str, year: str) -> Reason:
    """Why a row cannot be a new placement: the student has one in `year`."""
    return Reason(N_("%(number)s heeft al een plaatsing in %(year)s"), number=student_number,
                  year=year)


def placements_query(year: str | None = None, *,
                     order_by: tuple[Any, ...] = (Placement.id,)) -> Select[Placement]:
    """Placements (of one academic year, when given), with their documents and envelopes."""
    query = (select(Placement).join(AcademicYear)
             .options(selectinload(Placement.documents), selectinload(Placement.envelopes))
             .order_by(*order_by))
    if year:
        query = query.where(AcademicYear.code == year)
    return query


# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> str:
    """A cell value a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


EXPORT_COLUMNS = COLUMNS


def placement_values(p: Placement) -> dict[str, str]:
    """The placement's data as the import reads it: one text per column."""
    values: dict[str, Any] = {c: getattr(p, c, None) for c in EXPORT_COLUMNS}
    values["academic_year"] = p.academic_year.code
    for column in ("start_date", "end_date", "thesis_permission_date"):
        values[column] = values[column].isoformat() if values[column] else ""
    for column in ("nda", "copyright_waiver", "thesis_at_company"):
        values[column] = "yes" if values[column] else "no"
    return {c: "" if values[c] is None else str(values[c]) for c in EXPORT_COLUMNS}


def export_placements_csv(placements: Iterable[Placement]) -> str:
    """The placements as CSV in the import's columns, safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for p in placements:
        values = placement_values(p)
        writer.writerow([spreadsheet_safe(values[c]) for c in EXPORT_COLUMNS])
    return out.getvalue()


#: The columns a placement's edit form and `import --update` may change: the academic year and
#: (for an update) the student number are what a row is matched by.
EDITABLE_COLUMNS = tuple(c for c in COLUMNS if c != "academic_year")


def parse_form(placement: Placement, form: Mapping[str, str]) -> dict[str, Any]:
    """The edit form's values checked exactly as an imported row is, or ImportRejected whose
    errors name the fields (line 0: there is no file)."""
    raw = {c: form.get(c, "") for c in EDITABLE_COLUMNS}
    raw["academic_year"] = placement.academic_year.code
    row, errors = _parse_row(0, raw, {placement.academic_year.code: placement.academic_year})
    if errors:
        raise ImportRejected(errors)
    return row


def changes_between(placement: Placement, row: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Column -> (stored, new) for every column whose checked value differs from the stored one."""
    return {c: (getattr(placement, c), row[c]) for c in EDITABLE_COLUMNS
            if getattr(placement, c) != row[c]}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def apply_changes(session: Session, placement: Placement, changes: Mapping[str, tuple[Any, Any]],
                  *, actor: audit.Actor, source: str) -> None:
    """Store the new values; the trail gets every changed field, old -> new."""
    for column, (_, new) in changes.items():
        setattr(placement, column, new)
    session.flush()
    audit.record(session, "placement.changed", actor, placement_id=placement.id,
                 source=source, student_number=placement.student_number,
                 changes={c: [_plain(old), _plain(new)] for c, (old, new) in changes.items()})
