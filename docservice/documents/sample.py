"""A made-up placement to try templates with: every documented variable filled in.

Its values are the examples of templates/README.md, with accents, apostrophes, `&` and a
long assignment, so that a template that renders them well renders real placements well.
"""

from __future__ import annotations

from datetime import date

from docservice.documents.context import Record, build_context
from docservice.models import AcademicYear, Placement

ASSIGNMENT = (
    "Analyse en verbetering van het beheer van toegangsrechten (IAM) in de interne "
    "applicaties: inventaris van rollen en rechten, risicoanalyse volgens ISO/IEC 27001, "
    "ontwerp van een rolgebaseerd toegangsmodel, een proof of concept met Microsoft Entra ID "
    "en PowerShell-scripts voor periodieke hercertificering, documentatie voor beheerders en "
    "eindgebruikers, en een presentatie van de resultaten aan het IT-team. De student werkt "
    "mee in het securityteam en volgt de interne change-procedures; wekelijks is er overleg "
    "met de stagementor over voortgang & prioriteiten <kritiek>. Eindpunt: een werkend model."
)


def sample_placement(*, options: bool = True) -> Placement:
    """A placement that is never stored; `options` switches NDA, waiver, thesis and allowance."""
    year = AcademicYear(
        code="2023-2024",
        school_name="Thomas More Mechelen-Antwerpen",
        campus="Mechelen",
        programme="Information Management & Security",
        coordinator_name="Frank Vandromme",
        coordinator_email="frank.vandromme@thomasmore.be",
        period_start=date(2024, 2, 12),
        period_end=date(2024, 5, 17),
        weeks=12,
        thesis_permission_deadline=date(2023, 10, 27),
        preference_deadline=date(2023, 11, 17),
        contract_deadline=date(2023, 12, 15),
    )
    return Placement(
        academic_year=year,
        student_number="r0123456",
        student_first_name="Zoë",
        student_last_name="Vermeulen-D'Hondt",
        student_email="zoe.vermeulen-dhondt@student.thomasmore.be",
        programme="PBA Informatiemanagement en multimedia",
        company_name="Janssens & Zonen BVBA",
        company_number="0123.456.749",
        company_address="Grote Markt 1, 2800 Mechelen",
        company_signatory_name="Renée Janssens",
        company_signatory_title="zaakvoerder",
        company_signatory_email="renee@janssens-zonen.be",
        mentor_name="Seán O'Neill",
        mentor_email="sean.oneill@janssens-zonen.be",
        mentor_phone="+32 15 12 34 56",
        docent_name="Lotte Peeters",
        docent_email="lotte.peeters@thomasmore.be",
        start_date=date(2024, 2, 19),
        end_date=date(2024, 5, 17),
        assignment=ASSIGNMENT,
        nda=options,
        copyright_waiver=options,
        expense_allowance="€ 150 per maand" if options else None,
        thesis_at_company=options,
        language="nl",
    )


def sample_context(name: str, *, options: bool = True) -> dict[str, Record]:
    """What the template `name` (e.g. "stageovereenkomst") sees for the sample placement."""
    return build_context(sample_placement(options=options),
                         reference=f"DS-2023-2024-r0123456-{name}")


def documented_variables() -> frozenset[str]:
    """Every `group.name` a template may use: exactly what the renderer supplies."""
    return frozenset(f"{group}.{key}" for group, record in sample_context("sample").items()
                     for key in record)
