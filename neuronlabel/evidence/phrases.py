"""Everyday candidate labels from a unit's evidence: "crabs", "striped clothes", "faces", "red".

>>> from neuronlabel.evidence.unit_evidence import EvidenceItem, UnitEvidence
>>> ev = UnitEvidence("fc", 0, [EvidenceItem("n01978287", "object", "Dungeness crabs", 0.8),
...                             EvidenceItem("colour:red", "colour", "red", 0.4)], 0.8, best_object="n01978287")
>>> [p for p, _ in candidate_phrases(ev)]
['Dungeness crabs', 'red Dungeness crabs', 'red']

Phrases are plural noun phrases in the inventory's everyday names: the object most exemplars
agree on (the most specific WordNet node holding 45 % of the class mass, or its nearest
ancestor with an everyday name), the best texture and colour, faces and people, and a
colour or texture adjective before the object when both are supported. Each comes with
the evidence score it rests on (for a composition: the weaker part's).
"""

from __future__ import annotations

import re
from typing import Optional

from ..concepts import Inventory
from ..concepts.vocabulary import TEXTURES
from .unit_evidence import EvidenceItem, UnitEvidence

PHRASE_MIN = 0.1        # an item scoring less gives no phrase
COMPOSE_MIN = 0.2       # both parts of "red cars" must score this much
LEADING = 0.25          # "tench and other fish": the class holds this share of the class mass
WIDER = 0.1             # "Scottish deerhounds and other hounds": the kind scores this much more than the class
WIDEST = 200            # ... and has at most this many ImageNet classes beneath it


def object_name(ev: UnitEvidence, inventory: Optional[Inventory] = None) -> Optional[tuple]:
    """``(concept, plural name, score)`` of the object to name: the evidence's most specific agreed node,
    or its nearest ancestor with an everyday name that is not too broad; else the best object item.

    >>> from neuronlabel.evidence.unit_evidence import EvidenceItem, UnitEvidence
    >>> object_name(UnitEvidence("fc", 0, [EvidenceItem("n02084071", "object", "dogs", 0.9)], 0.9,
    ...                          best_object="n02084071"))[1]
    'dogs'
    """
    inv = inventory or Inventory.load()
    objects = [i for i in ev.items if i.kind == "object"]
    listed = {i.concept: i for i in objects}
    node = ev.best_object
    if node is not None and node in inv:
        for cand in [node] + inv.ancestors(node):
            c = inv.concept(cand)
            if len(inv.classes_under(cand)) > 500 or inv.is_generic(cand):
                break
            if c.everyday:
                score = listed[cand].score if cand in listed else max((i.score for i in objects), default=0.0)
                return cand, c.plural, score
    for best in sorted(objects, key=lambda i: -i.rank):
        if inv.is_generic(best.concept) or best.concept not in inv:
            continue
        for cand in [best.concept] + inv.ancestors(best.concept):
            c = inv.concept(cand)
            if len(inv.classes_under(cand)) > 500 or inv.is_generic(cand):
                break
            if c.everyday:
                return cand, c.plural, best.score
    return None


def _leading_class(ev: UnitEvidence, node: str, inv: Inventory) -> Optional[EvidenceItem]:
    """The ImageNet class below ``node`` that holds :data:`LEADING` of the unit's class mass (the class of
    its strongest exemplars, when the others are only of the same kind), or None."""
    for item in ev.items:
        if (item.kind == "object" and item.concept != node and item.concept in inv
                and len(inv.classes_under(item.concept)) == 1 and item.share >= LEADING
                and node in inv.ancestors(item.concept)
                and not re.search(rf"\b{re.escape(item.name.lower())}\b", inv.concept(node).plural.lower())):
            return item
    return None


def _wider_kind(ev: UnitEvidence, node: str, score: float, inv: Inventory) -> Optional[EvidenceItem]:
    """For an agreed ImageNet class, the nearest listed everyday ancestor holding :data:`WIDER` more of the
    lifted mass ("Scottish deerhounds" and other "hounds": the unit fires on the kind, most on the class)."""
    if len(inv.classes_under(node)) != 1:
        return None
    above = set(inv.ancestors(node))
    wider = [i for i in ev.items if i.kind == "object" and i.concept in above and i.score >= score + WIDER
             and not inv.is_generic(i.concept) and inv.concept(i.concept).everyday
             and len(inv.classes_under(i.concept)) <= WIDEST]
    return min(wider, key=lambda i: len(inv.classes_under(i.concept)), default=None)


def candidate_phrases(ev: UnitEvidence, inventory: Optional[Inventory] = None) -> list:
    """``[(phrase, score), ...]`` best first, no phrase twice (see the module docstring)."""
    inv = inventory or Inventory.load()
    out: list = []

    def add(phrase: str, score: float) -> None:
        if phrase and score >= PHRASE_MIN and phrase not in {p for p, _ in out}:
            out.append((phrase, float(score)))

    obj = object_name(ev, inv)
    texture = ev.top("texture")
    colour = ev.top("colour")
    face = next((i for i in ev.items if i.concept == "body:face"), None)
    people = next((i for i in ev.items if i.concept == "body:person"), None)
    if obj is not None:
        add(obj[1], obj[2])
        kind = _leading_class(ev, obj[0], inv)
        if kind is not None:
            add(f"{kind.name} and other {obj[1]}", obj[2])
        wider = _wider_kind(ev, obj[0], obj[2], inv)
        if wider is not None:
            add(f"{obj[1]} and other {wider.name}", wider.score)
    if face is not None:
        add("faces", face.score)
        if people is not None and people.score >= COMPOSE_MIN:
            add("faces of people", min(face.score, people.score))
    if texture is not None:
        adjective, phrase = TEXTURES[texture.concept.split(":", 1)[1]][2], texture.name
        if obj is not None and min(obj[2], texture.score) >= COMPOSE_MIN and not redundant(adjective, obj[1]):
            add(f"{adjective} {obj[1]}", min(obj[2], texture.score))
        add(phrase, texture.score)
    if colour is not None:
        if obj is not None and min(obj[2], colour.score) >= COMPOSE_MIN and not redundant(colour.name, obj[1]):
            add(f"{colour.name} {obj[1]}", min(obj[2], colour.score))
        if texture is not None and min(texture.score, colour.score) >= COMPOSE_MIN:
            add(f"{colour.name} {texture.name}", min(texture.score, colour.score))
        add(colour.name, colour.score)
    if people is not None:
        add("people", people.score)
    for item in ev.items:
        if item.kind == "object" and not inv.is_generic(item.concept) and inv.concept(item.concept).everyday:
            add(item.name, item.score)
    return sorted(out, key=lambda ps: -ps[1])


def redundant(adjective: str, noun: str) -> bool:
    """Whether an adjective only repeats its noun ("orange oranges", "leopard-print leopards",
    "black black widows"): a word of the adjective begins a word of the noun.

    >>> redundant("orange", "oranges"), redundant("leopard-print", "leopards"), redundant("red", "cars")
    (True, True, False)
    """
    nouns = re.findall(r"[a-z]+", noun.lower())
    return any(n.startswith(a) for a in re.findall(r"[a-z]{3,}", adjective.lower()) for n in nouns)


def everyday(item: EvidenceItem, inventory: Optional[Inventory] = None) -> bool:
    """Whether an item's name is one people use (objects: the inventory's everyday flag).

    >>> everyday(EvidenceItem("colour:red", "colour", "red", 0.5))
    True
    """
    inv = inventory or Inventory.load()
    return item.kind != "object" or (item.concept in inv and inv.concept(item.concept).everyday)


def vocabulary(inventory: Optional[Inventory] = None) -> list:
    """Every word :func:`candidate_phrases` can use (lower case): everyday object names of the ImageNet
    tree, texture nouns and adjectives, colours, "faces", "people", "of".

    >>> words = vocabulary(); "stripes" in words and "crabs" in words and "habiliments" not in words
    True
    """
    import re

    from ..datasets.compound_concepts import COLOURS

    inv = inventory or Inventory.load()
    key = id(inv)
    if key not in _VOCABULARY:
        nodes, _ = inv.imagenet_tree()
        phrases = [inv.name(w, plural=True) for w in nodes if inv.concept(w).everyday]
        phrases += [t for noun, phrase, adjective, _ in TEXTURES.values() for t in (noun, phrase, adjective)]
        phrases += list(COLOURS) + ["faces of people", "people"]
        _VOCABULARY[key] = sorted({w for p in phrases for w in re.findall(r"[a-z]+(?:'[a-z]+)?", p.lower())})
    return list(_VOCABULARY[key])


_VOCABULARY: dict = {}
