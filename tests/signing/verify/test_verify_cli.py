"""`docservice verify`: exit 0 passed, 1 failed or indeterminate, 2 not a PDF; text and JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docservice.cli import main
from tests.signing.conftest import SignedContract
from tests.signing.verify import tamper


@pytest.fixture
def run(pki_dir: Path, tmp_path: Path) -> object:
    env = {
        "DOCSERVICE_PKI_PATH": str(pki_dir),
        "DOCSERVICE_INSTANCE_PATH": str(tmp_path / "instance"),
        "DOCSERVICE_BLOB_PATH": str(tmp_path / "instance" / "blobs"),
        "DOCSERVICE_OUTBOX_PATH": str(tmp_path / "instance" / "outbox"),
        "DOCSERVICE_TRUST_PATH": str(tmp_path / "trust"),
    }

    def invoke(pdf: bytes, *args: str) -> Result:
        path = tmp_path / "document.pdf"
        path.write_bytes(pdf)
        return CliRunner().invoke(main, ["verify", str(path), *args], env=env)

    return invoke


def test_a_genuine_final_agreement_exits_0(run: object,
                                           signed_contract: SignedContract) -> None:
    result = run(signed_contract.by_school)  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    assert "Signature 3 in Signature_school (school): TOTAL_PASSED" in result.output
    assert "Document: TOTAL_PASSED" in result.output


def test_json_has_the_report_fields(run: object, signed_contract: SignedContract) -> None:
    result = run(signed_contract.by_company, "--json")  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["indication"] == "TOTAL_PASSED" and data["policy"] == "strict"
    assert [s["role"] for s in data["signatures"]] == ["student", "company"]
    assert data["signatures"][0]["changes_after"] == "signatures_and_form_filling"


@pytest.mark.parametrize("make, text", [
    (tamper.append_content_update, "changes page 1 (/Contents)"),
    (tamper.flip_signed_byte, "HASH_FAILURE"),
    (tamper.shorten_byte_range, "does not sign the whole revision"),
    (tamper.add_free_text_annotation, "/FreeText annotation"),
    (tamper.add_painted_signature_field, "with a visible appearance"),
    (tamper.append_bytes_after_eof, "after the final %%EOF"),
    (tamper.zero_contents, "cannot be read"),
])
def test_tampered_files_exit_1_with_every_reason(run: object, signed_contract: SignedContract,
                                                 make: object, text: str) -> None:
    result = run(make(signed_contract.by_school))  # type: ignore[operator]
    assert result.exit_code == 1, result.output
    assert "Document: TOTAL_FAILED" in result.output and text in result.output


def test_an_unsigned_document_is_indeterminate(run: object,
                                               signed_contract: SignedContract) -> None:
    result = run(signed_contract.unsigned)  # type: ignore[operator]
    assert result.exit_code == 1 and "the document has no signature" in result.output


@pytest.mark.parametrize("data", [b"", b"hello, world", b"%PDF-1.7\n%%EOF\n"])
def test_something_that_is_no_pdf_exits_2(run: object, data: bytes) -> None:
    result = run(data)  # type: ignore[operator]
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_policy_can_be_forced(run: object, signed_contract: SignedContract) -> None:
    pdf = tamper.add_free_text_annotation(signed_contract.by_school, rect=(400, 400, 500, 430))
    assert run(pdf).exit_code == 1  # type: ignore[operator]
    result = run(pdf, "--policy", "standard")  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    assert "standard policy" in result.output


# --- `docservice verify` on a fresh install: no database, no PKI, nothing on stderr -------

REALWORLD = Path("/work/shared/realworld/pdf")


def fresh_install(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`docservice verify ARGS` as a process, with an empty instance folder and no PKI."""
    script = Path(sys.executable).with_name("docservice")
    if not script.exists():
        pytest.skip("the docservice script is not installed beside this Python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
    env.update(DOCSERVICE_INSTANCE_PATH=str(tmp_path / "instance"),
               DOCSERVICE_PKI_PATH=str(tmp_path / "no-pki"),
               DOCSERVICE_TRUST_PATH=str(tmp_path / "no-trust-store"))
    return subprocess.run([str(script), "verify", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("name", ["PAdES-LT.pdf", "john-doe-lta.pdf"])
def test_a_fresh_install_verifies_a_real_world_file(tmp_path: Path, name: str) -> None:
    if not (REALWORLD / name).exists():
        pytest.skip(f"{REALWORLD / name} is not here")
    result = fresh_install(tmp_path, str(REALWORLD / name))
    assert result.returncode in (0, 1), result
    assert re.search(r"^Document: (TOTAL_PASSED|TOTAL_FAILED|INDETERMINATE)", result.stdout,
                     re.MULTILINE), result.stdout
    assert result.stderr == ""
    assert not (tmp_path / "instance" / "docservice.sqlite3").exists()
    assert (tmp_path / "instance" / "logs" / "verify.log").is_file()


def test_a_fresh_install_prints_json(tmp_path: Path, signed_contract: SignedContract) -> None:
    (tmp_path / "final.pdf").write_bytes(signed_contract.by_school)
    result = fresh_install(tmp_path, str(tmp_path / "final.pdf"), "--json", "--policy", "strict")
    # No PKI configured: the service's own root is not trusted here.
    assert result.returncode == 1 and result.stderr == ""
    data = json.loads(result.stdout)
    assert data["policy"] == "strict" and len(data["signatures"]) == 3


@pytest.mark.parametrize("data", [b"hello, world", b"%PDF-1.7\n%%EOF\n"])
def test_a_fresh_install_says_in_one_line_that_garbage_is_no_pdf(tmp_path: Path,
                                                                 data: bytes) -> None:
    (tmp_path / "garbage.pdf").write_bytes(data)
    result = fresh_install(tmp_path, str(tmp_path / "garbage.pdf"))
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


def test_a_fresh_install_says_in_one_line_that_a_file_is_missing(tmp_path: Path) -> None:
    result = fresh_install(tmp_path, str(tmp_path / "nowhere.pdf"))
    assert result.returncode == 2
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
