"""/api/v1: tokens created on the command line, stored hashed; placements with their states."""

from __future__ import annotations

import hashlib
import html
from datetime import timedelta

from sqlalchemy import select

from docservice.cli import main
from docservice.db import unit_of_work
from docservice.models import ApiToken
from docservice.services.desk import State
from tests.web.desk.conftest import Flow, Year, placement_row
from tests.web.helpers import login, make_user


def _token(runner, email: str) -> str:
    result = runner.invoke(main, ["users", "token", email, "--name", "student records"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def test_token_authentication_and_placements_with_their_states(
        flow: Flow, runner, client, desk_year: Year):
    y = desk_year
    ids = flow.import_rows([placement_row(n, y, y.today + timedelta(days=10 + n * 30))
                            for n in range(2)])
    make_user(flow.runtime, "coordinator@school.example.org")
    make_user(flow.runtime, "auditor@school.example.org", role="auditor")
    secret = _token(runner, "coordinator@school.example.org")
    assert secret.startswith("dsk_") and len(secret) > 40
    with unit_of_work(flow.runtime.db) as session:
        [stored] = session.scalars(select(ApiToken)).all()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (stored.prefix, stored.name, stored.token_hash)
    refused = runner.invoke(main, ["users", "token", "auditor@school.example.org"])
    assert refused.exit_code == 1 and "API tokens are for coordinator and admin" in refused.output
    listing = runner.invoke(main, ["users", "list"])
    assert "coordinator@school.example.org" in listing.output and "1 API token(s)" in listing.output

    auth = {"Authorization": f"Bearer {secret}"}
    response = client.get("/api/v1/placements", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 2 and body["page"] == 1
    first = body["items"][0]
    assert first["id"] == ids[0] and first["state"] == "at_risk" and first["stage"] == "draft"
    assert first["days_to_start"] == 10 and first["academic_year"] == y.code
    assert set(first["signatures"]) == {"student", "company", "school"}
    assert first["signatures"]["student"] == {"signed": False, "pdf_signed": None,
                                              "table_signed": False, "table_signed_at": None}
    only = client.get("/api/v1/placements?state=at_risk", headers=auth).get_json()
    assert [p["id"] for p in only["items"]] == [ids[0]]
    both = client.get("/api/v1/placements?state=draft", headers=auth).get_json()
    assert both["total"] == 2  # a state filter also finds a stage under a calendar state
    detail = client.get(f"/api/v1/placements/{ids[1]}", headers=auth)
    assert detail.status_code == 200 and detail.get_json()["documents"] == []
    assert client.get("/api/v1/placements/999999", headers=auth).status_code == 404
    bad = client.get("/api/v1/placements?state=nonsense", headers=auth)
    assert bad.status_code == 422 and "state must be one of" in bad.get_json()["message"]

    anonymous = client.get("/api/v1/placements")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith(
        "Bearer")
    assert client.get("/api/v1/placements",
                      headers={"Authorization": "Bearer dsk_wrong"}).status_code == 401
    # A logged-in browser session is not an API credential.
    login(flow.client, "coordinator@school.example.org")
    assert flow.client.get("/api/v1/placements").status_code == 401

    revoked = runner.invoke(main, ["users", "token", "coordinator@school.example.org",
                                   "--revoke"])
    assert "Revoked 1 token(s)" in revoked.output
    assert client.get("/api/v1/placements", headers=auth).status_code == 401


def test_openapi_description_is_public_and_matches_the_routes(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["schemas"]["State"]["enum"] == [s.value for s in State]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    routes = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")}
    described = {"/api/v1" + path.replace("{placement_id}", "<int:placement_id>")
                 for path in document["paths"]}
    assert described == routes


def test_the_documentation_page_lists_every_path_of_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    for path, methods in document["paths"].items():
        assert f'<code class="path">{path}</code>' in page, path
        for method, operation in methods.items():
            assert f'<code class="method">{method.upper()}</code>' in page
            assert operation["summary"] in page
    assert "Bearer" in page and "per_page" in page and "placement_id" in page
    assert "<script" not in page and "<style" not in page  # the CSP stays as it is
