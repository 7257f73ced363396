"""`docservice templates check`: the committed templates pass, broken copies are named, exit codes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docservice.cli import main
from docservice.config import CHECKOUT
from docservice.documents.catalogue import SIGNATURE_ANCHORS
from docservice.documents.check import check_template
from docservice.documents.convert import ConverterPool
from docservice.documents.sample import documented_variables
from docservice.domain import SIGNER_ROLES

TEMPLATES = CHECKOUT / "templates"


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The checkout's templates; logs in a temporary instance folder."""
    monkeypatch.delenv("DOCSERVICE_TEMPLATES_PATH", raising=False)
    monkeypatch.setenv("DOCSERVICE_INSTANCE_PATH", str(tmp_path / "instance"))


def run(converter: ConverterPool, *paths: Path | str) -> Result:
    # The session's warm pool is handed in, as `docservice templates check` allows.
    return CliRunner().invoke(main, ["templates", "check", *map(str, paths)], obj=converter)


def edited_copy(source: str, target: Path, old: str, new: str) -> Path:
    """A copy of templates/`source` with `old` replaced by `new` once in its body."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(TEMPLATES / source) as zin, \
            zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/document.xml":
                text = data.decode()
                assert old in text, f"{old!r} not in {source}"
                data = text.replace(old, new, 1).encode()
            zout.writestr(item, data)
    return target


def test_the_committed_templates_pass(converter: ConverterPool) -> None:
    result = run(converter)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{language}/{name}.docx: ok"
        for language in ("nl", "en")
        for name in ("stageovereenkomst", "geheimhoudingsverklaring", "afstand-auteursrecht")
    ]


def test_an_unknown_variable_is_named_with_its_template(converter: ConverterPool,
                                                        tmp_path: Path) -> None:
    broken = edited_copy("nl/stageovereenkomst.docx", tmp_path / "nl" / "stageovereenkomst.docx",
                         "{{ student.full_name }}", "{{ student.nmae }}")
    result = run(converter, broken)
    assert result.exit_code == 1
    assert result.stdout == "nl/stageovereenkomst.docx: unknown variable {{ student.nmae }}\n"
    assert "templates/README.md" in result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_variable_in_a_branch_the_sample_skips_is_found(converter: ConverterPool,
                                                                   tmp_path: Path) -> None:
    # Checked from the tags, not from one rendering: a paragraph switched off counts too.
    broken = edited_copy("en/stageovereenkomst.docx", tmp_path / "en" / "stageovereenkomst.docx",
                         "{%p if placement.nda %}", "{%p if placement.nda and company.vat %}")
    result = check_template(broken, converter, pdfa=False)
    assert result.problems == ("unknown variable {{ company.vat }}",)


def test_a_removed_anchor_is_named(converter: ConverterPool, tmp_path: Path) -> None:
    broken = edited_copy("nl/geheimhoudingsverklaring.docx",
                         tmp_path / "nl" / "geheimhoudingsverklaring.docx",
                         "Handtekening stagebedrijf", "Handtekening")
    result = run(converter, broken)
    assert result.exit_code == 1
    assert result.stdout == ("nl/geheimhoudingsverklaring.docx: "
                             "signature anchor 'Handtekening stagebedrijf' is missing\n")


def test_an_anchor_typed_twice_is_named(converter: ConverterPool, tmp_path: Path) -> None:
    broken = edited_copy("en/afstand-auteursrecht.docx", tmp_path / "en" / "afstand-auteursrecht.docx",
                         "COPYRIGHT WAIVER", "COPYRIGHT WAIVER Signature school")
    result = check_template(broken, converter, pdfa=False)
    assert result.line() == ("en/afstand-auteursrecht.docx: signature anchor 'Signature school' "
                             "appears 2 times; it must appear exactly once")


def test_a_broken_tag_is_said_in_plain_words(converter: ConverterPool, tmp_path: Path) -> None:
    broken = edited_copy("nl/afstand-auteursrecht.docx", tmp_path / "nl" / "afstand-auteursrecht.docx",
                         "{{ company.name }}", "{{ company.name }")
    result = check_template(broken, converter, pdfa=False)
    assert not result.ok
    assert result.problems[0].startswith("a {{ }} or {% %} tag is broken")


def test_a_folder_is_checked_file_by_file_and_any_failure_fails(converter: ConverterPool,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    (folder / "en").mkdir(parents=True)
    shutil.copy(TEMPLATES / "en" / "geheimhoudingsverklaring.docx", folder / "en")
    (folder / "en" / "notes.docx").write_text("not a Word file")
    result = run(converter, folder)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "en/geheimhoudingsverklaring.docx: ok",
        "en/notes.docx: cannot be opened as a Word document (.docx): save it again as .docx",
    ]


def test_a_template_outside_a_language_folder_fails(converter: ConverterPool,
                                                    tmp_path: Path) -> None:
    stray = tmp_path / "drafts" / "stageovereenkomst.docx"
    stray.parent.mkdir()
    shutil.copy(TEMPLATES / "nl" / "stageovereenkomst.docx", stray)
    result = run(converter, stray)
    assert result.exit_code == 1
    assert "put it in a folder named nl or en" in result.stdout


@pytest.mark.parametrize("argument", ["no/such/template.docx", str(CHECKOUT / "README.md"),
                                      "--colour"])
def test_bad_usage_exits_2(converter: ConverterPool, argument: str) -> None:
    result = CliRunner().invoke(main, ["templates", "check", argument], obj=converter,
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_the_readme_lists_exactly_the_variables_the_renderer_supplies() -> None:
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Placeholders", 1)[1].split("### Optional paragraphs", 1)[0]
    listed = {name for line in table.splitlines() if line.startswith("| `")
              for name in re.findall(r"`([a-z_]+\.[a-z_]+)`", line.split(" | ")[0])}
    assert listed == documented_variables()


def test_the_readme_lists_every_signature_anchor() -> None:
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    for language, anchors in SIGNATURE_ANCHORS.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| {language} |"))
        assert [f"`{anchors[role]}`" for role in SIGNER_ROLES] == row.strip("| ").split(" | ")[1:]


def test_a_new_skeleton_passes_the_check(converter: ConverterPool, tmp_path: Path) -> None:
    target = tmp_path / "en" / "charter.docx"
    made = subprocess.run([sys.executable, str(CHECKOUT / "tools" / "new_template.py"),
                           str(target), "--title", "Internship charter"],
                          capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert check_template(target, converter, pdfa=True).line() == "en/charter.docx: ok"
    again = subprocess.run([sys.executable, str(CHECKOUT / "tools" / "new_template.py"),
                            str(target), "--title", "Internship charter"],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 1 and "never overwritten" in again.stderr
