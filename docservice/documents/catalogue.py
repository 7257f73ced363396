"""What each document kind is: its template file, title and where each party signs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docservice.domain import LANGUAGES, DocumentKind

#: The text that marks each party's place in the signature block of a template,
#: per language; the signature field goes right under it (see templates/README.md).
SIGNATURE_ANCHORS: dict[str, dict[str, str]] = {
    "nl": {
        "student": "Handtekening student",
        "company": "Handtekening stagebedrijf",
        "school": "Handtekening hogeschool",
    },
    "en": {
        "student": "Signature student",
        "company": "Signature company",
        "school": "Signature school",
    },
}

TITLES: dict[DocumentKind, dict[str, str]] = {
    DocumentKind.STAGEOVEREENKOMST: {"nl": "Stageovereenkomst", "en": "Internship agreement"},
    DocumentKind.GEHEIMHOUDINGSVERKLARING: {
        "nl": "Geheimhoudingsverklaring",
        "en": "Non-disclosure agreement",
    },
    DocumentKind.AFSTAND_AUTEURSRECHT: {
        "nl": "Afstand van auteursrecht",
        "en": "Copyright waiver",
    },
}


@dataclass(frozen=True)
class TemplateRef:
    """One template file of the catalogue."""

    kind: DocumentKind
    language: str
    path: Path

    @property
    def name(self) -> str:
        return f"{self.language}/{self.path.name}"

    @property
    def title(self) -> str:
        return TITLES[self.kind][self.language]

    @property
    def anchors(self) -> dict[str, str]:
        return SIGNATURE_ANCHORS[self.language]


def template_for(root: Path, kind: DocumentKind, language: str) -> TemplateRef:
    """The template of `kind` in `language` under the templates folder `root`."""
    if language not in LANGUAGES:
        raise ValueError(f"no templates in language {language!r}")
    return TemplateRef(kind, language, root / language / f"{kind.value}.docx")


def all_templates(root: Path) -> list[TemplateRef]:
    """Every template of the catalogue under `root`, language by language."""
    return [template_for(root, kind, language) for language in LANGUAGES for kind in DocumentKind]
