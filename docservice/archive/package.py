"""Audit packages: a ZIP an auditor checks offline, and the check itself.

A package holds archived documents (PDF, manifest, reports), the trail entries about their
placements, the trust roots and revocation data, `package.json` and `SHA256SUMS`. Nothing here
reads the database: the caller gathers what goes in (`services.archive_search.export_package`).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from docservice.archive import audit
from docservice.archive.records import canonical_json
from docservice.domain import sha256_hex

PACKAGE_FORMAT = "docservice-audit-package/1"


@dataclass(frozen=True)
class PackagedDocument:
    """One archived document as it goes into a package."""

    sha256: str
    reference: str
    version: int
    manifest_sha256: str
    files: Mapping[str, bytes]  # name in the package's documents/ folder -> bytes


def build_package(documents: Sequence[PackagedDocument], *, trail: Sequence[Mapping[str, Any]],
                  placements: Sequence[int], head: tuple[int, str] | None,
                  trust_roots: Sequence[asn1_x509.Certificate],
                  crls: Sequence[asn1_crl.CertificateList], created_by: str,
                  now: datetime) -> bytes:
    """The ZIP: documents, trail (`audit.entry_json` entries), trust, package.json, sums."""
    files: dict[str, bytes] = {}
    for document in documents:
        for name, data in document.files.items():
            files[f"documents/{name}"] = data
    files["trail.jsonl"] = b"".join(canonical_json(entry) + b"\n" for entry in trail)
    files["trust-roots.pem"] = b"".join(pem.armor("CERTIFICATE", c.dump()) for c in trust_roots)
    for index, crl in enumerate(crls):
        files[f"revocation/crl-{index}.crl"] = crl.dump()
    files["package.json"] = canonical_json({
        "format": PACKAGE_FORMAT, "created_at": now.isoformat(), "created_by": created_by,
        "documents": [{"sha256": d.sha256, "reference": d.reference, "version": d.version,
                       "manifest_sha256": d.manifest_sha256} for d in documents],
        "trail": {"entries": len(trail), "placements": list(placements),
                  "head": {"id": head[0], "hash": head[1]} if head else None},
    })
    sums = "".join(f"{sha256_hex(data)}  {name}\n" for name, data in sorted(files.items()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
        archive.writestr("SHA256SUMS", sums)
    return out.getvalue()


@dataclass
class PackageCheck:
    """What `docservice audit verify-package` found."""

    documents: int = 0
    trail_entries: int = 0
    problems: list[str] = field(default_factory=list)
    signatures: dict[str, str] = field(default_factory=dict)  # sha -> verdict

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_package(data: bytes, *, trust_roots_pem: bytes | None = None,
                   signatures: bool = True) -> PackageCheck:
    """Check an audit package offline: sums, manifests, trail hashes, and the signatures."""
    check = PackageCheck()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        check.problems.append(f"not a ZIP file: {e}")
        return check
    with archive:
        names = set(archive.namelist())
        if "SHA256SUMS" not in names:
            check.problems.append("SHA256SUMS is missing")
            return check
        listed: dict[str, str] = {}
        for line in archive.read("SHA256SUMS").decode().splitlines():
            digest, _, name = line.partition("  ")
            listed[name] = digest
        for name in sorted(names - set(listed) - {"SHA256SUMS"}):
            check.problems.append(f"{name}: not listed in SHA256SUMS")
        contents: dict[str, bytes] = {}
        for name, digest in sorted(listed.items()):
            if name not in names:
                check.problems.append(f"{name}: listed in SHA256SUMS but missing")
                continue
            contents[name] = archive.read(name)
            if sha256_hex(contents[name]) != digest:
                check.problems.append(f"{name}: SHA-256 does not match SHA256SUMS")
    package: dict[str, Any]
    try:
        package = json.loads(contents.get("package.json", b"{}"))
    except ValueError:
        package = {}
        check.problems.append("package.json is not JSON")
    for doc in package.get("documents", []):
        _check_package_document(doc, contents, check)
    _check_package_trail(contents.get("trail.jsonl", b""), check)
    if signatures:
        _check_package_signatures(package, contents, trust_roots_pem, check)
    return check


def _check_package_document(doc: dict[str, Any], contents: dict[str, bytes],
                            check: PackageCheck) -> None:
    sha = doc.get("sha256", "")
    pdf = contents.get(f"documents/{sha}.pdf")
    manifest_bytes = contents.get(f"documents/{sha}.manifest.json")
    report_bytes = contents.get(f"documents/{sha}.report.json")
    check.documents += 1
    if pdf is None or manifest_bytes is None or report_bytes is None:
        check.problems.append(f"{sha}: PDF, manifest or report missing")
        return
    if sha256_hex(pdf) != sha:
        check.problems.append(f"documents/{sha}.pdf: its SHA-256 is not its name")
    if sha256_hex(manifest_bytes) != doc.get("manifest_sha256"):
        check.problems.append(f"documents/{sha}.manifest.json: not the archived manifest")
    manifest = json.loads(manifest_bytes)
    if manifest.get("pdf", {}).get("sha256") != sha:
        check.problems.append(f"documents/{sha}.manifest.json: names another PDF")
    if manifest.get("report", {}).get("sha256") != sha256_hex(report_bytes):
        check.problems.append(f"documents/{sha}.report.json: not the report the manifest names")
    _check_package_reports(sha, manifest.get("report", {}), pdf, contents, check)


def _check_package_reports(sha: str, named: dict[str, Any], pdf: bytes,
                           contents: dict[str, bytes], check: PackageCheck) -> None:
    """Each ETSI and PDF report the manifest names: in the package, unchanged, and about the
    PDF with this SHA-256 (the ETSI report's signatures and signed-bytes digests are this
    PDF's; the PDF report's subject names it)."""
    from docservice.archive.report_pdf import read_subject, report_subject
    from docservice.signing.etsi_report import EtsiReportError, check_report

    for field_name, digest_name, suffix in (("etsi_file", "etsi_sha256", ".report.etsi.xml"),
                                            ("pdf_file", "pdf_sha256", ".report.pdf")):
        if not named.get(digest_name):
            continue
        name = f"documents/{sha}{suffix}"
        data = contents.get(name)
        if data is None:
            check.problems.append(f"{name}: missing (the manifest names it)")
            continue
        if sha256_hex(data) != named[digest_name] or named.get(field_name) != f"{sha}{suffix}":
            check.problems.append(f"{name}: not the report the manifest names")
            continue
        if suffix == ".report.pdf":
            if read_subject(data) != report_subject(sha):
                check.problems.append(f"{name}: does not report on the PDF with this SHA-256")
            continue
        try:
            check_report(data, pdf)
        except EtsiReportError as e:
            check.problems.append(f"{name}: {e}")


def _check_package_trail(trail: bytes, check: PackageCheck) -> None:
    previous: dict[str, Any] | None = None
    for number, line in enumerate(trail.decode().splitlines(), start=1):
        entry = json.loads(line)
        check.trail_entries += 1
        if audit.entry_digest(entry) != entry["hash"]:
            check.problems.append(f"trail.jsonl line {number}: entry #{entry['id']} changed "
                                  "(its content does not match its hash)")
        if previous is not None and entry["id"] <= previous["id"]:
            check.problems.append(f"trail.jsonl line {number}: entries out of order")
        previous = entry


def _check_package_signatures(package: dict[str, Any], contents: dict[str, bytes],
                              trust_roots_pem: bytes | None, check: PackageCheck) -> None:
    from docservice.signing import ltv

    roots_pem = trust_roots_pem or contents.get("trust-roots.pem", b"")
    roots = [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(roots_pem, multiple=True)]
    crls = [asn1_crl.CertificateList.load(data) for name, data in sorted(contents.items())
            if name.startswith("revocation/")]
    created = package.get("created_at")
    # Judged as of the package's creation, with the revocation data current then: offline,
    # years later, nothing newer is at hand.
    at = datetime.fromisoformat(created) if created else None
    for doc in package.get("documents", []):
        sha = doc.get("sha256", "")
        pdf = contents.get(f"documents/{sha}.pdf")
        if pdf is None or not roots:
            continue
        try:
            results = ltv.lta_validation(pdf, roots, at=at, current_crls=crls)
        except ltv.LtvError as e:
            check.problems.append(f"{sha}: {e}")
            continue
        bad = [f"{r.field_name} {r.indication} {r.sub_indication}" for r in results
               if not r.passed]
        check.signatures[sha] = "passed" if results and not bad else "failed"
        if bad or not results:
            check.problems.append(f"{sha}: signatures do not validate: " + "; ".join(bad))
