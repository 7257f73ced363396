"""The hash-chained trail: `docservice audit verify` names what was changed, removed, inserted;
audit packages are checked offline; renewal archives a new version beside the old one."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text, update

from docservice.archive import audit, records
from docservice.cli import main
from docservice.db import unit_of_work
from docservice.domain import sha256_hex
from docservice.jobs import archive_maintenance
from docservice.models import ArchiveEntry, AuditEvent
from docservice.services.archive_status import archive_status
from docservice.signing import ltv
from tests.archive.conftest import complete_envelope

ACTOR = audit.Actor("tester", ip="192.0.2.7", user_agent="pytest")


def _trail(runtime, n: int = 6) -> list[int]:
    with unit_of_work(runtime.db) as session:
        return [audit.record(session, f"test.event{i}", ACTOR, note=f"n{i}", nested={"i": i}).id
                for i in range(n)]


def test_an_intact_trail_verifies(runner, runtime):
    _trail(runtime)
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "The audit trail is intact: 6 entries." in result.output


def test_one_changed_field_is_named(runner, runtime):
    ids = _trail(runtime)
    with unit_of_work(runtime.db) as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == ids[3])
                        .values(actor="someone else"))
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit trail entry #{ids[3]} changed" in result.output
    assert "3 entries before it are intact" in result.output


def test_a_changed_detail_and_a_re_hashed_entry_are_named(runtime):
    ids = _trail(runtime)
    with unit_of_work(runtime.db) as session:
        event = session.get(AuditEvent, ids[2])
        # Altered and re-hashed so that it is self-consistent: its successor gives it away.
        detail = {"note": "forged", "nested": {"i": 2}}
        event.detail = detail
        event.hash = audit._digest(event.prev_hash, event.at, event.action, event.actor,
                                   event.placement_id, detail, event.ip, event.user_agent)
    with unit_of_work(runtime.db) as session:
        _, broken = audit.verify_chain(session)
    assert broken is not None and (broken.kind, broken.entry_id) == ("changed", ids[2])


def test_details_verify_in_any_json_spelling_and_a_changed_value_is_found(runtime):
    """Entries written before details were stored canonically (spaces, insertion order) still
    verify; changing a value in the stored text is still found."""
    ids = _trail(runtime, 4)
    with unit_of_work(runtime.db) as session:
        stored = session.execute(text(
            "SELECT CAST(detail AS TEXT) FROM audit_events WHERE id = :id"),
            {"id": ids[1]}).scalar_one()
        assert stored == '{"nested":{"i":1},"note":"n1"}'  # what is written now
        cast = "CAST(:d AS JSON)" if session.get_bind().dialect.name == "postgresql" else ":d"
        # The old spelling of the same value: the entry is unchanged.
        session.execute(text(f"UPDATE audit_events SET detail = {cast} WHERE id = :id"),
                        {"d": '{"note": "n1", "nested": {"i": 1}}',
                         "id": ids[1]})
        # A changed value in either spelling is a change.
        session.execute(text(f"UPDATE audit_events SET detail = {cast} WHERE id = :id"),
                        {"d": '{"nested": {"i": 3}, "note": "n2"}', "id": ids[2]})
    with unit_of_work(runtime.db) as session:
        checked, broken = audit.verify_chain(session)
    assert broken is not None and (broken.kind, broken.entry_id) == ("changed", ids[2])
    assert checked == 2


def test_a_removed_entry_is_named(runner, runtime):
    ids = _trail(runtime)
    with unit_of_work(runtime.db) as session:
        session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[2]})
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit trail entry #{ids[3]} removed" in result.output
    assert f"#{ids[2]} removed" in result.output


def test_an_inserted_entry_is_named(runtime):
    ids = _trail(runtime, 5)
    with unit_of_work(runtime.db) as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        rows = [audit.entry_json(e) for e in events]
        session.execute(text("DELETE FROM audit_events"))
    # A forged entry chained to entry 2, slipped in before entry 3 (later ids shifted).
    at = datetime.now(UTC).replace(microsecond=0)
    forged = {"prev_hash": rows[1]["hash"], "at": at.isoformat(), "action": "test.forged",
              "actor": "mallory", "placement_id": None, "detail": {}, "ip": None,
              "user_agent": None}
    forged["hash"] = audit.entry_digest(forged)
    forged["id"] = ids[2]
    shifted = rows[:2] + [forged] + [dict(r, id=r["id"] + 1) for r in rows[2:]]
    with unit_of_work(runtime.db) as session:
        for row in shifted:
            session.add(AuditEvent(**{**row, "at": datetime.fromisoformat(row["at"])}))
    with unit_of_work(runtime.db) as session:
        _, broken = audit.verify_chain(session)
    assert broken is not None
    assert (broken.kind, broken.entry_id) == ("inserted", ids[2]), broken


def test_audit_package_checks_offline_and_renewal_keeps_the_old_version(runner, runtime, year,
                                                                        tmp_path: Path,
                                                                        database_url):
    done = complete_envelope(runtime, nda="nee", copyright_waiver="nee")
    with unit_of_work(runtime.db) as session:
        [entry] = session.scalars(select(ArchiveEntry)).all()
        sha = entry.sha256
    package = tmp_path / "package.zip"
    result = runner.invoke(main, ["archive", "export", sha, "--out", str(package)])
    assert result.exit_code == 0, result.output
    names = set(zipfile.ZipFile(package).namelist())
    assert {f"documents/{sha}.pdf", f"documents/{sha}.manifest.json",
            f"documents/{sha}.report.json", "trail.jsonl", "SHA256SUMS",
            "trust-roots.pem", "package.json"} <= names

    result = runner.invoke(main, ["audit", "verify-package", str(package)])
    assert result.exit_code == 0, result.output
    assert f"signatures of {sha}: passed" in result.output
    assert "all checks pass" in result.output

    # One byte of the PDF, or one field of one trail entry, and the package fails.
    for name, change in ((f"documents/{sha}.pdf", _flip_byte), ("trail.jsonl", _change_actor)):
        forged = tmp_path / "forged.zip"
        _rewrite(package, forged, name, change)
        result = runner.invoke(main, ["audit", "verify-package", str(forged)])
        assert result.exit_code == 1, result.output
        assert f"{name}: SHA-256 does not match SHA256SUMS" in result.output
        # Even with the sums recomputed, the content itself gives it away.
        _rewrite(package, forged, name, change, fix_sums=True)
        result = runner.invoke(main, ["audit", "verify-package", str(forged)])
        assert result.exit_code == 1, result.output
        assert ("its SHA-256 is not its name" in result.output if name.endswith(".pdf")
                else "changed (its content does not match its hash)" in result.output)

    if not database_url.startswith("sqlite"):
        return  # renewal does not depend on the database
    result = runner.invoke(main, ["archive", "renew", "--within-days", "36500"])
    assert result.exit_code == 0, result.output
    assert "1 due, 1 renewed." in result.output
    with unit_of_work(runtime.db) as session:
        old, new = session.scalars(select(ArchiveEntry).order_by(ArchiveEntry.version)).all()
        assert (old.version, new.version) == (1, 2) and new.supersedes_id == old.id
        assert old.superseded_at is not None and new.current
        assert new.retention_until == old.retention_until
        status = archive_status(session, done.document_ids[0])
        assert status.sha256 == new.sha256 and status.version == 2
    store = runtime.archive_store
    renewed = store.get(records.pdf_key(new.sha256))
    assert renewed.startswith(store.get(records.pdf_key(old.sha256)))
    assert len(ltv.document_timestamps(renewed)) == 2
    result = runner.invoke(main, ["archive", "verify", "--all"])
    assert result.exit_code == 0 and "2 checked, 2 passed" in result.output


def _flip_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 3] ^= 0x20
    return bytes(changed)


def _change_actor(data: bytes) -> bytes:
    lines = data.decode().splitlines()
    entry = json.loads(lines[0])
    entry["actor"] = "someone else"
    lines[0] = records.canonical_json(entry).decode()
    return ("\n".join(lines) + "\n").encode()


def _rewrite(source: Path, target: Path, name: str, change, *, fix_sums: bool = False) -> None:
    with zipfile.ZipFile(source) as zin:
        files = {n: zin.read(n) for n in zin.namelist()}
    files[name] = change(files[name])
    if fix_sums:
        files["SHA256SUMS"] = "".join(
            f"{sha256_hex(d)}  {n}\n" for n, d in sorted(files.items())
            if n != "SHA256SUMS").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for n, d in files.items():
            zout.writestr(n, d)
    target.write_bytes(out.getvalue())



def test_entries_removed_from_the_end_are_found_by_the_archive_checkpoint(runner, runtime, year):
    """The chain alone cannot show a cut-off tail; the checkpoint in the write-once store can."""
    complete_envelope(runtime, n=3, nda="nee", copyright_waiver="nee")
    checkpoints = [records.checkpoint_of_key(key) for key, _ in
                   runtime.archive_store.objects(records.CHECKPOINT_PREFIX)]
    assert checkpoints and None not in checkpoints
    newest = max(c[0] for c in checkpoints)
    assert runner.invoke(main, ["audit", "verify"]).exit_code == 0
    # The archived document was signed by the school in the newest entry the checkpoint saw;
    # cutting the trail there leaves a chain that is intact on its own.
    with unit_of_work(runtime.db) as session:
        session.execute(text("DELETE FROM audit_events WHERE id >= :id"), {"id": newest})
    with unit_of_work(runtime.db) as session:
        checked, broken = audit.verify_chain(session)
        last = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    assert broken is None and checked > 0 and last < newest
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"audit trail entry #{newest} removed" in result.output
    assert f"the trail ends at #{last}" in result.output
    # Sweeping never takes a checkpoint for an orphan.
    assert not any(k.startswith("trail/") for k in archive_maintenance.sweep(runtime, dry_run=True).orphans)


def test_parallel_check_finds_the_same_breaks_as_the_serial_one(runtime, monkeypatch):
    """Long trails are checked in one process per core; the seams between ranges count too."""
    monkeypatch.setattr(audit, "PARALLEL_FROM", 0)
    ids = _trail(runtime, 9)

    def both() -> tuple[tuple[int, object], tuple[int, object]]:
        with unit_of_work(runtime.db) as session:
            serial = audit.verify_chain(session, workers=1)
            parallel = audit.verify_chain(session, workers=3)
        return serial, parallel

    serial, parallel = both()
    assert serial == parallel == (9, None)
    # A removed entry right at a seam (ranges of 3: the first entry of the second range).
    with unit_of_work(runtime.db) as session:
        session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[3]})
    serial, parallel = both()
    assert serial == parallel and serial[1].kind == "removed", (serial, parallel)
    # A changed entry inside the last range comes after the first break: still the first named.
    with unit_of_work(runtime.db) as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == ids[7]).values(actor="x"))
    serial, parallel = both()
    assert serial == parallel and serial[1].entry_id == ids[4], (serial, parallel)


def test_a_session_that_committed_reads_the_trail_head_again(runtime):
    """The head a transaction remembers is its own: after its commit, another writer may have
    appended, and the next entry must chain onto that one."""
    first = runtime.db.session()
    try:
        for n in range(2):  # an append as the first statement of a transaction, twice
            audit.record(first, f"test.first{n}", ACTOR)
            first.commit()
            with unit_of_work(runtime.db) as other:
                audit.record(other, "test.other", ACTOR)
        audit.record_many(first, [("test.many", ACTOR, None, {"n": 1})])
        first.commit()
        with unit_of_work(runtime.db) as other:
            audit.record(other, "test.other", ACTOR)
        audit.record_many(first, [("test.many", ACTOR, None, {"n": 2})])
        first.commit()
    finally:
        first.close()
    with unit_of_work(runtime.db) as session:
        checked, broken = audit.verify_chain(session)
    assert broken is None and checked >= 5
