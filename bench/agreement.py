"""The real internship agreement at every stage, for everybody's measurements.

    .venv/bin/python bench/agreement.py [FOLDER]    (default /tmp/agreement)

Writes, into FOLDER:
    0-unsigned.pdf  the LibreOffice-made stageovereenkomst as handed to the student
    1-student.pdf   signed by the student (service-issued one-shot certificate, B-T)
    2-company.pdf   signed by the company signatory (the same way)
    3-school.pdf    sealed by the school
    4-archived.pdf  the archived B-LTA final: validation data and a document timestamp,
                    exactly as `archive.archive_document` stores it
    pki/            the development PKI that issued, sealed and timestamped them
    README.txt      this list, with sizes and SHA-256s
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_FOLDER = Path("/tmp/agreement")
STAGES = ("0-unsigned.pdf", "1-student.pdf", "2-company.pdf", "3-school.pdf", "4-archived.pdf")


@dataclass(frozen=True)
class Agreement:
    """One agreement's bytes at every stage, and the dev PKI folder that made them."""

    unsigned: bytes
    student: bytes
    company: bytes
    school: bytes
    archived: bytes
    pki_path: Path

    def stages(self) -> dict[str, bytes]:
        """File name -> bytes, in signing order."""
        return dict(zip(STAGES, (self.unsigned, self.student, self.company, self.school,
                                 self.archived), strict=True))


def make_agreement(folder: Path) -> Agreement:
    """Generate, sign (student, company, school) and archive one agreement under `folder`."""
    from bench.archive import signed_agreements
    from docservice.archive import records
    from docservice.db import unit_of_work
    from docservice.jobs import archiving
    from docservice.models import Document

    rt, [done] = signed_agreements(folder, 1)
    try:
        document_id = done.document_ids[0]
        with unit_of_work(rt.db) as session:
            document = session.get(Document, document_id)
            assert document is not None and document.kind == "stageovereenkomst", document
            by_reason = {r.reason: rt.blobs.get(r.sha256) for r in document.revisions}
        outcome = archiving.archive_document(rt, document_id)
        assert outcome.state == "archived" and outcome.sha256, outcome
        archived = rt.archive_store.get(records.pdf_key(outcome.sha256))
    finally:
        rt.close()
    return Agreement(unsigned=by_reason["generated"], student=by_reason["signed:student"],
                     company=by_reason["signed:company"], school=by_reason["signed:school"],
                     archived=archived, pki_path=folder / "pki")


def write_agreement(target: Path = DEFAULT_FOLDER) -> Agreement:
    """Make an agreement and write its stages, its PKI and a README into `target`."""
    work = Path(tempfile.mkdtemp(prefix="agreement-"))
    agreement = make_agreement(work)
    target.mkdir(parents=True, exist_ok=True)
    lines = [__doc__.split("Writes, into FOLDER:\n", 1)[1].rstrip(), "", "Files:"]
    for name, pdf in agreement.stages().items():
        (target / name).write_bytes(pdf)
        lines.append(f"    {name:<16} {len(pdf):>8,} bytes  sha256 "
                     f"{hashlib.sha256(pdf).hexdigest()}")
    shutil.rmtree(target / "pki", ignore_errors=True)
    shutil.copytree(agreement.pki_path, target / "pki")
    lines += ["", "Trust for verification: docservice.signing.pki.Pki.load(FOLDER / 'pki')",
              "(.trust_roots, .crls); made by bench/agreement.py.", ""]
    (target / "README.txt").write_text("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)
    return replace(agreement, pki_path=target / "pki")


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    write_agreement(folder)
    print((folder / "README.txt").read_text())
