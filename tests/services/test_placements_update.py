"""`placements import --update`: the import's checks, every row or none, every change in the trail;
and the export in import format imports again unchanged."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy import select

from docservice.cli import main
from docservice.db import unit_of_work
from docservice.models import AcademicYear, AuditEvent, Base, Placement
from docservice.services.placements import placement_values
from tests.factories import csv_bytes, row


def _placements(runtime) -> dict[str, dict[str, str]]:
    with unit_of_work(runtime.db) as session:
        return {p.student_number: placement_values(p)
                for p in session.scalars(select(Placement).order_by(Placement.id))}


def _changed_events(runtime) -> list[dict]:
    with unit_of_work(runtime.db) as session:
        return [e.detail for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action == "placement.changed").order_by(AuditEvent.id))]


def test_update_is_all_or_none_and_records_every_change(runner, runtime, year, tmp_path: Path):
    cohort = tmp_path / "cohort.csv"
    cohort.write_bytes(csv_bytes([row(0), row(1), row(2)]))
    assert runner.invoke(main, ["placements", "import", str(cohort)]).exit_code == 0
    before = _placements(runtime)

    # One wrong row (and one unknown student) refuse the whole file: nothing changes.
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([row(0, start_date="2024-02-19"), row(1, mentor_phone="call me"),
                               row(7)]))
    result = runner.invoke(main, ["placements", "import", "--update", str(bad)])
    assert result.exit_code == 1, result.output
    assert "error: line 3, column mentor_phone: 'call me' is not a phone number" in result.output
    assert "error: line 4, column student_number: r0123463 has no placement in 2023-2024" \
        in result.output
    assert "nothing stored" in result.output
    assert _placements(runtime) == before and _changed_events(runtime) == []

    # Fixed: the changed rows are stored, the unchanged one is a no-op; a summary per placement.
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes([
        row(0, start_date="19/02/2024"),
        row(1, mentor_phone="+32 9 123 45 67", company_signatory_name="Bart Janssens"),
        row(2)]))
    result = runner.invoke(main, ["placements", "import", "--update", str(good)])
    assert result.exit_code == 0, result.output
    assert "2023-2024 r0123456 (line 2): start_date '2024-02-12' -> '2024-02-19'" in result.output
    assert ("2023-2024 r0123457 (line 3): company_signatory_name 'Els Janssens' -> "
            "'Bart Janssens', mentor_phone '+32 15 12 34 56' -> '+32 9 123 45 67'") \
        in result.output
    assert "r0123458" not in result.output
    assert "Updated 2 placement(s)" in result.output and "1 unchanged" in result.output
    after = _placements(runtime)
    assert after["r0123456"]["start_date"] == "2024-02-19"
    assert after["r0123457"]["mentor_phone"] == "+32 9 123 45 67"
    assert after["r0123458"] == before["r0123458"]
    events = _changed_events(runtime)
    assert [e["changes"] for e in events] == [
        {"start_date": ["2024-02-12", "2024-02-19"]},
        {"company_signatory_name": ["Els Janssens", "Bart Janssens"],
         "mentor_phone": ["+32 15 12 34 56", "+32 9 123 45 67"]},
    ]
    assert {e["source"] for e in events} == {"import --update"}

    # The same file again: nothing to change, nothing in the trail.
    again = runner.invoke(main, ["placements", "import", "--update", str(good)])
    assert again.exit_code == 0 and "Updated 0 placement(s)" in again.output
    assert len(_changed_events(runtime)) == 2


def test_the_export_imports_again_unchanged(runner, runtime, year, tmp_path: Path):
    # Cells a spreadsheet would run as formulas: the export quotes them, the import unquotes.
    cohort = tmp_path / "cohort.csv"
    cohort.write_bytes(csv_bytes([
        row(0, mentor_phone="+32 9 123 45 67", assignment="- logs centraliseren\n- alarmen",
            expense_allowance="+ € 150 per maand", company_name="@Home BV"),
        row(1, nda="nee", copyright_waiver="nee", thesis_at_company="ja",
            thesis_permission_date="2023-10-20", company_address="'s-Gravenwezel, Dorp 1",
            language="en", student_last_name="=Peeters"),
    ]))
    assert runner.invoke(main, ["placements", "import", str(cohort)]).exit_code == 0
    before = _placements(runtime)
    exported = tmp_path / "export.csv"
    result = runner.invoke(main, ["placements", "export", "--out", str(exported)])
    assert result.exit_code == 0, result.output
    cells = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8"))))
    assert cells[0]["mentor_phone"] == "'+32 9 123 45 67"  # formula-safe on the way out
    assert cells[1]["student_last_name"] == "'=Peeters"

    update = runner.invoke(main, ["placements", "import", "--update", str(exported)])
    assert update.exit_code == 0, update.output
    assert "Updated 0 placement(s)" in update.output and "2 unchanged" in update.output
    assert _placements(runtime) == before and _changed_events(runtime) == []

    # Into an empty database (the academic year only): the same placements.
    with runtime.db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != AcademicYear.__tablename__:
                connection.execute(table.delete())
    assert _placements(runtime) == {}
    result = runner.invoke(main, ["placements", "import", str(exported)])
    assert result.exit_code == 0, result.output
    assert _placements(runtime) == before
    assert before["r0123456"]["mentor_phone"] == "+32 9 123 45 67"
    assert before["r0123456"]["assignment"] == "- logs centraliseren\n- alarmen"
    assert before["r0123457"]["company_address"] == "'s-Gravenwezel, Dorp 1"
