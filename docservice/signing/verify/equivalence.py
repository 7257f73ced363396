"""Whether an object a revision rewrote is the same in effect as before (for every viewer)."""

from __future__ import annotations

import re

from pyhanko.pdf_utils import generic

from docservice.signing.verify.structure import (
    same,
)
from docservice.signing.verify.views import View, as_ref

_ESCAPED_NAME = re.compile(rb"/[^\x00\t\n\f\r /\[\]()<>{}%]*#")
#: How many values one comparison of two page entries may visit.
_EQUIVALENCE_BUDGET = 20_000


def unchanged_in_effect(keys: set[str], before: generic.PdfObject, after: generic.PdfObject,
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
    ref = as_ref(value)
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
