"""The dashboard: filters, search, sort by days left, CSV export, print, Dutch and English."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

from tests.web.desk.conftest import Flow, Year, placement_row, row_states, student_numbers


def _cohort(flow: Flow, y: Year) -> None:
    """Five placements that differ in company, docent, name and start date (no documents)."""
    soon, later, last = (y.today + timedelta(days=d) for d in (40, 60, 80))
    flow.import_rows([
        placement_row(0, y, later, company_name="Acme nv", student_last_name="Peeters",
                      student_first_name="Anke"),
        placement_row(1, y, soon, company_name="Janssens & Zonen BV",
                      student_last_name="Claes", student_first_name="Bram",
                      docent_name="Karel Docent", docent_email="karel@school.example.org"),
        placement_row(2, y, last, company_name="Acme nv", student_last_name="Maes",
                      student_first_name="Émile"),
        placement_row(3, y, soon, company_name="=HYPERLINK(\"http://evil.example\")",
                      student_last_name="+Jacobs", student_first_name="-Dirk"),
        placement_row(4, y, later, company_name="@Bedrijf", student_last_name="Wouters",
                      student_first_name="Zoë", docent_name="Karel Docent",
                      docent_email="karel@school.example.org"),
    ])


def test_filters_search_and_sort_by_days_left(flow: Flow, desk_year: Year):
    y = desk_year
    _cohort(flow, y)
    flow.login()
    get = lambda query: flow.client.get(f"/coordinator/{query}").get_data(as_text=True)  # noqa: E731

    assert len(row_states(get(""))) == 5
    # Before the deadline every row has the same days left: ties go by name.
    assert student_numbers(get("?company=acme")) == ["r0123458", "r0123456"]
    assert student_numbers(get("?docent=karel@school.example.org")) == ["r0123457", "r0123460"]
    assert student_numbers(get("?q=zo%C3%AB")) == ["r0123460"]  # accents, any case
    assert student_numbers(get("?q=ZOE")) == ["r0123460"]  # typed without the diaeresis
    assert student_numbers(get("?q=emile")) == ["r0123458"]
    assert student_numbers(get("?company=janssens+%26+zonen")) == ["r0123457"]
    assert student_numbers(get("?q=%C3%A9MILE+maes")) == ["r0123458"]
    assert student_numbers(get("?q=r0123459")) == ["r0123459"]
    assert student_numbers(get("?sort=name")) == [
        "r0123459", "r0123457", "r0123458", "r0123456", "r0123460"]  # +Jacobs sorts first
    with flow.on(y.deadline + timedelta(days=10)):
        # 30 days after today: two start in 10 days (at risk), the rest are overdue.
        urgent = get("?sort=days")
        calm = get("?sort=-days")
        at_risk = get("?state=at_risk")
        overdue_acme = get("?state=overdue&company=acme")
        year_view = get(f"?year={y.code}&state=overdue&docent=karel@school.example.org")
    assert student_numbers(urgent)[:2] == ["r0123459", "r0123457"]  # tie: by name
    assert student_numbers(urgent)[-1] == "r0123458"
    assert student_numbers(calm)[0] == "r0123458"
    assert set(row_states(at_risk)) == {"r0123457", "r0123459"}
    assert set(row_states(at_risk).values()) == {"at_risk"}
    assert student_numbers(overdue_acme) == ["r0123456", "r0123458"]  # 30 and 50 days left
    assert student_numbers(year_view) == ["r0123460"]
    assert "in gevaar (start nadert): 2" in urgent  # the counts per state, as links
    assert f"{y.period_end:%d/%m/%Y}" not in urgent and f"{y.today + timedelta(days=40):%d/%m/%Y}" in urgent


def test_csv_export_escapes_formulas_and_keeps_the_view(flow: Flow, desk_year: Year):
    _cohort(flow, desk_year)
    flow.login()
    response = flow.client.get("/coordinator/desk/export.csv?sort=name")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert [r["student_number"] for r in rows] == [
        "r0123459", "r0123457", "r0123458", "r0123456", "r0123460"]
    jacobs = rows[0]
    assert jacobs["student_last_name"] == "'+Jacobs" and jacobs["student_first_name"] == "'-Dirk"
    assert jacobs["company"] == "'=HYPERLINK(\"http://evil.example\")"
    assert rows[-1]["company"] == "'@Bedrijf"
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "@")), value
            assert not value.startswith("-") or value.lstrip("-").isdigit(), value
    assert rows[1]["state"] == "ontwerp" and rows[1]["start_date"].count("/") == 2
    only_acme = flow.client.get("/coordinator/desk/export.csv?company=acme").get_data(as_text=True)
    assert only_acme.count("\n") == 3  # header and the two rows of the view
    english = flow.client.get("/coordinator/desk/export.csv?lang=en").get_data(as_text=True)
    assert ",draft," in english  # English: comma-separated, English state names


def test_dutch_by_default_english_on_request_belgian_dates_and_paging_and_print(
        app, flow: Flow, desk_year: Year):
    y = desk_year
    _cohort(flow, y)
    flow.login()
    dutch = flow.client.get("/coordinator/").get_data(as_text=True)
    assert "Stageovereenkomsten" in dutch and "Dagen tot start" in dutch and "ontwerp" in dutch
    start = y.today + timedelta(days=40)
    assert f"{start:%d/%m/%Y}" in dutch and start.isoformat() not in dutch
    switch = flow.client.get("/coordinator/desk/lang/en?next=/coordinator/")
    assert switch.status_code == 302 and switch.headers["Location"] == "/coordinator/"
    english = flow.client.get("/coordinator/").get_data(as_text=True)
    assert "Internship agreements" in english and "Days to start" in english
    assert "draft" in english and f"{start:%d/%m/%Y}" in english
    assert flow.client.get("/coordinator/desk/lang/de").status_code == 404
    assert flow.client.get("/coordinator/desk/lang/en?next=//evil.example").headers[
        "Location"] == "/coordinator/"
    flow.client.get("/coordinator/?lang=nl")

    app.extensions["docservice.desk"] = replace(app.extensions["docservice.desk"], page_size=2)
    first = flow.client.get("/coordinator/?sort=name").get_data(as_text=True)
    assert len(row_states(first)) == 2 and "Pagina 1 van 3" in first
    third = flow.client.get("/coordinator/?sort=name&page=3").get_data(as_text=True)
    assert student_numbers(third) == ["r0123460"]
    printed = flow.client.get("/coordinator/desk/print?sort=name")
    page = printed.get_data(as_text=True)
    assert printed.status_code == 200 and "Overzicht stageovereenkomsten" in page
    assert page.count("<tr") == 6 and "data-print" in page and "desk.css" in page
    css = flow.client.get("/static/desk.css").get_data(as_text=True)
    assert "@media print" in css


def test_an_unknown_year_is_said_and_the_years_are_offered(flow: Flow, desk_year: Year):
    y = desk_year
    _cohort(flow, y)
    flow.login()
    page = flow.client.get("/coordinator/?year=1999-2000")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"Academiejaar 1999-2000 bestaat niet; getoond: {y.code}." in html
    assert f'href="/coordinator/?year={y.code}"' in html  # the years to choose from
    assert len(row_states(html)) == 5  # the newest year, as without ?year
    english = flow.client.get("/coordinator/?year=1999-2000&lang=en").get_data(as_text=True)
    assert f"Academic year 1999-2000 does not exist; shown: {y.code}." in english
    known = flow.client.get(f"/coordinator/?year={y.code}&lang=nl").get_data(as_text=True)
    assert "bestaat niet" not in known
