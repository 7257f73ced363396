"""What one incremental update changed, object by object, in words a person understands.

Each revision is compared with the one before it. Every object the revision writes is
accounted for: a signature filling a field, a document timestamp, validation data (DSS),
metadata, form filling, a new field, an annotation, page content, or something this module
does not recognise. The policies (`policy.py`) decide which of these are permitted.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader

from docservice.signing.verify.structure import (
    Ref,
    changed_keys,
    pdf_get,
    ref_list,
    refs_in,
    same,
)

#: How many objects a walk of one tree (pages, fields, DSS) may visit: a guard against bombs.
WALK_LIMIT = 200_000
WIDGET_UPDATE_KEYS = frozenset({"/AP", "/AS", "/M"})
FIELD_VALUE_KEYS = frozenset({"/V", "/AP", "/AS", "/M", "/RV"})
LAYOUT_KEYS = frozenset({"/Rect", "/P", "/Parent", "/Kids", "/T", "/FT", "/Subtype"})
PAGE_CONTENT_KEYS = frozenset({"/Contents", "/Resources", "/MediaBox", "/CropBox", "/Rotate",
                               "/UserUnit", "/Group", "/BleedBox", "/TrimBox", "/ArtBox"})
METADATA_CATALOG_KEYS = frozenset({"/Metadata", "/Extensions", "/Version"})
TAGGING_CATALOG_KEYS = frozenset({"/StructTreeRoot", "/MarkInfo", "/Lang"})
#: Producers' private data in the catalog, pages and page tree: no viewer interprets it (iText
#: stamps /ITXT with its version; /PieceInfo and /LastModified are application data, ISO
#: 32000-1, 14.5). The EU DSS validator ignores /ITXT and counts /PieceInfo as form filling.
PRIVATE_KEYS = frozenset({"/ITXT", "/PieceInfo", "/LastModified"})
#: What a page-tree node holds that viewers use: its structure and inheritable attributes.
PAGE_TREE_KEYS = frozenset({"/Type", "/Parent", "/Kids", "/Count", "/Resources", "/MediaBox",
                            "/CropBox", "/Rotate"})
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


class Kind(enum.Enum):
    """What sort of change a finding is."""

    SIGNATURE = "signature"  # a signature in a field that existed, empty, before
    DOC_TIMESTAMP = "document_timestamp"  # an invisible document timestamp
    VALIDATION_DATA = "validation_data"  # the DSS: certificates, CRLs, OCSP responses
    METADATA = "metadata"  # XMP, the information dictionary, version markers
    NEW_SIGNATURE_FIELD = "new_signature_field"  # a field created and signed in one go
    FORM_FILLING = "form_filling"  # a value or appearance of a non-signature field
    NEW_FIELD = "new_field"  # a new unsigned field
    ANNOTATION = "annotation"  # a comment, stamp, drawing, link...
    CONTENT = "content"  # page content, pages, catalog actions, replaced signatures...
    UNEXPLAINED = "unexplained"  # not recognised here; the standard policy asks pyhanko
    UNREFERENCED = "unreferenced"  # a new object nothing refers to: no viewer shows it, but the
    # service's own documents never carry one
    PRIVATE_DATA = "private_data"  # a producer's private marker no viewer interprets (/ITXT)
    REWRITTEN = "rewritten"  # page entries written anew that show the same (equal /Resources)


#: What each category of the report's "changes after" means.
CATEGORY_OF = {
    Kind.SIGNATURE: "signatures_and_form_filling",
    Kind.NEW_SIGNATURE_FIELD: "signatures_and_form_filling",
    Kind.FORM_FILLING: "signatures_and_form_filling",
    Kind.DOC_TIMESTAMP: "timestamps_and_validation_data",
    Kind.VALIDATION_DATA: "timestamps_and_validation_data",
    Kind.METADATA: "timestamps_and_validation_data",
    Kind.PRIVATE_DATA: "timestamps_and_validation_data",
    Kind.REWRITTEN: "signatures_and_form_filling",
}
CATEGORY_ORDER = ("none", "timestamps_and_validation_data", "signatures_and_form_filling", "other")


@dataclass(frozen=True)
class Finding:
    """One thing a revision changed."""

    kind: Kind
    message: str
    field: str | None = None
    page: int | None = None  # 0-based
    rect: tuple[float, float, float, float] | None = None
    visible: bool = False

    @property
    def category(self) -> str:
        """The report's category: none / timestamps_and_validation_data / ... / other."""
        return CATEGORY_OF.get(self.kind, "other")


@dataclass(frozen=True)
class RevisionChanges:
    """Everything revision `index` changed compared with revision `index - 1`."""

    index: int
    findings: tuple[Finding, ...]
    signed_fields: tuple[str, ...]  # fields whose signature (or timestamp) this revision added
    new_refs: frozenset[Ref]

    @property
    def category(self) -> str:
        """The most significant category among the findings."""
        cats = {f.category for f in self.findings} or {"none"}
        return max(cats, key=CATEGORY_ORDER.index)


@dataclass
class _Field:
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
    fields: dict[Ref, _Field] = field(default_factory=dict)
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
        return self.resolver(generic.Reference(ref[0], ref[1], pdf=self.resolver))

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


def _as_ref(value: object) -> Ref | None:
    if isinstance(value, generic.IndirectObject):
        return value.idnum, value.generation
    return None


def _deref(value: object) -> object:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def build_view(reader: PdfFileReader, revision: int) -> View:
    """Walk revision `revision`'s catalog, page tree, form fields and DSS."""
    resolver = reader.get_historical_resolver(revision)
    trailer = resolver.trailer_view
    root_raw = trailer.raw_get("/Root")
    root = resolver.root  # resolved in this revision (the trailer's references are not)
    if not isinstance(root, generic.DictionaryObject):
        raise ValueError(f"revision {revision + 1} has no document catalog")
    view = View(resolver=resolver, root_ref=_as_ref(root_raw), root=root)
    view.info_ref = _as_ref(trailer.raw_get("/Info")) if "/Info" in trailer else None
    if "/Metadata" in root:
        view.metadata_ref = _as_ref(root.raw_get("/Metadata"))
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
        ref = _as_ref(raw)
        if ref is None or ref in seen:
            continue
        seen.add(ref)
        node = _deref(raw)
        if not isinstance(node, generic.DictionaryObject):
            continue
        kids_raw = node.raw_get("/Kids") if "/Kids" in node else None
        kids = _deref(kids_raw)
        if isinstance(kids, generic.ArrayObject):
            view.page_nodes.add(ref)
            kids_ref = _as_ref(kids_raw)
            if kids_ref is not None:
                view.page_nodes.add(kids_ref)
            stack.extend(reversed([kids.raw_get(i) for i in range(len(kids))]))
        else:
            order.append(ref)
            if "/Annots" in node:
                raw_annots = node.raw_get("/Annots")
                annots_ref = _as_ref(raw_annots)
                page = len(order) - 1
                if annots_ref is not None:
                    view.annots_arrays[annots_ref] = page
                for annot in ref_list(_deref(raw_annots)):
                    view.annots[annot] = page
    view.pages = {ref: index for index, ref in enumerate(order)}


def _walk_fields(view: View) -> None:
    raw_form = view.root.raw_get("/AcroForm") if "/AcroForm" in view.root else None
    form = _deref(raw_form)
    if not isinstance(form, generic.DictionaryObject):
        return
    view.acroform_ref = _as_ref(raw_form)
    view.acroform = form
    if "/Fields" not in form:
        return
    raw_fields = form.raw_get("/Fields")
    view.fields_array_ref = _as_ref(raw_fields)
    view.top_fields = ref_list(_deref(raw_fields))
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
            view.fields[ref] = _Field(parent_name, parent_type, ref, widget_of=parent_name)
            parent = next((f for f in view.fields.values()
                           if f.name == parent_name and f.widget_of is None), None)
            if parent is not None:
                parent.widgets.append(ref)
            continue
        part = str(pdf_get(obj, "/T", ""))
        name = f"{parent_name}.{part}" if parent_name else part
        field_type = str(obj["/FT"]) if "/FT" in obj else parent_type
        info = _Field(name, field_type, ref)
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
        ref = _as_ref(item)
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


def analyse_revision(reader: PdfFileReader, index: int, *, old: View, new: View,
                     planted: set[Ref], deleted: frozenset[Ref] = frozenset()) -> RevisionChanges:
    """Every change revision `index` makes to revision `index - 1`, as findings.

    `planted` holds the references written in earlier revisions' bytes: a new object with such
    a number was pointed to before it existed, a way to slip content under a signature.
    `deleted` holds the objects the strict reader saw freed (every free entry of an object in
    use before, whatever its next generation: pyhanko ignores some that viewers honour).
    """
    xrefs = reader.xrefs
    findings: list[Finding] = []
    structural = {(r.idnum, r.generation) for r in xrefs.object_streams_used_in(index)}
    stream_ref = xrefs.get_xref_container_info(index).stream_ref
    if stream_ref is not None:
        structural.add((stream_ref.idnum, stream_ref.generation))
    written = {(r.idnum, r.generation) for r in xrefs.explicit_refs_in_revision(index)}
    written -= structural
    freed = {(r.idnum, r.generation) for r in xrefs.refs_freed_in_revision(index)}
    freed_existing = {r for r in freed
                      if xrefs.get_historical_ref(generic.Reference(*r), index - 1) is not None}
    freed_existing |= deleted
    written -= freed
    gone = {number for number, _ in deleted}
    written = {r for r in written if r[0] not in gone}
    validation_only = {r for r in freed_existing if old.role(r) is Role.VALIDATION_DATA}
    if validation_only:
        findings.append(Finding(Kind.VALIDATION_DATA, f"removes {len(validation_only)} "
                                "validation data object(s) (DSS)"))
    if freed_existing - validation_only:
        findings.append(Finding(Kind.CONTENT, f"deletes {len(freed_existing - validation_only)} "
                                "object(s) of the signed document"))
    if old.root_ref != new.root_ref:
        findings.append(Finding(Kind.CONTENT, "replaces the document catalog with another one"))
    if not same(pdf_get(old.resolver.trailer_view, "/Encrypt"), pdf_get(new.resolver.trailer_view, "/Encrypt")):
        findings.append(Finding(Kind.CONTENT, "changes the document's encryption"))

    new_refs: set[Ref] = set()
    changed: dict[Ref, tuple[generic.PdfObject, generic.PdfObject]] = {}
    for ref in written:
        if xrefs.get_historical_ref(generic.Reference(*ref), index - 1) is None:
            new_refs.add(ref)
            continue
        before, after = old.get(ref), new.get(ref)
        if not same(before, after):
            changed[ref] = (before, after)

    signed_now = _fields_signed(old, new)
    added_widgets: set[Ref] = set()
    if old.fields_array_ref is not None and old.fields_array_ref in changed:
        findings.extend(_fields_list(old, new, new_refs, added_widgets))
    for ref, (before, after) in changed.items():
        findings.extend(_classify(ref, before, after, old=old, new=new, new_refs=new_refs,
                                  signed_now=signed_now, added_widgets=added_widgets))
    # annotations added to pages are judged once every added field's widgets are known
    findings.extend(_page_annotations(changed, old, new, added_widgets))

    orphans = sorted(new_refs - _referenced(new, written) - planted)
    if orphans:
        findings.append(Finding(Kind.UNREFERENCED, "adds object(s) "
                                f"{', '.join(str(r[0]) for r in orphans[:5])} that nothing in "
                                "the document refers to"))
    # Only content: an earlier number a DSS, VRI or other validation data reuses was merely
    # reserved; one that pages, resources, annotations, the form or actions reach shows.
    hidden = sorted(_content_reached(new, new_refs & planted)) if new_refs & planted else []
    if hidden:
        findings.append(Finding(Kind.CONTENT, f"defines object(s) {', '.join(str(r[0]) for r in hidden[:5])} "
                                "that content signed earlier already pointed to (content planted "
                                "before signing)"))
    return RevisionChanges(index, tuple(findings), tuple(sorted(signed_now)), frozenset(new_refs))


def _referenced(view: View, written: set[Ref]) -> set[Ref]:
    """What the trailer and the objects a revision writes refer to."""
    found = refs_in(view.resolver.trailer_view)
    for ref in written:
        try:
            obj = view.get(ref)
        except Exception:  # noqa: BLE001 - an unreadable object refers to nothing we can see
            continue
        found |= refs_in(obj)
    return found


#: Catalog entries whose objects nobody sees: validation data and metadata.
_NOT_CONTENT_KEYS = frozenset({"/DSS", "/Metadata"})


def _content_reached(view: View, candidates: set[Ref]) -> set[Ref]:
    """Which of `candidates` the document's content reaches in `view`'s revision: everything
    from the catalog (pages, resources, annotations, the form, actions, names) but validation
    data and metadata. All of them when the walk is cut short: unknown is not harmless."""
    found: set[Ref] = set()
    seen: set[Ref] = set()
    stack: list[object] = [view.root.raw_get(k) for k in view.root if k not in _NOT_CONTENT_KEYS]
    steps = 0
    while stack and found != candidates:
        steps += 1
        if steps > WALK_LIMIT:
            return set(candidates)
        item = stack.pop()
        ref = _as_ref(item)
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
            if ref in candidates:
                found.add(ref)
            item = view.get(ref)
        stack.extend(generic.IndirectObject(r[0], r[1], view.resolver)
                     for r in refs_in(item))  # type: ignore[arg-type]
    return found


def _fields_signed(old: View, new: View) -> dict[str, str]:
    """Signature fields that gained a value: field name -> /Type of the new value."""
    signed: dict[str, str] = {}
    for ref, info in new.fields.items():
        if info.widget_of is not None or info.field_type != "/Sig":
            continue
        after = new.get(ref)
        if not isinstance(after, generic.DictionaryObject) or "/V" not in after:
            continue
        before_info = old.fields.get(ref)
        before = old.get(ref) if before_info is not None else None
        if isinstance(before, generic.DictionaryObject) and "/V" in before and \
                not isinstance(pdf_get(before, "/V"), generic.NullObject):
            continue
        value = pdf_get(after, "/V")
        if isinstance(value, generic.DictionaryObject):
            signed[info.name] = str(pdf_get(value, "/Type", "/Sig"))
    return signed


def _classify(ref: Ref, before: generic.PdfObject, after: generic.PdfObject, *, old: View,
              new: View, new_refs: set[Ref], signed_now: dict[str, str],
              added_widgets: set[Ref]) -> Iterator[Finding]:
    # By the role the object had in the revision before, never by the one the new revision
    # gives it: pointing /Info or a DSS entry at a page's content does not make it metadata.
    role = old.role(ref)
    if role is Role.CATALOG:
        yield from _catalog(before, after, old, new, new_refs, added_widgets)
    elif role is Role.ACROFORM:
        yield from _acroform(before, after, old, new, new_refs, added_widgets)
    elif role is Role.FIELDS_ARRAY:
        return  # judged with the form as a whole (_fields_list)
    elif role is Role.FIELD:
        yield from _field(old.fields[ref], before, after, new_refs, signed_now)
    elif role is Role.INFO:
        yield Finding(Kind.METADATA, "updates the document information (producer, dates)")
    elif role is Role.METADATA:
        yield Finding(Kind.METADATA, "updates the XMP metadata")
    elif role is Role.VALIDATION_DATA:
        yield Finding(Kind.VALIDATION_DATA, "updates validation data (DSS)")
    elif role is Role.PAGE_CONTENT:
        page = old.content_closure()[ref]
        yield Finding(Kind.CONTENT, f"changes the content of page {page + 1} (its content "
                      "stream, fonts, images or other resources)", page=page)
    elif role is Role.APPEARANCE:
        page = old.appearance_closure()[ref]
        yield Finding(Kind.CONTENT, f"changes the appearance of an annotation or signature on "
                      f"page {page + 1} in place", page=page)
    elif role is Role.PAGE:
        page = old.pages[ref]
        keys = changed_keys(before, after) if isinstance(before, generic.DictionaryObject) and \
            isinstance(after, generic.DictionaryObject) else {"(the whole page)"}
        keys.discard("/Annots")  # see _page_annotations
        rewritten = _unchanged_in_effect(keys & PAGE_CONTENT_KEYS, before, after, old, new)
        if rewritten:
            keys -= rewritten
            yield Finding(Kind.REWRITTEN, f"rewrites page {page + 1}'s "
                          f"{', '.join(sorted(rewritten))} without changing what it shows",
                          page=page)
        content = sorted(keys & PAGE_CONTENT_KEYS)
        if content:
            yield Finding(Kind.CONTENT, f"changes page {page + 1} ({', '.join(content)})",
                          page=page)
        elif keys and keys <= PRIVATE_KEYS:
            yield Finding(Kind.PRIVATE_DATA, f"changes private data of page {page + 1} "
                          f"({', '.join(sorted(keys))})", page=page)
        elif keys:
            yield Finding(Kind.UNEXPLAINED, f"changes page {page + 1}'s properties "
                          f"({', '.join(sorted(keys))})", page=page)
    elif role is Role.PAGE_TREE:
        yield from _page_tree_node(before, after, old, new)
    elif role is Role.ANNOTS_ARRAY:
        return  # see _page_annotations
    elif role is Role.ANNOTATION:
        page = old.annots[ref]
        subtype = pdf_get(after, "/Subtype", "?") if isinstance(after, generic.DictionaryObject) else "?"
        rect = _rect(after) if isinstance(after, generic.DictionaryObject) else None
        visible = paints(after) if isinstance(after, generic.DictionaryObject) else True
        yield Finding(Kind.ANNOTATION, f"changes a {subtype} annotation on page {page + 1}",
                      page=page, rect=rect, visible=visible)
    else:
        yield _describe_other(ref, after, old)


def _catalog(before: generic.PdfObject, after: generic.PdfObject, old: View, new: View,
             new_refs: set[Ref], added_widgets: set[Ref]) -> Iterator[Finding]:
    if not (isinstance(before, generic.DictionaryObject)
            and isinstance(after, generic.DictionaryObject)):
        yield Finding(Kind.CONTENT, "replaces the document catalog")
        return
    for key in sorted(changed_keys(before, after)):
        if key == "/AcroForm":
            if old.acroform_ref is not None and old.acroform_ref == new.acroform_ref:
                continue
            yield from _acroform(old.acroform or generic.DictionaryObject(),
                                 new.acroform or generic.DictionaryObject(), old, new, new_refs,
                                 added_widgets)
        elif key == "/DSS":
            yield Finding(Kind.VALIDATION_DATA, "adds or updates validation data (DSS)")
        elif key in METADATA_CATALOG_KEYS:
            yield Finding(Kind.METADATA, f"updates the catalog's {key}")
        elif key in TAGGING_CATALOG_KEYS:
            yield Finding(Kind.UNEXPLAINED, f"changes the document's tagging ({key})")
        elif key in PRIVATE_KEYS:
            yield Finding(Kind.PRIVATE_DATA, f"changes the catalog's private data ({key})")
        else:
            what = "adds" if key not in before else "removes" if key not in after else "changes"
            yield Finding(Kind.CONTENT, f"{what} the document catalog's {key}"
                          + _CATALOG_HINTS.get(key, ""))


def _page_tree_node(before: generic.PdfObject, after: generic.PdfObject, old: View,
                    new: View) -> Iterator[Finding]:
    structural = "changes the page tree (pages added, removed or reordered)"
    if not (isinstance(before, generic.DictionaryObject)
            and isinstance(after, generic.DictionaryObject)):
        yield Finding(Kind.CONTENT, structural)
        return
    keys = changed_keys(before, after)
    rewritten = _unchanged_in_effect(keys & PAGE_TREE_KEYS, before, after, old, new)
    if rewritten:
        keys -= rewritten
        yield Finding(Kind.REWRITTEN, f"rewrites the page tree's {', '.join(sorted(rewritten))} "
                      "without changing its pages")
    if keys & PAGE_TREE_KEYS:
        yield Finding(Kind.CONTENT, f"{structural}: {', '.join(sorted(keys & PAGE_TREE_KEYS))}")
    elif keys and keys <= PRIVATE_KEYS:
        yield Finding(Kind.PRIVATE_DATA, "changes private data of the page tree "
                      f"({', '.join(sorted(keys))})")
    elif keys:
        yield Finding(Kind.UNEXPLAINED, f"changes the page tree's {', '.join(sorted(keys))}")


_ESCAPED_NAME = re.compile(rb"/[^\x00\t\n\f\r /\[\]()<>{}%]*#")
#: How many values one comparison of two page entries may visit.
_EQUIVALENCE_BUDGET = 20_000


def _unchanged_in_effect(keys: set[str], before: generic.PdfObject, after: generic.PdfObject,
                         old: View, new: View) -> set[str]:
    """The `keys` whose values, written differently, show the same thing: the same values
    behind other (new) objects, and for /Resources, also entries added under names the page's
    content never uses (a signature appearance's font, say)."""
    same_effect: set[str] = set()
    if not (isinstance(before, generic.DictionaryObject)
            and isinstance(after, generic.DictionaryObject)):
        return same_effect
    for key in keys:
        if key not in before or key not in after:
            continue
        budget = [_EQUIVALENCE_BUDGET]
        a, b = before.raw_get(key), after.raw_get(key)
        if _equivalent(a, b, old, new, budget) or (
                key == "/Resources" and _resources_only_extended(a, b, before, old, new, budget)):
            same_effect.add(key)
    return same_effect


class _OverBudget(Exception):
    """Comparing followed references took more steps than a page's resources deserve."""


def _equivalent(a: object, b: object, old: View, new: View, budget: list[int]) -> bool:
    """Whether `a` (read in `old`) and `b` (read in `new`) are the same value, references
    followed. One reference on both sides is the same object: a change to the object itself is
    judged where that object is."""
    def resolve(x: object, y: object) -> tuple[object, object]:
        budget[0] -= 1
        if budget[0] < 0:
            raise _OverBudget
        return _deref_in(x, old), _deref_in(y, new)

    try:
        return same(a, b, resolve=resolve, ignore=frozenset({"/Length"}))
    except _OverBudget:
        return False


def _resources_only_extended(a: object, b: object, page: generic.DictionaryObject, old: View,
                             new: View, budget: list[int]) -> bool:
    """Whether resources `b` are resources `a` plus entries under names the page's content
    streams never use (content that names a missing resource would show it once added)."""
    a, b = _deref_in(a, old), _deref_in(b, new)
    if not (isinstance(a, generic.DictionaryObject) and isinstance(b, generic.DictionaryObject)):
        return False
    added: set[str] = set()
    for category in set(a) | set(b):
        if category == "/ProcSet":
            continue  # obsolete: ignored by viewers (ISO 32000-1, 14.2)
        if category not in b:
            return False
        sub_b = _deref_in(b.raw_get(category), new)
        if category not in a:
            if not isinstance(sub_b, generic.DictionaryObject):
                return False
            added |= {str(name) for name in sub_b}
            continue
        sub_a = _deref_in(a.raw_get(category), old)
        if not (isinstance(sub_a, generic.DictionaryObject)
                and isinstance(sub_b, generic.DictionaryObject)):
            return _equivalent(a.raw_get(category), b.raw_get(category), old, new, budget)
        for name in set(sub_a) | set(sub_b):
            if name not in sub_b:
                return False
            if name not in sub_a:
                added.add(str(name))
            elif not _equivalent(sub_a.raw_get(name), sub_b.raw_get(name), old, new, budget):
                return False
    return not added or not _content_uses(page, old, added)


def _deref_in(value: object, view: View) -> object:
    ref = _as_ref(value)
    return view.get(ref) if ref is not None else value


def _content_uses(page: generic.DictionaryObject, view: View, names: set[str]) -> bool:
    """Whether the page's content streams, or form XObjects that use the page's resources,
    name any of `names` (content that cannot be read, or escaped names: yes)."""
    try:
        contents = _deref_in(page.raw_get("/Contents"), view) if "/Contents" in page else None
        streams = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
        resources = _deref_in(page.raw_get("/Resources"), view) if "/Resources" in page else None
        xobjects = _deref_in(resources.raw_get("/XObject"), view) if isinstance(
            resources, generic.DictionaryObject) and "/XObject" in resources else None
        if isinstance(xobjects, generic.DictionaryObject):
            for key in xobjects:
                xobject = _deref_in(xobjects.raw_get(key), view)
                if isinstance(xobject, generic.StreamObject) and "/Resources" not in xobject:
                    streams.append(xobject)  # a form that uses the page's resources
        data = b"".join(s.data for s in (_deref_in(x, view) for x in streams)
                        if isinstance(s, generic.StreamObject))
    except Exception:  # noqa: BLE001 - content that cannot be decoded may use anything
        return True
    if _ESCAPED_NAME.search(data):
        return True
    for name in names:
        token = name.encode("latin-1", "replace")
        at = data.find(token)
        while at >= 0:
            end = at + len(token)
            if end >= len(data) or data[end:end + 1] in b" \t\r\n\f\0/[]()<>{}%":
                return True
            at = data.find(token, end)
    return False


_CATALOG_HINTS = {
    "/OpenAction": " (an action run when the document opens)",
    "/AA": " (actions run on document events)",
    "/Names": " (named destinations, scripts or embedded files)",
    "/Perms": " (document permissions: a certification added after signing)",
    "/OCProperties": " (optional content: layers that can hide or show content)",
    "/Pages": " (the pages themselves)",
}


def _acroform(before: generic.PdfObject, after: generic.PdfObject, old: View, new: View,
              new_refs: set[Ref], added_widgets: set[Ref]) -> Iterator[Finding]:
    if not (isinstance(before, generic.DictionaryObject)
            and isinstance(after, generic.DictionaryObject)):
        yield Finding(Kind.CONTENT, "replaces the interactive form")
        return
    for key in sorted(changed_keys(before, after)):
        if key == "/Fields":
            if old.fields_array_ref is not None and old.fields_array_ref == new.fields_array_ref:
                continue
            yield from _fields_list(old, new, new_refs, added_widgets)
        elif key == "/SigFlags":
            continue
        elif key in ("/DR", "/DA"):
            yield Finding(Kind.FORM_FILLING, f"changes the form's default appearance ({key})")
        elif key == "/XFA":
            yield Finding(Kind.CONTENT, "changes the XFA form (content that replaces the pages)")
        elif key == "/NeedAppearances":
            # Viewers then draw every field anew from its value, ignoring the appearances
            # signed: poppler shows the signatures' stamps blank.
            yield Finding(Kind.CONTENT, "changes the form's /NeedAppearances (viewers redraw "
                          "every field, signed ones included, instead of showing their "
                          "appearance as signed)")
        else:
            yield Finding(Kind.UNEXPLAINED, f"changes the interactive form's {key}")


def _fields_list(old: View, new: View, new_refs: set[Ref],
                 added_widgets: set[Ref]) -> Iterator[Finding]:
    before, after = old.top_fields, new.top_fields
    removed = [r for r in before if r not in after]
    if removed:
        names = [old.fields[r].name for r in removed if r in old.fields]
        yield Finding(Kind.CONTENT, "removes form field(s) " + ", ".join(repr(n) for n in names))
    for ref in after:
        if ref in before or ref not in new.fields:
            continue
        info = new.fields[ref]
        kids = [r for r, f in new.fields.items() if f.name == info.name or
                f.name.startswith(info.name + ".")]
        widgets = {w for r in kids for w in new.fields[r].widgets}
        widgets |= {r for r in kids if new.fields[r].widget_of is not None}
        added_widgets.update(widgets)
        added_widgets.add(ref)
        yield _added_field(info, new, widgets)


def _added_field(info: _Field, new: View, widgets: set[Ref]) -> Finding:
    obj = new.get(info.ref)
    value = pdf_get(obj, "/V") if isinstance(obj, generic.DictionaryObject) and "/V" in obj else None
    widget_objs = [new.get(w) for w in widgets]
    visible = any(isinstance(w, generic.DictionaryObject) and paints(w) for w in widget_objs)
    page = next((new.annots[w] for w in widgets if w in new.annots), None)
    rect = next((_rect(w) for w in widget_objs if isinstance(w, generic.DictionaryObject)), None)
    name = info.name
    if info.field_type == "/Sig" and isinstance(value, generic.DictionaryObject):
        if pdf_get(value, "/Type") == "/DocTimeStamp" and not visible:
            return Finding(Kind.DOC_TIMESTAMP, f"adds a document timestamp (field {name!r})",
                           field=name, page=page, rect=rect)
        return Finding(Kind.NEW_SIGNATURE_FIELD,
                       f"adds a new signature field {name!r} and signs it (not one of the fields "
                       "the document was prepared with)", field=name, page=page, rect=rect,
                       visible=visible)
    kind_word = "signature field" if info.field_type == "/Sig" else "form field"
    paint = " with a visible appearance that paints over the page" if visible else ""
    return Finding(Kind.NEW_FIELD, f"adds a new, empty {kind_word} {name!r}{paint}", field=name,
                   page=page, rect=rect, visible=visible)


def _field(info: _Field, before: generic.PdfObject, after: generic.PdfObject,
           new_refs: set[Ref], signed_now: dict[str, str]) -> Iterator[Finding]:
    if not (isinstance(before, generic.DictionaryObject)
            and isinstance(after, generic.DictionaryObject)):
        yield Finding(Kind.CONTENT, f"replaces form field {info.name!r}", field=info.name)
        return
    keys = changed_keys(before, after)
    name = info.name
    if info.widget_of is not None:
        if keys <= WIDGET_UPDATE_KEYS and (name in signed_now or info.field_type != "/Sig"):
            if name not in signed_now:
                yield Finding(Kind.FORM_FILLING, f"fills in form field {name!r}", field=name)
            return
        yield _field_keys_finding(name, keys, "the widget of field")
        return
    if info.field_type == "/Sig":
        if name in signed_now:
            value = after.raw_get("/V")
            if _as_ref(value) is not None and _as_ref(value) not in new_refs:
                yield Finding(Kind.CONTENT, f"puts an object of the signed document into field "
                              f"{name!r} as its signature", field=name)
                return
            if signed_now[name] == "/DocTimeStamp":
                yield Finding(Kind.DOC_TIMESTAMP, f"adds a document timestamp in field {name!r}",
                              field=name)
            else:
                yield Finding(Kind.SIGNATURE, f"adds a signature in field {name!r}", field=name)
            extra = keys - {"/V"} - WIDGET_UPDATE_KEYS
            if extra:
                yield _field_keys_finding(name, extra, "signature field")
            return
        if "/V" in keys:
            yield Finding(Kind.CONTENT, f"replaces or removes the signature in field {name!r}",
                          field=name)
            return
        yield _field_keys_finding(name, keys, "signature field")
        return
    if keys <= FIELD_VALUE_KEYS:
        yield Finding(Kind.FORM_FILLING, f"fills in form field {name!r}", field=name)
        return
    yield _field_keys_finding(name, keys, "form field")


def _field_keys_finding(name: str, keys: set[str], what: str) -> Finding:
    listed = ", ".join(sorted(keys))
    kind = Kind.CONTENT if keys & LAYOUT_KEYS else Kind.UNEXPLAINED
    return Finding(kind, f"changes {what} {name!r} ({listed})", field=name)


def _page_annotations(changed: dict[Ref, tuple[generic.PdfObject, generic.PdfObject]],
                      old: View, new: View, added_widgets: set[Ref]) -> Iterator[Finding]:
    for ref, (before, after) in changed.items():
        if ref in old.pages:
            page = old.pages[ref]
            if not (isinstance(before, generic.DictionaryObject)
                    and isinstance(after, generic.DictionaryObject)):
                continue
            if "/Annots" not in changed_keys(before, after):
                continue
            old_list = ref_list(_deref(before.raw_get("/Annots"))) if "/Annots" in before else []
            new_list = ref_list(_deref(after.raw_get("/Annots"))) if "/Annots" in after else []
        elif ref in old.annots_arrays:
            page = old.annots_arrays[ref]
            old_list, new_list = ref_list(before), ref_list(after)
        else:
            continue
        removed = [r for r in old_list if r not in new_list]
        if removed:
            yield Finding(Kind.CONTENT, f"removes {len(removed)} annotation(s) from page "
                          f"{page + 1}", page=page)
        for annot in new_list:
            if annot in old_list or annot in added_widgets:
                continue
            obj = new.get(annot)
            if not isinstance(obj, generic.DictionaryObject):
                continue
            subtype = str(pdf_get(obj, "/Subtype", "?"))
            if subtype == "/Widget":
                yield Finding(Kind.NEW_FIELD, f"adds a widget on page {page + 1} that belongs to "
                              "no form field", page=page, rect=_rect(obj), visible=paints(obj))
                continue
            yield Finding(Kind.ANNOTATION, f"adds a {subtype} annotation on page {page + 1}",
                          page=page, rect=_rect(obj), visible=paints(obj))


def _describe_other(ref: Ref, after: generic.PdfObject, old: View) -> Finding:
    kind = ""
    if isinstance(after, generic.DictionaryObject):
        kind = " " + " ".join(str(after[k]) for k in ("/Type", "/Subtype") if k in after)
    return Finding(Kind.UNEXPLAINED, f"changes object {ref[0]}{kind.rstrip()}")
