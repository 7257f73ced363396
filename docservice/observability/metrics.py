"""Prometheus-style counters, shared by every module that has something to count.

Served at /metrics. Under gunicorn several processes count; `PROMETHEUS_MULTIPROC_DIR`
makes prometheus_client add them up (see docservice/web/ops.py).
"""

from __future__ import annotations

from prometheus_client import Counter

DOCUMENTS_GENERATED = Counter(
    "docservice_documents_generated", "Documents rendered and converted to PDF", ["kind"])
SIGNATURES = Counter(
    "docservice_signatures", "Signatures applied or accepted", ["role", "method"])
VERIFICATION_FAILURES = Counter(
    "docservice_verification_failures", "Verifications whose verdict was not valid", ["where"])
MAIL_FAILURES = Counter(
    "docservice_mail_failures", "Mail deliveries that failed (and will be retried)")
JOBS = Counter("docservice_jobs", "Jobs run, by name and outcome", ["name", "outcome"])
