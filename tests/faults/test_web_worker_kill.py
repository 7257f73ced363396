"""SIGKILL a gunicorn worker at a random point while it signs: every envelope is either signed
(a whole new revision whose blob exists and verifies) or still pending and signable again."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from docservice.archive.blobs import TEMPORARY_PREFIX
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.jobs import archive_maintenance
from docservice.models import AccessLink, Envelope, RequestStatus
from tests.faults.conftest import Instance, on_both_databases, seeded_rng
from tests.faults.procs import is_gone, kill, serving
from tests.faults.web import Client, Gunicorn, prepare_envelopes
from tests.signing.pyhanko_check import check_signatures

TRIALS = 20
STUDENT_NAME = "Zoë Vermeulen-D'Hondt"


@pytest.mark.slow
@on_both_databases
@pytest.mark.timeout(300)
def test_sigkill_of_a_web_worker_while_signing_loses_nothing(instance: Instance, converter: Any,
                                                              tmp_path: Path):
    rng = seeded_rng("web-worker-kill")
    # Four to warm both workers up and time a signature, then one envelope per trial; one
    # document each keeps it short. Twenty kills must land inside a request; a random point
    # after the answer spends one more, and envelopes for those are made when these run out.
    placement_ids = instance.import_cohort(4 + TRIALS + 6, nda="nee", copyright_waiver="nee")
    tokens = prepare_envelopes(instance.runtime, placement_ids, converter)
    server = Gunicorn({**instance.env, "DOCSERVICE_JOBS": "inline"}, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        # Warm-up: both workers load the signer (PKI, CRLs); how long a signing POST takes.
        durations: list[float] = []
        warm = [threading.Thread(target=lambda p=p: durations.append(
            _sign_uninterrupted(server.port, tokens[p]))) for p in placement_ids[:2]]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        assert len(durations) == 2
        # Warm now: how long a signing POST takes, from the client's side.
        typical = max(_sign_uninterrupted(server.port, tokens[p]) for p in placement_ids[2:4])
        outcomes = {"killed": 0, "signed": 0, "pending": 0, "answered": 0}
        unsigned, trial = placement_ids[4:], 0
        while outcomes["killed"] < TRIALS:
            trial += 1
            assert trial <= 2 * TRIALS, f"only {outcomes} in {trial - 1} trials"
            if not unsigned:
                unsigned = instance.import_cohort(6, nda="nee", copyright_waiver="nee")
                tokens.update(prepare_envelopes(instance.runtime, unsigned, converter))
            placement_id = unsigned.pop(0)
            client = Client(server.port)
            path = f"/sign/{tokens[placement_id]}"
            form = client.sign_form(path, STUDENT_NAME)
            answer: dict[str, Any] = {}

            def post(client: Client = client, path: str = path, form: dict = form,
                     answer: dict = answer) -> None:
                try:
                    answer["status"], answer["body"] = client.request("POST", path, form,
                                                                      connected=True)
                except (OSError, ConnectionError) as e:  # cut off by the kill
                    answer["error"] = e

            client_port = client.connect()
            sender = threading.Thread(target=post)
            sender.start()
            # Which worker took the connection (at once: it is idle), then a random point of
            # its work on the request.
            worker, found_by = None, time.monotonic() + 10
            while worker is None and sender.is_alive() and time.monotonic() < found_by:
                worker = serving(server.worker_pids(), server.port, client_port)
            time.sleep(rng.uniform(0, typical))
            if worker is not None and sender.is_alive() and kill(worker):
                outcomes["killed"] += 1
                assert is_gone(worker)
            sender.join(timeout=120)
            assert not sender.is_alive(), trial
            if "status" in answer:
                outcomes["answered"] += 1
                # An answer that reached the signer is the truth: signed means signed.
                assert answer["status"] == 200 and 'id="signed"' in answer["body"], (
                    trial, answer["status"], answer["body"][:300])
            state = _check_envelope(instance, placement_id, trial)
            outcomes[state] += 1
            if "status" in answer:
                assert state == "signed", trial
            if state == "pending":
                # Signable again with the same link, as if the signer pressed the button again.
                _sign_uninterrupted(server.port, tokens[placement_id])
                assert _check_envelope(instance, placement_id, trial) == "signed"
        print(f"outcomes after {trial} trials:", outcomes)
        assert outcomes["pending"] >= 1, f"no kill landed before the commit: {outcomes}"
        server.wait_ready()  # gunicorn replaced every killed worker
    finally:
        server.stop()
    _check_blobs(instance)
    # What a killed write left is swept, like the archive's partial writes.
    swept = archive_maintenance.sweep(instance.runtime, grace=timedelta(0))
    assert not list(instance.runtime.blobs.leftovers()), swept
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text().replace(
        "WORKER TIMEOUT", "")


def _sign_uninterrupted(port: int, token: str) -> float:
    client = Client(port)
    form = client.sign_form(f"/sign/{token}", STUDENT_NAME)
    started = time.monotonic()
    status, body = client.request("POST", f"/sign/{token}", form)
    assert status == 200 and 'id="signed"' in body, (status, body[:500])
    return time.monotonic() - started


def _check_envelope(instance: Instance, placement_id: int, trial: int) -> str:
    """'signed' or 'pending', after checking that the envelope is whole either way."""
    runtime = instance.runtime
    pki = runtime.signer.pki
    with unit_of_work(runtime.db) as session:
        envelope = session.scalars(select(Envelope).where(
            Envelope.placement_id == placement_id)).one()
        student, company = envelope.request_for("student"), envelope.request_for("company")
        live_links = session.scalars(select(AccessLink).where(
            AccessLink.signature_request_id == student.id,
            AccessLink.revoked_at.is_(None))).all()
        for document in envelope.documents:
            numbers = [r.number for r in document.revisions]
            for revision in document.revisions:
                # No revision row without its blob, and the blob is the bytes it names.
                assert runtime.blobs.exists(revision.sha256), (trial, revision.sha256)
            latest = runtime.blobs.get(document.current_revision.sha256)
            if student.status == RequestStatus.SIGNED.value:
                assert numbers == [0, 1], (trial, numbers)
                [check] = check_signatures(latest, trust_roots=pki.trust_roots, crls=pki.crls)
                assert check.ok and check.intact and check.valid, (trial, check.problems)
            else:
                assert numbers == [0], (trial, numbers)
        if student.status == RequestStatus.SIGNED.value:
            assert student.signed_at is not None and live_links == [], trial
            assert company.status == RequestStatus.PENDING.value, trial  # invited next
            return "signed"
        assert student.status == RequestStatus.PENDING.value, (trial, student.status)
        assert company.status == RequestStatus.WAITING.value, trial
        assert len(live_links) == 1, trial
        return "pending"


def _check_blobs(instance: Instance) -> None:
    """Every stored blob is named by its hash and, being a PDF, parses; temporary files of a
    killed write are counted (they are not blobs and nothing points at them)."""
    leftovers = 0
    for path in instance.runtime.settings.blob_path.rglob("*"):
        if path.is_dir():
            continue
        if path.name.startswith(TEMPORARY_PREFIX):
            leftovers += 1
            continue
        data = path.read_bytes()
        assert sha256_hex(data) == path.parent.name + path.name, path
        if data.startswith(b"%PDF-"):
            assert len(PdfReader(io.BytesIO(data)).pages) >= 1, path
    print("temporary blob files left by kills:", leftovers)


def test_sweep_removes_what_a_killed_blob_write_left(instance: Instance):
    blobs = instance.runtime.blobs
    kept = blobs.put(b"%PDF-1.7 a revision")
    partial = blobs.root / kept[:2] / f"{TEMPORARY_PREFIX}cut-off"
    partial.write_bytes(b"%PDF-1.7 half a rev")
    assert archive_maintenance.sweep(instance.runtime, dry_run=True, grace=timedelta(0)).leftovers == [
        f"blobs/{kept[:2]}/{partial.name}"]
    assert partial.exists()
    archive_maintenance.sweep(instance.runtime, grace=timedelta(hours=1))  # too young: a write in progress
    assert partial.exists()
    archive_maintenance.sweep(instance.runtime, grace=timedelta(0))
    assert not partial.exists() and blobs.get(kept) == b"%PDF-1.7 a revision"
