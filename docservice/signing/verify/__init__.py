"""One verification engine for every signed PDF: strict for the service's documents, standard else.

    report = verify_pdf(pdf, trust=Trust(roots=pki.trust_roots, crls=pki.crls))
    report.passed, report.to_json()
"""

from docservice.signing.verify.engine import verify_pdf
from docservice.signing.verify.report import Report, SignatureReport
from docservice.signing.verify.verification import (
    Expected,
    Limits,
    Trust,
    UnreadablePdf,
    VerificationTimeout,
)

__all__ = ["Expected", "Limits", "Report", "SignatureReport", "Trust", "UnreadablePdf",
           "VerificationTimeout", "verify_pdf"]
