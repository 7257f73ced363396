"""Hostile CSV imports: never a 500, never a partial import, every error names line and column."""

from __future__ import annotations

import io
import itertools

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from docservice.errors import ImportRejected
from docservice.models import Placement
from docservice.services.placements import COLUMNS, import_placements
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row
from tests.web.hardening.conftest import FUZZ
from tests.web.helpers import csrf_token, login, make_user

_SERIAL = itertools.count(1)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from([
        "", " ", '"', '""', '"unterminated', "a,b", "a;b", "\n", "\r\n", "\r", "\x00", "\x0b",
        "\u2028", "\u0085", "\ufeff", "=cmd|' /C calc'!A0", "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>', "{{ 7*7 }}", "{% raw %}", "&amp;", "../../etc/passwd",
        "x" * 6000, "é" * 300, "Bcc: evil@example.com", "a@b.c\r\nBcc: evil@example.com",
    ]),
)


@st.composite
def hostile_csv(draw: st.DrawFn) -> bytes:
    """A cohort file: good rows, some cells replaced by hostile text, maybe cut or re-encoded."""
    count = draw(st.integers(min_value=0, max_value=4))
    # Fresh student numbers each time: an earlier example's import stays in the database.
    first = next(_SERIAL) * 10
    rows = [row(first + n) for n in range(count)]
    for r in rows:
        for column in draw(st.lists(st.sampled_from(COLUMNS), max_size=3, unique=True)):
            r[column] = draw(HOSTILE_TEXT)
    columns = list(COLUMNS)
    if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
        columns.remove(draw(st.sampled_from(columns)))
    data = csv_bytes(rows, delimiter=draw(st.sampled_from([",", ";"])), columns=columns)
    how = draw(st.sampled_from(["as is", "as is", "truncated", "latin-1", "garbage", "bytes"]))
    if how == "truncated":
        data = data[:draw(st.integers(0, len(data)))]
    elif how == "latin-1":
        data = data.decode("utf-8").encode("latin-1", errors="replace")
    elif how == "garbage":
        data = data + draw(st.binary(max_size=200))
    elif how == "bytes":
        data = draw(st.binary(max_size=400))
    return data


def _placements(runtime) -> int:
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(Placement))


@FUZZ
@given(data=hostile_csv())
def test_import_service_stores_all_or_nothing(runtime, year, data):
    session = runtime.db.session()
    try:
        try:
            result = import_placements(session, data, actor=TEST_ACTOR)
        except ImportRejected as e:
            assert e.errors
            for error in e.errors:
                assert error.line >= 1 and error.column, error
                assert str(error).startswith(f"line {error.line}, column {error.column}: ")
            assert not [o for o in session.new if isinstance(o, Placement)]
        else:
            assert result.placements
            session.flush()
            for placement in result.placements:  # what was stored is single-line and clean
                for column in COLUMNS:
                    value = getattr(placement, column, None)
                    if isinstance(value, str) and column != "assignment":
                        assert not any(c in value for c in "\r\n\x00\x0b\x85\u2028")
    finally:
        session.rollback()
        session.close()


def test_header_injection_in_addresses_and_names_is_an_import_error(runtime, year):
    data = csv_bytes([row(0, student_email="a@b.example.org\r\nBcc: evil@example.com"),
                      row(1, company_signatory_name="Els\nBcc: evil@example.com"),
                      row(2, mentor_name="Seán\u2028O'Neill"),
                      row(3, student_first_name="Zoë\x0bX")])
    session = runtime.db.session()
    try:
        import_placements(session, data, actor=TEST_ACTOR)
        raise AssertionError("accepted")
    except ImportRejected as e:
        messages = [str(x) for x in e.errors]
    finally:
        session.rollback()
        session.close()
    assert any(m.startswith("line 2, column student_email:") for m in messages), messages
    assert any(m.startswith("line 4, column company_signatory_name: contains a line break")
               for m in messages), messages
    assert any(m.startswith("line 6, column mentor_name: contains a line break (U+2028)")
               for m in messages), messages
    assert any(m.startswith("line 7, column student_first_name: contains a line break (U+000B)")
               for m in messages), messages


def _coordinator(app, runtime):
    """One logged-in client per app, shared by the examples of a test."""
    client = app.extensions.get("tests.coordinator_client")
    if client is None:
        make_user(runtime)
        client = app.extensions["tests.coordinator_client"] = app.test_client()
        login(client)
    return client


@FUZZ
@given(data=hostile_csv(), filename=st.sampled_from([
    "cohort.csv", "../../../etc/passwd", "..\\..\\boot.ini", "/abs/path.csv", "x\x00.csv",
    "<script>alert(1)</script>.csv", "a" * 300 + ".csv"]))
def test_import_form_answers_clearly_and_stores_all_or_nothing(app, runtime, year, data,
                                                               filename):
    client = _coordinator(app, runtime)
    before = _placements(runtime)
    token = csrf_token(client.get("/coordinator/import").get_data(as_text=True))
    response = client.post("/coordinator/import", data={
        "csrf_token": token, "file": (io.BytesIO(data), filename)})
    body = response.get_data(as_text=True)
    after = _placements(runtime)
    assert response.status_code in (302, 400, 422), (response.status_code, body[:500])
    if response.status_code == 302:
        assert after > before
    else:
        assert after == before
        if response.status_code == 422:
            # Each error names its line and column, in the page's language (Dutch).
            assert "Niets geïmporteerd" in body and "regel " in body and "kolom " in body
    assert "<script>" not in body


def test_an_oversized_import_is_413_with_a_readable_page(app, client, runtime, year):
    make_user(runtime)
    login(client)
    token = csrf_token(client.get("/coordinator/import").get_data(as_text=True))
    big = io.BytesIO(b"a" * (runtime.settings.max_upload_bytes + 1))
    response = client.post("/coordinator/import", data={"csrf_token": token,
                                                        "file": (big, "cohort.csv")})
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "Bestand te groot" in body and "5 MB" in body
    assert "Content-Security-Policy" in response.headers
    assert _placements(runtime) == 0


def test_length_limits_fit_the_database_columns():
    """SQLite ignores VARCHAR lengths; PostgreSQL refuses (a 500): the import must check first."""
    from docservice.services.placements import DEFAULT_MAX_LENGTH, MAX_LENGTH

    too_long = []
    for column in COLUMNS:
        if column in ("academic_year", "company_number", "language"):
            continue  # parsed into a value of known length (0123.456.789, nl/en)
        length = getattr(Placement.__table__.c[column].type, "length", None)
        limit = MAX_LENGTH.get(column, DEFAULT_MAX_LENGTH)
        if length is not None and limit > length:
            too_long.append(f"{column}: import allows {limit}, the column holds {length}")
    assert not too_long, too_long


def test_a_first_name_longer_than_its_column_is_an_import_error(runtime, year):
    session = runtime.db.session()
    try:
        import_placements(session, csv_bytes([row(0, student_first_name="Z" * 150)]),
                          actor=TEST_ACTOR)
        raise AssertionError("accepted")
    except ImportRejected as e:
        assert [str(x) for x in e.errors] == [
            "line 2, column student_first_name: is longer than 100 characters"]
    finally:
        session.rollback()
        session.close()
