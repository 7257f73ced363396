"""CSV import of placements: all or nothing, every bad cell named by line and column."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from sqlalchemy import func, select

from docservice.db import unit_of_work
from docservice.errors import ImportRejected
from docservice.models import AuditEvent, Placement
from docservice.services.placements import (
    export_placements_csv,
    import_placements,
    normalize_enterprise_number,
)
from tests.conftest import TEST_ACTOR
from tests.factories import COLUMNS, csv_bytes, row


def _import(runtime, data: bytes):
    with unit_of_work(runtime.db) as session:
        return [p.student_number for p in import_placements(session, data, actor=TEST_ACTOR).placements]


def _count(runtime) -> int:
    with unit_of_work(runtime.db) as session:
        return session.scalar(select(func.count()).select_from(Placement))


def _rejected(runtime, data: bytes) -> list[tuple[int, str, str]]:
    with pytest.raises(ImportRejected) as caught:
        _import(runtime, data)
    assert _count(runtime) == 0, "a rejected import must store nothing"
    return [(e.line, e.column, str(e.reason)) for e in caught.value.errors]


def test_good_file_imports_every_row_with_parsed_values(runtime, year):
    data = csv_bytes([row(0), row(1, nda="nee", copyright_waiver="no", start_date="2024-02-19",
                          company_number="BE 0812345603", expense_allowance="")])
    assert _import(runtime, data) == ["r0123456", "r0123457"]
    with unit_of_work(runtime.db) as session:
        first, second = session.scalars(select(Placement).order_by(Placement.id))
        assert first.student_first_name == "Zoë"
        assert first.company_name == "Janssens & Zonen BV"
        assert first.start_date.isoformat() == "2024-02-12"  # Belgian form parsed
        assert (first.nda, first.copyright_waiver, first.thesis_at_company) == (True, True, False)
        assert second.company_number == "0812.345.603"  # normalised
        assert second.expense_allowance is None
        assert (second.nda, second.copyright_waiver) == (False, False)
        assert [k.value for k in first.required_kinds()] == [
            "stageovereenkomst", "geheimhoudingsverklaring", "afstand-auteursrecht"]
        events = session.scalars(select(AuditEvent.action)).all()
        assert events.count("placement.imported") == 2


def test_semicolon_separated_file_with_bom_from_excel(runtime, year):
    data = b"\xef\xbb\xbf" + csv_bytes([row(0)], delimiter=";")
    assert _import(runtime, data) == ["r0123456"]


def test_one_bad_row_stores_nothing_and_names_line_and_column(runtime, year):
    data = csv_bytes([
        row(0),
        row(1, company_number="0403.512.378"),        # line 3: wrong check digits
        row(2, mentor_email="sean.at.example.com"),   # line 4
        row(3, start_date="2024-03-01", end_date="2024-02-20"),  # line 5: end before start
        row(4, end_date="2024-06-30"),                 # line 6: outside the period
        row(5, start_date="31/02/2024"),               # line 7: not a date
        row(6, nda="misschien"),                       # line 8
    ])
    errors = _rejected(runtime, data)
    by_place = {(line, column): reason for line, column, reason in errors}
    assert "check digits" in by_place[(3, "company_number")]
    assert "not an e-mail address" in by_place[(4, "mentor_email")]
    assert by_place[(5, "end_date")] == "is before start_date"
    assert "outside the internship period of 2023-2024 (12/02/2024 – 17/05/2024)" in by_place[(6, "end_date")]
    assert "not a date" in by_place[(7, "start_date")]
    assert "not yes/no" in by_place[(8, "nda")]
    assert not any(line == 2 for line, _, _ in errors)


def test_thesis_at_company_needs_permission_before_the_deadline(runtime, year):
    errors = _rejected(runtime, csv_bytes([
        row(0, thesis_at_company="ja"),
        row(1, thesis_at_company="yes", thesis_permission_date="2023-11-03"),
    ]))
    assert errors[0][:2] == (2, "thesis_at_company")
    assert "27/10/2023" in errors[0][2]
    assert errors[1][:2] == (3, "thesis_permission_date")
    assert "after the deadline" in errors[1][2]
    assert _import(runtime, csv_bytes([row(0, thesis_at_company="ja",
                                           thesis_permission_date="2023-10-27")])) == ["r0123456"]


def test_missing_and_unknown_columns_are_named(runtime, year):
    columns = [c for c in COLUMNS if c != "mentor_phone"] + ["shoe_size"]
    errors = _rejected(runtime, csv_bytes([row(0)], columns=columns))
    assert (1, "mentor_phone", "required column is missing") in errors
    assert (1, "shoe_size", "unknown column") in errors


def test_empty_required_cell_unknown_year_and_duplicates(runtime, year):
    errors = _rejected(runtime, csv_bytes([
        row(0, docent_name=""),
        row(1, academic_year="2031-2032"),
        row(2), row(2),
    ]))
    assert (2, "docent_name", "is empty") in errors
    assert errors[1][:2] == (3, "academic_year") and "unknown academic year" in errors[1][2]
    assert errors[2] == (5, "student_number", "r0123458 appears already on line 4")


def test_importing_the_same_student_twice_is_refused(runtime, year):
    _import(runtime, csv_bytes([row(0)]))
    with pytest.raises(ImportRejected) as caught:
        _import(runtime, csv_bytes([row(1), row(0)]))
    assert [(e.line, e.column) for e in caught.value.errors] == [(3, "student_number")]
    assert "has a placement in 2023-2024 already" in str(caught.value.errors[0].reason)
    assert _count(runtime) == 1


def test_line_numbers_count_multi_line_cells(runtime, year):
    data = csv_bytes([row(0, assignment="regel een\nregel twee\nregel drie"), row(1, nda="?")])
    errors = _rejected(runtime, data)
    assert errors == [(5, "nda", "'?' is not yes/no (ja/nee)")]


def test_not_utf8_and_header_injection_are_refused(runtime, year):
    assert _rejected(runtime, "naam\nZoë".encode("latin-1"))[0][2].startswith("the file is not UTF-8")
    errors = _rejected(runtime, csv_bytes([row(0, student_email="a@b.org\r\nBcc: x@evil.org")]))
    assert errors[0][1] == "student_email"


def test_a_windows_1252_csv_is_refused_with_what_to_do_and_never_guessed(runtime, year):
    data = csv_bytes([row(0, student_first_name="Zoë", student_last_name="Dequeker-Müller")]
                     ).decode("utf-8").encode("cp1252")  # Excel's "CSV" in Belgium
    with pytest.raises(ImportRejected) as caught:
        _import(runtime, data)
    [error] = caught.value.errors
    assert error.reason.dutch() == "het bestand is geen UTF-8: bewaar het in Excel als CSV UTF-8"
    assert str(error.reason) == "the file is not UTF-8: save it in Excel as CSV UTF-8"
    assert "byte" not in str(error.reason)  # no Python exception text
    assert _count(runtime) == 0


def test_an_excel_workbook_is_refused_as_one(runtime, year):
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as z:  # an .xlsx is a zip; its first bytes say so
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ImportRejected) as caught:
        _import(runtime, workbook.getvalue())
    [error] = caught.value.errors
    assert error.reason.dutch() == ("dit is een Excel-bestand: bewaar het als CSV UTF-8 "
                                    "(Bestand > Opslaan als > CSV UTF-8)")
    assert str(error.reason) == ("this is an Excel file: save it as CSV UTF-8 "
                                 "(File > Save As > CSV UTF-8)")
    assert _count(runtime) == 0


@pytest.mark.parametrize("number, ok", [
    ("0403.512.377", True), ("0403512377", True), ("BE0403512377", True), ("403512377", True),
    ("0403.512.378", False), ("2403.512.377", False), ("0403.512", False), ("abc", False),
])
def test_enterprise_number_check_digits(number, ok):
    if ok:
        assert normalize_enterprise_number(number) == "0403.512.377"
    else:
        with pytest.raises(ValueError):
            normalize_enterprise_number(number)


def test_formula_cells_are_escaped_in_the_spreadsheet_export(runtime, year):
    _import(runtime, csv_bytes([row(0, company_name="=HYPERLINK(\"http://evil\")",
                                    company_signatory_title="@SUM(A1)",
                                    student_last_name="-2+3", mentor_phone="+32 15 12 34 56")]))
    with unit_of_work(runtime.db) as session:
        text = export_placements_csv(session.scalars(select(Placement)))
    exported = next(csv.DictReader(io.StringIO(text)))
    for column in ("company_name", "company_signatory_title", "student_last_name", "mentor_phone"):
        assert exported[column][0] == "'", column
    assert exported["company_name"] == "'=HYPERLINK(\"http://evil\")"
    assert exported["student_first_name"] == "Zoë"
