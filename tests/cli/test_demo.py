"""The demo, run as a newcomer runs it: subprocesses, real HTTP, real SMTP, real LibreOffice.

`docservice demo --out DIR` writes what the archive keeps; `docservice init --demo` loads a
living cohort in the academic year of today (issue 15, items 1 and 13).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader

from docservice import create_app
from docservice.cli.demo import demo_year
from docservice.config import CHECKOUT, Settings
from docservice.domain import today_in_brussels
from docservice.signing.pki import Pki
from docservice.signing.verify import Trust, verify_pdf
from tests.web.helpers import csrf_token


def _docservice(env: dict[str, str], *args: str, timeout: int = 600) -> str:
    done = subprocess.run([sys.executable, "-m", "docservice.cli", *args], cwd=CHECKOUT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_demo_writes_the_archived_b_lta_pdfs_and_their_reports(tmp_path: Path, pki_path: Path):
    out = tmp_path / "signed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_ARCHIVE")}
    env.update(DOCSERVICE_INSTANCE_PATH=str(tmp_path / "instance"),
               DOCSERVICE_PKI_PATH=str(pki_path))
    stdout = _docservice(env, "demo", "--out", str(out), timeout=300)
    assert "Student Zoë Vermeulen-D'Hondt signed through the link e-mailed to" in stdout
    assert "Coordinator approved" in stdout
    kinds = ["afstand-auteursrecht", "geheimhoudingsverklaring", "stageovereenkomst"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"r0800001-{kind}{suffix}" for kind in kinds
        for suffix in (".pdf", ".report.pdf", ".report.html", ".report.json",
                       ".report.etsi.xml"))
    pki = Pki.load(pki_path)
    trust = Trust(roots=pki.trust_roots, crls=pki.crls)
    for kind in kinds:
        pdf = (out / f"r0800001-{kind}.pdf").read_bytes()
        sha = hashlib.sha256(pdf).hexdigest()
        fields = PdfReader(out / f"r0800001-{kind}.pdf").get_fields() or {}
        signed = [n for n, f in fields.items() if f.get("/FT") == "/Sig" and f.get("/V")]
        assert sorted(n for n in signed if n.startswith("Signature_")) == [
            "Signature_company", "Signature_school", "Signature_student"]
        # B-LTA: validation data (a DSS), then a document timestamp covering it.
        report = verify_pdf(pdf, trust=trust)
        assert report.passed and report.complete, report.to_text()
        assert report.signatures[-1].kind == "document_timestamp"
        assert "/DSS" in PdfReader(out / f"r0800001-{kind}.pdf").trailer["/Root"]
        dss_at = pdf.rindex(b"/DSS")
        assert pdf.rindex(b"/ETSI.RFC3161") > dss_at, "the timestamp comes after the DSS"
        archived = json.loads((out / f"r0800001-{kind}.report.json").read_bytes())
        assert archived["verdict"] == "passed" and sha in json.dumps(archived)
        assert (out / f"r0800001-{kind}.report.pdf").read_bytes().startswith(b"%PDF")
        # The demo archived into a folder of its own: nothing of it in the checkout.
        assert not list((CHECKOUT / "archive").rglob(f"{sha}*"))
    assert not (tmp_path / "instance" / "archive").exists()


def test_init_demo_loads_a_living_cohort_in_the_current_academic_year(
        tmp_path: Path, pki_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
    env.update(DOCSERVICE_INSTANCE_PATH=str(tmp_path / "instance"),
               DOCSERVICE_ARCHIVE_PATH=str(tmp_path / "archive"),
               DOCSERVICE_PKI_PATH=str(pki_path), DOCSERVICE_CONVERTERS="1")
    today = today_in_brussels(datetime.now(UTC))
    code, shift = demo_year(today)
    assert shift.days % 7 == 0  # every date keeps its weekday
    stdout = _docservice(env, "init", "--demo")
    assert f"Academic year {code} loaded" in stdout and today.year in (
        int(code[:4]), int(code[5:]))
    assert "Imported 8 demo placements" in stdout

    # The coordinator's dashboard: the current year, placements in every stage.
    settings = Settings.from_env(env)
    app = create_app({"TESTING": True}, settings=settings)
    try:
        client = app.test_client()
        email, password = (tmp_path / "instance" / "demo-credentials.txt").read_text().split()
        token = csrf_token(client.get("/login").get_data(as_text=True))
        assert client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": token}).status_code == 302
        page = client.get("/coordinator/?lang=nl").get_data(as_text=True)
    finally:
        app.extensions["docservice"].close()
    assert f'value="{code}" selected' in page or f"{code}" in page
    year_file = (tmp_path / "instance" / "demo" / f"{code}.toml").read_text()
    deadline = datetime.strptime(re.search(r"contract_deadline = (\S+)", year_file).group(1),
                                 "%Y-%m-%d").date()
    states = sorted(re.findall(r'data-state="([a-z_]+)"', page))
    assert len(states) == 8, states
    if today < deadline:  # later in the year the calendar turns some overdue, at risk, ...
        assert states == ["complete", "declined", "draft", "draft", "waiting_company",
                          "waiting_company", "waiting_school", "waiting_student"]
        for label in ("ontwerp", "wacht op student", "wacht op bedrijf", "wacht op hogeschool",
                      "volledig ondertekend", "geweigerd"):
            assert f"{label}</span>" in page, label
    outbox = "".join(p.read_text(errors="replace")
                     for p in (tmp_path / "instance" / "outbox").glob("*.eml"))
    assert f"{deadline:%d/%m/%Y}" in outbox and "15/12/2023" not in outbox

    # The deadline check sees the cohort; some reminders are due (14 days before the
    # deadline; earlier in the year, with an offset as far away as the deadline).
    days = (deadline - today).days
    offsets = [] if 0 < days <= 14 else ["--offsets", str(max(days, 1))]
    check = _docservice(env, "deadlines", "check", "--dry-run", *offsets)
    assert "placements checked: 8" in check, check
    if days > 0:
        assert int(re.search(r"reminders would send: (\d+)", check).group(1)) >= 3, check
