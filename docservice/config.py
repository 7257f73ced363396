"""Typed settings from the environment (DOCSERVICE_*), with embedded defaults for development.

One module on purpose (over 500 lines): every setting and its check, read once at start.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from docservice.errors import ConfigurationError, SigningConfigurationError

_N = TypeVar("_N", int, float)

#: The checkout the package lives in; every local default path is below it,
#: so that two checkouts never share state.
CHECKOUT = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "testing", "production")
MAIL_SECURITY = ("none", "starttls", "ssl")
JOB_MODES = ("thread", "inline", "redis")
RATE_LIMIT_STORES = ("memory", "redis")
MAX_TRUSTED_PROXIES = 10


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    value = env.get(name)
    return Path(value).expanduser().resolve() if value else default


def _optional_path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value).expanduser().resolve() if value else None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _parsed(env, name, default, int, "a whole number")


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    return _parsed(env, name, default, float, "a number")


def _parsed(env: Mapping[str, str], name: str, default: _N, kind: Callable[[str], _N],
            what: str) -> _N:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError as e:
        raise ConfigurationError(f"{name} must be {what}, got {value!r}") from e


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class MailSettings:
    """Where mail goes: an SMTP server, or (no host) .eml files in the outbox folder."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    sender: str = "docservice <no-reply@localhost>"
    timeout: float = 30.0


@dataclass(frozen=True)
class QueueSettings:
    """The Redis job queue (DOCSERVICE_JOBS=redis): where it is, how jobs are retried."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "docservice"  # prefix of every Redis key: two services (or tests) apart
    max_retries: int = 8  # after the first attempt; then the job run is marked failed
    min_backoff: float = 15.0  # seconds before the first retry; doubles each time
    max_backoff: float = 3600.0
    time_limit: float = 3600.0  # a job running longer is interrupted (and retried)
    heartbeat_timeout: float = 60.0  # a worker silent this long is dead: its jobs are requeued
    maintenance_chance: int = 10_000  # per million queue commands: look for dead workers


def _queue_settings(env: Mapping[str, str]) -> QueueSettings:
    def seconds(name: str, default: float) -> float:
        value = env.get(name)
        try:
            return float(value) if value else default
        except ValueError as e:
            raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}") from e

    return QueueSettings(
        redis_url=env.get("DOCSERVICE_REDIS_URL") or QueueSettings.redis_url,
        namespace=env.get("DOCSERVICE_QUEUE_NAMESPACE") or QueueSettings.namespace,
        max_retries=_int(env, "DOCSERVICE_JOB_MAX_RETRIES", QueueSettings.max_retries),
        min_backoff=seconds("DOCSERVICE_JOB_MIN_BACKOFF", QueueSettings.min_backoff),
        max_backoff=seconds("DOCSERVICE_JOB_MAX_BACKOFF", QueueSettings.max_backoff),
        time_limit=seconds("DOCSERVICE_JOB_TIME_LIMIT", QueueSettings.time_limit),
        heartbeat_timeout=seconds("DOCSERVICE_QUEUE_HEARTBEAT_TIMEOUT",
                                  QueueSettings.heartbeat_timeout),
        maintenance_chance=_int(env, "DOCSERVICE_QUEUE_MAINTENANCE_CHANCE",
                                QueueSettings.maintenance_chance),
    )


def _at_least_zero(env: Mapping[str, str], name: str, kind: Callable[[str], _N],
                   what: str) -> _N | None:
    """The setting `name` as `kind` (0 or more), None when unset; a clear error otherwise."""
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError as e:
        raise ConfigurationError(f"{name} must be {what}") from e
    if not 0 <= value < float("inf"):
        raise ConfigurationError(f"{name} must be 0 or more, not {raw}")
    return value


def _offsets(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.replace(" ", "").split(",") if v},
                              reverse=True))
    except ValueError as e:
        raise ConfigurationError(f"{name} must be whole numbers of days, e.g. 14,7,3,1") from e
    if not values or any(v <= 0 for v in values):
        raise ConfigurationError(f"{name} must be positive numbers of days, e.g. 14,7,3,1")
    return values


def parse_offsets(text: str) -> tuple[int, ...]:
    """"14,7,3,1" as (14, 7, 3, 1); ConfigurationError if it is not that."""
    return _offsets(text, "offsets")


@dataclass(frozen=True)
class DeskSettings:
    """The desk's knobs: when to remind, when a placement is at risk, page size."""

    reminder_offsets: tuple[int, ...] = (14, 7, 3, 1)  # days before deadline and start date
    risk_window_days: int = 14  # start date this close and incomplete: at risk
    page_size: int = 50
    verify_budget_seconds: float = 5.0  # per dashboard request, for PDFs not verified yet
    status_cache_seconds: float = 60.0  # at most this stale, for changes the trail misses
    # A new revision's verification is queued as a job; pages show it pending this long, then
    # verify it themselves (the job failed, or no worker runs).
    verify_grace_seconds: float = 120.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeskSettings:
        """DOCSERVICE_REMINDER_OFFSETS (e.g. "14,7,3,1"), DOCSERVICE_RISK_WINDOW_DAYS and
        DOCSERVICE_VERIFY_GRACE_SECONDS."""
        env = os.environ if env is None else env
        settings = cls()
        offsets = env.get("DOCSERVICE_REMINDER_OFFSETS")
        if offsets:
            settings = replace(settings, reminder_offsets=_offsets(
                offsets, "DOCSERVICE_REMINDER_OFFSETS"))
        window = _at_least_zero(env, "DOCSERVICE_RISK_WINDOW_DAYS", int, "a whole number of days")
        if window is not None:
            settings = replace(settings, risk_window_days=window)
        grace = _at_least_zero(env, "DOCSERVICE_VERIFY_GRACE_SECONDS", float,
                               "a number of seconds")
        if grace is not None:
            settings = replace(settings, verify_grace_seconds=grace)
        return settings


ARCHIVE_LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")


@dataclass(frozen=True)
class ArchiveSettings:
    """Where the archive is and how long it keeps things (DOCSERVICE_ARCHIVE_*).

    Inside `Settings`, `path` is always the settings' `archive_path` (DOCSERVICE_ARCHIVE_PATH).
    """

    path: Path = CHECKOUT / "archive"
    retention_years: int = 10
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_prefix: str = ""
    s3_lock_mode: str = "COMPLIANCE"  # or GOVERNANCE

    @classmethod
    def from_env(cls, archive_path: Path, env: Mapping[str, str] | None = None) -> ArchiveSettings:
        """Read the archive's settings; the folder defaults to the service's archive path."""
        env = os.environ if env is None else env
        raw = env.get("DOCSERVICE_ARCHIVE_RETENTION_YEARS") or "10"
        try:
            years = int(raw)
        except ValueError as e:
            raise ConfigurationError(
                f"DOCSERVICE_ARCHIVE_RETENTION_YEARS must be a whole number, got {raw!r}") from e
        mode = (env.get("DOCSERVICE_ARCHIVE_S3_LOCK_MODE") or "COMPLIANCE").upper()
        return cls(path=archive_path, retention_years=years,
                   s3_bucket=env.get("DOCSERVICE_ARCHIVE_S3_BUCKET") or None,
                   s3_endpoint=env.get("DOCSERVICE_ARCHIVE_S3_ENDPOINT") or None,
                   s3_prefix=env.get("DOCSERVICE_ARCHIVE_S3_PREFIX") or "",
                   s3_lock_mode=mode).validated()

    def validated(self) -> ArchiveSettings:
        """These settings, or ConfigurationError naming the variable that is wrong."""
        if self.retention_years < 1:
            raise ConfigurationError("DOCSERVICE_ARCHIVE_RETENTION_YEARS must be at least 1")
        if self.s3_lock_mode not in ARCHIVE_LOCK_MODES:
            raise ConfigurationError("DOCSERVICE_ARCHIVE_S3_LOCK_MODE must be COMPLIANCE or "
                                     "GOVERNANCE")
        return self


SealKind = Literal["pkcs12", "pkcs11"]
SEAL_KINDS: tuple[SealKind, ...] = ("pkcs12", "pkcs11")


@dataclass(frozen=True)
class SealSettings:
    """Where the school's seal key is: a PKCS#12 file (default) or a PKCS#11 token."""

    kind: SealKind = "pkcs12"
    p12_path: Path | None = None  # None: the PKI folder's seal.p12
    # None: read p12_password_file, else the PKI's seal.p12.password
    p12_password: str | None = field(default=None, repr=False)
    p12_password_file: Path | None = None
    pkcs11_module: Path | None = None
    pkcs11_token_label: str | None = None
    pkcs11_key_label: str | None = None
    pkcs11_cert_label: str | None = None  # None: same as the key label
    pkcs11_pin: str | None = field(default=None, repr=False)
    # CA certificates (PEM) to embed with an HSM seal; None: the PKI's root, if it issued it
    pkcs11_chain_file: Path | None = None


@dataclass(frozen=True)
class SigningSettings:
    """How signatures are made: which TSA and which seal; trust roots for validation."""

    tsa_url: str | None = None  # None: the dev PKI's in-process TSA
    tsa_username: str | None = None
    tsa_password: str | None = field(default=None, repr=False)
    tsa_timeout: float = 10.0
    seal: SealSettings = SealSettings()
    trust_roots_file: Path | None = None  # PEM bundle; None: the PKI's own root only


def require_production_signing(settings: SigningSettings) -> None:
    """Refuse production settings that lack the TSA, the HSM seal or the trust roots."""
    missing = []
    if not settings.tsa_url:
        missing.append("TSA URL (an external RFC 3161 timestamp authority)")
    seal = settings.seal
    if seal.kind != "pkcs11":
        missing.append("seal in an HSM (seal kind must be pkcs11, not a PKCS#12 file)")
    if not seal.pkcs11_module:
        missing.append("seal PKCS#11 module (path of the HSM's library)")
    elif not seal.pkcs11_module.is_file():
        missing.append(f"seal PKCS#11 module {seal.pkcs11_module} (no such file)")
    if not seal.pkcs11_token_label:
        missing.append("seal PKCS#11 token label")
    if not seal.pkcs11_key_label:
        missing.append("seal PKCS#11 key label")
    if not seal.pkcs11_pin:
        missing.append("seal PKCS#11 PIN")
    if not settings.trust_roots_file:
        missing.append("trust roots (a PEM file of the roots signatures must chain to)")
    elif not settings.trust_roots_file.is_file():
        missing.append(f"trust roots file {settings.trust_roots_file} (no such file)")
    if missing:
        raise SigningConfigurationError(missing)


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment, validated at start."""

    env: str = "development"
    secret_key: str = field(default="", repr=False)
    base_url: str = "http://127.0.0.1:5000"
    instance_path: Path = CHECKOUT / "instance"
    database_url: str = ""
    blob_path: Path = CHECKOUT / "instance" / "blobs"
    outbox_path: Path = CHECKOUT / "instance" / "outbox"
    archive_path: Path = CHECKOUT / "archive"
    pki_path: Path = CHECKOUT / "signatures" / "dev"
    trust_path: Path = CHECKOUT / "signatures" / "trust"  # the EU trusted lists' store
    templates_path: Path = CHECKOUT / "templates"
    converters: int = 0
    soffice: str = "soffice"
    uno_python: str = "/usr/bin/python3"
    conversion_timeout: float = 60.0
    pdfa: bool = True
    student_link_days: int = 0
    sign_link_min_days: int = 14
    # Validity of the link each party gets to download the archived copies (issue 15)
    copy_link_days: int = 60
    # "thread": in-process background; "inline": right after the commit; "redis": the queue,
    # run by `docservice worker` processes
    jobs: str = "thread"
    # Where failed logins and unknown link tokens are counted: "memory" (per process) or
    # "redis" (the queue's Redis, shared by every worker); empty: redis if the jobs run there
    rate_limit_store: str = ""
    max_upload_bytes: int = 5 * 1024 * 1024
    log_format: str = ""  # "json" or "text"; empty: json in production, text elsewhere
    # Bounds of the child process that verifies an untrusted PDF (signing/verify/sandbox.py)
    verify_memory_mb: int = 512  # address space (RLIMIT_AS), the process's own ~100 MB included
    verify_seconds: float = 20.0  # wall clock, the child's start included
    metrics_token: str | None = field(default=None, repr=False)  # /metrics beyond loopback
    # A login session ends after this many hours without a request, and this many after the
    # login whatever happens (besides logout, a password change and deactivation)
    session_idle_hours: float = 8.0
    session_absolute_hours: float = 12.0
    # This many failed logins for one account within the window lock it for the window,
    # whatever the addresses they came from
    login_lockout_failures: int = 10
    login_lockout_minutes: float = 15.0
    # Reverse proxies in front of the service whose X-Forwarded-For/-Proto are believed (hops)
    trusted_proxies: int = 0
    mail: MailSettings = MailSettings()
    signatures: SigningSettings = SigningSettings()
    queue: QueueSettings = QueueSettings()
    archive: ArchiveSettings = ArchiveSettings()
    desk: DeskSettings = DeskSettings()

    def __post_init__(self) -> None:
        # One folder, one setting: every caller sets archive_path; the archive's own settings
        # follow it, however the Settings were made (from_env, directly, replace()).
        if self.archive.path != self.archive_path:
            object.__setattr__(self, "archive", replace(self.archive, path=self.archive_path))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, serving: bool = True,
                 **overrides: Any) -> Settings:
        """Read the settings from `env` (default: os.environ); `overrides` win.

        serving=False: for a command that serves nothing and opens no database (`docservice
        verify`): what only a running service needs is neither required nor filled in.
        """
        env = os.environ if env is None else env
        instance = _path(env, "DOCSERVICE_INSTANCE_PATH", CHECKOUT / "instance")
        environment = env.get("DOCSERVICE_ENV", "development")
        mail = MailSettings(
            smtp_host=env.get("DOCSERVICE_SMTP_HOST") or None,
            smtp_port=_int(env, "DOCSERVICE_SMTP_PORT", 25),
            smtp_security=env.get("DOCSERVICE_SMTP_SECURITY", "none"),
            smtp_user=env.get("DOCSERVICE_SMTP_USER") or None,
            smtp_password=env.get("DOCSERVICE_SMTP_PASSWORD") or None,
            sender=env.get("DOCSERVICE_MAIL_FROM", "docservice <no-reply@localhost>"),
        )
        settings = cls(
            env=environment,
            secret_key=env.get("DOCSERVICE_SECRET_KEY", ""),
            base_url=env.get("DOCSERVICE_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            instance_path=instance,
            database_url=env.get("DOCSERVICE_DATABASE_URL", ""),
            blob_path=_path(env, "DOCSERVICE_BLOB_PATH", instance / "blobs"),
            outbox_path=_path(env, "DOCSERVICE_OUTBOX_PATH", instance / "outbox"),
            archive_path=_path(env, "DOCSERVICE_ARCHIVE_PATH", CHECKOUT / "archive"),
            pki_path=_path(env, "DOCSERVICE_PKI_PATH", CHECKOUT / "signatures" / "dev"),
            trust_path=_path(env, "DOCSERVICE_TRUST_PATH", CHECKOUT / "signatures" / "trust"),
            templates_path=_path(env, "DOCSERVICE_TEMPLATES_PATH", CHECKOUT / "templates"),
            converters=_int(env, "DOCSERVICE_CONVERTERS", 0),
            soffice=env.get("DOCSERVICE_SOFFICE", "soffice"),
            uno_python=env.get("DOCSERVICE_UNO_PYTHON", "/usr/bin/python3"),
            conversion_timeout=float(_int(env, "DOCSERVICE_CONVERSION_TIMEOUT", 60)),
            pdfa=_bool(env, "DOCSERVICE_PDFA", True),
            student_link_days=_int(env, "DOCSERVICE_STUDENT_LINK_DAYS", 0),
            sign_link_min_days=_int(env, "DOCSERVICE_SIGN_LINK_MIN_DAYS", 14),
            copy_link_days=_int(env, "DOCSERVICE_COPY_LINK_DAYS", 60),
            jobs=env.get("DOCSERVICE_JOBS", "thread"),
            rate_limit_store=env.get("DOCSERVICE_RATE_LIMIT_STORE", "").strip().lower(),
            max_upload_bytes=_int(env, "DOCSERVICE_MAX_UPLOAD_BYTES", 5 * 1024 * 1024),
            log_format=env.get("DOCSERVICE_LOG_FORMAT", "").strip().lower(),
            verify_memory_mb=_int(env, "DOCSERVICE_VERIFY_MEMORY_MB", 512),
            verify_seconds=_number(env, "DOCSERVICE_VERIFY_SECONDS", 20.0),
            metrics_token=env.get("DOCSERVICE_METRICS_TOKEN") or None,
            session_idle_hours=_number(env, "DOCSERVICE_SESSION_IDLE_HOURS", 8.0),
            session_absolute_hours=_number(env, "DOCSERVICE_SESSION_ABSOLUTE_HOURS", 12.0),
            login_lockout_failures=_int(env, "DOCSERVICE_LOGIN_LOCKOUT_FAILURES", 10),
            login_lockout_minutes=_number(env, "DOCSERVICE_LOGIN_LOCKOUT_MINUTES", 15.0),
            trusted_proxies=_int(env, "DOCSERVICE_TRUSTED_PROXIES", 0),
            mail=mail,
            queue=_queue_settings(env),
            archive=ArchiveSettings.from_env(
                _path(env, "DOCSERVICE_ARCHIVE_PATH", CHECKOUT / "archive"), env),
            desk=DeskSettings.from_env(env),
            signatures=SigningSettings(
                tsa_url=env.get("DOCSERVICE_TSA_URL") or None,
                tsa_username=env.get("DOCSERVICE_TSA_USERNAME") or None,
                tsa_password=env.get("DOCSERVICE_TSA_PASSWORD") or None,
                seal=SealSettings(
                    # validated() refuses any other kind, naming DOCSERVICE_SEAL
                    kind=cast(SealKind, env.get("DOCSERVICE_SEAL", "pkcs12")),
                    p12_path=_optional_path(env, "DOCSERVICE_SEAL_P12"),
                    p12_password=env.get("DOCSERVICE_SEAL_P12_PASSWORD") or None,
                    pkcs11_module=_optional_path(env, "DOCSERVICE_PKCS11_MODULE"),
                    pkcs11_token_label=env.get("DOCSERVICE_PKCS11_TOKEN") or None,
                    pkcs11_key_label=env.get("DOCSERVICE_PKCS11_KEY_LABEL") or None,
                    pkcs11_pin=env.get("DOCSERVICE_PKCS11_PIN") or None,
                ),
                trust_roots_file=_optional_path(env, "DOCSERVICE_TRUST_ROOTS"),
            ),
        )
        return replace(settings, **overrides).validated(serving=serving)

    def validated(self, *, serving: bool = True) -> Settings:
        """Fill development defaults; refuse what production must not run without.

        serving=False checks the values given but neither requires nor fills in what only a
        running service needs (database, secret key, mail).
        """
        if self.env not in ENVIRONMENTS:
            raise ConfigurationError(f"DOCSERVICE_ENV must be one of {', '.join(ENVIRONMENTS)}")
        if self.mail.smtp_security not in MAIL_SECURITY:
            raise ConfigurationError(
                f"DOCSERVICE_SMTP_SECURITY must be one of {', '.join(MAIL_SECURITY)}"
            )
        if not 1 <= self.copy_link_days <= 3660:
            raise ConfigurationError("DOCSERVICE_COPY_LINK_DAYS must be between 1 and 3660")
        if self.jobs not in JOB_MODES:
            raise ConfigurationError(f"DOCSERVICE_JOBS must be one of {', '.join(JOB_MODES)}")
        if self.rate_limit_store not in ("", *RATE_LIMIT_STORES):
            raise ConfigurationError("DOCSERVICE_RATE_LIMIT_STORE must be one of "
                                     f"{', '.join(RATE_LIMIT_STORES)}")
        if self.queue.max_retries < 0 or self.queue.min_backoff <= 0 \
                or self.queue.max_backoff < self.queue.min_backoff:
            raise ConfigurationError("DOCSERVICE_JOB_MAX_RETRIES must be 0 or more and "
                                     "0 < DOCSERVICE_JOB_MIN_BACKOFF <= DOCSERVICE_JOB_MAX_BACKOFF")
        if self.signatures.seal.kind not in SEAL_KINDS:
            raise ConfigurationError("DOCSERVICE_SEAL must be pkcs12 or pkcs11")
        if self.trust_path.exists() and not self.trust_path.is_dir():
            raise ConfigurationError("DOCSERVICE_TRUST_PATH must be a folder (the trust store)")
        if self.log_format not in ("", "json", "text"):
            raise ConfigurationError("DOCSERVICE_LOG_FORMAT must be json or text")
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ConfigurationError("DOCSERVICE_METRICS_TOKEN must be at least 16 characters")
        if not 0 <= self.trusted_proxies <= MAX_TRUSTED_PROXIES:
            raise ConfigurationError("DOCSERVICE_TRUSTED_PROXIES is the number of reverse proxies "
                                     f"in front of the service: 0 to {MAX_TRUSTED_PROXIES}")
        # The verifying process alone takes about 100 MB of address space (Python, pyhanko).
        if self.verify_memory_mb < 128:
            raise ConfigurationError("DOCSERVICE_VERIFY_MEMORY_MB must be at least 128")
        if not 0 < self.verify_seconds <= 3600:
            raise ConfigurationError("DOCSERVICE_VERIFY_SECONDS must be more than 0 and at "
                                     "most 3600")
        if not 0 < self.session_idle_hours <= self.session_absolute_hours:
            raise ConfigurationError("DOCSERVICE_SESSION_IDLE_HOURS must be more than 0 and at "
                                     "most DOCSERVICE_SESSION_ABSOLUTE_HOURS")
        if self.login_lockout_failures < 1 or self.login_lockout_minutes <= 0:
            raise ConfigurationError("DOCSERVICE_LOGIN_LOCKOUT_FAILURES must be at least 1 and "
                                     "DOCSERVICE_LOGIN_LOCKOUT_MINUTES more than 0")
        self.archive.validated()
        if not serving:
            return self
        if self.env == "production":
            missing = [
                name
                for name, value in (
                    ("DOCSERVICE_SECRET_KEY", self.secret_key),
                    ("DOCSERVICE_DATABASE_URL", self.database_url),
                    ("DOCSERVICE_SMTP_HOST", self.mail.smtp_host),
                )
                if not value
            ]
            if missing:
                raise ConfigurationError(
                    "production mode refuses to start without " + ", ".join(missing)
                )
            if len(self.secret_key) < 32:
                raise ConfigurationError("DOCSERVICE_SECRET_KEY must be at least 32 characters")
            if not self.base_url.startswith("https://"):
                raise ConfigurationError("DOCSERVICE_BASE_URL must be https:// in production")
            require_production_signing(self.signatures)
        settings = self
        if not settings.rate_limit_store:
            settings = replace(settings, rate_limit_store="redis" if settings.jobs == "redis"
                               else "memory")
        if not settings.log_format:
            settings = replace(settings,
                               log_format="json" if settings.env == "production" else "text")
        if not settings.database_url:
            settings = replace(
                settings, database_url=f"sqlite:///{settings.instance_path / 'docservice.sqlite3'}"
            )
        if not settings.secret_key:
            settings = replace(settings, secret_key=_development_secret(settings.instance_path))
        if settings.converters <= 0:
            settings = replace(settings, converters=os.cpu_count() or 1)
        return settings

    def public_url(self, path: str) -> str:
        """`path` on this service as the world reaches it (DOCSERVICE_BASE_URL): every link
        in a mail is built here, never on the Host a request happened to name."""
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"


def _development_secret(instance: Path) -> str:
    """A random secret kept in the instance folder: never a fixed fallback."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
