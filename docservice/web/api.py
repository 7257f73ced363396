"""/api/v1: placements and their states as JSON, for the school's own systems.

Token authentication (`Authorization: Bearer dsk_...`, tokens from `docservice users token`),
coordinator and admin accounts only. The OpenAPI description is public at /api/v1/openapi.json,
and the same document is readable by a person at /api/docs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from docservice.domain import SIGNER_ROLES
from docservice.errors import DocserviceError, NotFound
from docservice.services import api_tokens, desk, desk_details, desk_status
from docservice.services.desk import DeskFilter, PlacementStatus, State
from docservice.services.desk_details import DocumentLine
from docservice.web import csrf, db_session, public_url_for, runtime
from docservice.web.desk import desk_settings
from docservice.web.params import MAX_ID, parse_int

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies are used: a request carries its own token
#: The description for a person, outside /api/v1: not an API route, and a page, not JSON.
docs_bp = Blueprint("api_docs", __name__)

MAX_PER_PAGE = 500
PUBLIC = {"api.openapi"}


class _Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Forbidden(Exception):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _Unauthorized("send Authorization: Bearer <token> (docservice users token EMAIL)")
    user = api_tokens.resolve_token(db_session(), secret.strip(), now=_now())
    if user is None:
        raise _Unauthorized("the token is unknown, revoked, or its account is deactivated")
    if user.role not in api_tokens.TOKEN_ROLES:
        raise _Forbidden()
    g.api_user = user


def _error(status: int, error: str, message: str) -> Response:
    response = jsonify({"error": error, "message": message})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="docservice"'
    return response


@bp.errorhandler(_Unauthorized)
def _unauthorized(e: _Unauthorized) -> Response:
    return _error(401, "unauthorized", e.message)


@bp.errorhandler(_Forbidden)
def _forbidden(_e: _Forbidden) -> Response:
    return _error(403, "forbidden", "this account may not use the API")


@bp.errorhandler(NotFound)
def _not_found(e: NotFound) -> Response:
    return _error(404, "not_found", str(e))


@bp.errorhandler(DocserviceError)
def _refused(e: DocserviceError) -> Response:
    return _error(422, "unprocessable", str(e))


@bp.errorhandler(HTTPException)
def _http(e: HTTPException) -> Response:
    return _error(e.code or 500, (e.name or "error").lower().replace(" ", "_"),
                  e.description or "")


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def placement_json(s: PlacementStatus, documents: list[DocumentLine] | None = None
                   ) -> dict[str, Any]:
    """One placement as the API shows it."""
    data: dict[str, Any] = {
        "id": s.placement_id,
        "academic_year": s.year_code,
        "student_number": s.student_number,
        "student_name": s.student_name,
        "student_email": s.student_email,
        "company": s.company_name,
        "docent": {"name": s.docent_name, "email": s.docent_email},
        "start_date": _iso(s.start_date),
        "end_date": _iso(s.end_date),
        "contract_deadline": _iso(s.contract_deadline),
        "state": s.state.value,
        "stage": s.stage.value,
        "next_signer": {"role": s.next_role, "email": s.next_email} if s.next_role else None,
        "days_to_deadline": s.days_to_deadline,
        "days_to_start": s.days_to_start,
        "signatures": {
            r.role: {"signed": r.signed, "pdf_signed": r.pdf_signed,
                     "table_signed": r.table_signed, "table_signed_at": _iso(r.table_signed_at)}
            for r in s.roles},
        "documents_total": s.documents_total,
        "documents_verified": s.documents_verified,
        "documents_changed": s.documents_changed,
        "disagreements": [{"role": d.role, "table_signed": d.table_signed,
                           "pdf_signed": d.pdf_signed} for d in s.disagreements],
        "url": public_url_for("api.placement", placement_id=s.placement_id),
    }
    if documents is not None:
        data["documents"] = [{
            "id": d.document_id, "kind": d.kind, "reference": d.reference, "sha256": d.sha256,
            "stored_file_changed": d.changed, "verified": d.verified,
            "verdict": None if d.verdict is None else {
                "engine": d.verdict.engine, "indication": d.verdict.indication,
                "reasons": list(d.verdict.reasons),
                "signatures": [sig.to_json() for sig in d.verdict.signatures]},
        } for d in documents]
    return data


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # A whole number the database could hold is clamped to [low, high]; anything else is refused.
    value = parse_int(raw, low=-MAX_ID, high=MAX_ID)
    if value is None:
        raise DocserviceError(f"{name} must be a whole number from {low} to {high}")
    return min(max(value, low), high)


@bp.get("/placements")
def placements() -> Any:
    """Placements with their states; filters as on the dashboard; paged."""
    state = request.args.get("state") or None
    if state is not None and state not in {s.value for s in State}:
        raise DocserviceError(f"state must be one of {', '.join(s.value for s in State)}")
    sort = request.args.get("sort") or "days"
    if sort not in desk.SORTS:
        raise DocserviceError(f"sort must be one of {', '.join(desk.SORTS)}")
    flt = DeskFilter(year=request.args.get("year") or None, state=state,
                     company=request.args.get("company") or None,
                     docent=request.args.get("docent") or None,
                     query=request.args.get("q") or None, sort=sort)
    statuses = desk_status.load_statuses(db_session(), flt, now=_now(), settings=desk_settings(),
                                  cache=runtime().desk_statuses)
    per_page = _int_arg("per_page", 100, 1, MAX_PER_PAGE)
    pages = max(1, math.ceil(len(statuses) / per_page))
    page = _int_arg("page", 1, 1, pages)
    items = statuses[(page - 1) * per_page: page * per_page]
    return {"items": [placement_json(s) for s in items], "total": len(statuses),
            "page": page, "per_page": per_page, "pages": pages}


@bp.get("/placements/<int:placement_id>")
def placement(placement_id: int) -> Any:
    """One placement with its documents and what verifying their PDFs said."""
    status = desk_status.placement_status(db_session(), placement_id, now=_now(),
                                   settings=desk_settings())
    if status is None:
        raise NotFound("placement")
    details = desk_details.load_details(db_session(), [status])
    return placement_json(status, details.of(placement_id))


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 description of this API."""
    return openapi_document(public_url_for("api.placements").rsplit("/", 1)[0])


@dataclass(frozen=True)
class Parameter:
    """One parameter of an operation, for the documentation page."""

    name: str
    where: str  # "query" or "path"
    required: bool
    schema: str
    description: str


@dataclass(frozen=True)
class Operation:
    """One method on one path of the OpenAPI document, for the documentation page."""

    method: str
    path: str
    operation_id: str
    summary: str
    authenticated: bool
    parameters: tuple[Parameter, ...]
    responses: tuple[tuple[str, str], ...]  # (status, description)


def _schema_text(schema: dict[str, Any]) -> str:
    """A parameter's schema in a few words: its type or the schema it refers to, its values."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    kind = schema.get("type", "")
    text = " | ".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in schema:
        text += ": " + ", ".join(str(v) for v in schema["enum"])
    bounds = [f"{word} {schema[key]}" for key, word in (("minimum", "min"), ("maximum", "max"))
              if key in schema]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI document, in its order."""
    default_security = bool(document.get("security"))
    found = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            found.append(Operation(
                method=method.upper(), path=path, operation_id=op.get("operationId", ""),
                summary=op.get("summary", ""),
                authenticated=bool(op["security"]) if "security" in op else default_security,
                parameters=tuple(Parameter(p["name"], p["in"], bool(p.get("required")),
                                           _schema_text(p.get("schema", {})),
                                           p.get("description", ""))
                                 for p in op.get("parameters", ())),
                responses=tuple((status, r.get("description", ""))
                                for status, r in op.get("responses", {}).items())))
    return found


@docs_bp.get("/api/docs")
def docs() -> str:
    """The API's description as a page: the document /api/v1/openapi.json serves."""
    document = openapi_document(public_url_for("api.placements").rsplit("/", 1)[0])
    return render_template("api/docs.html", document=document,
                           operations=operations(document),
                           json_url=public_url_for("api.openapi"))


def openapi_document(server: str) -> dict[str, Any]:
    """The API's description; `server` is its base URL."""
    nullable_string = {"type": ["string", "null"]}
    signature = {"type": "object", "required": ["signed", "pdf_signed", "table_signed"],
                 "properties": {
                     "signed": {"type": "boolean",
                                "description": "What the desk shows: the PDF's verdict once "
                                               "every document is verified, else the table's"},
                     "pdf_signed": {"type": ["boolean", "null"],
                                    "description": "null while not every document is verified"},
                     "table_signed": {"type": "boolean"},
                     "table_signed_at": {"type": ["string", "null"], "format": "date-time"}}}
    placement = {
        "type": "object",
        "required": ["id", "academic_year", "student_number", "student_name", "company",
                     "start_date", "contract_deadline", "state", "stage", "days_to_deadline",
                     "days_to_start", "signatures", "disagreements"],
        "properties": {
            "id": {"type": "integer"},
            "academic_year": {"type": "string", "examples": ["2023-2024"]},
            "student_number": {"type": "string"},
            "student_name": {"type": "string"},
            "student_email": {"type": "string", "format": "email"},
            "company": {"type": "string"},
            "docent": {"type": "object", "properties": {"name": {"type": "string"},
                                                        "email": {"type": "string"}}},
            "start_date": {"type": "string", "format": "date"},
            "end_date": {"type": "string", "format": "date"},
            "contract_deadline": {"type": "string", "format": "date"},
            "state": {"$ref": "#/components/schemas/State"},
            "stage": {"$ref": "#/components/schemas/State"},
            "next_signer": {"type": ["object", "null"],
                            "properties": {"role": {"type": "string",
                                                    "enum": list(SIGNER_ROLES)},
                                           "email": {"type": "string"}}},
            "days_to_deadline": {"type": "integer"},
            "days_to_start": {"type": "integer"},
            "signatures": {"type": "object", "properties": {
                role: {"$ref": "#/components/schemas/Signature"}
                for role in SIGNER_ROLES}},
            "documents_total": {"type": "integer"},
            "documents_verified": {"type": "integer"},
            "documents_changed": {"type": "integer",
                                  "description": "stored PDFs that no longer match their "
                                                 "SHA-256"},
            "disagreements": {"type": "array", "items": {
                "type": "object", "properties": {"role": {"type": "string"},
                                                 "table_signed": {"type": "boolean"},
                                                 "pdf_signed": {"type": "boolean"}}}},
            "url": {"type": "string", "format": "uri"},
        },
    }
    document = {"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"}, "reference": {"type": "string"},
        "sha256": {"type": "string"}, "stored_file_changed": {"type": "boolean"},
        "verified": {"type": "boolean"},
        "verdict": {"type": ["object", "null"], "properties": {
            "engine": {"type": "string"}, "indication": {"type": "string"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "signatures": {"type": "array", "items": {"type": "object", "properties": {
                "role": nullable_string, "field_name": {"type": "string"},
                "passed": {"type": "boolean"}, "signer_name": nullable_string,
                "time": nullable_string,
                "reasons": {"type": "array", "items": {"type": "string"}}}}}}}}}
    error = {"type": "object", "required": ["error", "message"],
             "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}
    errors = {
        "401": {"description": "No token, or an unknown or revoked one",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "403": {"description": "The token's account may not use the API",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    }

    def param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description,
                "schema": schema}

    return {
        "openapi": "3.1.0",
        "info": {"title": "docservice – coordinator's desk", "version": "1",
                 "description": "Internship placements and the state of their agreements. "
                                "\"Signed\" is what verifying the stored PDFs says."},
        "servers": [{"url": server}],
        "security": [{"bearer": []}],
        "paths": {
            "/placements": {"get": {
                "operationId": "listPlacements",
                "summary": "Placements with their states",
                "parameters": [
                    param("year", "Academic year, e.g. 2023-2024", {"type": "string"}),
                    param("state", "Only this state (or stage)",
                          {"$ref": "#/components/schemas/State"}),
                    param("company", "Company name contains", {"type": "string"}),
                    param("docent", "Docent's e-mail or name", {"type": "string"}),
                    param("q", "Student name or number contains", {"type": "string"}),
                    param("sort", "Order", {"type": "string", "enum": list(desk.SORTS)}),
                    param("page", "Page, from 1", {"type": "integer", "minimum": 1}),
                    param("per_page", "Items per page", {"type": "integer", "minimum": 1,
                                                         "maximum": MAX_PER_PAGE}),
                ],
                "responses": {"200": {"description": "A page of placements", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PlacementList"}}}},
                    "422": {"description": "A parameter is wrong", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    **errors}}},
            "/placements/{placement_id}": {"get": {
                "operationId": "getPlacement",
                "summary": "One placement, with its documents' verification verdicts",
                "parameters": [{"name": "placement_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "The placement", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PlacementDetail"}}}},
                    "404": {"description": "No such placement", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    **errors}}},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This description", "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A token from `docservice users token EMAIL` (coordinators)"}},
            "schemas": {
                "State": {"type": "string", "enum": [s.value for s in State]},
                "Signature": signature,
                "Placement": placement,
                "Document": document,
                "PlacementDetail": {"allOf": [{"$ref": "#/components/schemas/Placement"}, {
                    "type": "object", "properties": {"documents": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Document"}}}}]},
                "PlacementList": {"type": "object",
                                  "required": ["items", "total", "page", "per_page"],
                                  "properties": {
                                      "items": {"type": "array", "items": {
                                          "$ref": "#/components/schemas/Placement"}},
                                      "total": {"type": "integer"}, "page": {"type": "integer"},
                                      "per_page": {"type": "integer"},
                                      "pages": {"type": "integer"}}},
                "Error": error,
            },
        },
    }
