"""Everyday words for the bundled captioner's rare ones: "habiliments" is "clothes" to a person.

>>> everyday("grey habiliments and self-propelled vehicles")
'grey clothes and vehicles'
>>> everyday("reptilians as well as serpents")
'reptiles as well as snakes'

The bundled captioner learnt WordNet lemmas from its compound training set; the known-answer
benchmark found these among the words no person used in MILANNOTATIONS or the COCO captions.
Each maps to the concept inventory's everyday name for the same concept
(:meth:`neuronlabel.concepts.Inventory.name`), so the meaning is kept.
"""

from __future__ import annotations

import functools
import re

from ..concepts.vocabulary import COLOURS

EVERYDAY = {
    "self-propelled vehicles": "vehicles", "self propelled vehicles": "vehicles", "automotive vehicles": "cars",
    "habiliments": "clothes", "reptilians": "reptiles", "canids": "dogs", "ophidians": "snakes",
    "serpents": "snakes", "automobiles": "cars", "lorries": "trucks", "watercrafts": "boats",
    "waders": "wading birds", "produces": "fruits and vegetables", "furnitures": "furniture", "foods": "food",
    "grocerieses": "groceries", "goodses": "goods", "persons": "people", "primates": "monkeys",
}
_RX = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(EVERYDAY, key=len, reverse=True)) + r")(?![\w-])")


def everyday(text: str) -> str:
    """``text`` with the rare words of :data:`EVERYDAY` replaced by their everyday names."""
    return _RX.sub(lambda m: EVERYDAY[m.group(1)], text)


COLOUR_WORDS = (*COLOURS, "grey")
_C = "|".join(COLOUR_WORDS)
_STOP = frozenset("of and or the both as well with to on in above below over under beneath left right".split()
                  + list(COLOUR_WORDS))
PLAIN = [
    (re.compile(r"\bas well as\b"), "and"),
    (re.compile(r"\b(?:the upper portion of|the upper parts of|upper parts of|top halves of)\b"), "the tops of"),
    (re.compile(r"\b(?:the boundaries of|borders around|outlines of)\b"), "the edges of"),
    (re.compile(r"\b(?:located above|higher up than)\b"), "above"),
    (re.compile(r"\blower down than\b"), "below"),
    (re.compile(r"\b(?:on the left side of|on the left of)\b"), "to the left of"),
    (re.compile(rf"\bthe ({_C}) areas of\b"), r"\1 parts of"),
    (re.compile(rf"\b(?:patches of|the color) ({_C})\b"), r"\1"),
    (re.compile(rf"\b({_C}) (?:colored areas|regions)\b"), r"\1"),
    (re.compile(r"^areas of\b\s*"), ""),
]


def plain(text: str) -> str:
    """The captioner's template phrasing said the way people describe units: one word for what
    the training templates say five ways, "both" only where a person would say it, a colour before
    its noun.

    >>> plain("both the upper portion of wading birds and the boundaries of dogs")
    'the tops of wading birds and the edges of dogs'
    >>> plain("hunting dogs that are brown as well as the red areas of furniture")
    'brown hunting dogs and red parts of furniture'
    >>> plain("patches of blue"), plain("cars colored red left of trees"), plain("dog faces")
    ('blue', 'red cars left of trees', 'dog faces')
    """
    out = " ".join(text.split())
    for rx, to in PLAIN:
        out = rx.sub(to, out)
    words = out.split()
    i = 0
    while i < len(words):
        if words[i] in ("that", "colored") and i + 1 < len(words):
            j = i + 2 if words[i] == "that" and words[i + 1] == "are" else i + 1
            if j < len(words) and words[j] in COLOUR_WORDS and (words[i] == "colored" or j == i + 2):
                start = i
                while start > 0 and i - start < 2 and words[start - 1] not in _STOP:
                    start -= 1
                if start < i:
                    words = words[:start] + [words[j]] + words[start:i] + words[j + 1:]
                    i = start
                    continue
        i += 1
    if words and words[0] == "both":
        words = words[1:]
    return " ".join(words)


def cased(text: str) -> str:
    """``text`` with the capitals of the inventory's proper names put back (the captioner's vocabulary is
    lower case): only names whose lower-case form no other concept has.

    >>> cased("american chameleons and german shepherds"), cased("red cardigans")
    ('American chameleons and German shepherds', 'red cardigans')
    """
    names, rx = _proper()
    return rx.sub(lambda m: names[m.group(1)], text) if rx is not None else text


@functools.lru_cache(maxsize=1)
def _proper():
    from ..concepts import Inventory

    inv = Inventory.load()
    forms: dict = {}
    for cid in inv.ids():
        for plural in (False, True):
            name = inv.name(cid, plural=plural)
            forms.setdefault(name.lower(), set()).add(name)
    names = {low: next(iter(f)) for low, f in forms.items() if len(f) == 1 and next(iter(f)) != low}
    rx = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))
                    + r")(?![\w-])") if names else None
    return names, rx
