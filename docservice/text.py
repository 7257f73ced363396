"""How names are compared and searched: without case, accents or punctuation.

"Zoë" is found by "zoe", "Łukasiewicz" by "lukasiewicz", "D'Hondt" by "d'hondt" or "dhondt"
(archive search words), and a signer who types "Zoe Peeters" for "Zoë Peeters" is accepted.
"""

from __future__ import annotations

import unicodedata

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
