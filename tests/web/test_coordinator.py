"""The coordinator's pages: login, who may see them, and the CSV upload form."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from docservice.db import unit_of_work
from docservice.models import Placement
from tests.factories import csv_bytes, row
from tests.web.helpers import PASSWORD, csrf_token, login, make_user


def _count(runtime) -> int:
    with unit_of_work(runtime.db) as session:
        return session.scalar(select(func.count()).select_from(Placement))


def test_pages_need_a_logged_in_coordinator(client, runtime):
    response = client.get("/coordinator/import")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    make_user(runtime, "auditor@school.example.org", role="auditor")
    login(client, "auditor@school.example.org")
    assert client.get("/coordinator/import").status_code == 403
    assert client.get("/coordinator/placements.csv").status_code == 403


def test_wrong_password_is_refused_and_login_is_rate_limited(client, runtime):
    make_user(runtime)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    statuses = [client.post("/login", data={"email": "coordinator@school.example.org",
                                            "password": "wrong", "csrf_token": token},
                            environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code
                for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    # Even the right password waits while the address is blocked.
    response = client.post("/login", data={"email": "coordinator@school.example.org",
                                           "password": PASSWORD, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert response.status_code == 429


def test_login_does_not_redirect_to_another_site(client, runtime):
    make_user(runtime)
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "coordinator@school.example.org",
                                           "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example.com/x"})
    assert response.headers["Location"] == "/coordinator/"


def test_upload_without_csrf_token_is_refused(client, runtime, year):
    make_user(runtime)
    login(client)
    response = client.post("/coordinator/import", data={
        "file": (io.BytesIO(csv_bytes([row(0)])), "cohort.csv")})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert _count(runtime) == 0


def test_upload_form_imports_a_good_file(client, runtime, year):
    make_user(runtime)
    login(client)
    token = csrf_token(client.get("/coordinator/import").get_data(as_text=True))
    response = client.post("/coordinator/import", data={
        "csrf_token": token, "file": (io.BytesIO(csv_bytes([row(0), row(1)])), "cohort.csv")},
        follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 plaatsing(en) geïmporteerd uit cohort.csv" in page
    assert "Vermeulen-D&#39;Hondt, Zoë" in page
    assert _count(runtime) == 2


def test_upload_form_lists_every_error_and_stores_nothing(client, runtime, year):
    make_user(runtime)
    login(client)
    token = csrf_token(client.get("/coordinator/import").get_data(as_text=True))
    data = csv_bytes([row(0), row(1, student_email="nope", end_date="01/01/2025"),
                      row(2, company_name="<script>alert(1)</script>", company_number="1")])
    response = client.post("/coordinator/import", data={
        "csrf_token": token, "file": (io.BytesIO(data), "cohort.csv")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Niets geïmporteerd uit cohort.csv" in page
    # Every error in the page's language (Dutch), naming the row, the column and the value.
    assert "regel 3, kolom student_email: &#39;nope&#39; is geen e-mailadres" in page
    assert "regel 3, kolom end_date: 01/01/2025 ligt buiten de stageperiode" in page
    assert "regel 4, kolom company_number: &#39;1&#39; is geen ondernemingsnummer" in page
    assert "is not" not in page
    assert "<script>" not in page
    assert _count(runtime) == 0

    client.get("/coordinator/?lang=en")  # the same errors on an English page
    response = client.post("/coordinator/import", data={
        "csrf_token": token, "file": (io.BytesIO(data), "cohort.csv")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "line 3, column student_email: &#39;nope&#39; is not an e-mail address" in page
    assert "line 3, column end_date: 01/01/2025 is outside the internship period" in page
    assert "line 4, column company_number: &#39;1&#39; is not an enterprise number" in page
    assert "is geen" not in page
    assert _count(runtime) == 0


def test_upload_form_says_what_to_do_with_an_excel_or_windows_1252_file(client, runtime, year):
    make_user(runtime)
    login(client)
    token = csrf_token(client.get("/coordinator/import").get_data(as_text=True))
    cp1252 = csv_bytes([row(0)]).decode("utf-8").encode("cp1252")  # Zoë in Windows-1252
    xlsx = b"PK\x03\x04" + bytes(60)  # how every .xlsx begins
    for data, dutch in ((cp1252, "het bestand is geen UTF-8: bewaar het in Excel als CSV UTF-8"),
                        (xlsx, "dit is een Excel-bestand: bewaar het als CSV UTF-8 "
                               "(Bestand &gt; Opslaan als &gt; CSV UTF-8)")):
        response = client.post("/coordinator/import", data={
            "csrf_token": token, "file": (io.BytesIO(data), "cohort.csv")})
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert dutch in page
        assert "byte" not in page and "UTF-8-tekst" not in page  # no Python exception text
    client.get("/coordinator/?lang=en")
    response = client.post("/coordinator/import", data={
        "csrf_token": token, "file": (io.BytesIO(cp1252), "cohort.csv")})
    assert "the file is not UTF-8: save it in Excel as CSV UTF-8" in response.get_data(as_text=True)
    assert _count(runtime) == 0


def test_security_headers(client):
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
