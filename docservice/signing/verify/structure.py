"""The file's revision structure, read from its bytes: where each revision ends, what each signs.

pyhanko follows the chain of cross-reference sections from the last `startxref`; this module
checks that the chain accounts for every byte: each revision ends with its own
`startxref`/`%%EOF`, its cross-reference section and objects lie inside its own bytes, nothing
trails the final `%%EOF`, and each signature's /ByteRange is exactly its revision minus its
own /Contents hex string.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import ObjStreamRef, XRefSectionData

Ref = tuple[int, int]

_EOF_MARKER = re.compile(rb"startxref[\x00\t\n\f\r ]+(\d+)[\x00\t\n\f\r ]+%%EOF")
_EOL = re.compile(rb"\r\n|\r|\n")
_OBJ_HEADER = re.compile(rb"[\x00\t\n\f\r ]*(\d+)[\x00\t\n\f\r ]+(\d+)[\x00\t\n\f\r ]+obj")
_WHITESPACE = re.compile(rb"[\x00\t\n\f\r ]*")
_XREF_KEYWORD = re.compile(rb"[\x00\t\n\f\r ]*(?:xref)?[\x00\t\n\f\r ]*")
_HEX = re.compile(rb"[0-9A-Fa-f]*")
_CONTENTS_KEY = re.compile(rb"/Contents[\x00\t\n\f\r ]*$")
# A reference "N G R" outside stream data; stream bodies are skipped (their bytes are content).
_REF_OR_STREAM = re.compile(
    rb"(?<!end)stream(?:\r\n|\n)(?:.*?)endstream|(?<![\d.])(\d{1,10})[\x00\t\n\f\r ]+(\d{1,5})"
    rb"[\x00\t\n\f\r ]+R(?![A-Za-z#])", re.DOTALL)


@dataclass(frozen=True)
class Revision:
    """One revision's bytes: [start, end) with its cross-reference section at `xref_start`."""

    index: int  # pyhanko's revision number (0 = oldest cross-reference section)
    start: int
    xref_start: int
    eof_end: int  # just after "%%EOF"
    end: int  # after the end-of-line that follows "%%EOF"


@dataclass(frozen=True)
class Layout:
    """Every revision of a file, oldest first, and what is wrong with the file's structure."""

    revisions: tuple[Revision, ...]
    problems: tuple[str, ...]
    strict_problems: tuple[str, ...]  # tolerated by the standard policy (sloppy but harmless)

    def revision(self, index: int) -> Revision | None:
        """The revision pyhanko numbers `index` (the first two share bytes when linearised)."""
        for revision in self.revisions:
            if revision.index == index:
                return revision
        return None

    def revision_at(self, offset: int) -> Revision | None:
        """The revision whose bytes hold `offset`."""
        for revision in self.revisions:
            if revision.start <= offset < revision.end:
                return revision
        return None


def read_layout(pdf: bytes, reader: PdfFileReader) -> Layout:
    """Map each cross-reference section pyhanko read to its bytes and check they tile the file."""
    xrefs = reader.xrefs
    count = xrefs.total_revisions
    metas = [xrefs.get_xref_container_info(i) for i in range(count)]
    markers = [(int(m.group(1)), m.start(), m.end()) for m in _EOF_MARKER.finditer(pdf)]
    problems: list[str] = []
    strict_problems: list[str] = []
    # Linearised files: the first-page section (read second) sits before the main one.
    linearised = count >= 2 and metas[1].start_location < metas[0].start_location
    used_markers: set[int] = set()
    revisions: list[Revision] = []
    previous_end = 0
    for index, meta in enumerate(metas):
        if linearised and index == 1:
            first = revisions[0]
            revisions.append(Revision(1, first.start, meta.start_location, first.eof_end, first.end))
            # its own "startxref 0 %%EOF" line, if any, is part of the first revision
            for number, (_, at, _end) in enumerate(markers):
                if meta.end_location <= at < first.xref_start:
                    used_markers.add(number)
                    break
            continue
        declared = meta.declared_startxref
        gap = pdf[declared:meta.start_location]
        if declared > meta.start_location or _XREF_KEYWORD.fullmatch(gap) is None:
            problems.append(f"revision {index + 1}: startxref points to byte {declared}, but its "
                            f"cross-reference section starts at byte {meta.start_location}")
        wanted = metas[1].declared_startxref if linearised and index == 0 else declared
        found = None
        for number, (value, at, eof_end) in enumerate(markers):
            if number not in used_markers and at >= meta.end_location and value == wanted:
                found = number, eof_end
                break
        if found is None:
            problems.append(f"revision {index + 1} does not end with startxref and %%EOF "
                            "after its cross-reference section")
            return Layout(tuple(revisions), tuple(problems), tuple(strict_problems))
        used_markers.add(found[0])
        eof_end = found[1]
        eol = _EOL.match(pdf, eof_end)
        end = eol.end() if eol else eof_end
        if meta.start_location < previous_end:
            problems.append(f"revision {index + 1}'s cross-reference section lies inside the bytes "
                            "of an earlier revision")
        if end <= previous_end:
            problems.append(f"revision {index + 1} ends before the revision it updates")
        revisions.append(Revision(index, previous_end, meta.start_location, eof_end, end))
        previous_end = end
    for number, (_, at, _end) in enumerate(markers):
        if number not in used_markers:
            problems.append(f"a startxref/%%EOF at byte {at} belongs to no revision of the "
                            "cross-reference chain (a hidden or orphaned revision)")
    trailing = pdf[previous_end:]
    if trailing and _WHITESPACE.fullmatch(trailing) is None:
        problems.append(f"{len(trailing)} bytes after the final %%EOF are not a complete "
                        "incremental update (no cross-reference section and trailer of their own)")
    for revision in revisions:
        if linearised and revision.index == 1:
            continue
        section = xrefs.get_xref_data(revision.index)
        _check_objects(pdf, revision, section, problems, strict_problems)
        if section.hybrid is not None:
            _check_objects(pdf, revision, section.hybrid.xref_data, problems, strict_problems)
            hybrid_start = section.hybrid.meta_info.start_location
            if not revision.start <= hybrid_start < revision.end:
                problems.append(f"revision {revision.index + 1}'s hybrid cross-reference stream "
                                "lies outside its own bytes")
    return Layout(tuple(revisions), tuple(problems), tuple(strict_problems))


def _check_objects(pdf: bytes, revision: Revision, section: XRefSectionData,
                   problems: list[str], strict_problems: list[str]) -> None:
    """Objects a revision defines must lie in its own bytes; compressed ones in its own streams."""
    number = revision.index + 1
    outside = []
    misplaced = []
    for idnum, (generation, offset) in section.standard_xrefs.items():
        if not revision.start <= offset < revision.end:
            outside.append(idnum)
            continue
        header = _OBJ_HEADER.match(pdf, offset)
        if header is None or (int(header.group(1)), int(header.group(2))) != (idnum, generation):
            misplaced.append(idnum)
    if outside:
        problems.append(f"revision {number}'s cross-reference section places object(s) "
                        f"{_some(outside)} outside the revision's own bytes (in an earlier "
                        "revision or beyond the file)")
    if misplaced:
        strict_problems.append(f"revision {number}'s cross-reference section gives wrong "
                               f"positions for object(s) {_some(misplaced)}")
    own_streams = set(section.standard_xrefs)
    foreign = [idnum for idnum, loc in section.xrefs_in_objstm.items()
               if isinstance(loc, ObjStreamRef) and loc.obj_stream_id not in own_streams]
    if foreign:
        problems.append(f"revision {number} redefines object(s) {_some(foreign)} inside an "
                        "object stream of an earlier revision")


def _some(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in sorted(numbers)[:5])
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


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


def same(a: object, b: object, depth: int = 0) -> bool:
    """Whether two PDF values are written alike (references compared, never followed)."""
    if depth > 64:
        return False
    if isinstance(a, generic.IndirectObject) or isinstance(b, generic.IndirectObject):
        return (isinstance(a, generic.IndirectObject) and isinstance(b, generic.IndirectObject)
                and (a.idnum, a.generation) == (b.idnum, b.generation))
    if (isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject)) and not (
            isinstance(a, generic.StreamObject) and isinstance(b, generic.StreamObject)
            and a.encoded_data == b.encoded_data):
        return False
    if isinstance(a, generic.DictionaryObject):
        return (isinstance(b, generic.DictionaryObject) and set(a) == set(b)
                and all(same(a.raw_get(k), b.raw_get(k), depth + 1) for k in a))
    if isinstance(a, generic.ArrayObject):
        return (isinstance(b, generic.ArrayObject) and len(a) == len(b)
                and all(same(x, y, depth + 1) for x, y in zip(a, b, strict=True)))
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


def describe_refs(refs: Iterable[Ref]) -> str:
    """Object numbers for a message."""
    return _some([idnum for idnum, _ in refs])


def pdf_get(obj: object, key: str, default: object = None) -> object:
    """`obj[key]` dereferenced, or `default` when `obj` is no dictionary or lacks `key`."""
    if isinstance(obj, generic.DictionaryObject) and key in obj:
        try:
            return obj[key]
        except (KeyError, ValueError, TypeError):
            return default
    return default
