"""Builders of test data: CSV rows and placements that pass validation unless told otherwise."""

from __future__ import annotations

import csv
import io
from typing import Any

from docservice.services.placements import COLUMNS

GOOD_ROW: dict[str, str] = {
    "academic_year": "2023-2024",
    "student_number": "r0123456",
    "student_first_name": "Zoë",
    "student_last_name": "Vermeulen-D'Hondt",
    "student_email": "zoe.vermeulen@student.example.org",
    "programme": "Information Management & Security",
    "company_name": "Janssens & Zonen BV",
    "company_number": "0403.512.377",
    "company_address": "Grote Markt 1, 2800 Mechelen",
    "company_signatory_name": "Els Janssens",
    "company_signatory_title": "zaakvoerder",
    "company_signatory_email": "els@janssens.example.com",
    "mentor_name": "Seán O'Neill",
    "mentor_email": "sean@janssens.example.com",
    "mentor_phone": "+32 15 12 34 56",
    "docent_name": "Joëlle Peeters",
    "docent_email": "joelle.peeters@school.example.org",
    "start_date": "12/02/2024",
    "end_date": "2024-05-17",
    "assignment": "Een SIEM opzetten voor kmo-klanten & de detectieregels documenteren.",
    "nda": "ja",
    "copyright_waiver": "yes",
    "expense_allowance": "€ 150 per maand",
    "thesis_at_company": "nee",
    "thesis_permission_date": "",
    "language": "nl",
}


def row(n: int = 0, **overrides: Any) -> dict[str, str]:
    """A valid row for student number r01234NN, with `overrides`."""
    values = dict(GOOD_ROW, student_number=f"r{123456 + n:07d}",
                  student_email=f"student{n}@student.example.org")
    values.update({k: str(v) for k, v in overrides.items()})
    return values


def csv_bytes(rows: list[dict[str, str]], *, delimiter: str = ",",
              columns: tuple[str, ...] | list[str] = COLUMNS) -> bytes:
    """The rows as a UTF-8 CSV file with a header line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), delimiter=delimiter,
                            extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
