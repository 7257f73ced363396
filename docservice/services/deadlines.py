"""Deadlines: remind whoever is next, escalate at-risk placements, mark those not cleared.

`check_deadlines` runs daily (cron, or the job runner) and is idempotent: every reminder has a
unique key (envelope, signer, anchor date, offset), so running it twice a day — or two runs at
once — never sends the same reminder twice; the loser of a race fails on the unique key and
rolls back before any mail leaves (mail goes out only after the commit).

When a run was missed, only the most recent due offset is sent (never a burst of catch-up
reminders). The desk's other actions on one placement are in `services/desk_actions.py`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from docservice.archive import audit
from docservice.archive.blobs import FilesystemBlobStore
from docservice.config import DeskSettings, Settings
from docservice.domain import today_in_brussels
from docservice.mail.compose import PlacementAtRisk, WaitingApproval
from docservice.mail.delivery import Sender
from docservice.models import (
    Document,
    Envelope,
    EnvelopeStatus,
    Placement,
    Reminder,
    SignatureRequest,
)
from docservice.services import (
    desk_details,
    desk_status,
    desk_verification,
    links,
    notifications,
)
from docservice.services.desk import DeskFilter, PlacementStatus, State
from docservice.services.desk_status import StatusCache
from docservice.services.desk_verification import Verifier
from docservice.services.envelopes import SIGN, link_expiry

CONTRACT_DEADLINE = "contract_deadline"
START_DATE = "start_date"


@dataclass(frozen=True)
class Due:
    """One date a reminder is about, and the offset that made it due."""

    anchor: str  # contract_deadline or start_date
    anchor_date: date
    offset_days: int
    days_left: int


@dataclass(frozen=True)
class PlannedReminder:
    """A reminder to the signer whose turn it is (one mail, one key per due date)."""

    placement_id: int
    envelope_id: int
    role: str
    recipient: str
    student_name: str
    due: tuple[Due, ...]

    def keys(self) -> list[str]:
        return [reminder_key(self.envelope_id, self.role, d) for d in self.due]


@dataclass(frozen=True)
class PlannedEscalation:
    """A placement to put before the coordinator and the docent (at risk, or not cleared)."""

    kind: str  # escalation or not_cleared
    status: PlacementStatus

    def key(self, role: str) -> str:
        s = self.status
        return f"{self.kind}:p{s.placement_id}:{s.start_date.isoformat()}:{role}"


@dataclass
class CheckReport:
    """What a deadline check did (or, with --dry-run, would do)."""

    today: date
    dry_run: bool
    placements: int = 0
    reminders: list[PlannedReminder] = field(default_factory=list)
    escalations: list[PlannedEscalation] = field(default_factory=list)
    not_cleared: list[PlannedEscalation] = field(default_factory=list)
    already_sent: int = 0
    mails: int = 0
    verification: desk_verification.CheckStats = field(
        default_factory=desk_verification.CheckStats)

    def lines(self) -> list[str]:
        """The summary a person reads after the run."""
        verb = "would send" if self.dry_run else "sent"
        by_role: dict[str, int] = defaultdict(int)
        for r in self.reminders:
            by_role[r.role] += 1
        roles = ", ".join(f"{role} {n}" for role, n in sorted(by_role.items())) or "none"
        v = self.verification
        out = [f"Deadline check for {self.today:%d/%m/%Y}"
               + (" (dry run: nothing sent, nothing recorded)" if self.dry_run else ""),
               f"  placements checked: {self.placements}",
               f"  reminders {verb}: {len(self.reminders)} ({roles})",
               f"  at-risk escalations {verb}: {len(self.escalations)}",
               f"  not cleared to start, marked: {len(self.not_cleared)}",
               f"  already sent before (skipped): {self.already_sent}",
               f"  e-mails {verb}: {self.mails}",
               f"  PDFs: {v.files_checked} checked, {v.verified} verified now, "
               f"{v.cached} verdicts cached, {v.files_changed} changed on disk"
               + (f", {v.skipped} left for later" if v.skipped else "")
               + f" (engine: {v.engine})"]
        for r in self.reminders:
            dues = "; ".join(f"{_anchor_label(d.anchor)} {d.anchor_date:%d/%m/%Y} in "
                             f"{d.days_left} day(s)" for d in r.due)
            out.append(f"  reminder -> {r.role} {r.recipient} ({r.student_name}): {dues}")
        for e in self.escalations + self.not_cleared:
            s = e.status
            what = "at risk" if e.kind == "escalation" else "NOT CLEARED TO START"
            out.append(f"  {what}: {s.student_name} ({s.student_number}), start "
                       f"{s.start_date:%d/%m/%Y}, {s.state.value} -> {s.coordinator_email}, "
                       f"{s.docent_email}")
        return out


def _anchor_label(anchor: str) -> str:
    return "contract deadline" if anchor == CONTRACT_DEADLINE else "start date"


def reminder_key(envelope_id: int, role: str, due: Due) -> str:
    """The unique name of one automatic reminder."""
    return f"reminder:e{envelope_id}:{role}:{due.anchor}:{due.anchor_date.isoformat()}:" \
           f"{due.offset_days}"


def due_offset(days_left: int, offsets: tuple[int, ...]) -> int | None:
    """The offset a reminder is due at with `days_left` to go: the smallest one reached."""
    if days_left <= 0:
        return None
    reached = [o for o in offsets if days_left <= o]
    return min(reached) if reached else None


def _due_dates(status: PlacementStatus, offsets: tuple[int, ...]) -> list[Due]:
    due = []
    for anchor, when, days in ((CONTRACT_DEADLINE, status.contract_deadline,
                                status.days_to_deadline),
                               (START_DATE, status.start_date, status.days_to_start)):
        offset = due_offset(days, offsets)
        if offset is not None:
            due.append(Due(anchor, when, offset, days))
    return due


def check_deadlines(session: Session, *, now: datetime, settings: DeskSettings, config: Settings,
                    verifier: Verifier, blobs: FilesystemBlobStore, mailer: Sender,
                    cache: StatusCache | None = None, actor: audit.Actor = audit.SYSTEM,
                    dry_run: bool = False, year: str | None = None,
                    rehash: bool = False) -> CheckReport:
    """Remind, escalate and mark as the calendar says; record everything (unless dry_run).

    `settings` are the desk's, `config` the service's (its public URL, how long links work).
    The caller's unit of work commits; mail leaves after that commit. With `dry_run` the caller
    rolls back (the verification cache filled on the way is not kept either).
    """
    today = today_in_brussels(now)
    report = CheckReport(today=today, dry_run=dry_run)
    active = [s for s in desk_status.load_statuses(session, DeskFilter(year=year), now=now,
                                            settings=settings, cache=cache)
              if s.end_date >= today]
    # The PDFs decide what is signed: check the stored files and verify what is new first.
    revisions = desk_details.current_revisions(session, [s.placement_id for s in active])
    report.verification = desk_verification.refresh(
        session, [r.sha256 for r in revisions], verifier=verifier, blobs=blobs,
        now=now, rehash=rehash)
    if report.verification.verified or report.verification.files_rehashed:
        ids = {s.placement_id for s in active}
        active = [s for s in desk_status.load_statuses(session, DeskFilter(year=year), now=now,
                                                settings=settings, cache=cache)
                  if s.placement_id in ids]
    report.placements = len(active)
    incomplete = [s for s in active if not s.complete]
    sent = _sent_keys(session, [s.placement_id for s in incomplete])

    for status in incomplete:
        if (status.envelope_status == EnvelopeStatus.OPEN.value and status.next_role
                and status.next_email):
            due = _due_dates(status, settings.reminder_offsets)
            fresh = tuple(d for d in due if reminder_key(status.envelope_id or 0,
                                                         status.next_role, d) not in sent)
            report.already_sent += len(due) - len(fresh)
            if fresh:
                report.reminders.append(PlannedReminder(
                    placement_id=status.placement_id, envelope_id=status.envelope_id or 0,
                    role=status.next_role, recipient=status.next_email,
                    student_name=status.student_name, due=fresh))
        kind = {State.AT_RISK: "escalation", State.NOT_CLEARED: "not_cleared"}.get(status.state)
        if kind is not None:
            planned = PlannedEscalation(kind, status)
            if planned.key("coordinator") in sent:
                report.already_sent += 1
            else:
                (report.escalations if kind == "escalation" else report.not_cleared).append(
                    planned)
    if dry_run:
        report.mails = _count_mails(report)
        return report
    requests = _requests_of(session, [r.envelope_id for r in report.reminders])
    rows: list[dict[str, Any]] = []
    approvals: dict[str, list[tuple[PlannedReminder, SignatureRequest]]] = defaultdict(list)
    # Every step below flushes what it adds itself; skipping the automatic flush before each
    # query saves a third of the round trips on a day with thousands of reminders.
    signers = [(r, requests[r.envelope_id, r.role]) for r in report.reminders
               if r.role != "school"]
    urls = _sign_urls(session, [request for _r, request in signers], now=now, actor=actor,
                      settings=config)
    audits: list[tuple[str, audit.Actor, int | None, dict[str, Any]]] = []
    with session.no_autoflush:
        for (reminder, request), (url, expires) in zip(signers, urls, strict=True):
            notifications.send_reminder(
                session, request, url=url, expires_at=expires, mailer=mailer,
                due=[(d.anchor, d.anchor_date, d.days_left) for d in reminder.due])
            audits.append(_reminder_event(reminder, request.signer_email, actor=actor))
            report.mails += 1
        for reminder in report.reminders:
            request = requests[reminder.envelope_id, reminder.role]
            if reminder.role == "school":
                # The coordinator gets one list of what waits for the seal, not a mail each.
                approvals[request.signer_email].append((reminder, request))
            rows += _reminder_rows(reminder, request.signer_email, now=now, actor=actor)
        for email, items in approvals.items():
            notifications.send_approval_reminder(session, to=email, mailer=mailer, items=[
                _approval_line(waiting, request, settings=config) for waiting, request in items])
            audits += [_reminder_event(waiting, email, actor=actor) for waiting, _r in items]
            report.mails += 1
    audit.record_many(session, audits)
    # One insert for all: a second run racing this one fails here on the unique key, and its
    # transaction rolls back before any of its mail is sent.
    _insert_reminders(session, rows)
    report.mails += _send_escalations(session, report.escalations + report.not_cleared,
                                      now=now, actor=actor, mailer=mailer, settings=config)
    return report


def _count_mails(report: CheckReport) -> int:
    recipients = set()
    for e in report.escalations + report.not_cleared:
        recipients.add(e.status.coordinator_email)
        recipients.add(e.status.docent_email)
    signers = [r for r in report.reminders if r.role != "school"]
    approvers = {r.recipient for r in report.reminders if r.role == "school"}
    return len(signers) + len(approvers) + len(recipients)


def _sent_keys(session: Session, placement_ids: list[int]) -> set[str]:
    keys: set[str] = set()
    for i in range(0, len(placement_ids), 500):
        keys.update(session.scalars(select(Reminder.key).where(
            Reminder.placement_id.in_(placement_ids[i:i + 500]))))
    return keys


def _requests_of(session: Session, envelope_ids: list[int]
                 ) -> dict[tuple[int, str], SignatureRequest]:
    """The signature requests of these envelopes, with what a reminder mail needs, in bulk."""
    found: dict[tuple[int, str], SignatureRequest] = {}
    envelope = selectinload(SignatureRequest.envelope)
    for i in range(0, len(envelope_ids), 500):
        for request in session.scalars(
                select(SignatureRequest)
                .where(SignatureRequest.envelope_id.in_(envelope_ids[i:i + 500]))
                .options(envelope.selectinload(Envelope.placement)
                         .selectinload(Placement.academic_year),
                         envelope.selectinload(Envelope.documents)
                         .selectinload(Document.revisions))):
            found[request.envelope_id, request.role] = request
    return found


def sign_url(session: Session, request: SignatureRequest, *, now: datetime, actor: audit.Actor,
              settings: Settings) -> tuple[str, datetime | None]:
    """A working link for `request`'s signer; a new one, as only hashes of links are kept."""
    placement = request.envelope.placement
    if request.role == "school":
        return settings.public_url(f"/coordinator/desk/placements/{placement.id}"), None
    link, token = links.issue_link(
        session, placement, purpose=SIGN, now=now, actor=actor,
        valid_for=link_expiry(placement.academic_year, now, settings.sign_link_min_days) - now,
        signature_request_id=request.id)
    return settings.public_url(f"/sign/{token}"), link.expires_at


def _sign_urls(session: Session, requests: list[SignatureRequest], *, now: datetime,
               actor: audit.Actor, settings: Settings) -> list[tuple[str, datetime]]:
    """`_sign_url` for many signers (not the school): fresh links, issued in bulk."""
    minimum = settings.sign_link_min_days
    issued = links.issue_sign_links(session, [
        (r.envelope.placement_id, r.id, link_expiry(r.envelope.placement.academic_year, now,
                                                    minimum))
        for r in requests], purpose=SIGN, now=now, actor=actor)
    return [(settings.public_url(f"/sign/{token}"), expires) for token, expires in issued]


def _reminder_event(planned: PlannedReminder, email: str, *, actor: audit.Actor
                    ) -> tuple[str, audit.Actor, int | None, dict[str, Any]]:
    return ("reminder.sent", actor, planned.placement_id, {
        "envelope_id": planned.envelope_id, "role": planned.role, "email": email,
        "due": [{"anchor": d.anchor, "date": d.anchor_date.isoformat(),
                 "offset_days": d.offset_days} for d in planned.due]})


def _approval_line(planned: PlannedReminder, request: SignatureRequest, *,
                   settings: Settings) -> WaitingApproval:
    placement = request.envelope.placement
    return WaitingApproval(
        student=planned.student_name, student_number=placement.student_number,
        company=placement.company_name,
        url=settings.public_url(f"/coordinator/desk/placements/{placement.id}"),
        due=tuple((d.anchor, d.anchor_date, d.days_left) for d in planned.due))


def _reminder_rows(planned: PlannedReminder, email: str, *, now: datetime,
                   actor: audit.Actor) -> list[dict[str, Any]]:
    return [{"key": reminder_key(planned.envelope_id, planned.role, d),
             "placement_id": planned.placement_id, "envelope_id": planned.envelope_id,
             "kind": "reminder", "role": planned.role, "recipient": email, "anchor": d.anchor,
             "anchor_date": d.anchor_date, "offset_days": d.offset_days, "sent_at": now,
             "actor": actor.name} for d in planned.due]


def _insert_reminders(session: Session, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), 1000):
        session.execute(insert(Reminder), rows[i:i + 1000])


def _send_escalations(session: Session, planned: list[PlannedEscalation], *, now: datetime,
                      actor: audit.Actor, mailer: Sender, settings: Settings) -> int:
    """Record each escalation; one digest per recipient (coordinator, each docent)."""
    digests: dict[str, list[PlannedEscalation]] = defaultdict(list)
    listed: set[tuple[str, int]] = set()
    rows: list[dict[str, Any]] = []
    events: list[tuple[str, audit.Actor, int | None, dict[str, Any]]] = []
    for item in planned:
        s = item.status
        for role, email in (("coordinator", s.coordinator_email), ("docent", s.docent_email)):
            rows.append({
                "key": item.key(role), "placement_id": s.placement_id,
                "envelope_id": s.envelope_id, "kind": item.kind, "role": role,
                "recipient": email, "anchor": START_DATE, "anchor_date": s.start_date,
                "offset_days": s.days_to_start, "sent_at": now, "actor": actor.name})
            if (email, s.placement_id) not in listed:
                listed.add((email, s.placement_id))
                digests[email].append(item)
        action = "escalation.sent" if item.kind == "escalation" else "placement.not_cleared"
        events.append((action, actor, s.placement_id, {
            "envelope_id": s.envelope_id, "state": s.state.value, "stage": s.stage.value,
            "start_date": s.start_date.isoformat(),
            "recipients": [s.coordinator_email, s.docent_email]}))
    # Like the reminders: one insert; a racing second run fails on the unique key.
    _insert_reminders(session, rows)
    audit.record_many(session, events)
    for email, items in digests.items():
        notifications.send_escalation(
            session, to=email, mailer=mailer,
            at_risk=[_digest_line(i.status, settings) for i in items if i.kind == "escalation"],
            not_cleared=[_digest_line(i.status, settings) for i in items
                         if i.kind == "not_cleared"])
    return len(digests)


def _digest_line(status: PlacementStatus, settings: Settings) -> PlacementAtRisk:
    return PlacementAtRisk(
        student=status.student_name, student_number=status.student_number,
        company=status.company_name, start_date=status.start_date,
        days_to_start=status.days_to_start, stage=status.stage.value,
        docent=status.docent_name,
        url=settings.public_url(f"/coordinator/desk/placements/{status.placement_id}"))
