"""Whole-word, case-insensitive matching of terms in labels.

>>> from neuronlabel.ci.matching import TermMatcher
>>> m = TermMatcher(["face", "faces", "license plate"])
>>> [hit.term for hit in m.find("Dog faces near a License-Plate")]
['faces', 'license plate']
>>> m.find("the surface of a typeface")
[]

Words of a multi-word term may be separated by spaces, hyphens or underscores; a term never
matches inside a longer word ("surface" does not contain "face").
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Hit:
    """One occurrence of a term in a text: the term and the ``[start, end)`` span.

    >>> Hit("face", 4, 8).term
    'face'
    """

    term: str
    start: int
    end: int


class TermMatcher:
    """Find any of ``terms`` as whole words in a text.

    >>> TermMatcher(["eye"]).first("an Eye-catching sign")
    Hit(term='eye', start=3, end=6)
    """

    def __init__(self, terms):
        self.terms = sorted({_normalize(t.strip()) for t in terms if t and _normalize(t.strip())},
                            key=lambda t: (-len(t), t))
        if self.terms:
            alternatives = "|".join(r"[\s_-]+".join(re.escape(w) for w in t.split(" ")) for t in self.terms)
            self._regex = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        else:
            self._regex = None

    def find(self, text: str) -> list:
        """Every non-overlapping occurrence, longest term first at each position.

        >>> [h.term for h in TermMatcher(["hand", "hands"]).find("hands and a hand")]
        ['hands', 'hand']
        """
        if self._regex is None:
            return []
        return [Hit(_normalize(m.group(0)), m.start(), m.end()) for m in self._regex.finditer(text)]

    def first(self, text: str) -> "Hit | None":
        """The first occurrence, or None.

        >>> TermMatcher(["text"]).first("textures") is None
        True
        """
        hits = self.find(text)
        return hits[0] if hits else None


def _normalize(matched: str) -> str:
    return " ".join(w for w in re.split(r"[\s_-]+", matched.lower()) if w)
