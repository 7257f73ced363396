"""Generate the six DOCX contract templates in templates/{nl,en}/.

A one-time generator: after the first run the DOCX files are the source of
truth and office staff edit them in Word or LibreOffice. The script therefore
refuses to overwrite an existing template unless --force is given.

    .venv/bin/python tools/make_templates.py [--out templates] [--force]

Every Jinja tag is written with a single python-docx ``add_run`` so that it
sits in one run in the XML, which is what docxtpl parses most reliably. Only
the variables listed in templates/README.md are used (rendering runs with
StrictUndefined). The signature block at the end of each document follows the
convention in templates/README.md: code locates the anchor texts
("Handtekening student", ...) in the rendered PDF and places the signature
fields in the empty space below them.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph

# --- page and type --------------------------------------------------------

FONT = "Calibri"
BODY_SIZE = Pt(10.5)
SMALL_SIZE = Pt(8)
PAGE_WIDTH, PAGE_HEIGHT = Cm(21.0), Cm(29.7)
MARGIN_SIDE, MARGIN_TOP, MARGIN_BOTTOM = Cm(2.5), Cm(2.2), Cm(2.2)
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN_SIDE  # 16.0 cm
SIGNATURE_COLUMN = TEXT_WIDTH // 3  # about 5.33 cm
CLAUSE_INDENT = Cm(1.0)
# Empty lines under each signature anchor: at 10.5 pt Calibri/Carlito one
# line is about 12.8 pt, so 7 lines give about 90 pt for a 55 pt high field.
SIGNATURE_EMPTY_LINES = 7
GREY = RGBColor(0x59, 0x59, 0x59)


# --- document model ---------------------------------------------------------


@dataclass(frozen=True)
class Title:
    text: str


@dataclass(frozen=True)
class Subtitle:
    text: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Article:
    """A heading "Artikel N – title"; N is counted by the generator."""

    title: str


@dataclass(frozen=True)
class Clause:
    """A numbered sub-clause "N.k"; k is counted by the generator."""

    text: str


@dataclass(frozen=True)
class Block:
    """An indented, unnumbered paragraph under a clause (e.g. the assignment)."""

    text: str


@dataclass(frozen=True)
class Bullet:
    text: str


@dataclass(frozen=True)
class If:
    """Paragraph-level condition: {%p if cond %} then {%p else %} otherwise {%p endif %}.

    Clauses in both branches get the same numbers, so the numbering stays
    continuous whichever branch is rendered.
    """

    condition: str
    then: Sequence[object]
    otherwise: Sequence[object] = ()


@dataclass(frozen=True)
class Signatures:
    pass


@dataclass(frozen=True)
class Language:
    code: str  # w:lang value
    article: str
    page: str
    of: str
    signatures_heading: str
    signatures_sentence: str
    party_headings: tuple[str, str, str]
    anchors: tuple[str, str, str]
    student_role: str
    coordinator_role: str
    student_number_label: str


NL = Language(
    code="nl-BE",
    article="Artikel",
    page="pagina",
    of="van",
    signatures_heading="Ondertekening",
    signatures_sentence=(
        "Opgemaakt in drie exemplaren, één voor elke partij, en elektronisch ondertekend door "
        "de student, het stagebedrijf en de hogeschool, in die volgorde. Elke partij ontvangt "
        "het volledig ondertekende document; datum en uur van elke ondertekening blijken uit "
        "de elektronische handtekening."
    ),
    party_headings=("De student", "Het stagebedrijf", "De hogeschool"),
    anchors=("Handtekening student", "Handtekening stagebedrijf", "Handtekening hogeschool"),
    student_role="stagestudent",
    coordinator_role="stagecoördinator",
    student_number_label="studentennummer",
)

EN = Language(
    code="en-GB",
    article="Article",
    page="page",
    of="of",
    signatures_heading="Signatures",
    signatures_sentence=(
        "Drawn up in three copies, one for each party, and signed electronically by the "
        "student, the company and the university college, in that order. Each party receives "
        "the fully signed document; the date and time of each signing are recorded in the "
        "electronic signature."
    ),
    party_headings=("The student", "The company", "The university college"),
    anchors=("Signature student", "Signature company", "Signature school"),
    student_role="intern",
    coordinator_role="internship coordinator",
    student_number_label="student number",
)


@dataclass
class TemplateSpec:
    path: str  # relative to the output folder
    language: Language
    title: str  # document properties
    header: str
    body: list[object] = field(default_factory=list)


# --- the texts ----------------------------------------------------------------


def parties_nl() -> list[object]:
    return [
        Article("Partijen"),
        Clause(
            "**De student:** {{ student.full_name }}, studentennummer {{ student.number }}, "
            "e-mail {{ student.email }}, ingeschreven in de opleiding {{ student.programme }}, "
            "hierna “de student”;"
        ),
        Clause(
            "**Het stagebedrijf:** {{ company.name }}, ondernemingsnummer {{ company.number }}, "
            "gevestigd te {{ company.address }}, hier vertegenwoordigd door "
            "{{ company.signatory_name }}, {{ company.signatory_title }} "
            "(e-mail {{ company.signatory_email }}), hierna “het stagebedrijf”;"
        ),
        Clause(
            "**De hogeschool:** {{ school.name }}, campus {{ school.campus }}, opleiding "
            "{{ school.programme }}, hier vertegenwoordigd door {{ school.coordinator_name }}, "
            "stagecoördinator (e-mail {{ school.coordinator_email }}), hierna “de hogeschool”."
        ),
        Text("Hierna samen “de partijen”. De partijen komen het volgende overeen."),
    ]


def parties_en() -> list[object]:
    return [
        Article("Parties"),
        Clause(
            "**The student:** {{ student.full_name }}, student number {{ student.number }}, "
            "email {{ student.email }}, enrolled in the programme {{ student.programme }}, "
            "hereinafter “the student”;"
        ),
        Clause(
            "**The company:** {{ company.name }}, enterprise number {{ company.number }}, "
            "established at {{ company.address }}, represented by {{ company.signatory_name }}, "
            "{{ company.signatory_title }} (email {{ company.signatory_email }}), "
            "hereinafter “the company”;"
        ),
        Clause(
            "**The university college:** {{ school.name }}, campus {{ school.campus }}, "
            "programme {{ school.programme }}, represented by {{ school.coordinator_name }}, "
            "internship coordinator (email {{ school.coordinator_email }}), "
            "hereinafter “the university college”."
        ),
        Text("Together hereinafter “the parties”. The parties agree as follows."),
    ]


def agreement_nl() -> list[object]:
    return [
        Title("Stageovereenkomst"),
        Subtitle("Stage (fase 3) – {{ school.programme }} – academiejaar {{ year.code }}"),
        Text("Deze overeenkomst wordt gesloten tussen de hierna vermelde partijen."),
        *parties_nl(),
        Article("Begeleiding"),
        Clause(
            "Het stagebedrijf wijst als stagementor aan: **{{ mentor.name }}** "
            "(e-mail {{ mentor.email }}, telefoon {{ mentor.phone }}). De stagementor is het "
            "vaste aanspreekpunt van de student binnen het stagebedrijf."
        ),
        Clause(
            "De hogeschool wijst als stagedocent aan: **{{ docent.name }}** "
            "(e-mail {{ docent.email }}). De stagedocent begeleidt en coacht de student tijdens "
            "de stage en is voor de stagementor het eerste aanspreekpunt binnen de hogeschool."
        ),
        Clause(
            "De stagecoördinator, {{ school.coordinator_name }}, staat in voor de praktische "
            "organisatie van de stage. De hogeschool is verantwoordelijk voor de "
            "stageadministratie."
        ),
        Article("Voorwerp en stageopdracht"),
        Clause(
            "De stage is een verplicht opleidingsonderdeel op het einde van de derde fase van de "
            "opleiding {{ school.programme }}. Ze biedt de student de mogelijkheid tot "
            "ervaringsgericht leren door actieve aanwezigheid in een reële professionele en "
            "sociale werkomgeving."
        ),
        Clause(
            "De student voert op de stageplaats de volgende stageopdracht uit, zoals door de "
            "hogeschool goedgekeurd:"
        ),
        Block("{{ placement.assignment }}"),
        Clause(
            "De stageopdracht sluit aan bij de algemene en beroepsspecifieke competenties van de "
            "opleiding. Het stagebedrijf stelt de technische en materiële voorzieningen ter "
            "beschikking die nodig zijn om de stageopdracht op de stageplaats uit te voeren. Een "
            "wezenlijke wijziging van de stageopdracht gebeurt enkel in overleg met de student "
            "en de stagedocent."
        ),
        Article("Duur van de stage"),
        Clause(
            "De stage loopt van **{{ placement.start_date }}** tot en met "
            "**{{ placement.end_date }}**."
        ),
        Clause(
            "Deze periode valt binnen de stageperiode van {{ year.weeks }} weken in het tweede "
            "semester van het academiejaar {{ year.code }}, die loopt van {{ year.period_start }} "
            "tot en met {{ year.period_end }}."
        ),
        Clause(
            "De stage wordt enkel verlengd in de gevallen die deze overeenkomst bepaalt: bij "
            "extra afwezigheid om lessen te volgen en bij langdurige afwezigheid."
        ),
        Article("Onbezoldigde stage en vergoedingen"),
        Clause(
            "De stage is onbezoldigd. Het stagebedrijf betaalt de student geen loon voor de stage."
        ),
        If(
            "placement.expense_allowance",
            [
                Clause(
                    "Het stagebedrijf kent de student vrijwillig een onkosten- of "
                    "verplaatsingsvergoeding toe van **{{ placement.expense_allowance }}**. Deze "
                    "vergoeding is geen loon."
                )
            ],
            [
                Clause(
                    "Er wordt geen onkosten- of verplaatsingsvergoeding overeengekomen; het "
                    "stagebedrijf is daartoe ook niet verplicht."
                )
            ],
        ),
        Clause(
            "In elk geval vergoedt het stagebedrijf de student voor de kosten die voortvloeien "
            "uit stageactiviteiten, zoals telefoongesprekken en verplaatsingen naar klanten en "
            "leveranciers. Het stagebedrijf maakt hierover vooraf duidelijke afspraken met de "
            "student."
        ),
        Article("Statuut van de student"),
        Clause(
            "Tussen de student en het stagebedrijf bestaat geen arbeidsovereenkomst. Deze "
            "stageovereenkomst is geen arbeidsovereenkomst."
        ),
        Clause(
            "Tijdens de stage blijft de student juridisch van de hogeschool afhangen en behoudt "
            "de student het statuut van regelmatig student."
        ),
        Article("Aanwezigheid en werkuren"),
        Clause(
            "De student is in principe elke werkdag op de stageplaats aanwezig en volgt de "
            "uurregeling en de vakantieregeling die in het stagebedrijf gelden."
        ),
        Clause(
            "Een uitzondering vormen de terugkommomenten op de hogeschool, die de stagedocent "
            "vastlegt. De student brengt de stagementor tijdig op de hoogte van deze "
            "terugkommomenten."
        ),
        Clause(
            "Mits akkoord van het stagebedrijf en de stagecoördinator mag de student, om lessen "
            "te volgen op de hogeschool, afwezig zijn ten belope van een halve dag per week."
        ),
        Clause(
            "Wordt deze halve dag per week overschreden, dan is steeds het akkoord van zowel de "
            "stagecoördinator als het stagebedrijf vereist. In dat geval wordt de stage verlengd "
            "met de duur van de extra afwezigheid."
        ),
        Article("Afwezigheid"),
        Clause(
            "Is de student door omstandigheden (bijvoorbeeld ziekte) afwezig, dan brengt de "
            "student de stagementor en de stagedocent onmiddellijk op de hoogte."
        ),
        Clause(
            "De student bezorgt een geldig bewijs van de afwezigheid (zoals een medisch attest) "
            "aan het stagebedrijf en, binnen de 7 dagen, aan de stagedocent."
        ),
        Clause(
            "Een gewettigde afwezigheid moet niet worden ingehaald. Een student die onwettig "
            "afwezig is, kan het statuut van regelmatig student verliezen."
        ),
        Clause(
            "Bij langdurige afwezigheid wordt de stageperiode verlengd. De stagecoördinator legt "
            "de verlenging vast in overleg met het stagebedrijf en de student."
        ),
        Article("Verzekering en ongevallen"),
        Clause("De student is tijdens de stage door de hogeschool verzekerd tegen ongevallen."),
        Clause(
            "Ieder ongeval wordt onmiddellijk aan de hogeschool gemeld, bij de stagedocent of de "
            "stagecoördinator. Het stagebedrijf en de student verlenen hun medewerking aan de "
            "aangifte."
        ),
        Clause(
            "Het stagebedrijf informeert de student bij de aanvang van de stage over de "
            "veiligheids- en gezondheidsvoorschriften die op de stageplaats gelden."
        ),
        Article("Ondertekening vóór de aanvang van de stage"),
        Clause(
            "Deze overeenkomst wordt door de drie partijen (student, stagebedrijf en hogeschool) "
            "ondertekend vóór de aanvang van de stage en uiterlijk op "
            "{{ year.contract_deadline }}. Zonder een door de drie partijen ondertekende "
            "overeenkomst kan de stage niet beginnen."
        ),
        Clause(
            "De student zorgt ervoor dat de overeenkomst tijdig door alle partijen ondertekend "
            "wordt."
        ),
        Article("Vertrouwelijkheid"),
        Clause(
            "De student gedraagt zich deontologisch en maakt bedrijfsgeheimen en andere "
            "vertrouwelijke informatie waarvan de student in het kader van de stage kennis "
            "krijgt, niet bekend, ook niet na afloop van de stage."
        ),
        If(
            "placement.nda",
            [
                Clause(
                    "De partijen ondertekenen daarnaast een afzonderlijke "
                    "geheimhoudingsverklaring, die bepaalt hoe de student omgaat met de "
                    "informatie die het stagebedrijf in het kader van de stage en de "
                    "bachelorproef ter beschikking stelt. Die verklaring maakt integraal deel "
                    "uit van deze overeenkomst."
                )
            ],
            [
                Clause(
                    "Het stagebedrijf kan, indien nodig, een afzonderlijke "
                    "geheimhoudingsverklaring laten opstellen die bepaalt hoe de student omgaat "
                    "met de ter beschikking gestelde informatie. Bij het sluiten van deze "
                    "overeenkomst werd geen afzonderlijke geheimhoudingsverklaring gevraagd."
                )
            ],
        ),
        Article("Auteursrecht"),
        Clause(
            "Omdat de student geen werknemer van het stagebedrijf is, berust het auteursrecht "
            "op alles wat de student tijdens de stage schrijft of maakt bij de student. Dat "
            "geldt voor teksten zoals handleidingen en bewijsstukken voor het "
            "afstudeerportfolio, maar ook voor software (broncode is tekst) en dergelijke."
        ),
        If(
            "placement.copyright_waiver",
            [
                Clause(
                    "De student doet afstand van het auteursrecht ten gunste van het "
                    "stagebedrijf door een afzonderlijke verklaring van afstand van "
                    "auteursrecht, die samen met deze overeenkomst wordt ondertekend. De afstand "
                    "geldt binnen de grenzen die in die verklaring bepaald zijn; die verklaring "
                    "maakt integraal deel uit van deze overeenkomst."
                )
            ],
            [
                Clause(
                    "Er werd geen afstand van auteursrecht overeengekomen. Wenst het "
                    "stagebedrijf het volledige recht op de geschreven werken te verkrijgen "
                    "(bijvoorbeeld om software of handleidingen later te commercialiseren), dan "
                    "kan dat enkel door een afzonderlijke, door de student ondertekende "
                    "verklaring van afstand van auteursrecht."
                )
            ],
        ),
        Article("Stage en bachelorproef"),
        Clause(
            "De bachelorproef is een afzonderlijk opleidingsonderdeel, met een andere "
            "doelstelling dan de stage. Stage en bachelorproef worden los van elkaar beoordeeld."
        ),
        Clause(
            "Het is niet toegelaten stagetijd te besteden aan het maken en uitschrijven van de "
            "bachelorproef, noch de bachelorproef geheel of gedeeltelijk in te brengen als "
            "onderdeel van de stage."
        ),
        If(
            "placement.thesis_at_company",
            [
                Clause(
                    "De student heeft vooraf (uiterlijk op {{ year.thesis_permission_deadline }}) "
                    "via de opleidingsmanager toestemming gekregen om het onderwerp van de "
                    "bachelorproef binnen het stagebedrijf te kiezen. De twee voorgaande punten "
                    "blijven onverminderd van toepassing."
                )
            ],
            [
                Clause(
                    "Het onderwerp van de bachelorproef wordt niet binnen het stagebedrijf "
                    "gekozen: daarvoor is vooraf (uiterlijk op "
                    "{{ year.thesis_permission_deadline }}) toestemming van de opleidingsmanager "
                    "vereist, en die werd voor deze stage niet verleend."
                )
            ],
        ),
        Article("Verplichtingen van het stagebedrijf en de stagementor"),
        Clause(
            "Het stagebedrijf biedt een stageplaats aan die de student in staat stelt de "
            "doelstellingen van de stage te realiseren, op basis van een formele stageopdracht "
            "die aansluit bij de beroepsspecifieke competenties van de opleiding."
        ),
        Clause(
            "Het stagebedrijf wijst een stagementor aan, een medewerker die fungeert als vast "
            "aanspreekpunt voor de student en voldoende tijd kan investeren in de begeleiding. "
            "Verandert de stagementor, dan brengt het stagebedrijf de stagedocent onmiddellijk "
            "op de hoogte."
        ),
        Clause(
            "De stagementor biedt de student de nodige ondersteuning, zorgt voor een regelmatige "
            "opvolging van het verloop van de stage en maakt daarover concrete afspraken met de "
            "student."
        ),
        Clause(
            "De stagementor brengt de stagedocent onmiddellijk op de hoogte van "
            "onregelmatigheden of problemen."
        ),
        Clause(
            "De stagementor houdt na ongeveer vijf weken een feedbackmoment met de student en "
            "maakt de tussentijdse evaluatie en de eindevaluatie zoals bepaald in het artikel "
            "over de evaluatie."
        ),
        Article("Verplichtingen van de hogeschool en de stagedocent"),
        Clause(
            "De hogeschool geeft de student vóór de stage de nodige informatie over de "
            "organisatie en de doelstellingen van de stage. De stagecoördinator wijst de "
            "stageplaats en de stagedocent toe."
        ),
        Clause(
            "De stagedocent maakt vóór het begin van de stage de nodige praktische afspraken met "
            "de student en houdt tijdens de stage contact met de student via de stageblog."
        ),
        Clause(
            "De stagedocent neemt bij de aanvang van de stage contact op met het stagebedrijf en "
            "informeert het over de evaluatieprocedure."
        ),
        Clause(
            "De stagedocent brengt minstens één stagebezoek voor een onderhoud met de "
            "stagementor en de student. Op verzoek van de stagementor of de student volgen "
            "bijkomende stagebezoeken."
        ),
        Clause(
            "De stagedocent evalueert het functioneren van de student tijdens de stage en "
            "quoteert de stageblog."
        ),
        Article("Verplichtingen van de student"),
        Clause(
            "De student komt de contractuele en andere afspraken na, spant zich in om de "
            "stageopdracht tot een goed einde te brengen, toont zich leergierig en gemotiveerd, "
            "en past de verworven algemene en beroepsspecifieke competenties naar best vermogen "
            "toe en ontwikkelt ze verder."
        ),
        Clause(
            "De student toont respect voor het stagebedrijf en in het bijzonder voor de "
            "stagementor, houdt zich aan de uur- en vakantieregeling van het stagebedrijf en "
            "integreert zich in de stageomgeving (algemene houding, kleding, taalgebruik, "
            "stiptheid, inzet, beleefdheid)."
        ),
        Clause(
            "De student rapporteert regelmatig over het verloop van de stage aan de stagementor."
        ),
        Clause(
            "De student vult via het stageportaal wekelijks een werkreflectie in, uiterlijk op "
            "de maandag na de afgewerkte stageweek, en beantwoordt daarin kort, krachtig en "
            "duidelijk de volgende vragen:"
        ),
        Bullet("Wat heb ik geleerd gedurende de voorbije week?"),
        Bullet("Welke taken heb ik uitgevoerd gedurende de voorbije week?"),
        Bullet(
            "Welke moeilijkheden (zowel op inhoudelijk als op sociaal vlak) heb ik ondervonden "
            "gedurende de voorbije week?"
        ),
        Bullet("Hoe heb ik deze moeilijkheden opgelost?"),
        Bullet("Omschrijf in 3 woorden het gevoel dat je hebt over de voorbije week."),
        Clause(
            "De student vult op het einde van de stage zelf een eindevaluatie in op het stageportaal."
        ),
        Clause(
            "Bij problemen brengt de student onmiddellijk de stagedocent op de hoogte. De "
            "student draagt bij tot een goede relatie tussen het stagebedrijf en de hogeschool."
        ),
        Article("Evaluatie"),
        Clause(
            "De evaluatie van de stage gebeurt online via het stageportaal van de hogeschool, op "
            "basis van de algemene en beroepsspecifieke competenties en de bijbehorende "
            "gedragsindicatoren van de opleiding. De stagedocent informeert de stagementor over "
            "de evaluatieprocedure en ondersteunt daarbij."
        ),
        Clause(
            "Halverwege de stageperiode maakt de stagementor via het stageportaal een "
            "tussentijdse evaluatie en bespreekt die met de student, zodat de student weet waar "
            "hij of zij staat en waar verbetering mogelijk of nodig is."
        ),
        Clause(
            "Op het einde van de stage vult de stagementor de eindevaluatie in via het "
            "stageportaal en licht die mondeling toe aan de student. Naast de beoordeling per "
            "competentie bevat de eindevaluatie een eindbeoordeling die een algemene indruk van "
            "de student weergeeft."
        ),
        Clause(
            "Het stagecijfer wordt bepaald door een stage-evaluatiecommissie, bestaande uit alle "
            "stagedocenten onder leiding van de stagecoördinator; de eindbeoordeling van de "
            "stagementor geldt daarbij als richtinggevend uitgangspunt. Dit cijfer telt voor 75% "
            "mee in het eindcijfer van het opleidingsonderdeel “Stage”."
        ),
        Clause(
            "De overige 25% is de quotatie van het verloop van de stage op basis van het "
            "stageverslag, de presentatie, de wekelijkse stageblog en de communicatie tussen "
            "stagedocent en student (professioneel, tijdig en relevant)."
        ),
        Article("Slotbepalingen"),
        Clause(
            "De Richtlijnen Stage van de opleiding voor het academiejaar {{ year.code }} zijn op "
            "deze stage van toepassing. De student wordt verondersteld ze te kennen."
        ),
        Clause(
            "Een wijziging van deze overeenkomst, zoals een andere stageperiode of een andere "
            "stagementor, gebeurt schriftelijk en met het akkoord van de drie partijen. Bij "
            "problemen zoeken de partijen eerst in overleg, met de stagedocent en de "
            "stagecoördinator, naar een oplossing."
        ),
        Clause("Deze overeenkomst is onderworpen aan het Belgisch recht."),
        Signatures(),
    ]


def agreement_en() -> list[object]:
    return [
        Title("Internship agreement"),
        Subtitle("Internship (year 3) – {{ school.programme }} – academic year {{ year.code }}"),
        Text("This agreement is made between the parties listed below."),
        *parties_en(),
        Article("Supervision"),
        Clause(
            "The company appoints as internship mentor: **{{ mentor.name }}** "
            "(email {{ mentor.email }}, telephone {{ mentor.phone }}). The internship mentor is "
            "the student’s permanent point of contact within the company."
        ),
        Clause(
            "The university college appoints as internship supervisor: **{{ docent.name }}** "
            "(email {{ docent.email }}). The internship supervisor guides and coaches the "
            "student during the internship and is the internship mentor’s first point of "
            "contact at the university college."
        ),
        Clause(
            "The internship coordinator, {{ school.coordinator_name }}, is responsible for the "
            "practical organisation of the internship. The university college is responsible "
            "for the internship administration."
        ),
        Article("Purpose and assignment"),
        Clause(
            "The internship is a compulsory course unit at the end of the third year of the "
            "programme {{ school.programme }}. It offers the student experiential learning "
            "through active presence in a real professional and social working environment."
        ),
        Clause(
            "At the internship place the student carries out the following assignment, as "
            "approved by the university college:"
        ),
        Block("{{ placement.assignment }}"),
        Clause(
            "The assignment matches the general and professional competences of the programme. "
            "The company provides the technical and material facilities needed to carry out the "
            "assignment at the internship place. The assignment is changed substantially only "
            "after consultation with the student and the internship supervisor."
        ),
        Article("Duration of the internship"),
        Clause(
            "The internship runs from **{{ placement.start_date }}** up to and including "
            "**{{ placement.end_date }}**."
        ),
        Clause(
            "This period lies within the internship period of {{ year.weeks }} weeks in the "
            "second semester of the academic year {{ year.code }}, which runs from "
            "{{ year.period_start }} up to and including {{ year.period_end }}."
        ),
        Clause(
            "The internship is extended only in the cases set out in this agreement: additional "
            "absence to attend classes and long absence."
        ),
        Article("Unpaid internship and allowances"),
        Clause(
            "The internship is unpaid. The company pays the student no wage for the internship."
        ),
        If(
            "placement.expense_allowance",
            [
                Clause(
                    "The company voluntarily grants the student an expense or travel allowance "
                    "of **{{ placement.expense_allowance }}**. This allowance is not a wage."
                )
            ],
            [
                Clause(
                    "No expense or travel allowance is agreed; the company is under no "
                    "obligation to grant one."
                )
            ],
        ),
        Clause(
            "In any case the company reimburses the student for costs arising from internship "
            "activities, such as telephone calls and travel to customers and suppliers. The "
            "company makes clear arrangements about this with the student in advance."
        ),
        Article("Status of the student"),
        Clause(
            "There is no employment contract between the student and the company. This "
            "internship agreement is not an employment contract."
        ),
        Clause(
            "During the internship the student remains legally dependent on the university "
            "college and keeps the status of regular student."
        ),
        Article("Presence and working hours"),
        Clause(
            "In principle the student is present at the internship place every working day and "
            "follows the working hours and holiday arrangements that apply in the company."
        ),
        Clause(
            "The return days at the university college, set by the internship supervisor, are "
            "an exception. The student informs the internship mentor of these return days in "
            "good time."
        ),
        Clause(
            "With the agreement of the company and the internship coordinator, the student may "
            "be absent for up to half a day per week to attend classes at the university "
            "college."
        ),
        Clause(
            "If this half day per week is exceeded, the agreement of both the internship "
            "coordinator and the company is always required. In that case the internship is "
            "extended by the length of the additional absence."
        ),
        Article("Absence"),
        Clause(
            "If the student is absent due to circumstances (for example illness), the student "
            "informs the internship mentor and the internship supervisor immediately."
        ),
        Clause(
            "The student provides valid proof of the absence (such as a medical certificate) to "
            "the company and, within 7 days, to the internship supervisor."
        ),
        Clause(
            "A justified absence does not have to be made up. A student who is absent without "
            "justification may lose the status of regular student."
        ),
        Clause(
            "In case of long absence the internship period is extended. The internship "
            "coordinator sets the extension in consultation with the company and the student."
        ),
        Article("Insurance and accidents"),
        Clause(
            "During the internship the student is insured against accidents by the university "
            "college."
        ),
        Clause(
            "Every accident is reported immediately to the university college, to the "
            "internship supervisor or the internship coordinator. The company and the student "
            "cooperate in the declaration."
        ),
        Clause(
            "At the start of the internship the company informs the student of the safety and "
            "health rules that apply at the internship place."
        ),
        Article("Signing before the start of the internship"),
        Clause(
            "This agreement is signed by the three parties (student, company and university "
            "college) before the start of the internship and no later than "
            "{{ year.contract_deadline }}. Without an agreement signed by the three parties the "
            "internship cannot start."
        ),
        Clause("The student makes sure that all parties sign the agreement in time."),
        Article("Confidentiality"),
        Clause(
            "The student behaves ethically and does not disclose trade secrets or other "
            "confidential information that comes to the student’s knowledge in the course of "
            "the internship, not even after the internship has ended."
        ),
        If(
            "placement.nda",
            [
                Clause(
                    "In addition, the parties sign a separate non-disclosure agreement that "
                    "sets out how the student handles the information the company makes "
                    "available for the internship and the bachelor’s thesis. That non-disclosure "
                    "agreement forms an integral part of this agreement."
                )
            ],
            [
                Clause(
                    "Where needed, the company may have a separate non-disclosure agreement "
                    "drawn up that sets out how the student handles the information made "
                    "available. No separate non-disclosure agreement was requested when this "
                    "agreement was concluded."
                )
            ],
        ),
        Article("Copyright"),
        Clause(
            "As the student is not an employee of the company, the copyright in everything the "
            "student writes or creates during the internship belongs to the student. This "
            "applies to texts such as manuals and evidence for the graduation portfolio, but "
            "also to software (source code is text) and the like."
        ),
        If(
            "placement.copyright_waiver",
            [
                Clause(
                    "The student waives the copyright in favour of the company by a separate "
                    "copyright waiver, signed together with this agreement. The waiver applies "
                    "within the limits set out in it; the copyright waiver forms an integral "
                    "part of this agreement."
                )
            ],
            [
                Clause(
                    "No copyright waiver has been agreed. If the company wishes to obtain the "
                    "full rights to the written works (for example to commercialise software or "
                    "manuals later), this is possible only through a separate copyright waiver "
                    "signed by the student."
                )
            ],
        ),
        Article("Internship and bachelor’s thesis"),
        Clause(
            "The bachelor’s thesis is a separate course unit with a different objective from "
            "the internship. Internship and bachelor’s thesis are assessed separately."
        ),
        Clause(
            "It is not permitted to spend internship time on preparing and writing the "
            "bachelor’s thesis, nor to submit the bachelor’s thesis in whole or in part as part "
            "of the internship."
        ),
        If(
            "placement.thesis_at_company",
            [
                Clause(
                    "The student obtained permission in advance (no later than "
                    "{{ year.thesis_permission_deadline }}) from the programme manager to choose "
                    "the subject of the bachelor’s thesis within the company. The two preceding "
                    "points continue to apply in full."
                )
            ],
            [
                Clause(
                    "The subject of the bachelor’s thesis is not chosen within the company: this "
                    "requires prior permission from the programme manager (no later than "
                    "{{ year.thesis_permission_deadline }}), which was not granted for this "
                    "internship."
                )
            ],
        ),
        Article("Obligations of the company and the internship mentor"),
        Clause(
            "The company offers an internship place that enables the student to achieve the "
            "objectives of the internship, based on a formal assignment that matches the "
            "professional competences of the programme."
        ),
        Clause(
            "The company appoints an internship mentor, an employee who acts as the student’s "
            "permanent point of contact and can invest sufficient time in the supervision. If "
            "the internship mentor changes, the company informs the internship supervisor "
            "immediately."
        ),
        Clause(
            "The internship mentor gives the student the necessary support, follows up the "
            "progress of the internship regularly and makes concrete arrangements about this "
            "with the student."
        ),
        Clause(
            "The internship mentor informs the internship supervisor immediately of any "
            "irregularities or problems."
        ),
        Clause(
            "The internship mentor holds a feedback meeting with the student after about five "
            "weeks and carries out the midterm and final evaluations as set out in the article "
            "on evaluation."
        ),
        Article("Obligations of the university college and the internship supervisor"),
        Clause(
            "Before the internship the university college gives the student the necessary "
            "information about the organisation and objectives of the internship. The "
            "internship coordinator assigns the internship place and the internship supervisor."
        ),
        Clause(
            "Before the start of the internship the internship supervisor makes the necessary "
            "practical arrangements with the student and keeps in touch with the student during "
            "the internship through the internship blog."
        ),
        Clause(
            "At the start of the internship the internship supervisor contacts the company and "
            "informs it about the evaluation procedure."
        ),
        Clause(
            "The internship supervisor visits the internship place at least once for a meeting "
            "with the internship mentor and the student. At the request of the internship "
            "mentor or the student further visits follow."
        ),
        Clause(
            "The internship supervisor evaluates the student’s performance during the "
            "internship and grades the internship blog."
        ),
        Article("Obligations of the student"),
        Clause(
            "The student honours the contractual and other arrangements, makes every effort to "
            "complete the assignment successfully, shows eagerness to learn and appropriate "
            "motivation, and applies the general and professional competences acquired to the "
            "best of the student’s ability and develops them further."
        ),
        Clause(
            "The student shows respect for the company and in particular for the internship "
            "mentor, keeps to the company’s working hours and holiday arrangements and "
            "integrates into the internship environment (general attitude, dress, language, "
            "punctuality, commitment, courtesy)."
        ),
        Clause(
            "The student reports regularly to the internship mentor on the progress of the internship."
        ),
        Clause(
            "Every week, no later than the Monday after the completed internship week, the "
            "student fills in a work reflection on the internship portal, answering the "
            "following questions briefly, concisely and clearly:"
        ),
        Bullet("What did I learn during the past week?"),
        Bullet("Which tasks did I carry out during the past week?"),
        Bullet(
            "Which difficulties (in content as well as socially) did I encounter during the past "
            "week?"
        ),
        Bullet("How did I solve these difficulties?"),
        Bullet("Describe in 3 words how you feel about the past week."),
        Clause(
            "At the end of the internship the student fills in a self-evaluation on the "
            "internship portal."
        ),
        Clause(
            "In case of problems the student informs the internship supervisor immediately. The "
            "student contributes to a good relationship between the company and the university "
            "college."
        ),
        Article("Evaluation"),
        Clause(
            "The internship is evaluated online through the internship portal of the university "
            "college, on the basis of the general and professional competences and the related "
            "behavioural indicators of the programme. The internship supervisor informs the "
            "internship mentor about the evaluation procedure and supports the mentor in it."
        ),
        Clause(
            "Halfway through the internship period the internship mentor carries out a midterm "
            "evaluation through the internship portal and discusses it with the student, so "
            "that the student knows where they stand and where improvement is possible or "
            "needed."
        ),
        Clause(
            "At the end of the internship the internship mentor fills in the final evaluation "
            "through the internship portal and explains it orally to the student. Besides the "
            "assessment per competence, the final evaluation contains an overall assessment "
            "giving a general impression of the student."
        ),
        Clause(
            "The internship grade is set by an internship evaluation committee made up of all "
            "internship supervisors and chaired by the internship coordinator; the internship "
            "mentor’s overall assessment serves as the guiding starting point. This grade "
            "counts for 75% of the final grade of the course unit “Internship”."
        ),
        Clause(
            "The remaining 25% is the grade for the course of the internship based on the "
            "internship report, the presentation, the weekly internship blog and the "
            "communication between internship supervisor and student (professional, timely and "
            "relevant)."
        ),
        Article("Final provisions"),
        Clause(
            "The programme’s Internship Guidelines for the academic year {{ year.code }} apply "
            "to this internship. The student is deemed to know them."
        ),
        Clause(
            "Any change to this agreement, such as a different internship period or a different "
            "internship mentor, is made in writing with the agreement of the three parties. In "
            "case of problems the parties first seek a solution by consultation, with the "
            "internship supervisor and the internship coordinator."
        ),
        Clause("This agreement is governed by Belgian law."),
        Signatures(),
    ]


def nda_nl() -> list[object]:
    return [
        Title("Geheimhoudingsverklaring"),
        Subtitle(
            "bij de stageovereenkomst – {{ school.programme }} – academiejaar {{ year.code }}"
        ),
        Text("Deze verklaring wordt gesloten tussen de hierna vermelde partijen."),
        *parties_nl(),
        Article("Voorwerp"),
        Clause(
            "Deze verklaring hoort bij de stageovereenkomst tussen de partijen voor de stage die "
            "de student van {{ placement.start_date }} tot en met {{ placement.end_date }} loopt "
            "bij het stagebedrijf, onder begeleiding van stagementor {{ mentor.name }}. Ze maakt "
            "integraal deel uit van die stageovereenkomst."
        ),
        Clause(
            "Ze werkt de vertrouwelijkheidsplicht uit de stageovereenkomst verder uit en bepaalt "
            "hoe de student omgaat met de informatie die het stagebedrijf ter beschikking stelt "
            "in het kader van de stage en, in voorkomend geval, de bachelorproef."
        ),
        Article("Vertrouwelijke informatie"),
        Clause(
            "Vertrouwelijke informatie is alle informatie, in welke vorm ook (mondeling, "
            "schriftelijk, elektronisch of visueel), die de student in het kader van de stage "
            "ontvangt van of verneemt over het stagebedrijf, zijn klanten, leveranciers en "
            "partners, en die niet publiek bekend is."
        ),
        Clause(
            "Daartoe behoren in het bijzonder bedrijfsgeheimen en knowhow, klant-, personeels- en "
            "andere persoonsgegevens, broncode, systeem-, netwerk- en beveiligingsinformatie "
            "(zoals toegangsgegevens, configuraties en kwetsbaarheden), financiële en commerciële "
            "gegevens, plannen en projecten."
        ),
        Article("Verplichtingen van de student"),
        Clause(
            "De student houdt de vertrouwelijke informatie strikt geheim en maakt ze niet bekend "
            "aan derden, tenzij met voorafgaande schriftelijke toestemming van het stagebedrijf."
        ),
        Clause(
            "De student gebruikt de vertrouwelijke informatie uitsluitend voor de uitvoering van "
            "de stageopdracht."
        ),
        Clause(
            "De student volgt de regels van het stagebedrijf over informatiebeveiliging en de "
            "verwerking van persoonsgegevens, bewaart of kopieert vertrouwelijke informatie niet "
            "op eigen toestellen of in eigen (cloud)opslag zonder toestemming van de stagementor, "
            "en deelt toegangsgegevens met niemand."
        ),
        Clause(
            "De student meldt elk verlies en elke ongeoorloofde bekendmaking van vertrouwelijke "
            "informatie onmiddellijk aan de stagementor en aan de stagedocent."
        ),
        Article("Stageverslag, portfolio en bachelorproef"),
        Clause(
            "De student mag vertrouwelijke informatie opnemen in het stageverslag, de wekelijkse "
            "werkreflecties, de stageblog, het afstudeerportfolio, de presentatie en, in "
            "voorkomend geval, de bachelorproef, voor zover dat nodig is voor de evaluatie door "
            "de hogeschool."
        ),
        Clause(
            "Het stagebedrijf kan vragen dat bepaalde informatie daarin geanonimiseerd of "
            "weggelaten wordt, en kan vragen die stukken vóór de indiening in te kijken."
        ),
        Clause(
            "De hogeschool zorgt ervoor dat de stagedocent, de stage-evaluatiecommissie en de "
            "jury deze stukken vertrouwelijk behandelen en uitsluitend voor de evaluatie "
            "gebruiken. De hogeschool maakt ze niet openbaar zonder toestemming van het "
            "stagebedrijf."
        ),
        Article("Uitzonderingen"),
        Clause(
            "De geheimhoudingsplicht geldt niet voor informatie die (a) publiek bekend is of "
            "wordt zonder fout van de student, (b) de student al rechtmatig kende vóór de stage, "
            "(c) de student rechtmatig van een derde verkrijgt zonder geheimhoudingsplicht, of "
            "(d) de student moet bekendmaken op grond van de wet of een rechterlijke beslissing; "
            "in dat laatste geval verwittigt de student het stagebedrijf vooraf, voor zover dat "
            "toegelaten is."
        ),
        Article("Teruggave"),
        Clause(
            "Op het einde van de stage, of eerder op verzoek van het stagebedrijf, geeft de "
            "student alle documenten, gegevensdragers en toegangsmiddelen met vertrouwelijke "
            "informatie terug aan het stagebedrijf en wist de student de kopieën in zijn of haar "
            "bezit, behalve wat volgens het artikel over het stageverslag voor de evaluatie "
            "nodig is."
        ),
        Article("Duur en toepasselijk recht"),
        Clause(
            "Deze verklaring geldt vanaf de ondertekening en blijft na afloop van de stage van "
            "kracht zolang de informatie vertrouwelijk is."
        ),
        Clause("Deze verklaring is onderworpen aan het Belgisch recht."),
        Signatures(),
    ]


def nda_en() -> list[object]:
    return [
        Title("Non-disclosure agreement"),
        Subtitle(
            "annexed to the internship agreement – {{ school.programme }} – academic year "
            "{{ year.code }}"
        ),
        Text("This agreement is made between the parties listed below."),
        *parties_en(),
        Article("Purpose"),
        Clause(
            "This agreement belongs to the internship agreement between the parties for the "
            "internship the student carries out at the company from {{ placement.start_date }} "
            "up to and including {{ placement.end_date }}, supervised by internship mentor "
            "{{ mentor.name }}. It forms an integral part of that internship agreement."
        ),
        Clause(
            "It elaborates the duty of confidentiality of the internship agreement and sets out "
            "how the student handles the information the company makes available for the "
            "internship and, where applicable, the bachelor’s thesis."
        ),
        Article("Confidential information"),
        Clause(
            "Confidential information is all information, in whatever form (oral, written, "
            "electronic or visual), that the student receives from or learns about the company, "
            "its customers, suppliers and partners in the course of the internship and that is "
            "not publicly known."
        ),
        Clause(
            "This includes in particular trade secrets and know-how, customer, staff and other "
            "personal data, source code, system, network and security information (such as "
            "credentials, configurations and vulnerabilities), financial and commercial data, "
            "plans and projects."
        ),
        Article("Obligations of the student"),
        Clause(
            "The student keeps the confidential information strictly secret and does not "
            "disclose it to third parties without the prior written consent of the company."
        ),
        Clause(
            "The student uses the confidential information only to carry out the internship "
            "assignment."
        ),
        Clause(
            "The student follows the company’s rules on information security and the processing "
            "of personal data, does not store or copy confidential information on personal "
            "devices or in personal (cloud) storage without the internship mentor’s permission, "
            "and shares credentials with no one."
        ),
        Clause(
            "The student reports any loss or unauthorised disclosure of confidential "
            "information immediately to the internship mentor and the internship supervisor."
        ),
        Article("Internship report, portfolio and bachelor’s thesis"),
        Clause(
            "The student may include confidential information in the internship report, the "
            "weekly work reflections, the internship blog, the graduation portfolio, the "
            "presentation and, where applicable, the bachelor’s thesis, to the extent needed for "
            "the evaluation by the university college."
        ),
        Clause(
            "The company may ask for certain information in them to be anonymised or left out, "
            "and may ask to review these documents before they are submitted."
        ),
        Clause(
            "The university college ensures that the internship supervisor, the internship "
            "evaluation committee and the jury treat these documents confidentially and use "
            "them only for the evaluation. The university college does not make them public "
            "without the company’s consent."
        ),
        Article("Exceptions"),
        Clause(
            "The duty of confidentiality does not apply to information that (a) is or becomes "
            "publicly known through no fault of the student, (b) the student lawfully knew "
            "before the internship, (c) the student lawfully obtains from a third party without "
            "a duty of confidentiality, or (d) the student must disclose by law or by a court "
            "decision; in the latter case the student notifies the company in advance where "
            "permitted."
        ),
        Article("Return of information"),
        Clause(
            "At the end of the internship, or earlier at the company’s request, the student "
            "returns all documents, data carriers and means of access containing confidential "
            "information to the company and deletes the copies in the student’s possession, "
            "except what is needed for the evaluation under the article on the internship "
            "report."
        ),
        Article("Duration and governing law"),
        Clause(
            "This agreement applies from its signing and remains in force after the end of the "
            "internship for as long as the information is confidential."
        ),
        Clause("This agreement is governed by Belgian law."),
        Signatures(),
    ]


def waiver_nl() -> list[object]:
    return [
        Title("Verklaring van afstand van auteursrecht"),
        Subtitle(
            "bij de stageovereenkomst – {{ school.programme }} – academiejaar {{ year.code }}"
        ),
        Text("Deze verklaring wordt gesloten tussen de hierna vermelde partijen."),
        *parties_nl(),
        Article("Voorwerp"),
        Clause(
            "Deze verklaring hoort bij de stageovereenkomst tussen de partijen voor de stage die "
            "de student van {{ placement.start_date }} tot en met {{ placement.end_date }} loopt "
            "bij het stagebedrijf, onder begeleiding van stagementor {{ mentor.name }}. Ze maakt "
            "integraal deel uit van die stageovereenkomst."
        ),
        Clause(
            "Omdat de student geen werknemer van het stagebedrijf is, heeft de student het "
            "auteursrecht op alles wat de student tijdens de stage schrijft of maakt: teksten "
            "zoals handleidingen en bewijsstukken voor het afstudeerportfolio, maar ook software "
            "(broncode is tekst) en dergelijke. Zonder deze verklaring blijft het auteursrecht "
            "bij de student."
        ),
        Clause(
            "Het stagebedrijf wenst het volledige recht op deze werken te verkrijgen, onder meer "
            "om ze later eventueel te commercialiseren. Met deze verklaring doet de student "
            "daartoe afstand van het auteursrecht, binnen de grenzen van de volgende artikelen."
        ),
        Article("Betrokken werken"),
        Clause(
            "Deze verklaring betreft de werken die de student in uitvoering van de stageopdracht "
            "tijdens de stage maakt, zoals software (bron- en objectcode), documentatie, "
            "handleidingen, analyses, ontwerpen, teksten en beelden (hierna “de werken”)."
        ),
        Clause(
            "Ze betreft niet: (a) werken die de student vóór de stage of buiten de stageopdracht "
            "maakt; (b) de stukken die de student voor de opleiding maakt, zoals het "
            "stageverslag, de werkreflecties, de stageblog, het afstudeerportfolio, de "
            "presentatie en de bachelorproef, onverminderd het artikel over het gebruik voor de "
            "opleiding; (c) de algemene kennis, vaardigheden en ervaring die de student tijdens "
            "de stage opdoet."
        ),
        Article("Overdracht van de vermogensrechten"),
        Clause(
            "De student draagt alle vermogensrechten op de werken exclusief over aan het "
            "stagebedrijf, voor de hele wereld en voor de volledige wettelijke "
            "beschermingsduur. De overdracht geldt voor elk werk vanaf het ogenblik dat het "
            "gemaakt is."
        ),
        Clause(
            "De overdracht omvat in het bijzonder het recht om de werken te reproduceren, aan te "
            "passen, te vertalen, te verspreiden, te verhuren en uit te lenen, aan het publiek "
            "mee te delen, in licentie te geven en commercieel te exploiteren, in elke vorm, op "
            "elke drager en volgens elke exploitatiewijze die bij de ondertekening bekend is."
        ),
        Clause(
            "De overdracht gebeurt kosteloos en geeft geen recht op een vergoeding bovenop wat "
            "in de stageovereenkomst bepaald is."
        ),
        Article("Morele rechten"),
        Clause(
            "De student behoudt de morele rechten voor zover de wet geen afstand ervan toelaat."
        ),
        Clause(
            "De student stemt ermee in dat het stagebedrijf de werken wijzigt, aanpast, vertaalt "
            "en in andere werken opneemt, en dat het de werken zonder vermelding van de naam van "
            "de student openbaar maakt, voor zover dat de eer of de reputatie van de student niet "
            "schaadt."
        ),
        Article("Gebruik voor de opleiding"),
        If(
            "placement.nda",
            [
                Clause(
                    "Het stagebedrijf verleent de student en de hogeschool kosteloos het "
                    "niet-exclusieve recht om (delen van) de werken te gebruiken voor zover dat "
                    "nodig is voor de begeleiding en de evaluatie van de stage, zoals in het "
                    "stageverslag, de presentatie en het afstudeerportfolio, met inachtneming "
                    "van de stageovereenkomst en de geheimhoudingsverklaring."
                )
            ],
            [
                Clause(
                    "Het stagebedrijf verleent de student en de hogeschool kosteloos het "
                    "niet-exclusieve recht om (delen van) de werken te gebruiken voor zover dat "
                    "nodig is voor de begeleiding en de evaluatie van de stage, zoals in het "
                    "stageverslag, de presentatie en het afstudeerportfolio, met inachtneming "
                    "van de vertrouwelijkheid bepaald in de stageovereenkomst."
                )
            ],
        ),
        Article("Slotbepalingen"),
        Clause(
            "Deze verklaring wordt samen met de stageovereenkomst ondertekend en geldt voor alle "
            "werken die de student tijdens de stage maakt."
        ),
        Clause("Deze verklaring is onderworpen aan het Belgisch recht."),
        Signatures(),
    ]


def waiver_en() -> list[object]:
    return [
        Title("Copyright waiver"),
        Subtitle(
            "annexed to the internship agreement – {{ school.programme }} – academic year "
            "{{ year.code }}"
        ),
        Text("This waiver is agreed between the parties listed below."),
        *parties_en(),
        Article("Purpose"),
        Clause(
            "This waiver belongs to the internship agreement between the parties for the "
            "internship the student carries out at the company from {{ placement.start_date }} "
            "up to and including {{ placement.end_date }}, supervised by internship mentor "
            "{{ mentor.name }}. It forms an integral part of that internship agreement."
        ),
        Clause(
            "As the student is not an employee of the company, the student holds the copyright "
            "in everything the student writes or creates during the internship: texts such as "
            "manuals and evidence for the graduation portfolio, but also software (source code "
            "is text) and the like. Without this waiver the copyright stays with the student."
        ),
        Clause(
            "The company wishes to obtain the full rights to these works, among other things to "
            "commercialise them later. By this waiver the student therefore waives the "
            "copyright, within the limits of the following articles."
        ),
        Article("Works concerned"),
        Clause(
            "This waiver concerns the works the student creates in carrying out the internship "
            "assignment during the internship, such as software (source and object code), "
            "documentation, manuals, analyses, designs, texts and images (hereinafter “the "
            "works”)."
        ),
        Clause(
            "It does not concern: (a) works the student creates before the internship or "
            "outside the internship assignment; (b) the documents the student produces for the "
            "programme, such as the internship report, the work reflections, the internship "
            "blog, the graduation portfolio, the presentation and the bachelor’s thesis, without "
            "prejudice to the article on use for the programme; (c) the general knowledge, "
            "skills and experience the student gains during the internship."
        ),
        Article("Assignment of the economic rights"),
        Clause(
            "The student assigns all economic rights in the works exclusively to the company, "
            "worldwide and for the full legal term of protection. The assignment applies to "
            "each work from the moment it is created."
        ),
        Clause(
            "The assignment includes in particular the right to reproduce, adapt, translate, "
            "distribute, rent and lend the works, to communicate them to the public, to license "
            "them and to exploit them commercially, in any form, on any medium and by any mode "
            "of exploitation known at the time of signing."
        ),
        Clause(
            "The assignment is free of charge and gives no right to any payment beyond what is "
            "set out in the internship agreement."
        ),
        Article("Moral rights"),
        Clause(
            "The student keeps the moral rights to the extent that the law does not allow them to be waived."
        ),
        Clause(
            "The student agrees that the company may modify, adapt and translate the works, "
            "incorporate them in other works and publish them without mentioning the student’s "
            "name, provided this does not harm the student’s honour or reputation."
        ),
        Article("Use for the programme"),
        If(
            "placement.nda",
            [
                Clause(
                    "The company grants the student and the university college, free of charge, "
                    "the non-exclusive right to use (parts of) the works to the extent needed "
                    "for the supervision and evaluation of the internship, such as in the "
                    "internship report, the presentation and the graduation portfolio, subject "
                    "to the internship agreement and the non-disclosure agreement."
                )
            ],
            [
                Clause(
                    "The company grants the student and the university college, free of charge, "
                    "the non-exclusive right to use (parts of) the works to the extent needed "
                    "for the supervision and evaluation of the internship, such as in the "
                    "internship report, the presentation and the graduation portfolio, subject "
                    "to the confidentiality set out in the internship agreement."
                )
            ],
        ),
        Article("Final provisions"),
        Clause(
            "This waiver is signed together with the internship agreement and applies to all "
            "works the student creates during the internship."
        ),
        Clause("This waiver is governed by Belgian law."),
        Signatures(),
    ]


def specs() -> list[TemplateSpec]:
    header_nl = " – {{ student.full_name }} – {{ company.name }}"
    header_en = " – {{ student.full_name }} – {{ company.name }}"
    return [
        TemplateSpec(
            "nl/stageovereenkomst.docx",
            NL,
            "Stageovereenkomst",
            "Stageovereenkomst {{ year.code }}" + header_nl,
            agreement_nl(),
        ),
        TemplateSpec(
            "nl/geheimhoudingsverklaring.docx",
            NL,
            "Geheimhoudingsverklaring",
            "Geheimhoudingsverklaring {{ year.code }}" + header_nl,
            nda_nl(),
        ),
        TemplateSpec(
            "nl/afstand-auteursrecht.docx",
            NL,
            "Verklaring van afstand van auteursrecht",
            "Afstand van auteursrecht {{ year.code }}" + header_nl,
            waiver_nl(),
        ),
        TemplateSpec(
            "en/stageovereenkomst.docx",
            EN,
            "Internship agreement",
            "Internship agreement {{ year.code }}" + header_en,
            agreement_en(),
        ),
        TemplateSpec(
            "en/geheimhoudingsverklaring.docx",
            EN,
            "Non-disclosure agreement",
            "Non-disclosure agreement {{ year.code }}" + header_en,
            nda_en(),
        ),
        TemplateSpec(
            "en/afstand-auteursrecht.docx",
            EN,
            "Copyright waiver",
            "Copyright waiver {{ year.code }}" + header_en,
            waiver_en(),
        ),
    ]


# --- writing DOCX -------------------------------------------------------------

_TAG = re.compile(r"{{.*?}}|{%.*?%}")


def add_text(paragraph: Paragraph, text: str, *, size: Pt | None = None) -> None:
    """Add text with **bold** segments; each segment, and so each Jinja tag, is one run."""
    for index, segment in enumerate(text.split("**")):
        if not segment:
            continue
        leftover = _TAG.sub("", segment)
        if any(mark in leftover for mark in ("{{", "}}", "{%", "%}")):
            raise ValueError(f"Jinja tag split across runs in: {text!r}")
        run = paragraph.add_run(segment)
        if index % 2:
            run.bold = True
        if size is not None:
            run.font.size = size


def set_run_fonts(rpr_parent, name: str) -> None:
    """Set all four font slots and drop theme fonts, which would override the name."""
    rpr = rpr_parent.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), name)


def set_language(style, code: str) -> None:
    rpr = style.element.get_or_add_rPr()
    for old in rpr.findall(qn("w:lang")):
        rpr.remove(old)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), code)
    lang.set(qn("w:eastAsia"), code)
    lang.set(qn("w:bidi"), "ar-SA")
    rpr.append(lang)


def setup_styles(doc: DocumentObject, language: Language) -> None:
    styles = doc.styles

    normal = styles["Normal"]
    normal.font.size = BODY_SIZE
    set_run_fonts(normal.element, FONT)
    set_language(normal, language.code)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(4)
    normal.paragraph_format.line_spacing = 1.08
    normal.paragraph_format.widow_control = True

    # The document defaults of python-docx's template point at theme fonts.
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    if defaults is not None:
        for fonts in defaults.iter(qn("w:rFonts")):
            for attr in list(fonts.attrib):
                del fonts.attrib[attr]
            for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
                fonts.set(qn(attr), FONT)

    for name, size, before, after, align in (
        ("Heading 1", Pt(16), Pt(0), Pt(2), WD_ALIGN_PARAGRAPH.CENTER),
        ("Heading 2", Pt(11), Pt(9), Pt(3), None),
    ):
        style = styles[name]
        set_run_fonts(style.element, FONT)
        style.font.size = size
        style.font.bold = True
        style.font.italic = False
        style.font.color.rgb = RGBColor(0, 0, 0)
        pf = style.paragraph_format
        pf.space_before, pf.space_after = before, after
        pf.keep_with_next = True
        pf.line_spacing = 1.0
        if align is not None:
            pf.alignment = align

    subtitle = styles.add_style("Document subtitle", WD_STYLE_TYPE.PARAGRAPH)
    subtitle.base_style = normal
    subtitle.font.size = Pt(10.5)
    subtitle.font.color.rgb = GREY
    subtitle.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    subtitle.paragraph_format.space_after = Pt(14)

    clause = styles.add_style("Clause", WD_STYLE_TYPE.PARAGRAPH)
    clause.base_style = normal
    clause.paragraph_format.left_indent = CLAUSE_INDENT
    clause.paragraph_format.first_line_indent = -CLAUSE_INDENT
    clause.paragraph_format.tab_stops.add_tab_stop(CLAUSE_INDENT)

    block = styles.add_style("Clause block", WD_STYLE_TYPE.PARAGRAPH)
    block.base_style = normal
    block.paragraph_format.left_indent = CLAUSE_INDENT + Cm(0.5)
    block.paragraph_format.right_indent = Cm(0.5)
    block.paragraph_format.space_after = Pt(6)
    block.font.italic = True

    bullet = styles["List Bullet"]
    bullet.paragraph_format.space_after = Pt(1)

    cell = styles.add_style("Signature cell", WD_STYLE_TYPE.PARAGRAPH)
    cell.base_style = normal
    cell.paragraph_format.space_after = Pt(0)
    cell.paragraph_format.line_spacing = 1.0
    cell.paragraph_format.keep_with_next = True

    for name in ("Header", "Footer"):
        style = styles[name]
        style.font.size = SMALL_SIZE
        style.font.color.rgb = GREY
        tabs = style.paragraph_format.tab_stops
        for stop in list(tabs):
            tabs._pPr.tabs.remove(stop._tab)  # python-docx has no public "clear"
        tabs.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)


def setup_page(doc: DocumentObject) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    section.left_margin = section.right_margin = MARGIN_SIDE
    section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
    section.header_distance = section.footer_distance = Cm(1.0)


def add_field(paragraph: Paragraph, instruction: str, placeholder: str) -> None:
    """A complex field (PAGE, NUMPAGES) that Word and LibreOffice update on layout."""

    def run_with(child) -> None:
        run = paragraph.add_run()
        run._r.append(child)

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    run_with(begin)
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run_with(instr)
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    run_with(separate)
    paragraph.add_run(placeholder)
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run_with(end)


def setup_header_footer(doc: DocumentObject, spec: TemplateSpec) -> None:
    section = doc.sections[0]
    header = section.header.paragraphs[0]
    header.style = doc.styles["Header"]
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    add_text(header, spec.header)

    footer = section.footer.paragraphs[0]
    footer.style = doc.styles["Footer"]
    add_text(footer, "{{ document.reference }}")
    footer.add_run("\t" + spec.language.page + " ")
    add_field(footer, "PAGE", "1")
    footer.add_run(" " + spec.language.of + " ")
    add_field(footer, "NUMPAGES", "1")


class Writer:
    def __init__(self, doc: DocumentObject, language: Language) -> None:
        self.doc = doc
        self.language = language
        self.article = 0
        self.clause = 0

    def write(self, blocks: Sequence[object]) -> None:
        for block in blocks:
            self.write_one(block)

    def paragraph(self, text: str, style: str) -> Paragraph:
        paragraph = self.doc.add_paragraph(style=style)
        add_text(paragraph, text)
        return paragraph

    def write_one(self, block: object) -> None:
        match block:
            case Title(text):
                self.paragraph(text.upper(), "Heading 1")
            case Subtitle(text):
                self.paragraph(text, "Document subtitle")
            case Text(text):
                self.paragraph(text, "Normal")
            case Article(title):
                self.article += 1
                self.clause = 0
                self.paragraph(f"{self.language.article} {self.article} – {title}", "Heading 2")
            case Clause(text):
                self.clause += 1
                paragraph = self.doc.add_paragraph(style="Clause")
                paragraph.add_run(f"{self.article}.{self.clause}\t")
                add_text(paragraph, text)
            case Block(text):
                self.paragraph(text, "Clause block")
            case Bullet(text):
                paragraph = self.paragraph(text, "List Bullet")
                paragraph.paragraph_format.left_indent = CLAUSE_INDENT + Cm(0.6)
                paragraph.paragraph_format.first_line_indent = Cm(-0.6)
            case If(condition, then, otherwise):
                start = self.clause
                self.paragraph(f"{{%p if {condition} %}}", "Normal")
                self.write(then)
                after_then = self.clause
                if otherwise:
                    self.clause = start
                    self.paragraph("{%p else %}", "Normal")
                    self.write(otherwise)
                self.clause = max(after_then, self.clause)
                self.paragraph("{%p endif %}", "Normal")
            case Signatures():
                self.signatures()
            case _:
                raise TypeError(f"unknown block {block!r}")

    def signatures(self) -> None:
        lang = self.language
        heading = self.paragraph(lang.signatures_heading, "Heading 2")
        heading.paragraph_format.keep_with_next = True
        sentence = self.paragraph(lang.signatures_sentence, "Normal")
        sentence.paragraph_format.keep_with_next = True
        sentence.paragraph_format.space_after = Pt(8)

        table = self.doc.add_table(rows=1, cols=3)
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False  # fixed layout: the columns keep their width
        for column in table.columns:
            column.width = SIGNATURE_COLUMN
        row = table.rows[0]
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))

        lines = (
            [
                "{{ student.full_name }}",
                lang.student_role,
                lang.student_number_label + " {{ student.number }}",
            ],
            ["{{ company.signatory_name }}", "{{ company.signatory_title }}", "{{ company.name }}"],
            ["{{ school.coordinator_name }}", lang.coordinator_role, "{{ school.name }}"],
        )
        for cell, heading_text, names, anchor in zip(
            row.cells, lang.party_headings, lines, lang.anchors, strict=True
        ):
            cell.width = SIGNATURE_COLUMN
            first = cell.paragraphs[0]
            first.style = self.doc.styles["Signature cell"]
            add_text(first, f"**{heading_text}**")
            first.paragraph_format.space_after = Pt(3)
            for line in names:
                add_text(cell.add_paragraph(style="Signature cell"), line)
            anchor_paragraph = cell.add_paragraph(style="Signature cell")
            anchor_paragraph.paragraph_format.space_before = Pt(8)
            anchor_paragraph.add_run(anchor)
            for _ in range(SIGNATURE_EMPTY_LINES):
                cell.add_paragraph(style="Signature cell")
            # The last paragraph of the cell need not keep with anything.
            cell.paragraphs[-1].paragraph_format.keep_with_next = False


def build(spec: TemplateSpec) -> DocumentObject:
    doc = Document()
    # python-docx's template starts with one empty paragraph: drop it.
    body = doc.element.body
    for paragraph in list(body.iterchildren(qn("w:p"))):
        body.remove(paragraph)
    setup_page(doc)
    setup_styles(doc, spec.language)
    setup_header_footer(doc, spec)
    Writer(doc, spec.language).write(spec.body)

    props = doc.core_properties
    props.title = spec.title
    props.subject = spec.title
    props.author = "Stagebureau"
    props.last_modified_by = ""
    props.comments = "docxtpl template; variables in templates/README.md"
    props.keywords = ""
    props.language = spec.language.code
    props.revision = 1
    props.created = props.modified = datetime.now(UTC).replace(microsecond=0)
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "templates"
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing templates")
    args = parser.parse_args(argv)

    todo = specs()
    existing = [spec.path for spec in todo if (args.out / spec.path).exists()]
    if existing and not args.force:
        print(
            "refusing to overwrite (the DOCX files are the source now; use --force): "
            + ", ".join(existing),
            file=sys.stderr,
        )
        return 1
    for spec in todo:
        target = args.out / spec.path
        target.parent.mkdir(parents=True, exist_ok=True)
        build(spec).save(str(target))
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
