"""Document timestamps get field names of their own, whatever the clock says (issue 13, item 12)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from docservice.signing import ltv
from docservice.signing.pades import load_trust_roots


def _sources(pki, pades) -> ltv.LtvSources:
    signer_crl = next((c for c in pki.crls if c.issuer == pki.signer_ca.subject), None)
    return ltv.LtvSources(
        trust_roots=load_trust_roots(pki, pades.settings), crls=pki.crls,
        timestamper=pades.timestamper,
        responders=(ltv.StatusResponder(pki.signer_ca_x509, pki.signer_ca_key, signer_crl),))


def _field_names(pdf: bytes) -> list[str]:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return [name for name, _value, _ref in enumerate_sig_fields(reader, filled_status=None)]


def test_renewing_in_the_same_second_as_the_last_timestamp_works(pki, pades, signed_contract):
    sources = _sources(pki, pades)
    now = datetime.now(UTC).replace(microsecond=0)
    archived = ltv.complete_to_lta(signed_contract.by_school, sources, now=now)
    # `archive renew` right after archiving, and again: all three within one second.
    once = ltv.renew(archived, sources, now=now)
    twice = ltv.renew(once, sources, now=now.replace(microsecond=999_999))
    assert len(ltv.document_timestamps(twice)) == 3
    names = [n for n in _field_names(twice) if n.startswith("DocTimeStamp")]
    assert len(names) == 3 and len(set(names)) == 3, names
