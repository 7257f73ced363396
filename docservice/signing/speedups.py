"""Two hot spots of pyhanko and asn1crypto made fast; installed when `docservice.signing` loads.

Both were found with cProfile on verifying and archiving a three-signature agreement
(bench/archive.py); together they were more than half of its time.

Hex strings: pyhanko 0.38 reads a hex string one byte at a time through a generator. Each signature's
/Contents is such a string of 16-32 KB of hex digits, so reading a signed PDF spent more time
in that loop than in the cryptography: a third of verifying an archived agreement (measured
with cProfile, bench/archive.py). This version finds the closing '>' and decodes the digits in
one call. It accepts and refuses exactly what pyhanko's does; a string holding a '%' (which
pyhanko treats as the start of a comment) is handed to pyhanko's own reader.

Names: asn1crypto compares two X.509 names by RFC 5280's rules, preparing every value as an
LDAP string first (about 0.4 ms a comparison). Path building compares names hundreds of times,
nearly always a name with the same name. Two names with the same DER bytes are equal under any
rule, so that case now returns at once; different bytes compare each name's prepared form,
made once per name. The same prepared form is `Name.hashable`, the key of pyhanko's
certificate registry: it is kept too, instead of being prepared at every lookup.
"""

from __future__ import annotations

import binascii
from typing import IO, Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

_WHITESPACE = b" \n\r\t\f\x00"
_HEX = b"0123456789abcdefABCDEF"
_original = generic.read_hex_string_from_stream
_name_eq = asn1_x509.Name.__eq__
_name_hashable = asn1_x509.Name.hashable.fget


def read_hex_string_from_stream(stream: IO[bytes]) -> Any:
    """The hex string at `stream` (positioned on its '<'), as pyhanko's string object."""
    start = stream.tell()
    stream.read(1)
    parts = []
    while True:
        chunk = stream.read(65536)
        if not chunk:
            raise PdfStreamError("Stream ended prematurely")
        end = chunk.find(b">")
        if end < 0:
            parts.append(chunk)
            continue
        parts.append(chunk[:end])
        stream.seek(end + 1 - len(chunk), 1)  # just after the '>'
        break
    digits = b"".join(parts).translate(None, _WHITESPACE)
    if b"%" in digits:
        stream.seek(start)
        return _original(stream)
    bad = digits.translate(None, _HEX)
    if bad:
        raise PdfStreamError("Unexpected token in hex string: " + repr(bad[:1]))
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


_PREPARED: dict[bytes, str] = {}


def _prepared(name: asn1_x509.Name) -> str:
    """`name.hashable` (every value prepared as RFC 5280 says), computed once per DER name."""
    der = name.dump()
    found = _PREPARED.get(der)
    if found is None:
        if len(_PREPARED) > 4096:
            _PREPARED.clear()
        found = _PREPARED[der] = _name_hashable(name)
    return found


def name_eq(self: asn1_x509.Name, other: object) -> bool:
    """RFC 5280 name equality: from the DER bytes when they are the same, else from each
    name's prepared form (asn1crypto's `hashable`, the same rules as its `__eq__`), kept."""
    if not isinstance(other, asn1_x509.Name):
        return False
    if self.dump() == other.dump():
        return True
    return _prepared(self) == _prepared(other)


def install() -> None:
    """Put the fast versions in place (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    asn1_x509.Name.__eq__ = name_eq
    # The certificate registry keys names by `hashable`: the same prepared form, kept.
    asn1_x509.Name.hashable = property(_prepared)
