"""How names and free text are checked, compared and searched.

What people type (a name, an address, a reason) is checked by one validator for every form
and the CSV import (`forbidden_character`, `checked_text`). Names are compared without case,
accents or punctuation: "Zoë" is found by "zoe", "Łukasiewicz" by "lukasiewicz", "D'Hondt" by
"d'hondt" or "dhondt" (archive search words), and a signer who types "Zoe Peeters" for "Zoë
Peeters" is accepted.
"""

from __future__ import annotations

import unicodedata

from docservice.errors import N_, InvalidInput, Reason

#: Unicode's Bidi_Control characters: they reorder what a reader sees, so that a name, a
#: reason or a file name would show something else than what is stored (U+202E shows
#: "Jan\u202eSNEJ" as "JanJENS").
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")


def forbidden_character(text: str, *, multiline: bool = False) -> Reason | None:
    """Why `text` cannot be stored as a name or free text, or None.

    Refused: C0 and C1 control characters (a tab and line feeds only in `multiline` text),
    every other line separator (names and addresses go into e-mail headers and documents:
    U+000B, U+0085, U+2028, ... could split a header or a line), and the bidirectional
    controls (`BIDI_CONTROLS`).
    """
    for char in text:
        if char == "\n" and multiline:
            continue
        if char in "\r\n" or unicodedata.category(char) in ("Zl", "Zp") \
                or char in "\x0b\x0c\x1c\x1d\x1e\x85":
            return Reason(N_("bevat een regeleinde (%(char)s): houd het op één regel"),
                          char=f"U+{ord(char):04X}")
        if unicodedata.category(char) == "Cc" and not (char == "\t" and multiline):
            return Reason(N_("bevat een stuurteken (%(char)s)"), char=f"U+{ord(char):04X}")
        if char in BIDI_CONTROLS:
            return Reason(N_("bevat een teken dat de schrijfrichting stuurt (%(char)s), "
                             "waardoor de tekst in een andere volgorde getoond wordt dan hij "
                             "bewaard is"), char=f"U+{ord(char):04X}")
    return None


def checked_text(field: str, text: str, *, multiline: bool = False) -> str:
    """`text`, or InvalidInput naming `field` and the character it cannot hold.

    Multiline text comes from a form's text area, whose line ends browsers send as CR LF:
    those become line feeds first.
    """
    if multiline:
        text = text.replace("\r\n", "\n")
    problem = forbidden_character(text, multiline=multiline)
    if problem:
        raise InvalidInput(field, problem)
    return text


#: Letters that Unicode does not decompose into a base letter and an accent.
_FOLD = str.maketrans({"ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ø": "o", "Ø": "o", "æ": "ae",
                       "Æ": "ae", "œ": "oe", "Œ": "oe", "ı": "i", "ħ": "h", "þ": "th",
                       "ð": "d", "’": "'"})


def fold(text: str) -> str:
    """`text` in lower case without accents, whitespace collapsed: for comparing names."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text.translate(_FOLD))
                       if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def words(text: str) -> list[str]:
    """The folded words of `text`, punctuation dropped: how names and numbers are indexed."""
    return [w[:100] for w in "".join(c if c.isalnum() else " " for c in fold(text)).split()]
