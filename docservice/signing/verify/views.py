"""One revision as viewers see it: its catalog, pages, fields and annotations (a `View`), the
role each object plays there, and what a set of objects reaches."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader

from docservice.signing.verify.structure import (
    Ref,
    pdf_get,
    ref_list,
    refs_in,
)

#: How many objects a walk of one tree (pages, fields, DSS) may visit: a guard against bombs.
WALK_LIMIT = 200_000
PAGE_CONTENT_KEYS = frozenset({"/Contents", "/Resources", "/MediaBox", "/CropBox", "/Rotate",
                               "/UserUnit", "/Group", "/BleedBox", "/TrimBox", "/ArtBox"})
HIDDEN_FLAGS = 2 | 32  # annotation flags Hidden and NoView


class Role(enum.Enum):
    """What an object is in the revision a signature covers (never what a later one claims)."""

    CATALOG = "catalog"
    ACROFORM = "acroform"
    FIELDS_ARRAY = "fields_array"
    FIELD = "field"
    PAGE = "page"
    PAGE_TREE = "page_tree"
    ANNOTS_ARRAY = "annots_array"
    ANNOTATION = "annotation"
    PAGE_CONTENT = "page_content"  # reachable from a page's contents, resources, boxes
    APPEARANCE = "appearance"  # reachable from an annotation's or widget's appearance
    INFO = "info"
    METADATA = "metadata"
    VALIDATION_DATA = "validation_data"
    OTHER = "other"


@dataclass
class FieldInfo:
    name: str
    field_type: str | None
    ref: Ref
    widget_of: str | None = None  # set for a widget kid that is not a field itself
    widgets: list[Ref] = field(default_factory=list)


@dataclass
class View:
    """The parts of one revision the comparison needs, found by walking its trees once."""

    resolver: HistoricalResolver
    root_ref: Ref | None
    root: generic.DictionaryObject
    acroform_ref: Ref | None = None
    fields_array_ref: Ref | None = None
    acroform: generic.DictionaryObject | None = None
    top_fields: list[Ref] = field(default_factory=list)
    fields: dict[Ref, FieldInfo] = field(default_factory=dict)
    pages: dict[Ref, int] = field(default_factory=dict)
    page_nodes: set[Ref] = field(default_factory=set)
    annots_arrays: dict[Ref, int] = field(default_factory=dict)
    annots: dict[Ref, int] = field(default_factory=dict)
    info_ref: Ref | None = None
    metadata_ref: Ref | None = None
    dss_refs: set[Ref] = field(default_factory=set)

    content: dict[Ref, int] | None = None  # page content closure -> page (built on demand)
    appearances: dict[Ref, int] | None = None  # annotation appearance closure -> page

    def get(self, ref: Ref) -> generic.PdfObject:
        found: generic.PdfObject = self.resolver(generic.Reference(ref[0], ref[1],
                                                                   pdf=self.resolver))
        return found

    def role(self, ref: Ref) -> Role:
        """What `ref` is in this revision; what people see wins over what metadata claims."""
        if ref == self.root_ref:
            return Role.CATALOG
        if ref == self.acroform_ref:
            return Role.ACROFORM
        if ref == self.fields_array_ref:
            return Role.FIELDS_ARRAY
        if ref in self.fields:
            return Role.FIELD
        if ref in self.pages:
            return Role.PAGE
        if ref in self.page_nodes:
            return Role.PAGE_TREE
        if ref in self.annots_arrays:
            return Role.ANNOTS_ARRAY
        if ref in self.annots:
            return Role.ANNOTATION
        if ref in self.content_closure():
            return Role.PAGE_CONTENT
        if ref in self.appearance_closure():
            return Role.APPEARANCE
        if ref == self.info_ref:
            return Role.INFO
        if ref == self.metadata_ref:
            return Role.METADATA
        if ref in self.dss_refs:
            return Role.VALIDATION_DATA
        return Role.OTHER

    def content_closure(self) -> dict[Ref, int]:
        """Every object a page's content, resources or boxes reach, with the page."""
        if self.content is None:
            self.content = {}
            for page_ref, page in sorted(self.pages.items(), key=lambda item: item[1]):
                node = self.get(page_ref)
                if not isinstance(node, generic.DictionaryObject):
                    continue
                for key in PAGE_CONTENT_KEYS | {"/Thumb", "/PieceInfo", "/Metadata", "/B"}:
                    if key in node:
                        for ref in _closure(self, node.raw_get(key)):
                            self.content.setdefault(ref, page)
        return self.content

    def appearance_closure(self) -> dict[Ref, int]:
        """Every object an annotation's appearance (or a widget's field value) reaches."""
        if self.appearances is None:
            self.appearances = {}
            for annot_ref, page in self.annots.items():
                node = self.get(annot_ref)
                if not isinstance(node, generic.DictionaryObject):
                    continue
                for key in ("/AP", "/MK", "/Popup", "/RC"):
                    if key in node:
                        for ref in _closure(self, node.raw_get(key)):
                            self.appearances.setdefault(ref, page)
        return self.appearances


def as_ref(value: object) -> Ref | None:
    if isinstance(value, generic.IndirectObject):
        return value.idnum, value.generation
    return None


def deref(value: object) -> object:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def build_view(reader: PdfFileReader, revision: int) -> View:
    """Walk revision `revision`'s catalog, page tree, form fields and DSS."""
    resolver = reader.get_historical_resolver(revision)
    trailer = resolver.trailer_view
    root_raw = trailer.raw_get("/Root")
    root = resolver.root  # resolved in this revision (the trailer's references are not)
    if not isinstance(root, generic.DictionaryObject):
        raise ValueError(f"revision {revision + 1} has no document catalog")
    view = View(resolver=resolver, root_ref=as_ref(root_raw), root=root)
    view.info_ref = as_ref(trailer.raw_get("/Info")) if "/Info" in trailer else None
    if "/Metadata" in root:
        view.metadata_ref = as_ref(root.raw_get("/Metadata"))
    _walk_pages(view)
    _walk_fields(view)
    if "/DSS" in root:
        view.dss_refs = _closure(view, root.raw_get("/DSS"))
    return view


def _walk_pages(view: View) -> None:
    if "/Pages" not in view.root:
        return
    stack: list[object] = [view.root.raw_get("/Pages")]
    seen: set[Ref] = set()
    order: list[Ref] = []
    steps = 0
    while stack and steps < WALK_LIMIT:
        steps += 1
        raw = stack.pop()
        ref = as_ref(raw)
        if ref is None or ref in seen:
            continue
        seen.add(ref)
        node = deref(raw)
        if not isinstance(node, generic.DictionaryObject):
            continue
        kids_raw = node.raw_get("/Kids") if "/Kids" in node else None
        kids = deref(kids_raw)
        if isinstance(kids, generic.ArrayObject):
            view.page_nodes.add(ref)
            kids_ref = as_ref(kids_raw)
            if kids_ref is not None:
                view.page_nodes.add(kids_ref)
            stack.extend(reversed([kids.raw_get(i) for i in range(len(kids))]))
        else:
            order.append(ref)
            if "/Annots" in node:
                raw_annots = node.raw_get("/Annots")
                annots_ref = as_ref(raw_annots)
                page = len(order) - 1
                if annots_ref is not None:
                    view.annots_arrays[annots_ref] = page
                for annot in ref_list(deref(raw_annots)):
                    view.annots[annot] = page
    view.pages = {ref: index for index, ref in enumerate(order)}


def _walk_fields(view: View) -> None:
    raw_form = view.root.raw_get("/AcroForm") if "/AcroForm" in view.root else None
    form = deref(raw_form)
    if not isinstance(form, generic.DictionaryObject):
        return
    view.acroform_ref = as_ref(raw_form)
    view.acroform = form
    if "/Fields" not in form:
        return
    raw_fields = form.raw_get("/Fields")
    view.fields_array_ref = as_ref(raw_fields)
    view.top_fields = ref_list(deref(raw_fields))
    stack: list[tuple[Ref, str, str | None]] = [(r, "", None) for r in reversed(view.top_fields)]
    steps = 0
    while stack and steps < WALK_LIMIT:
        steps += 1
        ref, parent_name, parent_type = stack.pop()
        if ref in view.fields:
            continue
        obj = view.get(ref)
        if not isinstance(obj, generic.DictionaryObject):
            continue
        if "/T" not in obj and parent_name and pdf_get(obj, "/Subtype") == "/Widget":
            view.fields[ref] = FieldInfo(parent_name, parent_type, ref, widget_of=parent_name)
            parent = next((f for f in view.fields.values()
                           if f.name == parent_name and f.widget_of is None), None)
            if parent is not None:
                parent.widgets.append(ref)
            continue
        part = str(pdf_get(obj, "/T", ""))
        name = f"{parent_name}.{part}" if parent_name else part
        field_type = str(obj["/FT"]) if "/FT" in obj else parent_type
        info = FieldInfo(name, field_type, ref)
        if pdf_get(obj, "/Subtype") == "/Widget":
            info.widgets.append(ref)
        view.fields[ref] = info
        kids = pdf_get(obj, "/Kids") if "/Kids" in obj else None
        if isinstance(kids, generic.ArrayObject):
            stack.extend((k, name, field_type) for k in reversed(ref_list(kids)))


def _closure(view: View, start: generic.PdfObject) -> set[Ref]:
    """The objects reachable from `start` (references followed, streams not decoded)."""
    found: set[Ref] = set()
    stack: list[generic.PdfObject] = [start]
    while stack and len(found) < WALK_LIMIT:
        item = stack.pop()
        ref = as_ref(item)
        if ref is not None:
            if ref in found:
                continue
            found.add(ref)
            item = view.get(ref)
        stack.extend(generic.IndirectObject(r[0], r[1], view.resolver) for r in refs_in(item))
    return found


def reachable(reader: PdfFileReader, revision: int, wanted: set[Ref]) -> set[Ref]:
    """Which of `wanted` revision `revision` still reaches from its trailer."""
    resolver = reader.get_historical_resolver(revision)
    trailer = resolver.trailer_view
    stack: list[Ref] = [r for key in ("/Root", "/Info", "/Encrypt") if key in trailer
                        for r in refs_in(trailer.raw_get(key))]
    seen: set[Ref] = set()
    while stack and len(seen) < WALK_LIMIT:
        ref = stack.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if ref in wanted:
            continue
        try:
            obj = resolver(generic.Reference(ref[0], ref[1], pdf=resolver))
        except Exception:  # noqa: BLE001 - a dangling reference reaches nothing
            continue
        if isinstance(obj, generic.StreamObject):
            stack.extend(refs_in(generic.DictionaryObject(obj)))
        else:
            stack.extend(refs_in(obj))
    return seen & wanted


def _rect(obj: generic.DictionaryObject) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in obj["/Rect"])
    except (KeyError, TypeError, ValueError):
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def rect_of(obj: generic.DictionaryObject) -> tuple[float, float, float, float] | None:
    """An annotation's /Rect, normalised to (left, bottom, right, top), if it has one."""
    return _rect(obj)


def paints(obj: generic.DictionaryObject) -> bool:
    """Whether an annotation or widget shows anything: an area, not hidden, an appearance."""
    rect = _rect(obj)
    if rect is None or rect[2] - rect[0] <= 0 or rect[3] - rect[1] <= 0:
        return False
    flags = pdf_get(obj, "/F", 0)
    if isinstance(flags, int) and flags & HIDDEN_FLAGS:
        return False
    if "/AP" not in obj:
        # Viewers draw most annotations without one, and synthesize one for a widget too:
        # poppler and MuPDF paint a widget's /MK background and border (a signature's or
        # timestamp's as well), and a form field's value, over the page.
        return pdf_get(obj, "/Subtype") != "/Widget" or _synthesized(obj)
    try:
        normal = obj["/AP"]["/N"]
        streams = normal.values() if isinstance(normal, generic.DictionaryObject) and not \
            isinstance(normal, generic.StreamObject) else [normal]
        return any(isinstance(s, generic.StreamObject) and s.data.strip() for s in streams)
    except (KeyError, TypeError, AttributeError):
        return True


def _synthesized(widget: generic.DictionaryObject) -> bool:
    """Whether viewers draw something for a widget that has no appearance stream: a colour in
    its /MK (background, border), or any field but a signature (its value, its default look)."""
    characteristics = pdf_get(widget, "/MK")
    if isinstance(characteristics, generic.DictionaryObject) and any(
            isinstance(pdf_get(characteristics, key), generic.ArrayObject)
            and len(pdf_get(characteristics, key)) > 0  # type: ignore[arg-type]
            for key in ("/BG", "/BC")):
        return True
    node: object = widget
    for _ in range(32):  # the field type may be inherited from a parent field
        if not isinstance(node, generic.DictionaryObject):
            return True
        if "/FT" in node:
            return pdf_get(node, "/FT") != "/Sig"
        if "/Parent" not in node:
            return True  # a widget of no field: nothing says what a viewer makes of it
        node = pdf_get(node, "/Parent")
    return True
