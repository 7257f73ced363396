"""Typed models, one module per aggregate, and their state transitions.

Importing this package registers every table on `Base.metadata`.
"""

from docservice.domain import DocumentKind, EnvelopeStatus, RequestStatus
from docservice.models.archive import (
    TERM_TYPE,
    ArchiveEntry,
    ArchiveState,
    ArchiveStatusRow,
    ArchiveTerm,
)
from docservice.models.audit import AuditEvent
from docservice.models.base import Base, UTCDateTime, utcnow
from docservice.models.desk import (
    ApiToken,
    QueuedVerification,
    Reminder,
    StoredFileCheck,
    VerificationCache,
)
from docservice.models.documents import Document, Revision
from docservice.models.envelopes import (
    AccessLink,
    Envelope,
    ExternalSignature,
    SignatureRequest,
)
from docservice.models.jobs import (
    JOB_DONE,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    MAIL_FAILED,
    MAIL_PENDING,
    MAIL_SENDING,
    MAIL_SENT,
    JobRun,
    OutboxMail,
)
from docservice.models.placements import AcademicYear, Placement
from docservice.models.users import Role, User

__all__ = [
    "JOB_DONE",
    "JOB_FAILED",
    "JOB_QUEUED",
    "JOB_RUNNING",
    "MAIL_FAILED",
    "MAIL_PENDING",
    "MAIL_SENDING",
    "MAIL_SENT",
    "TERM_TYPE",
    "AcademicYear",
    "AccessLink",
    "ApiToken",
    "ArchiveEntry",
    "ArchiveState",
    "ArchiveStatusRow",
    "ArchiveTerm",
    "AuditEvent",
    "Base",
    "Document",
    "DocumentKind",
    "Envelope",
    "EnvelopeStatus",
    "ExternalSignature",
    "JobRun",
    "OutboxMail",
    "Placement",
    "QueuedVerification",
    "Reminder",
    "RequestStatus",
    "Revision",
    "Role",
    "SignatureRequest",
    "StoredFileCheck",
    "UTCDateTime",
    "User",
    "VerificationCache",
    "utcnow",
]
