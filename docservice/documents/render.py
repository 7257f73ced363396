"""Render a DOCX template with docxtpl; a variable the data lacks is an error naming it."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
from docxtpl import DocxTemplate

from docservice.errors import TemplateError, TemplateVariableMissing

#: Held while lxml parses or builds XML (the DOCX parts, the PDF's XMP metadata). python-docx
#: parses with one module-wide parser, and a thread whose first parse goes through it adopts
#: that parser's name dictionary (lxml's parser.pxi, _getThreadDict): the generation threads
#: end up sharing one libxml2 dictionary, and parsing side by side corrupts it ("Namespace
#: prefix rdf on RDF is not defined" from pyhanko's XMP parse, once a double free). LibreOffice,
#: the slow part, still converts in parallel.
XML_LOCK = threading.Lock()


class _NamingUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message is the full dotted name of what is missing."""

    @property
    def _undefined_message(self) -> str:
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


class _Template(DocxTemplate):  # type: ignore[misc]  # docxtpl has no types
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


def variables_used(template: Path) -> set[str]:
    """Every variable `template` uses, as dotted names ("student.full_name"), in any branch.

    Read from the tags themselves, not from a rendering, so that a paragraph switched off
    for the sample data is checked too. A bare name (`{{ student }}`) comes out as is.
    """
    name = f"{template.parent.name}/{template.name}"
    used: set[str] = set()
    try:
        for source in _tag_sources(template):
            tree = _ENVIRONMENT.parse(source)
            undeclared = jinja2.meta.find_undeclared_variables(tree)
            used.update(v for v in _dotted_names(tree) if v.split(".")[0] in undeclared)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template {name} has a syntax error: {e.message}") from e
    return used


def _tag_sources(template: Path) -> list[str]:
    """The Jinja source of the body, headers and footers, as docxtpl renders them."""
    with XML_LOCK:
        doc = _Template(str(template))
        doc.init_docx()
        sources = [doc.patch_xml(doc.get_xml())]
        for uri in (doc.HEADER_URI, doc.FOOTER_URI):
            for _key, part in doc.get_headers_footers(uri):
                sources.append(doc.patch_xml(doc.get_part_xml(part)))
    return sources


def _dotted_names(node: jinja2.nodes.Node) -> Iterator[str]:
    """The outermost `a.b` (or `a["b"]`) chains and bare names read under `node`."""
    dotted = _dotted(node)
    if dotted is not None:
        yield dotted
        return
    for child in node.iter_child_nodes():
        yield from _dotted_names(child)


def _dotted(node: jinja2.nodes.Node) -> str | None:
    if isinstance(node, jinja2.nodes.Name):
        return node.name if node.ctx == "load" else None
    if isinstance(node, jinja2.nodes.Getattr):
        base = _dotted(node.node)
        return f"{base}.{node.attr}" if base is not None else None
    if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
        base = _dotted(node.node)
        return f"{base}.{node.arg.value}" if base is not None else None
    return None
