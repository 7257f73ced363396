"""Helpers for driving the web app like a browser does."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from docservice.db import unit_of_work
from docservice.jobs.runtime import Runtime
from docservice.models import User
from docservice.services.users import add_user

PASSWORD = "correct horse battery staple"


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def make_user(runtime: Runtime, email: str = "coordinator@school.example.org",
              role: str = "coordinator") -> User:
    """An active account with the tests' password."""
    with unit_of_work(runtime.db) as session:
        return add_user(session, email=email, name="Frank", role=role, password=PASSWORD)


def login(client: FlaskClient, email: str = "coordinator@school.example.org") -> None:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": email, "password": PASSWORD,
                                            "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
