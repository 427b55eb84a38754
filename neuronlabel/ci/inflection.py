"""Singular and plural forms of English nouns, enough to match concept keywords in labels.

>>> from neuronlabel.ci.inflection import forms
>>> sorted(forms("face")), sorted(forms("person")), sorted(forms("license plate"))
(['face', 'faces'], ['people', 'person', 'persons'], ['license plate', 'license plates'])
"""

from __future__ import annotations

import re

_IRREGULAR = {
    "person": ("people", "persons"), "man": ("men",), "woman": ("women",), "child": ("children",),
    "foot": ("feet",), "tooth": ("teeth",), "mouse": ("mice",), "goose": ("geese",),
    "louse": ("lice",), "ox": ("oxen",), "knife": ("knives",), "leaf": ("leaves",),
    "wolf": ("wolves",), "calf": ("calves",), "half": ("halves",), "life": ("lives",),
    "wife": ("wives",), "loaf": ("loaves",), "shelf": ("shelves",), "thief": ("thieves",),
    "die": ("dice",), "cactus": ("cacti", "cactuses"), "fungus": ("fungi",),
}
_UNCOUNTABLE = frozenset("""skin hair text writing clothing fur grass water sky snow sand blood
nudity fish sheep deer glass facial handwriting lettering written typography naked nude bloody
gore flesh complexion undressed topless""".split())
_PLURAL_TO_SINGULAR = {p: s for s, ps in _IRREGULAR.items() for p in ps}


def plural(word: str) -> str:
    """The regular or irregular plural of one noun.

    >>> [plural(w) for w in ("eye", "box", "city", "day", "wolf", "child")]
    ['eyes', 'boxes', 'cities', 'days', 'wolves', 'children']
    """
    low = word.lower()
    if low in _IRREGULAR:
        return _IRREGULAR[low][0]
    if re.search(r"(s|x|z|ch|sh)$", low):
        return word + "es"
    if re.search(r"[^aeiou]y$", low):
        return word[:-1] + "ies"
    return word + "s"


def singular(word: str) -> str:
    """The singular of a plural noun (the word itself when it does not look plural).

    >>> [singular(w) for w in ("eyes", "boxes", "cities", "people", "glass", "letters")]
    ['eye', 'box', 'city', 'person', 'glass', 'letter']
    """
    low = word.lower()
    if low in _PLURAL_TO_SINGULAR:
        return _PLURAL_TO_SINGULAR[low]
    if not looks_plural(low):
        return word
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if re.search(r"(sses|xes|zes|ches|shes)$", low):
        return word[:-2]
    return word[:-1]


def looks_plural(word: str) -> bool:
    """True for words that read as regular or irregular plurals.

    >>> looks_plural("faces"), looks_plural("glass"), looks_plural("bus"), looks_plural("men")
    (True, False, False, True)
    """
    low = word.lower()
    if low in _PLURAL_TO_SINGULAR:
        return True
    return len(low) > 3 and low.endswith("s") and not re.search(r"(ss|us|is)$", low)


def forms(term: str) -> set:
    """The term with its last word in singular and plural; uncountable words stay as they are.

    >>> sorted(forms("eyes")), sorted(forms("skin"))
    (['eye', 'eyes'], ['skin'])
    """
    term = " ".join(term.lower().split())
    if not term:
        return set()
    head, _, last = term.rpartition(" ")
    prefix = head + " " if head else ""
    if last in _UNCOUNTABLE or not re.fullmatch(r"[a-z][a-z'-]*", last):
        return {term}
    out = {term}
    if looks_plural(last):
        base = singular(last)
        out.add(prefix + base)
    else:
        base = last
    out.add(prefix + plural(base))
    out.update(prefix + p for p in _IRREGULAR.get(base, ()))
    return out
