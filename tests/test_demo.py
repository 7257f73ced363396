"""`docservice demo --out DIR`, run as a newcomer runs it: a subprocess, real HTTP, real SMTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from docservice.config import CHECKOUT


def test_demo_writes_three_times_signed_pdfs(tmp_path: Path, pki_path: Path):
    out = tmp_path / "signed"
    env = {**os.environ, "DOCSERVICE_INSTANCE_PATH": str(tmp_path / "instance"),
           "DOCSERVICE_PKI_PATH": str(pki_path)}
    done = subprocess.run([sys.executable, "-m", "docservice.cli", "demo", "--out", str(out)],
                          cwd=CHECKOUT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Student Zoë Vermeulen-D'Hondt signed through the link e-mailed to" in done.stdout
    assert "Coordinator approved" in done.stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == ["r0800001-afstand-auteursrecht.pdf", "r0800001-geheimhoudingsverklaring.pdf",
                     "r0800001-stageovereenkomst.pdf"]
    for name in files:
        fields = PdfReader(out / name).get_fields() or {}
        signed = [n for n, f in fields.items() if f.get("/FT") == "/Sig" and f.get("/V")]
        assert sorted(signed) == ["Signature_company", "Signature_school", "Signature_student"]
