"""The fast paths give what the libraries' own code gives, and refuse what it refuses."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils.misc import PdfStreamError

from docservice.signing import speedups

CASES = [b"<>", b"<41>", b"<4142 43\n44\r\t\x00\x0c>", b"<414>", b"<FfeE01>rest",
         b"<" + b"ab" * 40000 + b">  ", b"<41 % a comment\n42>"]


@pytest.mark.parametrize("data", CASES)
def test_same_value_and_position_as_pyhanko(data: bytes) -> None:
    ours, theirs = io.BytesIO(b"x" + data), io.BytesIO(b"x" + data)
    ours.seek(1)
    theirs.seek(1)
    assert speedups.read_hex_string_from_stream(ours) == speedups._original(theirs)
    assert ours.tell() == theirs.tell()


@pytest.mark.parametrize("data", [b"<41G2>", b"<4142", b"<41)>"])
def test_refuses_what_pyhanko_refuses(data: bytes) -> None:
    with pytest.raises(PdfStreamError):
        speedups._original(io.BytesIO(data))
    with pytest.raises(PdfStreamError):
        speedups.read_hex_string_from_stream(io.BytesIO(data))


def test_installed_in_pyhanko() -> None:
    from pyhanko.pdf_utils import generic

    import docservice.signing  # noqa: F401 - installs it

    assert generic.read_hex_string_from_stream is speedups.read_hex_string_from_stream


def test_names_compare_as_rfc_5280_says() -> None:
    from asn1crypto.x509 import Name

    a = Name.build({"common_name": "Zoë Peeters", "organization_name": "Acme"})
    same_bytes = Name.load(a.dump())
    other_case = Name.build({"common_name": "ZOË  peeters", "organization_name": "acme"})
    other = Name.build({"common_name": "Jan Peeters", "organization_name": "Acme"})
    assert speedups.name_eq(a, same_bytes) and a == same_bytes
    assert speedups.name_eq(a, other_case) == speedups._name_eq(a, other_case) is True
    assert not speedups.name_eq(a, other) and a != other
    assert not speedups.name_eq(a, "Zoë Peeters")


def test_names_key_the_registry_as_asn1crypto_does() -> None:
    from asn1crypto.x509 import Name

    import docservice.signing  # noqa: F401 - installs it

    a = Name.build({"common_name": "Zoë Peeters", "organization_name": "Acme"})
    other_case = Name.build({"common_name": "ZOË  peeters", "organization_name": "acme"})
    other = Name.build({"common_name": "Jan Peeters", "organization_name": "Acme"})
    assert a.hashable == speedups._name_hashable(a) == speedups._name_hashable(other_case)
    assert other_case.hashable == a.hashable != other.hashable == speedups._name_hashable(other)
