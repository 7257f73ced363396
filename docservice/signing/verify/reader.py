"""A strict reader of a PDF's revisions, run on the raw bytes before pyhanko ever parses them.

pyhanko, poppler, MuPDF and pdf.js each repair a malformed file in their own way: a section
that lists an object twice, an object body no section lists, a redefinition under another
generation number, a free entry that "deletes" nothing by pyhanko's reckoning. Any such
ambiguity after a signature lets a viewer show what the engine never compared. This reader
follows the cross-reference chain itself and, for every incremental update, accounts for every
byte: each object body listed by exactly one entry of its own section, every object of its
object streams listed, nothing between them but whitespace and comments, the section, its
trailer and one `startxref`/`%%EOF`. Declared sizes are checked against the bytes that could
hold them before anything is allocated, so a 259-byte file cannot ask for a billion entries.

The result names each revision's bytes and entries; `problems_after(n)` says what is wrong in
the updates that follow revision `n` (an update no reader may interpret differently), the rest
is reported for the revisions a signature covers, where the signer's bytes are what they are.
Single values and object bodies are read by `pdfobjects`, the sections themselves by
`xrefsections`; this module follows the chain and accounts for the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from docservice.signing.verify.pdfobjects import (
    OBJ_HEADER,
    WS,
    WS_OR_COMMENTS,
    Body,
    Parser,
    PdfSyntaxError,
    decode_stream,
    read_body,
)
from docservice.signing.verify.xrefsections import Entry, Section, read_section, read_xref_stream

_EOF_MARKER = re.compile(rb"startxref[\x00\t\n\x0c\r ]+(\d{1,12})[\x00\t\n\x0c\r ]+%%EOF")
_EOL = re.compile(rb"\r\n|\r|\n")
_INT_BODY = re.compile(rb"[\x00\t\n\x0c\r ]*(\d{1,12})[\x00\t\n\x0c\r ]+endobj")


@dataclass
class Revision:
    """One revision: the original document or one incremental update, and its bytes."""

    index: int  # 0 = the oldest, as pyhanko numbers its cross-reference sections
    start: int
    eof_end: int  # just after its "%%EOF"
    end: int  # after the end-of-line that follows it
    sections: list[Section]
    entries: dict[int, Entry] = field(default_factory=dict)
    deleted: dict[int, int] = field(default_factory=dict)  # in use before, freed here: number
    # -> the generation it had
    regenerated: dict[int, tuple[int, int]] = field(default_factory=dict)  # number -> (old, new)
    problems: list[str] = field(default_factory=list)  # ambiguities two readers may resolve apart

    @property
    def numbers(self) -> range:
        """pyhanko's revision numbers for these bytes: a linearized or hybrid original
        document has two cross-reference sections, and pyhanko counts each as a revision."""
        return range(self.index, self.index + len(self.sections))


@dataclass
class Layout:
    """Every revision of a file, oldest first, with what is wrong with each."""

    revisions: list[Revision]
    problems: list[str]  # about the file as a whole: no chain, trailing bytes, bombs
    fatal: bool = False  # the chain cannot be followed safely: nothing else may parse the file

    def revision(self, index: int) -> Revision | None:
        """The revision pyhanko numbers `index` (a linearized first revision has two numbers)."""
        for revision in self.revisions:
            if index in revision.numbers:
                return revision
        return None

    def revision_at(self, offset: int) -> Revision | None:
        """The revision whose bytes hold `offset`."""
        for revision in self.revisions:
            if revision.start <= offset < revision.end:
                return revision
        return None

    def same_chain(self, starts: list[int]) -> bool:
        """Whether another reader's sections (oldest first; a table's start may be given
        after its "xref" keyword) are the ones this reader followed."""
        mine = [s for r in self.revisions for s in r.sections]
        return len(mine) == len(starts) and all(
            start == s.offset or (s.kind == "table" and s.offset < start <= s.body_start)
            for s, start in zip(mine, starts, strict=True))

    def problems_after(self, index: int) -> list[str]:
        """What is wrong in the updates that follow pyhanko's revision `index`."""
        covered = self.revision(index)
        start = covered.end if covered is not None else 0
        return [p for r in self.revisions if r.start >= start for p in r.problems]

    def problems_up_to(self, index: int) -> list[str]:
        """What is wrong in the revisions a signature of pyhanko's revision `index` covers."""
        covered = self.revision(index)
        end = covered.end if covered is not None else 0
        return [p for r in self.revisions if r.end <= end for p in r.problems]



def read_revisions(pdf: bytes, *, max_revisions: int = 1000) -> Layout:
    """Follow the cross-reference chain from the last `startxref` and account for every byte."""
    parser = Parser(pdf)
    markers = [(int(m.group(1)), m.start(), m.end()) for m in _EOF_MARKER.finditer(pdf)]
    if not markers:
        return Layout([], ["the file has no startxref/%%EOF: it is not a complete PDF"], True)
    chain: list[Section] = []
    hybrids: dict[int, Section] = {}
    offset: int | None = markers[-1][0]
    seen: set[int] = set()
    try:
        while offset is not None:
            if offset in seen:
                return Layout([], [f"the cross-reference chain loops back to byte {offset}"],
                              True)
            if len(chain) >= max_revisions + 1:
                return Layout([], [f"the file has more than {max_revisions} revisions, more "
                                   "than this service verifies"], True)
            seen.add(offset)
            section, _ = read_section(pdf, parser, offset)
            chain.append(section)
            stm = section.trailer.get("XRefStm")
            if section.kind == "table" and isinstance(stm, int) and not isinstance(stm, bool) \
                    and stm < len(pdf):
                hybrids[section.offset] = read_xref_stream(
                    pdf, parser, WS.match(pdf, stm).end())  # type: ignore[union-attr]
            offset = section.prev
    except PdfSyntaxError as e:
        return Layout([], [f"the cross-reference chain cannot be read strictly: {e}"], True)
    except (RecursionError, MemoryError):
        return Layout([], ["the cross-reference chain is too complex to read"], True)
    chain.reverse()  # oldest first
    return _layout(pdf, parser, chain, hybrids, markers)


def _is_linearized_pair(main: Section, first_page: Section) -> bool:
    """pyhanko's first two sections of a linearized file: the main one at the end, the
    first-page one near the start whose /Prev points forward to it."""
    return first_page.offset < main.offset and first_page.prev == main.offset


def _is_hybrid_companion(first: Section, second: Section, hybrids: dict[int, Section]) -> bool:
    """A word processor's original document: an empty table right after the first one, whose
    trailer only attaches a cross-reference stream written among the first one's objects."""
    stream = hybrids.get(second.offset)
    return (second.kind == "table" and not [e for e in second.entries if e.kind != "free"]
            and stream is not None and stream.offset < first.end <= second.offset
            and second.prev == first.offset)


def _layout(pdf: bytes, parser: Parser, chain: list[Section], hybrids: dict[int, Section],
            markers: list[tuple[int, int, int]]) -> Layout:
    problems: list[str] = []
    revisions: list[Revision] = []
    linearized = len(chain) >= 2 and _is_linearized_pair(chain[0], chain[1])
    two = linearized or (len(chain) >= 2 and _is_hybrid_companion(chain[0], chain[1], hybrids))
    groups: list[list[Section]] = [chain[:2]] if two else [chain[:1]]
    groups += [[s] for s in chain[(2 if two else 1):]]
    previous_end = 0
    pyhanko_index = 0
    for number, sections in enumerate(groups):
        last = max(sections, key=lambda s: s.end)
        hybrid = [hybrids[s.offset] for s in sections if s.offset in hybrids]
        section_end = max([last.end] + [h.end for h in hybrid])
        marker = next(((value, at, end) for value, at, end in markers
                       if at >= section_end), None)
        if marker is None:
            problems.append(f"revision {number + 1} does not end with startxref and %%EOF "
                            "after its cross-reference section")
            return Layout(revisions, problems, True)
        eol = _EOL.match(pdf, marker[2])
        end = eol.end() if eol else marker[2]
        revision = Revision(pyhanko_index, previous_end, marker[2], end, sections)
        pyhanko_index += len(sections)
        for section in sections:
            if not previous_end <= section.offset < end:
                revision.problems.append(
                    f"revision {number + 1}'s cross-reference section lies outside its own bytes")
        if number > 0 and sections[0].prev is not None and sections[0].prev >= sections[0].offset:
            revision.problems.append(f"revision {number + 1}'s /Prev does not point backwards")
        declared = WS.match(pdf, min(marker[0], len(pdf))).end()  # type: ignore[union-attr]
        wanted = chain[1].offset if linearized and number == 0 else sections[-1].offset
        if declared != wanted and not (linearized and number == 0 and declared == sections[0].offset):
            revision.problems.append(f"revision {number + 1}: startxref points to byte "
                                     f"{declared}, but its cross-reference section starts at "
                                     f"byte {wanted}")
        if number > 0:
            # Blanks before an update's section are skipped by this reader, pyhanko, poppler
            # and MuPDF, but pypdf takes more than one end-of-line after startxref for a broken
            # cross-reference and rebuilds it from every "N G obj" in the file, those in
            # comments and stream data included: a body no entry lists becomes the one it
            # shows. /Prev is held to the same (readers guess where a section starts apart).
            position = next(i for i, s in enumerate(chain) if s is sections[0])
            pointers = [("startxref", marker[0], sections[-1].offset)]
            if sections[0].prev is not None:
                pointers.append(("/Prev", sections[0].prev, chain[position - 1].offset))
            for what, pointer, target in pointers:
                if pointer < target and pdf[pointer:target] not in (b"\r", b"\n") and \
                        WS.fullmatch(pdf, pointer, target) is not None:
                    revision.problems.append(
                        f"revision {number + 1}: its {what} points to {target - pointer} blank "
                        f"byte(s) before a cross-reference section, not at it (readers skip "
                        "them differently: pypdf rebuilds the cross-reference from every object "
                        "header in the file, those in comments and stream data included)")
        revisions.append(revision)
        previous_end = end
    trailing = pdf[previous_end:]
    if trailing and WS.fullmatch(trailing) is None:
        problems.append(f"{len(trailing)} bytes after the final %%EOF are not a complete "
                        "incremental update (no cross-reference section and trailer of their own)")
    layout = Layout(revisions, problems)
    state: dict[int, Entry] = {}
    for revision in revisions:
        sections = list(revision.sections)
        sections += [hybrids[s.offset] for s in revision.sections if s.offset in hybrids]
        _entries(revision, sections, state, first=revision.index == 0)
        if revision.index > 0:
            _account_for_bytes(pdf, parser, revision, sections, state)
        for number, entry in revision.entries.items():
            if entry.kind == "free":
                state.pop(number, None)
            else:
                state[number] = entry
    return layout


def _entries(revision: Revision, sections: list[Section], state: dict[int, Entry], *,
             first: bool) -> None:
    """Merge a revision's sections into one entry per object, noting every ambiguity."""
    label = f"revision {_label(revision)}"
    listed: dict[int, Entry] = {}
    duplicates: set[int] = set()
    for section in sections:
        own: set[int] = set()
        for entry in section.entries:
            if entry.number in own:
                duplicates.add(entry.number)
                continue
            own.add(entry.number)
            # A hybrid file's stream supplements the table: the table's in-use entries win.
            earlier = listed.get(entry.number)
            if earlier is not None and earlier.kind != "free" and section.kind == "stream":
                continue
            if earlier is None or earlier.kind == "free" or section.kind == "table":
                listed[entry.number] = entry
    if duplicates:
        revision.problems.append(f"{label} lists object(s) {_some(duplicates)} more than once in "
                                 "one cross-reference section (readers disagree on which entry "
                                 "counts)")
    for number, entry in listed.items():
        if number == 0:
            continue
        before = state.get(number)
        if entry.kind == "free":
            if before is not None:
                revision.deleted[number] = 0 if before.kind == "compressed" else before.generation
            continue
        if first:
            continue
        generation = 0 if entry.kind == "compressed" else entry.generation
        if before is not None:
            old = 0 if before.kind == "compressed" else before.generation
            if old != generation:  # harmless only if nothing uses the old one any more
                revision.regenerated[number] = (old, generation)
        elif generation != 0:
            revision.problems.append(f"{label} adds object {number} with generation "
                                     f"{generation}, which no earlier revision freed")
    # An entry that repeats the one in force (a hybrid update that carries the original's
    # cross-reference stream forward) changes nothing for any reader.
    revision.entries = {n: e for n, e in listed.items()
                        if n != 0 and (first or state.get(n) != e)}


def _account_for_bytes(pdf: bytes, parser: Parser, revision: Revision,
                       sections: list[Section], state: dict[int, Entry]) -> None:
    """Every byte of an incremental update: its listed objects, its sections, one %%EOF."""
    label = f"revision {_label(revision)}"
    pieces: list[tuple[int, int, str]] = []

    def length_of(number: int) -> int | None:
        entry = revision.entries.get(number) or state.get(number)
        return _direct_int(pdf, entry) if entry is not None and entry.kind == "in_use" else None

    bodies: dict[int, Body] = {}
    outside: list[int] = []
    for number, entry in revision.entries.items():
        if entry.kind != "in_use":
            continue
        if not revision.start <= entry.offset < revision.end:
            outside.append(number)
            continue
        try:
            body = read_body(parser, entry.offset, length_of=length_of)
        except PdfSyntaxError as e:
            revision.problems.append(f"{label}: object {number} cannot be read where its entry "
                                     f"points ({e})")
            continue
        if (body.number, body.generation) != (number, entry.generation):
            revision.problems.append(f"{label}'s entry for object {number} {entry.generation} "
                                     f"points at object {body.number} {body.generation}")
            continue
        bodies[number] = body
        pieces.append((body.start, body.end, f"object {number}"))
    if outside:
        revision.problems.append(f"{label} places object(s) {_some(outside)} outside its own "
                                 "bytes (in an earlier revision or beyond the file)")
    for section in sections:
        stream_number = section.stream_number
        if section.kind == "stream" and stream_number is not None:
            own = revision.entries.get(stream_number)
            if own is not None and own.kind == "in_use" and own.offset == section.offset:
                pieces = [p for p in pieces if p[0] != section.offset]
        if revision.start <= section.offset < revision.end:
            pieces.append((section.offset, section.end, "cross-reference section"))
    marker_start = pdf.rfind(b"startxref", revision.start, revision.eof_end)
    pieces.append((marker_start, revision.end, "startxref"))
    pieces.sort()
    cursor = revision.start
    for start, end, what in pieces:
        if start < cursor:
            revision.problems.append(f"{label}: {what} overlaps other bytes of the update")
        elif WS_OR_COMMENTS.fullmatch(pdf, cursor, start) is None:
            found = OBJ_HEADER.search(pdf, cursor, start)
            hint = (f" (an object {found.group(1).decode()} {found.group(2).decode()} that no "
                    "cross-reference entry lists)") if found else ""
            revision.problems.append(f"{label} holds {start - cursor} byte(s) at {cursor} that "
                                     f"no cross-reference entry accounts for{hint}")
        cursor = max(cursor, end)
    _object_streams(pdf, revision, bodies, label)


def _object_streams(pdf: bytes, revision: Revision, bodies: dict[int, Body], label: str) -> None:
    """An update's compressed objects: each in one of its own object streams, all listed."""
    compressed = {n: e for n, e in revision.entries.items() if e.kind == "compressed"}
    streams = {e.offset for e in compressed.values()}
    for stream_number in sorted(streams):
        body = bodies.get(stream_number)
        if body is None:
            revision.problems.append(f"{label} puts object(s) in object stream {stream_number}, "
                                     "which it does not define itself")
            continue
        listed = {(e.number, e.index) for e in compressed.values() if e.offset == stream_number}
        try:
            header = _objstm_header(pdf, body)
        except PdfSyntaxError as e:
            revision.problems.append(f"{label}: object stream {stream_number} cannot be read "
                                     f"({e})")
            continue
        held = {(number, index) for index, number in enumerate(header)}
        if len(set(header)) != len(header):
            revision.problems.append(f"{label}: object stream {stream_number} holds an object "
                                     "twice")
        unlisted = sorted(n for n, _ in held - listed)
        if unlisted:
            revision.problems.append(f"{label}: object stream {stream_number} holds object(s) "
                                     f"{_some(unlisted)} that no cross-reference entry lists")
        missing = sorted(n for n, _ in listed - held)
        if missing:
            revision.problems.append(f"{label} lists object(s) {_some(missing)} in object "
                                     f"stream {stream_number}, which does not hold them there")
    for number, body in bodies.items():
        if number in streams or not isinstance(body.value, dict):
            continue
        if body.value.get("Type") == "ObjStm":
            revision.problems.append(f"{label} defines object stream {number}, but lists no "
                                     "object in it")


def _objstm_header(pdf: bytes, body: Body) -> list[int]:
    assert isinstance(body.value, dict)
    count, first = body.value.get("N"), body.value.get("First")
    if not (isinstance(count, int) and isinstance(first, int) and 0 <= count <= 100_000
            and first >= 0):
        raise PdfSyntaxError("unusable /N or /First")
    data = decode_stream(pdf, body)
    numbers = re.findall(rb"\d+", data[:first])
    if len(numbers) < 2 * count:
        raise PdfSyntaxError("its header lists fewer objects than /N")
    return [int(n) for n in numbers[0:2 * count:2]]


def _direct_int(pdf: bytes, entry: Entry) -> int | None:
    """The value of an in-use object when it is a plain integer (a stream's /Length)."""
    header = OBJ_HEADER.match(pdf, WS.match(pdf, entry.offset).end())  # type: ignore[union-attr]
    if header is None:
        return None
    match = _INT_BODY.match(pdf, header.end())
    return int(match.group(1)) if match else None


def _label(revision: Revision) -> str:
    return str(revision.index + 1)


def _some(numbers: Iterator[int] | set[int] | list[int]) -> str:
    ordered = sorted(numbers)
    shown = ", ".join(str(n) for n in ordered[:5])
    return shown + (f" and {len(ordered) - 5} more" if len(ordered) > 5 else "")
