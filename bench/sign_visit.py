"""Benchmark: server-side time of a signer's visit that signs a three-document envelope.

Measures the POST that signs (one-shot certificate, three PAdES B-T signatures, blobs,
rows, audit, next invitation) through the real app with the Flask test client.

    .venv/bin/python bench/sign_visit.py [--envelopes 10]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docservice import create_app, migrate
from docservice.archive.audit import Actor
from docservice.config import CHECKOUT, Settings
from docservice.db import unit_of_work
from docservice.models import Placement
from docservice.services import envelopes, links
from docservice.services.documents import generate_missing
from docservice.services.placements import import_placements
from docservice.services.years import load_year_file
from docservice.signing.pki import init_dev_pki
from tests.factories import csv_bytes, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envelopes", type=int, default=10)
    args = parser.parse_args()
    actor = Actor("bench")
    with tempfile.TemporaryDirectory(prefix="bench-visit-") as tmp:
        root = Path(tmp)
        init_dev_pki(root / "pki")
        settings = Settings(env="testing", instance_path=root, blob_path=root / "blobs",
                            outbox_path=root / "outbox", pki_path=root / "pki",
                            templates_path=CHECKOUT / "templates").validated()
        app = create_app(settings=settings)
        rt = app.extensions["docservice"]
        migrate.upgrade(rt.db)
        with unit_of_work(rt.db) as session:
            load_year_file(session, CHECKOUT / "data" / "academic-years" / "2023-2024.toml")
            import_placements(session, csv_bytes([row(i) for i in range(args.envelopes)]),
                              actor=actor)
            generate_missing(session, converter=rt.converter, blobs=rt.blobs,
                             templates_root=settings.templates_path, pdfa=True,
                             converters=settings.converters, actor=actor)
        tokens = []
        with unit_of_work(rt.db) as session:
            now = datetime.now(UTC)
            for placement in session.query(Placement).order_by(Placement.id):
                envelope = envelopes.open_envelope(session, placement, now=now, actor=actor,
                                                   mailer=rt.mail, settings=rt.settings)
                # A fresh link for the bench to use (the e-mailed one went to the outbox).
                _, token = links.issue_link(
                    session, placement, purpose="sign", now=now,
                    valid_for=envelopes.link_expiry(placement.academic_year, now, 14) - now,
                    actor=actor, signature_request_id=envelope.requests[0].id)
                tokens.append((token, placement.student_full_name))
        _ = rt.signer  # built once per process, as in a running service
        client = app.test_client()
        times = []
        for token, name in tokens:
            page = client.get(f"/sign/{token}").get_data(as_text=True)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            start = time.perf_counter()
            response = client.post(f"/sign/{token}", data={
                "csrf_token": csrf, "consent": "yes", "full_name": name})
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
        times.sort()
        print(f"signer's visit, 3 documents, server side over {len(times)} envelopes: "
              f"median {statistics.median(times):.0f} ms, min {times[0]:.0f} ms, "
              f"max {times[-1]:.0f} ms (target < 500 ms)")
        rt.close()


if __name__ == "__main__":
    main()
