"""What one incremental update changed, object by object, in words a person understands.

Each revision is compared with the one before it. Every object the revision writes is
accounted for: a signature filling a field, a document timestamp, validation data (DSS),
metadata, form filling, a new field, an annotation, page content, or something this module
does not recognise. The policies (`policy.py`) decide which of these are permitted.
One module on purpose (over 500 lines): one classifier of every object an update may write.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from docservice.signing.verify.equivalence import unchanged_in_effect
from docservice.signing.verify.structure import (
    Ref,
    changed_keys,
    pdf_get,
    ref_list,
    refs_in,
    same,
)
from docservice.signing.verify.views import (
    PAGE_CONTENT_KEYS,
    WALK_LIMIT,
    FieldInfo,
    Role,
    View,
    as_ref,
    deref,
    paints,
    rect_of,
)

WIDGET_UPDATE_KEYS = frozenset({"/AP", "/AS", "/M"})
FIELD_VALUE_KEYS = frozenset({"/V", "/AP", "/AS", "/M", "/RV"})
LAYOUT_KEYS = frozenset({"/Rect", "/P", "/Parent", "/Kids", "/T", "/FT", "/Subtype"})
METADATA_CATALOG_KEYS = frozenset({"/Metadata", "/Extensions", "/Version"})
TAGGING_CATALOG_KEYS = frozenset({"/StructTreeRoot", "/MarkInfo", "/Lang"})
#: Producers' private data in the catalog, pages and page tree: no viewer interprets it (iText
#: stamps /ITXT with its version; /PieceInfo and /LastModified are application data, ISO
#: 32000-1, 14.5). The EU DSS validator ignores /ITXT and counts /PieceInfo as form filling.
PRIVATE_KEYS = frozenset({"/ITXT", "/PieceInfo", "/LastModified"})
#: What a page-tree node holds that viewers use: its structure and inheritable attributes.
PAGE_TREE_KEYS = frozenset({"/Type", "/Parent", "/Kids", "/Count", "/Resources", "/MediaBox",
                            "/CropBox", "/Rotate"})


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
        ref = as_ref(item)
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
        rewritten = unchanged_in_effect(keys & PAGE_CONTENT_KEYS, before, after, old, new)
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
        rect = rect_of(after) if isinstance(after, generic.DictionaryObject) else None
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
    rewritten = unchanged_in_effect(keys & PAGE_TREE_KEYS, before, after, old, new)
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


def _added_field(info: FieldInfo, new: View, widgets: set[Ref]) -> Finding:
    obj = new.get(info.ref)
    value = pdf_get(obj, "/V") if isinstance(obj, generic.DictionaryObject) and "/V" in obj else None
    widget_objs = [new.get(w) for w in widgets]
    visible = any(isinstance(w, generic.DictionaryObject) and paints(w) for w in widget_objs)
    page = next((new.annots[w] for w in widgets if w in new.annots), None)
    rect = next((rect_of(w) for w in widget_objs if isinstance(w, generic.DictionaryObject)), None)
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


def _field(info: FieldInfo, before: generic.PdfObject, after: generic.PdfObject,
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
            if as_ref(value) is not None and as_ref(value) not in new_refs:
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
            old_list = ref_list(deref(before.raw_get("/Annots"))) if "/Annots" in before else []
            new_list = ref_list(deref(after.raw_get("/Annots"))) if "/Annots" in after else []
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
                              "no form field", page=page, rect=rect_of(obj), visible=paints(obj))
                continue
            yield Finding(Kind.ANNOTATION, f"adds a {subtype} annotation on page {page + 1}",
                          page=page, rect=rect_of(obj), visible=paints(obj))


def _describe_other(ref: Ref, after: generic.PdfObject, old: View) -> Finding:
    kind = ""
    if isinstance(after, generic.DictionaryObject):
        kind = " " + " ".join(str(after[k]) for k in ("/Type", "/Subtype") if k in after)
    return Finding(Kind.UNEXPLAINED, f"changes object {ref[0]}{kind.rstrip()}")
