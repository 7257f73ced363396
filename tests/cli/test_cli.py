"""The `docservice` command as a user's script calls it."""

from __future__ import annotations

from pathlib import Path

from docservice.cli import main
from docservice.config import CHECKOUT
from tests.factories import csv_bytes, row


def test_import_then_generate_with_out_folder(runner, year, tmp_path: Path):
    good = tmp_path / "cohort.csv"
    good.write_bytes(csv_bytes([row(0), row(1, nda="nee", copyright_waiver="nee")]))
    result = runner.invoke(main, ["placements", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 placement(s)" in result.output

    out = tmp_path / "pdfs"
    result = runner.invoke(main, ["documents", "generate", "--year", "2023-2024", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Generated 4 document(s)." in result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "r0123456-afstand-auteursrecht.pdf", "r0123456-geheimhoudingsverklaring.pdf",
        "r0123456-stageovereenkomst.pdf", "r0123457-stageovereenkomst.pdf"]
    assert all(p.read_bytes().startswith(b"%PDF") for p in out.iterdir())

    again = runner.invoke(main, ["documents", "generate"])
    assert again.exit_code == 0 and "Generated 0 document(s)." in again.output


def test_bad_import_exits_1_listing_every_error(runner, year, tmp_path: Path):
    bad = tmp_path / "cohort.csv"
    bad.write_bytes(csv_bytes([row(0), row(1, company_number="0123.456.789"),
                               row(2, student_email="")]))
    result = runner.invoke(main, ["placements", "import", str(bad)])
    assert result.exit_code == 1
    assert "error: line 3, column company_number:" in result.output
    assert "error: line 4, column student_email: is empty" in result.output
    assert "nothing stored" in result.output
    listing = runner.invoke(main, ["placements", "export"])
    assert listing.output.count("\n") == 1  # header only


def test_unknown_year_is_a_clear_error(runner, year):
    result = runner.invoke(main, ["documents", "generate", "--year", "1999-2000"])
    assert result.exit_code == 1 and "academic year 1999-2000 not found" in result.output


def test_years_load_and_users_add(runner, tmp_path: Path):
    result = runner.invoke(main, ["years", "load",
                                  str(CHECKOUT / "data" / "academic-years" / "2023-2024.toml")])
    assert result.exit_code == 0
    assert "12/02/2024 – 17/05/2024, contract deadline 15/12/2023" in result.output
    broken = tmp_path / "year.toml"
    broken.write_text('code = "2024-2025"\nperiod_start = "soon"\n')
    result = runner.invoke(main, ["years", "load", str(broken)])
    assert result.exit_code == 1 and "period_start must be a date" in result.output

    weak = runner.invoke(main, ["users", "add", "a@school.example.org", "--password-stdin"],
                         input="short\n")
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    ok = runner.invoke(main, ["users", "add", "a@school.example.org", "--role", "auditor",
                              "--password-stdin"], input="a long enough secret\n")
    assert ok.exit_code == 0 and "Added auditor a@school.example.org." in ok.output


def test_every_command_has_help(runner):
    for args in (["--help"], ["init", "--help"], ["placements", "import", "--help"],
                 ["documents", "generate", "--help"], ["links", "student", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_one_placement_that_cannot_be_generated_does_not_hold_up_the_cohort(runner, year,
                                                                            tmp_path: Path):
    """A name too wide for its column in the signature block: that placement's documents are
    named as not generated (exit 1); the others are made and kept; a fixed row goes through."""
    cohort = tmp_path / "cohort.csv"
    too_wide = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    cohort.write_bytes(csv_bytes([row(0, nda="nee", copyright_waiver="nee"),
                                  row(1, nda="nee", copyright_waiver="nee", **{
                                      field: too_wide for field in (
                                          "student_first_name", "student_last_name",
                                          "company_name", "company_signatory_name",
                                          "company_signatory_title")})]))
    assert runner.invoke(main, ["placements", "import", str(cohort)]).exit_code == 0
    result = runner.invoke(main, ["documents", "generate", "--year", "2023-2024"])
    assert result.exit_code == 1, result.output
    assert "Generated 1 document(s)." in result.output
    assert "NOT GENERATED" in result.output and "r0123457" in result.output
    assert "1 document(s) could not be generated" in result.output
    again = runner.invoke(main, ["documents", "generate"])
    assert again.exit_code == 1 and "Generated 0 document(s)." in again.output
