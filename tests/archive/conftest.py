"""An archived envelope made the way users make one, and the S3 server the archive can use."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from docservice.archive import records
from docservice.archive.store import ArchiveStore, make_store
from docservice.config import ArchiveSettings
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.jobs.runtime import Runtime
from docservice.models import ArchiveEntry, Placement
from docservice.services import envelopes
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from tests.conftest import TEST_ACTOR
from tests.factories import csv_bytes, row


@dataclass(frozen=True)
class Completed:
    """A placement whose envelope every party signed; its documents' ids."""

    placement_id: int
    envelope_id: int
    document_ids: tuple[int, ...]


def complete_envelope(runtime: Runtime, n: int = 0, **overrides: Any) -> Completed:
    """Import a placement, generate its documents (LibreOffice), and sign as all three parties.

    The school's approval commits last; its after-commit hook runs the archiving job (inline
    in tests), exactly as when the coordinator approves in the browser.
    """
    with unit_of_work(runtime.db) as session:
        [placement] = import_placements(session, csv_bytes([row(n, **overrides)]),
                                        actor=TEST_ACTOR).placements
        placement_id = placement.id
    with unit_of_work(runtime.db) as session:
        generate_missing(session, converter=runtime.converter, blobs=runtime.blobs,
                         templates_root=runtime.settings.templates_path, pdfa=True, converters=2,
                         actor=TEST_ACTOR)
    with unit_of_work(runtime.db) as session:
        placement = session.get(Placement, placement_id)
        envelopes.open_envelope(session, placement, now=datetime.now(UTC),
                                actor=TEST_ACTOR, mailer=runtime.mail, settings=runtime.settings)
    for role in ("student", "company", "school"):
        with unit_of_work(runtime.db) as session:
            envelope = envelopes.envelope_of_placement(session, placement_id)
            request = envelope.request_for(role)
            envelopes.sign(session, request, typed_name=request.signer_name,
                           consent=True, now=datetime.now(UTC), actor=TEST_ACTOR,
                           signer=runtime.signer, blobs=runtime.blobs, mailer=runtime.mail,
                           settings=runtime.settings, enqueue=runtime.enqueue,
                           approved_by="Frank Vandromme" if role == "school" else None)
    with unit_of_work(runtime.db) as session:
        envelope = envelopes.envelope_of_placement(session, placement_id)
        return Completed(placement_id, envelope.id,
                         tuple(d.id for d in envelope.documents if d.superseded_at is None))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 for the run; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AWS credentials for the local server and a fresh bucket with object lock."""
    import uuid

    import boto3

    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "eu-west-1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bucket = f"archive-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        ObjectLockEnabledForBucket=True)
    return {**env, "DOCSERVICE_ARCHIVE_S3_BUCKET": bucket,
            "DOCSERVICE_ARCHIVE_S3_ENDPOINT": s3_server}


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest, runtime: Runtime,
            monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test against the archive folder, then against the S3 server."""
    if request.param == "s3":
        env = request.getfixturevalue("s3_env")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    else:
        monkeypatch.delenv("DOCSERVICE_ARCHIVE_S3_BUCKET", raising=False)
    # The archive's settings as a process started with this environment reads them.
    runtime.use_archive_store(make_store(ArchiveSettings.from_env(runtime.settings.archive_path)))
    return str(request.param)



def check_store(store: ArchiveStore, rows: Sequence[ArchiveEntry], trial: int) -> None:
    """What a crash must never leave: a row without its objects, or a half-written object."""
    # No row without its objects, and they are the bytes the row names.
    for entry in rows:
        pdf = store.get(records.pdf_key(entry.sha256))
        assert sha256_hex(pdf) == entry.sha256, trial
        manifest = store.get(records.manifest_key(entry.sha256))
        assert sha256_hex(manifest) == entry.manifest_sha256, trial
    # No half-written object under a name: a PDF is named by its hash, JSON parses, HTML ends.
    for key, _ in store.objects():
        data = store.get(key)
        if key.endswith(".report.pdf"):
            assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF"), (trial, key)
        elif key.endswith(".report.etsi.xml"):
            assert data.rstrip().endswith(b"</vr:ValidationReport>"), (trial, key)
        elif key.endswith(".pdf"):
            assert sha256_hex(data) == records.sha_of_key(key), (trial, key)
        elif key.endswith(".json"):
            json.loads(data)
        else:
            assert data.rstrip().endswith(b"</html>"), (trial, key)
