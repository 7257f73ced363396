"""PAdES B-LTA: validation data and document timestamps, and long-term validation (pyhanko).

Completing and renewing are in `completion`, reading what a file carries in `facts`, long-term
validation in `validation`; callers use them as `ltv.<name>`.

`complete_to_lta` appends one incremental update to a signed PDF: a DSS holding every
certificate and CRL of every approval signature and of its signature timestamp (plus, for
certificates the service's own signer CA issued, an OCSP response that CA signs now), and a
document timestamp from the service's TSA. `renew` adds another document timestamp, with the
validation data of the previous one, before that one's certificate expires.

`lta_validation` runs pyhanko's AdES long-term validation (ETSI EN 319 102-1, 5.6.3) offline:
the only revocation data it may use is what the file carries, the only trust is the roots it
is given. `simulate_future` runs the same at a future date, as if the timestamp chain were
maintained until then (pyhanko's `simulate_future_ades_lta_validation`).

Why the OCSP responses: pyhanko 0.38's past-signature validation cannot use a CRL issued by an
intermediate CA for an expired end-entity certificate (it looks for the CRL issuer's path in a
path truncated at that issuer and finds none, giving REVOCATION_OUT_OF_BOUNDS_NO_POE). One-shot
certificates live 30 days and are issued by the signer CA, so without them every one-shot
signature would fail long-term validation a month after signing. An OCSP response signed by
the issuer itself is found by that search.
"""

from __future__ import annotations

from docservice.signing.ltv.completion import (
    DIGEST,
    OCSP_VALIDITY,
    LtvError,
    LtvSources,
    StatusResponder,
    complete_to_lta,
    renew,
    timestamp_field_name,
)
from docservice.signing.ltv.facts import (
    DocumentTimestamp,
    DssSummary,
    LtaFacts,
    document_timestamps,
    dss_coverage,
    dss_summary,
    lta_facts,
    signature_timestamp_time,
)
from docservice.signing.ltv.validation import (
    ACCEPTABLE_MODIFICATIONS,
    LtaResult,
    lta_validation,
    simulate_future,
    validation_spec,
)

__all__ = [
    "ACCEPTABLE_MODIFICATIONS",
    "DIGEST",
    "OCSP_VALIDITY",
    "DocumentTimestamp",
    "DssSummary",
    "LtaFacts",
    "LtaResult",
    "LtvError",
    "LtvSources",
    "StatusResponder",
    "complete_to_lta",
    "document_timestamps",
    "dss_coverage",
    "dss_summary",
    "lta_facts",
    "lta_validation",
    "renew",
    "signature_timestamp_time",
    "simulate_future",
    "timestamp_field_name",
    "validation_spec",
]
