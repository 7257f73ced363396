"""Academic years: data loaded from TOML files, never literals in code."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from docservice.errors import DocserviceError, NotFound
from docservice.models import AcademicYear

_DATES = ("period_start", "period_end", "thesis_permission_deadline", "preference_deadline",
          "contract_deadline")
_TEXTS = ("code", "school_name", "campus", "programme", "coordinator_name", "coordinator_email")


class YearFileInvalid(DocserviceError):
    """An academic-year file that lacks a field or carries a wrong one."""


def load_year_file(session: Session, path: Path) -> AcademicYear:
    """Create or update the academic year described in a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise YearFileInvalid(f"{path}: {e}") from e
    problems = []
    for key in _TEXTS:
        if not isinstance(data.get(key), str) or not data[key].strip():
            problems.append(f"{key} must be a non-empty text")
    for key in _DATES:
        if not isinstance(data.get(key), date):
            problems.append(f"{key} must be a date (YYYY-MM-DD)")
    if not isinstance(data.get("weeks"), int) or data["weeks"] <= 0:
        problems.append("weeks must be a positive whole number")
    if not problems and data["period_end"] < data["period_start"]:
        problems.append("period_end is before period_start")
    unknown = set(data) - set(_TEXTS) - set(_DATES) - {"weeks"}
    if unknown:
        problems.append("unknown field(s): " + ", ".join(sorted(unknown)))
    if problems:
        raise YearFileInvalid(f"{path}: " + "; ".join(problems))
    year = session.scalars(select(AcademicYear).where(AcademicYear.code == data["code"])).first()
    if year is None:
        year = AcademicYear(code=data["code"])
        session.add(year)
    for key, value in data.items():
        setattr(year, key, value)
    session.flush()
    return year


def get_year(session: Session, code: str) -> AcademicYear:
    """The academic year with this code."""
    year = session.scalars(select(AcademicYear).where(AcademicYear.code == code)).first()
    if year is None:
        raise NotFound(f"academic year {code}")
    return year
