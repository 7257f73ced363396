"""The data a template sees, built from a placement; empty values are missing, not blank."""

from __future__ import annotations

from datetime import date
from typing import Any

from docservice.models import AcademicYear, Placement


class Record(dict[str, Any]):
    """A mapping that knows its dotted path, so a missing key can be named in full."""

    def __init__(self, path: str, values: dict[str, Any], optional: tuple[str, ...] = ()) -> None:
        # An empty string would print as a blank in a contract: drop it, so that a
        # template using it fails loudly. Optional values stay, as None.
        super().__init__(
            (k, v) for k, v in values.items() if (v not in (None, "") or k in optional)
        )
        self._path = path

    def __getattr__(self, name: str) -> Any:
        # Jinja looks attributes up before items; answer with items so that a
        # key such as "items" or "keys" is not shadowed by dict's methods.
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def belgian_date(value: date) -> str:
    """12/02/2024."""
    return value.strftime("%d/%m/%Y")


def build_context(placement: Placement, *, reference: str) -> dict[str, Record]:
    """Everything a template may use for `placement` (see templates/README.md)."""
    year: AcademicYear = placement.academic_year
    return {
        "school": Record("school", {
            "name": year.school_name,
            "campus": year.campus,
            "programme": year.programme,
            "coordinator_name": year.coordinator_name,
            "coordinator_email": year.coordinator_email,
        }),
        "year": Record("year", {
            "code": year.code,
            "period_start": belgian_date(year.period_start),
            "period_end": belgian_date(year.period_end),
            "weeks": str(year.weeks),
            "thesis_permission_deadline": belgian_date(year.thesis_permission_deadline),
            "preference_deadline": belgian_date(year.preference_deadline),
            "contract_deadline": belgian_date(year.contract_deadline),
        }),
        "student": Record("student", {
            "first_name": placement.student_first_name,
            "last_name": placement.student_last_name,
            "full_name": placement.student_full_name,
            "number": placement.student_number,
            "email": placement.student_email,
            "programme": placement.programme,
        }),
        "company": Record("company", {
            "name": placement.company_name,
            "number": placement.company_number,
            "address": placement.company_address,
            "signatory_name": placement.company_signatory_name,
            "signatory_title": placement.company_signatory_title,
            "signatory_email": placement.company_signatory_email,
        }),
        "mentor": Record("mentor", {
            "name": placement.mentor_name,
            "email": placement.mentor_email,
            "phone": placement.mentor_phone,
        }),
        "docent": Record("docent", {"name": placement.docent_name, "email": placement.docent_email}),
        "placement": Record("placement", {
            "start_date": belgian_date(placement.start_date),
            "end_date": belgian_date(placement.end_date),
            "assignment": placement.assignment,
            "expense_allowance": placement.expense_allowance or None,
            "thesis_at_company": placement.thesis_at_company,
            "nda": placement.nda,
            "copyright_waiver": placement.copyright_waiver,
        }, optional=("expense_allowance",)),
        "document": Record("document", {"reference": reference}),
    }
