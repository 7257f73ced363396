"""Render a DOCX template with docxtpl; a variable the data lacks is an error naming it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jinja2
from docxtpl import DocxTemplate

from docservice.errors import TemplateError, TemplateVariableMissing


class _NamingUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message is the full dotted name of what is missing."""

    @property
    def _undefined_message(self) -> str:  # type: ignore[override]
        owner = self._undefined_obj
        path = getattr(owner, "_path", None)
        if path and isinstance(self._undefined_name, str):
            return f"{path}.{self._undefined_name}"
        if self._undefined_name is not None:
            return str(self._undefined_name)
        return super()._undefined_message


def _environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=_NamingUndefined, autoescape=True)


def render_docx(template: Path, context: dict[str, Any]) -> bytes:
    """The DOCX bytes of `template` filled with `context`."""
    name = f"{template.parent.name}/{template.name}"
    try:
        doc = DocxTemplate(str(template))
        doc.render(context, jinja_env=_environment(), autoescape=True)
    except jinja2.UndefinedError as e:
        raise TemplateVariableMissing(name, str(e)) from e
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template {name} has a syntax error: {e.message}") from e
    except FileNotFoundError as e:
        raise TemplateError(f"template {name} not found") from e
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
