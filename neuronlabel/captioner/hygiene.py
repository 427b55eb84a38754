"""Decoding hygiene: descriptions a person would not write are moved behind the clean ones.

>>> problem("fish or fish"), problem("both and birds colored brown"), problem("orange parts of")
('repeated conjunct', 'dangling word', 'dangling word')
>>> problem("above the trees"), problem("dog faces") is None
('only a preposition phrase', True)
>>> [t for t, _ in tidy([("cats and cats", -1.0), ("cats", -2.0)])]
['cats', 'cats and cats']
"""

from __future__ import annotations

import functools
import re
from typing import Optional, Sequence

ENDS_BADLY = frozenset({"and", "or", "of", "the", "a", "an", "with", "on", "in", "to", "at", "by", "for", "from",
                        "both", "as", "near", "above", "below", "under", "over", "next", "around", "beneath",
                        "well", "either", "than", "that", "are", "upper", "lower", "colored", "left", "side"})
STARTS_BADLY = frozenset({"and", "or", "of", "as", "well", "than", "that", "are"})
PREPOSITIONS = frozenset({"on", "in", "at", "above", "below", "under", "over", "near", "next", "beside", "beneath",
                          "behind", "between", "around", "inside", "across", "along", "left", "to"})
JOINERS = ("and", "or", "as well as", "with", "next to", "near", "above", "below", "over", "under")
_SPLIT = {j: re.compile(rf"\b{j}\b") for j in JOINERS}


@functools.lru_cache(maxsize=65536)
def problem(text: str) -> Optional[str]:
    """Why ``text`` is not a description a person would write, or None.

    >>> problem("red and white stripes") is None, problem("sky above sky"), problem("dogs dogs"), problem("both hounds")
    (True, 'repeated conjunct', 'repeated word', 'lone both')
    """
    w = text.lower().split()
    if not w:
        return "empty"
    if w[-1] in ENDS_BADLY or w[0] in STARTS_BADLY or re.search(
            r"\b(both|either|and|or|of|the|with|as) (and|or|as|of|with)\b", " ".join(w)):
        return "dangling word"
    joined = " ".join(w)
    for j, rx in _SPLIT.items():
        parts = [re.sub(r"^(both|either|the) ", "", p.strip()) for p in rx.split(joined) if p.strip()]
        if len(parts) >= 2 and len(set(parts)) < len(parts):
            return "repeated conjunct"
    if w[0] in PREPOSITIONS:
        return "only a preposition phrase"
    if w[0] in ("both", "either") and not {"and", "or"} & set(w[1:]):
        return "lone both"
    if any(a == b for a, b in zip(w, w[1:])):
        return "repeated word"
    return None


def repair(text: str) -> str:
    """``text`` with what makes it degenerate taken out: a conjunct said twice, an empty "both and",
    dangling words at either end, a repeated word or pair of words. Only words are removed.

    >>> repair("both and fish"), repair("grey as well as well as dogs"), repair("fish or fish")
    ('fish', 'grey as well as dogs', 'fish')
    >>> repair("both the brown areas of cups and the brown areas of cups"), repair("orange parts of")
    ('the brown areas of cups', 'orange parts')
    """
    joined = " ".join(text.lower().split())
    joined = re.sub(r"\b(\w+(?: \w+)?) \1\b", r"\1", joined)
    joined = re.sub(r"\b(both|either) (and|or|as well as)\b", "", joined)
    for j in ("as well as", "and", "or"):
        parts = [p.strip() for p in re.split(rf"\b{j}\b", joined) if p.strip()]
        stripped = [re.sub(r"^(both|either) ", "", p) for p in parts]
        if len(parts) >= 2 and len(set(stripped)) < len(stripped):
            joined = f" {j} ".join(dict.fromkeys(stripped))
    words = joined.split()
    while words and words[-1] in ENDS_BADLY:
        words.pop()
    while words and (words[0] in STARTS_BADLY or (words[0] in ("both", "either")
                                                  and not {"and", "or"} & set(words[1:]))):
        words.pop(0)
    return " ".join(words)


def tidy(candidates: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """``candidates`` (best first) with the clean ones first, order kept within each group."""
    bad = [problem(text) is not None for text, _ in candidates]
    return [c for c, b in zip(candidates, bad) if not b] + [c for c, b in zip(candidates, bad) if b]
