"""The coordinator's pages in Dutch (default) or English, and dates in Belgian form.

A dict of strings per language: small enough to read, and a missing key shows up as the
key itself (and fails the test that walks every key), never as an empty cell.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, request, session

BRUSSELS = ZoneInfo("Europe/Brussels")
LANGUAGES = ("nl", "en")
DEFAULT = "nl"

STRINGS: dict[str, dict[str, str]] = {
    "nl": {
        "title.dashboard": "Stageovereenkomsten",
        "title.placement": "Plaatsing",
        "title.verification": "Verificatierapport",
        "title.print": "Overzicht stageovereenkomsten",
        "lang.switch": "English",
        "filter.year": "Academiejaar",
        "filter.state": "Status",
        "filter.company": "Bedrijf",
        "filter.docent": "Docent",
        "filter.query": "Zoek naam of studentennummer",
        "filter.sort": "Sorteer",
        "filter.all": "alle",
        "filter.apply": "Toon",
        "filter.reset": "Wis filters",
        "sort.days": "dagen over (dringendste eerst)",
        "sort.-days": "dagen over (minst dringend eerst)",
        "sort.start": "startdatum",
        "sort.name": "naam",
        "sort.state": "status",
        "action.export": "Exporteer deze lijst (CSV)",
        "action.export_import": "Exporteer gegevens (importformaat)",
        "action.print": "Afdrukken",
        "action.import": "Importeer plaatsingen (CSV)",
        "action.generate": "Genereer ontbrekende documenten",
        "action.open_envelopes": "Open enveloppen voor alle klaarstaande plaatsingen",
        "action.remind": "Stuur nu een herinnering",
        "action.revoke": "Trek link in",
        "action.resend": "Stuur nieuwe link",
        "action.approve": "Goedkeuren en zegel van de hogeschool plaatsen",
        "action.change_signatory": "Wijzig ondertekenaar bedrijf",
        "action.regenerate": "Envelop annuleren en opnieuw genereren",
        "action.regenerate_help": "Gebruik dit als de gegevens van de plaatsing fout waren. "
                                  "De huidige envelop blijft bewaard als vervangen; de "
                                  "documenten worden opnieuw gemaakt en de student wordt "
                                  "opnieuw uitgenodigd. Zijn er al handtekeningen, dan "
                                  "vraagt de volgende pagina welke vervallen en om "
                                  "bevestiging. Foute gegevens verbetert u met "
                                  "'Gegevens wijzigen'.",
        "action.reason": "Reden",
        "action.details": "Documenten en studentenlink",
        "action.report": "verificatierapport",
        "action.full_report": "volledig rapport van de verificatiemotor",
        "action.back": "Terug naar het overzicht",
        "col.student": "Student",
        "col.number": "Nummer",
        "col.company": "Bedrijf",
        "col.docent": "Docent",
        "col.start": "Start",
        "col.state": "Status",
        "col.next": "Volgende",
        "col.deadline_days": "Dagen tot deadline",
        "col.start_days": "Dagen tot start",
        "col.signatures": "Handtekeningen (volgens de PDF)",
        "col.time": "Tijd",
        "col.event": "Gebeurtenis",
        "col.actor": "Door",
        "col.ip": "IP-adres",
        "col.user_agent": "Browser",
        "col.detail": "Details",
        "col.signer": "Ondertekenaar",
        "col.table": "Volgens onze gegevens",
        "col.pdf": "PDF",
        "col.reasons": "Redenen",
        "state.draft": "ontwerp",
        "state.waiting_student": "wacht op student",
        "state.waiting_company": "wacht op bedrijf",
        "state.waiting_school": "wacht op hogeschool",
        "state.complete": "volledig ondertekend",
        "state.declined": "geweigerd",
        "state.overdue": "te laat (deadline voorbij)",
        "state.at_risk": "in gevaar (start nadert)",
        "state.not_cleared": "mag niet starten",
        "role.student": "student",
        "role.company": "bedrijf",
        "role.school": "hogeschool",
        "role.coordinator": "coördinator",
        "role.docent": "docent",
        "doc.stageovereenkomst": "Stageovereenkomst",
        "doc.geheimhoudingsverklaring": "Geheimhoudingsverklaring",
        "doc.afstand-auteursrecht": "Afstand van auteursrecht",
        "msg.count": "{n} plaatsing(en)",
        "msg.none": "Geen plaatsingen voor deze filters.",
        "msg.no_documents": "nog geen documenten",
        "msg.not_verified": "PDF nog niet geverifieerd",
        "msg.verification_pending": "verificatie loopt",
        "msg.verification_pending_note": "De handtekeningen in deze PDF worden op de "
                                         "achtergrond geverifieerd; tot dan geldt wat onze "
                                         "gegevens zeggen. Vernieuw de pagina straks.",
        "msg.disagree": "ONZE GEGEVENS EN DE PDF SPREKEN ELKAAR TEGEN",
        "msg.disagree_table_yes": "{role}: volgens onze gegevens ondertekend, volgens de PDF niet",
        "msg.disagree_table_no": "{role}: de PDF is ondertekend, volgens onze gegevens niet",
        "msg.changed": "OPGESLAGEN PDF GEWIJZIGD: het bestand komt niet meer overeen met zijn "
                       "SHA-256 – niet ondertekend",
        "msg.missing": "OPGESLAGEN PDF ONTBREEKT",
        "msg.signed_on": "ondertekend {when}",
        "msg.not_signed": "niet ondertekend",
        "msg.engine": "Geverifieerd met de strenge verificatie van docservice (elke handtekening en elke wijziging erna).",
        "msg.engine_interim": "Geverifieerd met de voorlopige controle: de "
                              "strengere verificatiemotor is nog niet beschikbaar.",
        "msg.page": "Pagina {page} van {pages}",
        "msg.previous": "vorige",
        "msg.next": "volgende",
        "msg.days": "{n} d",
        "msg.printed": "Afgedrukt op {when}",
        "msg.no_history": "Nog geen gebeurtenissen.",
        "msg.reminder_sent": "Herinnering verstuurd naar {email}.",
        "msg.nobody_next": "Er is niemand aan de beurt: geen herinnering verstuurd.",
        "msg.link_revoked": "De link van {role} werkt niet meer ({n} ingetrokken).",
        "msg.regenerated": "De envelop is vervangen; nieuwe documenten gemaakt en de student "
                           "is opnieuw uitgenodigd.",
        "msg.superseded": "vervangen",
        "msg.reminders": "Herinneringen",
        "msg.no_reminders": "Nog geen herinneringen verstuurd.",
        "msg.deadline": "Deadline stageovereenkomst",
        "msg.period": "Stageperiode",
        "msg.envelope": "Envelop",
        "msg.envelopes_old": "Vorige enveloppen",
        "section.status": "Status",
        "section.documents": "Documenten en handtekeningen",
        "section.signers": "Ondertekenaars",
        "section.history": "Geschiedenis",
        "section.actions": "Acties",
        "section.student_link": "Persoonlijke link van de student",
        "msg.student_link_help": "Een nieuwe link vervangt elke eerdere. Hij wordt één keer "
                                 "getoond.",
        "action.link_show": "Maak link en toon hem",
        "action.link_email": "Maak link en mail hem naar {email}",
        "action.open_envelope": "Open de envelop en nodig de student uit",
        "msg.generate_first": "Genereer eerst de documenten.",
        "msg.awaiting": "Ondertekend met een eigen certificaat door iemand anders dan verwacht "
                        "({role}: verwacht {name}):",
        "msg.upload": "Upload",
        "action.accept_signature": "Aanvaard deze handtekening",
        "action.refuse_signature": "Weiger",
        "col.mentor": "Mentor",
        "col.signatory": "Ondertekenaar",
        "event.placement.imported": "plaatsing geïmporteerd",
        "event.document.generated": "document gegenereerd",
        "event.document.downloaded": "document gedownload",
        "event.envelope.opened": "envelop geopend",
        "event.envelope.completed": "envelop volledig ondertekend",
        "event.envelope.superseded": "envelop geannuleerd en vervangen",
        "event.link.issued": "link aangemaakt",
        "event.link.revoked": "link ingetrokken",
        "event.link.opened": "link geopend",
        "event.signer.invited": "uitnodiging verstuurd",
        "event.signer.signed": "ondertekend",
        "event.signer.declined": "geweigerd",
        "event.signer.link_resent": "nieuwe link verstuurd",
        "event.signer.changed": "ondertekenaar gewijzigd",
        "event.reminder.sent": "herinnering verstuurd",
        "event.escalation.sent": "escalatie verstuurd",
        "event.placement.not_cleared": "gemarkeerd: mag niet starten",
        "title.edit": "Gegevens wijzigen",
        "title.confirm": "Bevestig: handtekeningen gaan verloren",
        "action.edit": "Gegevens wijzigen",
        "action.back_to_placement": "Terug naar de plaatsing",
        "action.save": "Opslaan",
        "action.cancel": "Annuleren",
        "action.confirm_lose": "Bevestig: annuleer de envelop ({n} handtekening(en) vervallen)",
        "action.do_not_confirm": "Niet doen, terug naar de plaatsing",
        "msg.edit_help": "Dezelfde controles als bij de CSV-import. Na het opslaan worden de documenten opnieuw gemaakt met de nieuwe gegevens.",
        "msg.edit_lost_intro": "Deze documenten zijn al ondertekend. Wie iets wijzigt, annuleert de envelop; deze handtekeningen vervallen (u moet dat eerst bevestigen):",
        "msg.edit_not_saved": "Niets opgeslagen. Verbeter deze velden:",
        "msg.edit_signed_agreement": "De overeenkomst is door iedereen ondertekend: een ondertekende overeenkomst wordt niet gewijzigd.",
        "msg.upload_awaiting": "geüpload, wacht op uw beslissing",
        "msg.optional": "optioneel",
        "msg.yes": "ja",
        "msg.no": "nee",
        "msg.edit_unchanged": "Niets gewijzigd: de gegevens waren al zo.",
        "msg.edit_saved.none": "Opgeslagen ({fields}).",
        "msg.edit_saved.regenerated": "Opgeslagen ({fields}); de documenten zijn opnieuw gemaakt.",
        "msg.edit_saved.envelope_reopened": "Opgeslagen ({fields}); de envelop is vervangen, de documenten opnieuw gemaakt en de student opnieuw uitgenodigd.",
        "msg.edit_saved.envelope_cancelled": "Opgeslagen ({fields}); de geweigerde envelop is vervangen en de documenten opnieuw gemaakt. Open de envelop wanneer alles klopt.",
        "msg.confirm_lost": "Deze {n} handtekening(en) vervallen:",
        "msg.confirm_changes": "Wijzigingen",
        "msg.confirm_consequence": "De envelop wordt geannuleerd (bewaard als vervangen); de documenten worden opnieuw gemaakt zonder handtekeningen.",
        "msg.confirm_reopen": "Een nieuwe envelop wordt geopend en de student opnieuw uitgenodigd.",
        "msg.confirm_no_reopen": "Open daarna zelf de nieuwe envelop.",
        "event.placement.changed": "gegevens gewijzigd",
        "event.documents.regenerated": "documenten opnieuw gemaakt",
        "field.student_number": "Studentennummer",
        "field.student_first_name": "Voornaam student",
        "field.student_last_name": "Familienaam student",
        "field.student_email": "E-mail student",
        "field.programme": "Opleiding",
        "field.company_name": "Naam bedrijf",
        "field.company_number": "Ondernemingsnummer",
        "field.company_address": "Adres bedrijf",
        "field.company_signatory_name": "Ondertekenaar bedrijf",
        "field.company_signatory_title": "Functie ondertekenaar",
        "field.company_signatory_email": "E-mail ondertekenaar",
        "field.mentor_name": "Mentor",
        "field.mentor_email": "E-mail mentor",
        "field.mentor_phone": "Telefoon mentor",
        "field.docent_name": "Docent",
        "field.docent_email": "E-mail docent",
        "field.start_date": "Startdatum",
        "field.end_date": "Einddatum",
        "field.assignment": "Opdracht",
        "field.nda": "Geheimhoudingsverklaring",
        "field.copyright_waiver": "Afstand van auteursrecht",
        "field.thesis_at_company": "Bachelorproef bij het bedrijf",
        "field.expense_allowance": "Onkostenvergoeding",
        "field.thesis_permission_date": "Toestemming bachelorproef op",
        "field.language": "Taal van de documenten",
        # A personal link that no longer works, and the copies of the signed documents
        "link.title": "Deze link werkt niet meer",
        "link.signed": "U hebt ondertekend op {when}.",
        "link.declined": "U hebt de ondertekening geweigerd op {when}.",
        "link.stopped": "De ondertekening werd stopgezet op {when}; de envelop is afgesloten.",
        "link.expired": "Deze link is verlopen op {when}.",
        "link.replaced": "Deze link is vervangen door een nieuwere link op {when}.",
        "link.revoked": "Deze link werd ingetrokken op {when}.",
        "link.copies_ready": "Alle partijen hebben ondertekend en de documenten zijn "
                             "gearchiveerd. Vraag een nieuwe link naar uw exemplaar: we "
                             "mailen hem naar het adres dat we van u kennen.",
        "link.copies_button": "Mail mij een link naar de ondertekende documenten",
        "link.copies_later": "Zodra alle partijen ondertekend hebben, krijgt u een e-mail met "
                             "een link om de ondertekende documenten te downloaden.",
        "link.declined_next": "De stagecoördinator kreeg uw reden en neemt contact met u op.",
        "link.use_newest": "Gebruik de link uit de nieuwste e-mail die u kreeg.",
        "link.ask": "Voor de documenten of een nieuwe link:",
        "link.resent_title": "Link verstuurd",
        "link.resent": "We hebben een nieuwe link naar uw exemplaar gemaild naar {email}.",
        "link.resent_before": "We mailden op {when} al een link naar {email}; kijk in uw "
                              "mailbox (ook bij ongewenste e-mail).",
        "copies.title": "Volledig ondertekend",
        "copies.intro": "De stagedocumenten van {student} bij {company} zijn ondertekend door "
                        "de student, het stagebedrijf en de hogeschool, en gearchiveerd. Dit "
                        "zijn de gearchiveerde bestanden (PAdES B-LTA) met hun "
                        "verificatierapport.",
        "copies.report": "verificatierapport",
        "copies.archived": "gearchiveerd op {when}",
        "copies.expires": "Deze link is persoonlijk en werkt tot {when}. Bewaar de bestanden "
                          "zelf.",
        # Navigation (every staff page)
        "nav.menu": "Menu",
        "nav.desk": "Overzicht",
        "nav.archive": "Archief",
        "nav.verify": "PDF verifiëren",
        "nav.jobs": "Achtergrondtaken",
        "nav.api": "API-documentatie",
        # Errors beside a signer's field
        "sign.error.full_name": "Typ je volledige naam zoals hij hier staat: {name}",
        "sign.error.consent": "Vink dit vakje aan om te bevestigen dat je deze documenten "
                              "ondertekent.",
        "sign.error.reason": "Schrijf kort waarom je weigert.",
        # A second step before what cannot be undone
        "confirm.title": "Bevestig",
        "confirm.irreversible": "Dit kan niet ongedaan gemaakt worden.",
        "confirm.back": "Niet doen, terug",
        "confirm.decline_title": "Bevestig dat je weigert",
        "confirm.decline_consequence": "Als je weigert, stopt de ondertekening voor iedereen: "
                                       "de envelop wordt afgesloten, niemand kan deze documenten "
                                       "nog ondertekenen, en de stagecoördinator krijgt je reden "
                                       "per e-mail. Deze link werkt daarna niet meer.",
        "confirm.decline_reason": "Je reden",
        "confirm.decline_button": "Ja, ik weiger te ondertekenen",
        "confirm.decline_back": "Niet weigeren, terug naar de documenten",
        "confirm.approve_title": "Bevestig: goedkeuren en zegel plaatsen",
        "confirm.approve_consequence": "Het zegel van de hogeschool wordt op {n} document(en) "
                                       "geplaatst, ondertekend namens de hogeschool door "
                                       "{signatory} (zoals in de overeenkomst). De envelop is "
                                       "dan volledig ondertekend: de documenten worden "
                                       "gearchiveerd en elke partij krijgt haar exemplaar. Een "
                                       "zegel kan niet ingetrokken worden.",
        "confirm.approve_button": "Ja, goedkeuren en zegel plaatsen",
        "confirm.resend_title": "Bevestig: nieuwe link sturen",
        "confirm.resend_consequence": "De link die {name} ({role}) al kreeg, werkt daarna niet "
                                      "meer; {email} krijgt een nieuwe link per e-mail.",
        "confirm.resend_button": "Ja, stuur een nieuwe link (de oude vervalt)",
        "confirm.student_link_title": "Bevestig: nieuwe persoonlijke link",
        "confirm.student_link_consequence": "De persoonlijke link die {name} nu heeft, werkt "
                                            "daarna niet meer.",
        "confirm.student_link_button": "Ja, maak een nieuwe link (de oude vervalt)",
        "confirm.documents": "Documenten",
        "msg.approved": "Goedgekeurd: het zegel van de hogeschool staat op elk document van de "
                        "envelop.",
        "msg.resent": "Een nieuwe link werd gemaild naar {email}; de oude werkt niet meer.",
        # How a signature covers its file (verification reports)
        "coverage.ENTIRE_FILE": "het hele bestand",
        "coverage.ENTIRE_REVISION": "de hele versie die ondertekend werd (latere toevoegingen "
                                    "apart gecontroleerd)",
        "coverage.CONTIGUOUS_BLOCK_FROM_START": "een deel vanaf het begin van het bestand",
        "coverage.UNCLEAR": "onduidelijk welk deel",
    },
    "en": {
        "title.dashboard": "Internship agreements",
        "title.placement": "Placement",
        "title.verification": "Verification report",
        "title.print": "Internship agreements overview",
        "lang.switch": "Nederlands",
        "filter.year": "Academic year",
        "filter.state": "State",
        "filter.company": "Company",
        "filter.docent": "Docent",
        "filter.query": "Search name or student number",
        "filter.sort": "Sort",
        "filter.all": "all",
        "filter.apply": "Show",
        "filter.reset": "Clear filters",
        "sort.days": "days left (most urgent first)",
        "sort.-days": "days left (least urgent first)",
        "sort.start": "start date",
        "sort.name": "name",
        "sort.state": "state",
        "action.export": "Export this list (CSV)",
        "action.export_import": "Export data (import format)",
        "action.print": "Print",
        "action.import": "Import placements (CSV)",
        "action.generate": "Generate missing documents",
        "action.open_envelopes": "Open envelopes for every ready placement",
        "action.remind": "Send a reminder now",
        "action.revoke": "Revoke link",
        "action.resend": "Send a new link",
        "action.approve": "Approve and apply the school's seal",
        "action.change_signatory": "Change the company signatory",
        "action.regenerate": "Cancel and regenerate the envelope",
        "action.regenerate_help": "Use this when the placement's data was wrong. The current "
                                  "envelope is kept, marked superseded; the documents are made "
                                  "again and the student is invited again. Where signatures "
                                  "exist, the next page names those that will be lost and asks "
                                  "to confirm. Correct wrong data with 'Edit data'.",
        "action.reason": "Reason",
        "action.details": "Documents and student link",
        "action.report": "verification report",
        "action.full_report": "the verification engine's full report",
        "action.back": "Back to the overview",
        "col.student": "Student",
        "col.number": "Number",
        "col.company": "Company",
        "col.docent": "Docent",
        "col.start": "Start",
        "col.state": "State",
        "col.next": "Next",
        "col.deadline_days": "Days to deadline",
        "col.start_days": "Days to start",
        "col.signatures": "Signatures (as the PDF says)",
        "col.time": "Time",
        "col.event": "Event",
        "col.actor": "By",
        "col.ip": "IP address",
        "col.user_agent": "Browser",
        "col.detail": "Details",
        "col.signer": "Signer",
        "col.table": "As we recorded it",
        "col.pdf": "PDF",
        "col.reasons": "Reasons",
        "state.draft": "draft",
        "state.waiting_student": "waiting for student",
        "state.waiting_company": "waiting for company",
        "state.waiting_school": "waiting for school",
        "state.complete": "complete",
        "state.declined": "declined",
        "state.overdue": "overdue (past the deadline)",
        "state.at_risk": "at risk (start is near)",
        "state.not_cleared": "not cleared to start",
        "role.student": "student",
        "role.company": "company",
        "role.school": "school",
        "role.coordinator": "coordinator",
        "role.docent": "docent",
        "doc.stageovereenkomst": "Internship agreement",
        "doc.geheimhoudingsverklaring": "Non-disclosure agreement",
        "doc.afstand-auteursrecht": "Copyright waiver",
        "msg.count": "{n} placement(s)",
        "msg.none": "No placements for these filters.",
        "msg.no_documents": "no documents yet",
        "msg.not_verified": "PDF not verified yet",
        "msg.verification_pending": "verification pending",
        "msg.verification_pending_note": "The signatures in this PDF are being verified in the "
                                         "background; until then what we recorded holds. "
                                         "Reload the page in a moment.",
        "msg.disagree": "OUR RECORDS AND THE PDF DISAGREE",
        "msg.disagree_table_yes": "{role}: signed as we recorded it, not as the PDF says",
        "msg.disagree_table_no": "{role}: the PDF is signed, our records say not",
        "msg.changed": "STORED PDF CHANGED: the file no longer matches its SHA-256 – not signed",
        "msg.missing": "STORED PDF MISSING",
        "msg.signed_on": "signed {when}",
        "msg.not_signed": "not signed",
        "msg.engine": "Verified with docservice's strict verification (every signature and every change after it).",
        "msg.engine_interim": "Verified with the interim check: the stricter "
                              "verification engine is not available yet.",
        "msg.page": "Page {page} of {pages}",
        "msg.previous": "previous",
        "msg.next": "next",
        "msg.days": "{n} d",
        "msg.printed": "Printed on {when}",
        "msg.no_history": "No events yet.",
        "msg.reminder_sent": "Reminder sent to {email}.",
        "msg.nobody_next": "Nobody's turn: no reminder sent.",
        "msg.link_revoked": "The {role}'s link no longer works ({n} revoked).",
        "msg.regenerated": "The envelope was superseded; new documents were made and the "
                           "student was invited again.",
        "msg.superseded": "superseded",
        "msg.reminders": "Reminders",
        "msg.no_reminders": "No reminders sent yet.",
        "msg.deadline": "Contract deadline",
        "msg.period": "Internship period",
        "msg.envelope": "Envelope",
        "msg.envelopes_old": "Earlier envelopes",
        "section.status": "Status",
        "section.documents": "Documents and signatures",
        "section.signers": "Signers",
        "section.history": "History",
        "section.actions": "Actions",
        "section.student_link": "The student's personal link",
        "msg.student_link_help": "A new link replaces any earlier one. It is shown once.",
        "action.link_show": "Create link and show it",
        "action.link_email": "Create link and e-mail it to {email}",
        "action.open_envelope": "Open envelope and invite the student",
        "msg.generate_first": "Generate the documents first.",
        "msg.awaiting": "Signed with an own certificate by someone else than expected "
                        "({role}: expected {name}):",
        "msg.upload": "Upload",
        "action.accept_signature": "Accept this signature",
        "action.refuse_signature": "Refuse",
        "col.mentor": "Mentor",
        "col.signatory": "Signatory",
        "event.placement.imported": "placement imported",
        "event.document.generated": "document generated",
        "event.document.downloaded": "document downloaded",
        "event.envelope.opened": "envelope opened",
        "event.envelope.completed": "envelope completed",
        "event.envelope.superseded": "envelope cancelled and superseded",
        "event.link.issued": "link issued",
        "event.link.revoked": "link revoked",
        "event.link.opened": "link opened",
        "event.signer.invited": "invitation sent",
        "event.signer.signed": "signed",
        "event.signer.declined": "declined",
        "event.signer.link_resent": "new link sent",
        "event.signer.changed": "signatory changed",
        "event.reminder.sent": "reminder sent",
        "event.escalation.sent": "escalation sent",
        "event.placement.not_cleared": "marked: not cleared to start",
        "title.edit": "Edit data",
        "title.confirm": "Confirm: signatures will be lost",
        "action.edit": "Edit data",
        "action.back_to_placement": "Back to the placement",
        "action.save": "Save",
        "action.cancel": "Cancel",
        "action.confirm_lose": "Confirm: cancel the envelope ({n} signature(s) lost)",
        'action.do_not_confirm': "Don't, back to the placement",
        "msg.edit_help": "The same checks as the CSV import. After saving, the documents are made again with the new data.",
        "msg.edit_lost_intro": "These documents are signed already. Changing anything cancels the envelope; these signatures will be lost (you confirm that first):",
        "msg.edit_not_saved": "Nothing was saved. Correct these fields:",
        "msg.edit_signed_agreement": "The agreement is signed by everyone: a signed agreement is not changed.",
        "msg.upload_awaiting": "uploaded, waiting for your decision",
        "msg.optional": "optional",
        "msg.yes": "yes",
        "msg.no": "no",
        "msg.edit_unchanged": "Nothing changed: the data was like this already.",
        "msg.edit_saved.none": "Saved ({fields}).",
        "msg.edit_saved.regenerated": "Saved ({fields}); the documents were made again.",
        "msg.edit_saved.envelope_reopened": "Saved ({fields}); the envelope was replaced, the documents made again and the student invited again.",
        "msg.edit_saved.envelope_cancelled": "Saved ({fields}); the declined envelope was replaced and the documents made again. Open the envelope when everything is right.",
        "msg.confirm_lost": "These {n} signature(s) will be lost:",
        "msg.confirm_changes": "Changes",
        "msg.confirm_consequence": "The envelope is cancelled (kept as superseded); the documents are made again without signatures.",
        "msg.confirm_reopen": "A new envelope is opened and the student invited again.",
        "msg.confirm_no_reopen": "Open the new envelope yourself afterwards.",
        "event.placement.changed": "data changed",
        "event.documents.regenerated": "documents made again",
        "field.student_number": "Student number",
        "field.student_first_name": "Student's first name",
        "field.student_last_name": "Student's last name",
        "field.student_email": "Student's e-mail",
        "field.programme": "Programme",
        "field.company_name": "Company name",
        "field.company_number": "Enterprise number",
        "field.company_address": "Company address",
        "field.company_signatory_name": "Company signatory",
        "field.company_signatory_title": "Signatory's title",
        "field.company_signatory_email": "Signatory's e-mail",
        "field.mentor_name": "Mentor",
        "field.mentor_email": "Mentor's e-mail",
        "field.mentor_phone": "Mentor's phone",
        "field.docent_name": "Docent",
        "field.docent_email": "Docent's e-mail",
        "field.start_date": "Start date",
        "field.end_date": "End date",
        "field.assignment": "Assignment",
        "field.nda": "Non-disclosure agreement",
        "field.copyright_waiver": "Copyright waiver",
        "field.thesis_at_company": "Thesis at the company",
        "field.expense_allowance": "Expense allowance",
        "field.thesis_permission_date": "Thesis permission given on",
        "field.language": "Language of the documents",
        "link.title": "This link no longer works",
        "link.signed": "You signed on {when}.",
        "link.declined": "You declined to sign on {when}.",
        "link.stopped": "Signing was stopped on {when}; the envelope is closed.",
        "link.expired": "This link expired on {when}.",
        "link.replaced": "This link was replaced by a newer link on {when}.",
        "link.revoked": "This link was revoked on {when}.",
        "link.copies_ready": "Every party has signed and the documents are archived. Ask for "
                             "a new link to your copy: we e-mail it to the address we know "
                             "for you.",
        "link.copies_button": "E-mail me a link to the signed documents",
        "link.copies_later": "As soon as every party has signed, you get an e-mail with a "
                             "link to download the signed documents.",
        "link.declined_next": "The internship coordinator received your reason and will "
                              "contact you.",
        "link.use_newest": "Use the link in the newest e-mail you received.",
        "link.ask": "For the documents or a new link:",
        "link.resent_title": "Link sent",
        "link.resent": "We e-mailed a new link to your copy to {email}.",
        "link.resent_before": "We already e-mailed a link to {email} on {when}; look in your "
                              "mailbox (the spam folder too).",
        "copies.title": "Fully signed",
        "copies.intro": "The internship documents of {student} at {company} are signed by the "
                        "student, the company and the school, and archived. These are the "
                        "archived files (PAdES B-LTA) with their verification report.",
        "copies.report": "verification report",
        "copies.archived": "archived on {when}",
        "copies.expires": "This link is personal and works until {when}. Keep the files "
                          "yourself.",
        "nav.menu": "Menu",
        "nav.desk": "Desk",
        "nav.archive": "Archive",
        "nav.verify": "Verify a PDF",
        "nav.jobs": "Background jobs",
        "nav.api": "API documentation",
        "sign.error.full_name": "Type your full name as it appears here: {name}",
        "sign.error.consent": "Tick this box to confirm that you sign these documents.",
        "sign.error.reason": "Write briefly why you decline.",
        "confirm.title": "Please confirm",
        "confirm.irreversible": "This cannot be undone.",
        "confirm.back": "Don't, go back",
        "confirm.decline_title": "Confirm that you decline",
        "confirm.decline_consequence": "If you decline, signing stops for everyone: the "
                                       "envelope is closed, nobody can sign these documents any "
                                       "more, and the internship coordinator receives your "
                                       "reason by e-mail. This link stops working.",
        "confirm.decline_reason": "Your reason",
        "confirm.decline_button": "Yes, I decline to sign",
        "confirm.decline_back": "Don't decline, back to the documents",
        "confirm.approve_title": "Confirm: approve and apply the seal",
        "confirm.approve_consequence": "The school's seal is applied to {n} document(s), signed "
                                       "for the school by {signatory} (as in the agreement). "
                                       "The envelope is then complete: the documents are "
                                       "archived and every party receives its copy. A seal "
                                       "cannot be withdrawn.",
        "confirm.approve_button": "Yes, approve and apply the seal",
        "confirm.resend_title": "Confirm: send a new link",
        "confirm.resend_consequence": "The link {name} ({role}) already received stops "
                                      "working; {email} is e-mailed a new link.",
        "confirm.resend_button": "Yes, send a new link (the old one stops working)",
        "confirm.student_link_title": "Confirm: new personal link",
        "confirm.student_link_consequence": "The personal link {name} has now stops working.",
        "confirm.student_link_button": "Yes, make a new link (the old one stops working)",
        "confirm.documents": "Documents",
        "msg.approved": "Approved: the school's seal is on every document of the envelope.",
        "msg.resent": "A new link was e-mailed to {email}; the old one no longer works.",
        "coverage.ENTIRE_FILE": "the whole file",
        "coverage.ENTIRE_REVISION": "the whole revision it signed (later additions checked "
                                    "separately)",
        "coverage.CONTIGUOUS_BLOCK_FROM_START": "a part from the start of the file",
        "coverage.UNCLEAR": "unclear which part",
    },
}


def current_language() -> str:
    """The language of this request: ?lang=, else the session's choice, else Dutch."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT


def translate(language: str, key: str, **values: Any) -> str:
    """The text for `key` in `language` (Dutch if that language lacks it; else the key)."""
    text = STRINGS.get(language, {}).get(key) or STRINGS[DEFAULT].get(key) or key
    return text.format(**values) if values else text


def be_date(value: date | datetime | None) -> str:
    """15/12/2023: how Belgians write a date."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(BRUSSELS).date()
    return f"{value:%d/%m/%Y}"


def be_datetime(value: datetime | str | None) -> str:
    """15/12/2023 14:05, in Brussels time."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{value.astimezone(BRUSSELS):%d/%m/%Y %H:%M}"


def translator(language: str) -> Any:
    """`t(key, **values)` for templates of a page in `language` (a signer's, not the session's)."""
    return lambda key, **values: translate(language, key, **values)


def ui_text(key: str, **values: Any) -> str:
    """The text for `key` in this request's staff language (menus, staff pages without `t`)."""
    return translate(current_language(), key, **values)


def be_moment(value: datetime) -> str:
    """15/12/2023 14:05 CET: a moment in Brussels time, the zone shown."""
    return f"{value.astimezone(BRUSSELS):%d/%m/%Y %H:%M %Z}"


def init_app(app: Flask) -> None:
    """Make `t(...)`, `lang` and the Belgian date filters available in templates."""
    if app.extensions.get("docservice.i18n"):
        return
    app.extensions["docservice.i18n"] = True
    app.add_template_filter(be_date, "be_date")
    app.add_template_filter(be_datetime, "be_datetime")
    app.add_template_global(be_moment, "be_moment")
    app.add_template_global(ui_text, "ui_text")
