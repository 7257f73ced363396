"""Render a DOCX template with docxtpl; a variable the data lacks is an error naming it."""

from __future__ import annotations

import hashlib
import io
import threading
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


class _CompilingOnceEnvironment(jinja2.Environment):
    """docxtpl compiles a template's XML on every render; compile each source once."""

    def __init__(self) -> None:
        super().__init__(undefined=_NamingUndefined, autoescape=True)
        self._compiled: dict[str, jinja2.Template] = {}
        self._compiled_lock = threading.Lock()

    def from_string(self, source: str, globals: Any = None,  # type: ignore[override]
                    template_class: Any = None) -> jinja2.Template:
        if globals is not None or template_class is not None:
            return super().from_string(source, globals, template_class)
        key = hashlib.sha256(source.encode()).hexdigest()
        with self._compiled_lock:
            template = self._compiled.get(key)
            if template is None:
                if len(self._compiled) > 256:  # edited templates: drop stale sources
                    self._compiled.clear()
                template = self._compiled[key] = super().from_string(source)
        return template


_ENVIRONMENT = _CompilingOnceEnvironment()


class _Template(DocxTemplate):
    """DocxTemplate whose tag clean-up of a part's XML (regular expressions) runs once per source."""

    _patched: dict[str, str] = {}

    def patch_xml(self, src_xml: str) -> str:
        key = hashlib.sha256(src_xml.encode()).hexdigest()
        patched = self._patched.get(key)
        if patched is None:
            if len(self._patched) > 256:
                self._patched.clear()
            patched = self._patched[key] = super().patch_xml(src_xml)
        return patched


def _environment() -> jinja2.Environment:
    return _ENVIRONMENT


def render_docx(template: Path, context: dict[str, Any]) -> bytes:
    """The DOCX bytes of `template` filled with `context`."""
    name = f"{template.parent.name}/{template.name}"
    try:
        doc = _Template(str(template))
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
