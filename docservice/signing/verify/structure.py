"""Byte-level checks and object helpers shared by the engine and the change analysis.

The revisions themselves are read by `reader` (our own strict reader); this module checks that
each signature's /ByteRange is exactly its revision minus its own /Contents hex string, and
offers the helpers that compare PDF values without following references.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable

from pyhanko.pdf_utils import generic

from docservice.signing.verify.reader import Layout

Ref = tuple[int, int]

_WHITESPACE = re.compile(rb"[\x00\t\n\f\r ]*")
_HEX = re.compile(rb"[0-9A-Fa-f]*")
_CONTENTS_KEY = re.compile(rb"/Contents[\x00\t\n\f\r ]*$")
# A reference "N G R" outside stream data; stream bodies are skipped (their bytes are content).
_REF_OR_STREAM = re.compile(
    rb"(?<!end)stream(?:\r\n|\n)(?:.*?)endstream|(?<![\d.])(\d{1,10})[\x00\t\n\f\r ]+(\d{1,5})"
    rb"[\x00\t\n\f\r ]+R(?![A-Za-z#])", re.DOTALL)


def check_byte_range(pdf: bytes, layout: Layout, *, field: str, byte_range: object,
                     contents: bytes, signed_revision: int) -> list[str]:
    """Why `byte_range` is not exactly [0, /Contents start, /Contents end, rest of its revision]."""
    label = f"the signature in {field}"
    if not (isinstance(byte_range, list) and len(byte_range) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in byte_range)):
        return [f"{label} has a malformed /ByteRange (it must be four non-negative integers)"]
    start, first_length, gap_end, second_length = byte_range
    if start != 0:
        return [f"{label} does not sign the file from its first byte (/ByteRange starts at "
                f"{start})"]
    gap_start = first_length
    if not gap_start < gap_end <= len(pdf) or gap_end + second_length > len(pdf):
        return [f"{label} has a /ByteRange that points outside the file"]
    if pdf[gap_start:gap_start + 1] != b"<" or pdf[gap_end - 1:gap_end] != b">":
        return [f"{label}: the unsigned gap in /ByteRange is not exactly the /Contents hex string"]
    hex_digits = pdf[gap_start + 1:gap_end - 1]
    if _HEX.fullmatch(hex_digits) is None or len(hex_digits) % 2:
        return [f"{label}: the unsigned gap in /ByteRange holds more than the signature value "
                "(bytes other than hexadecimal digits)"]
    if bytes.fromhex(hex_digits.decode("ascii")) != contents:
        return [f"{label}: the unsigned gap in /ByteRange is not this signature's own /Contents"]
    if _CONTENTS_KEY.search(pdf, max(0, gap_start - 64), gap_start) is None:
        return [f"{label}: the unsigned gap in /ByteRange is not the value of /Contents"]
    revision = layout.revision_at(gap_start)
    expected = layout.revision(signed_revision)
    if revision is None or expected is None or revision.end != expected.end:
        return [f"{label}: its /Contents does not lie in the revision that holds its signature "
                "dictionary"]
    signed_end = gap_end + second_length
    if signed_end < revision.eof_end or _WHITESPACE.fullmatch(pdf[signed_end:revision.end]) is None:
        return [f"{label} does not sign the whole revision it belongs to (its /ByteRange ends at "
                f"byte {signed_end}, the revision at byte {revision.end})"]
    return []


def mentioned_refs(data: bytes) -> set[Ref]:
    """Every "N G R" written in `data` outside stream bodies (an over-approximation is safe)."""
    return {(int(m.group(1)), int(m.group(2))) for m in _REF_OR_STREAM.finditer(data)
            if m.group(1) is not None}


def refs_in(obj: generic.PdfObject, *, limit: int = 100_000) -> set[Ref]:
    """The indirect references written inside `obj` (not followed), up to `limit` nodes."""
    found: set[Ref] = set()
    stack: list[generic.PdfObject] = [obj]
    seen = 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, generic.IndirectObject):
            found.add((item.idnum, item.generation))
        elif isinstance(item, generic.DictionaryObject):
            stack.extend(item.raw_get(k) for k in item)
        elif isinstance(item, generic.ArrayObject):
            stack.extend(item)
    return found


#: Resolves a pair of references, each in its own revision (see `same`).
Resolve = Callable[[object, object], tuple[object, object]]


def same(a: object, b: object, depth: int = 0, *, resolve: Resolve | None = None,
         ignore: frozenset[str] = frozenset()) -> bool:
    """Whether two PDF values are written alike: references compared, never followed, unless
    `resolve` reads them (then one reference on both sides still counts as the same object),
    and dictionary keys in `ignore` left out."""
    if depth > 64:
        return False
    if isinstance(a, generic.IndirectObject) or isinstance(b, generic.IndirectObject):
        if isinstance(a, generic.IndirectObject) and isinstance(b, generic.IndirectObject) \
                and (a.idnum, a.generation) == (b.idnum, b.generation):
            return True
        if resolve is None:
            return False
        a, b = resolve(a, b)

    def again(x: object, y: object) -> bool:
        return same(x, y, depth + 1, resolve=resolve, ignore=ignore)

    if (isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject)) and not (
            isinstance(a, generic.StreamObject) and isinstance(b, generic.StreamObject)
            and a.encoded_data == b.encoded_data):
        return False
    if isinstance(a, generic.DictionaryObject):
        return (isinstance(b, generic.DictionaryObject) and set(a) - ignore == set(b) - ignore
                and all(again(a.raw_get(k), b.raw_get(k)) for k in a if k not in ignore))
    if isinstance(a, generic.ArrayObject):
        return (isinstance(b, generic.ArrayObject) and len(a) == len(b)
                and all(again(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, generic.TextStringObject | generic.ByteStringObject):
        return (isinstance(b, generic.TextStringObject | generic.ByteStringObject)
                and a.original_bytes == b.original_bytes)
    numbers = (int, float, decimal.Decimal)  # pyhanko's FloatObject is a Decimal
    if isinstance(a, numbers) and isinstance(b, numbers) and \
            not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)  # 595 and 595.0 are one number to every viewer
    return type(a) is type(b) and a == b


def changed_keys(old: generic.DictionaryObject, new: generic.DictionaryObject) -> set[str]:
    """The keys whose written values differ between two dictionaries."""
    return {str(k) for k in set(old) | set(new)
            if k not in old or k not in new or not same(old.raw_get(k), new.raw_get(k))}


def ref_list(value: object) -> list[Ref]:
    """The references in an array (or a single reference), in order."""
    if isinstance(value, generic.IndirectObject):
        return [(value.idnum, value.generation)]
    if isinstance(value, generic.ArrayObject):
        return [(v.idnum, v.generation) for v in value if isinstance(v, generic.IndirectObject)]
    return []


def pdf_get(obj: object, key: str, default: object = None) -> object:
    """`obj[key]` dereferenced, or `default` when `obj` is no dictionary or lacks `key`."""
    if isinstance(obj, generic.DictionaryObject) and key in obj:
        try:
            return obj[key]
        except (KeyError, ValueError, TypeError):
            return default
    return default
