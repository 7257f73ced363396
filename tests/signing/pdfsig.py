"""poppler's pdfsig as an independent second opinion on a signed PDF (reusable by flow tests)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

VALID = "Signature is Valid."
TRUSTED = "Certificate is Trusted."


def nss_database(root_pem_path: Path, folder: Path) -> Path:
    """An NSS database in `folder` that trusts `root_pem_path` for signing (created once)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "cert9.db").exists():
        subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"],
                       check=True, capture_output=True)
    listed = subprocess.run(["certutil", "-L", "-d", f"sql:{folder}"],
                            check=True, capture_output=True, text=True).stdout
    nickname = "root-" + hashlib.sha256(root_pem_path.read_bytes()).hexdigest()[:16]
    if nickname not in listed:
        subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", "-n", nickname, "-t", "CT,C,C",
                        "-i", str(root_pem_path)], check=True, capture_output=True)
    return folder


def pdfsig_report(pdf_path: Path, root_pem_path: Path, tmp: Path) -> list[dict[str, str]]:
    """One dict per signature as pdfsig prints it, trusting only `root_pem_path`.

    Keys are pdfsig's labels ("Signature Field Name", "Signature Validation", "Certificate
    Validation", "Signer Certificate Common Name", ...); the unlabelled coverage line
    ("Total document signed" / "Not total document signed") is under "Coverage".
    pdfsig exits 0 whatever it finds, so callers must read these values.
    """
    nssdir = nss_database(root_pem_path, tmp / "nssdb")
    result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nssdir}", str(pdf_path)],
                            check=False, capture_output=True, text=True, timeout=60)
    reports: list[dict[str, str]] = []
    for line in result.stdout.splitlines():
        if re.match(r"^Signature #\d+:", line):
            reports.append({})
            continue
        item = re.match(r"^\s+- (.*)$", line)
        if not item or not reports:
            continue
        text = item.group(1)
        if ": " in text:
            key, value = text.split(": ", 1)
            reports[-1][key.strip()] = value.strip()
        elif "document signed" in text:
            reports[-1]["Coverage"] = text.strip()
    return reports
