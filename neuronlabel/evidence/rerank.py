"""Order a unit's label candidates (the captioner's beam and the evidence phrases) by agreement with its
evidence: MILAN's optional CLIP rerank, but offline and grounded in the evidence stage.

>>> from neuronlabel.evidence.unit_evidence import EvidenceItem, UnitEvidence
>>> ev = UnitEvidence("fc", 0, [EvidenceItem("n01976957", "object", "crabs", 0.8)], 0.8, best_object="n01976957")
>>> agreement("two crabs", ev), agreement("reptiles", ev), agreement("crabs and reptiles", ev)
(0.8, 0.0, 0.6)
>>> [text for text, *_ in rerank([("reptiles", -1.0), ("crabs", -2.5)], ev)]
['crabs', 'reptiles']

``agreement(text)``: the concepts the text names (whole-word match of the inventory's terms)
are credited with the evidence score of the same concept, of a concept below it (a more
general word: :data:`GENERAL` of it) or above it (a more specific word than the evidence
supports: :data:`SPECIFIC` of it); the text scores the mean of its best credit and its mean
credit, so every part of a composition must be supported ("clothes colored red" scores less
than "red" when the exemplars are red but not clothes), one whose every part is supported says
more than either part ("black scorpions" over "black": :data:`COMPOSED`), and each spatial or
part claim no scorer can check ("the edges of birds") costs :data:`QUALIFIER` of it (all of it
in a layer without a spatial map, where such a claim cannot be true). Object items credit their
rank (lifted mass x specificity), and the node most exemplars agree on (``best_object``) is
credited as much as its best-supported ancestor. The rerank score is
``agreement + CAPTION * share`` where ``share`` is the candidate's share of the beam's
probability (``exp(logprob)`` normalised over the beam; evidence phrases have none).
Uncertain units keep the captioner's order.
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

from ..concepts import Inventory
from .phrases import COMPOSE_MIN
from .unit_evidence import UnitEvidence

GENERAL = 0.8       # a label naming an ancestor of the evidence concept ("dogs" for retriever evidence)
SPECIFIC = 0.3      # a label naming a descendant ("golden retrievers" for dog evidence)
CAPTION = 0.1       # weight of the captioner's own preference (its share of the beam's probability)
LEADING = 0.25      # "tench and other fish": weight of the leading kind's agreement
COMPOSED = 0.1      # a composition whose every part scores phrases.COMPOSE_MIN gains this much of its weakest part
BROAD = 1 / 3       # a concept shown by this share of a unit's exemplars fully supports its label
QUALIFIER = 0.1     # agreement lost per claim no scorer can check ("the edges of", "the tops of", "left of")
QUALIFIERS = frozenset("""edges outlines boundaries borders around tops top upper halves portion parts areas
left right above below over under beneath higher lower side background""".split())
_OTHER = re.compile(r"^(.+?) and other (.+)$")


def credit(concept: str, ev: UnitEvidence, inventory: Optional[Inventory] = None, support: bool = False) -> float:
    """How much the evidence supports one named concept (see the module docstring).

    >>> from neuronlabel.evidence.unit_evidence import EvidenceItem, UnitEvidence
    >>> ev = UnitEvidence("fc", 0, [EvidenceItem("n02099601", "object", "golden retrievers", 0.5)], 0.5)
    >>> credit("n02084071", ev), credit("n02099601", ev)                     # dogs, golden retriever
    (0.4, 0.5)

    Object items credit their rank (to order candidates: a class beats its genus at equal mass);
    with ``support`` (for a confidence) every item credits its :func:`support_of` instead, and the
    agreed node (``best_object``) is not credited with its ancestors' scores.
    """
    inv = inventory or Inventory.load()
    best = 0.0
    for item in ev.items:
        value = support_of(item, ev.spatial) if support else item.rank if item.kind == "object" else item.score
        if item.concept == concept:
            best = max(best, value)
        elif item.kind == "object" and concept in inv and inv.concept(concept).kind == "object":
            if concept in _ancestors(inv, item.concept):
                best = max(best, GENERAL * value)
            elif item.concept in _ancestors(inv, concept):
                # the node most exemplars agree on is as supported as its ancestors ("bald eagles", not "birds")
                # (a ranking device: with ``support`` the agreed node keeps its own score)
                best = max(best, item.score if concept == ev.best_object and not support else SPECIFIC * value)
    return best


def support_of(item, spatial: bool = True) -> float:
    """How much an item supports a label that names it: its score, scaled down in a layer with a spatial
    map when fewer than :data:`BROAD` of the exemplars show the concept (``item.agree``): one strong
    exemplar of a toy shop among fourteen unrelated ones does not make a toy-shop unit. Whole-image
    units (logits) are not scaled: their exemplars are look-alikes of one class.

    >>> from neuronlabel.evidence.unit_evidence import EvidenceItem
    >>> toyshops = EvidenceItem("n04462240", "object", "toyshops", 0.3, 0.2, 1 / 15)   # one exemplar in 15
    >>> support_of(toyshops), support_of(toyshops, spatial=False)
    (0.06, 0.3)
    """
    agree = float(item.agree)
    if not spatial or not math.isfinite(agree):
        return float(item.score)
    return round(float(item.score) * min(1.0, agree / BROAD), 6)


_ANCESTORS: dict = {}


def _ancestors(inv: Inventory, concept: str) -> frozenset:
    key = (id(inv), concept)
    if key not in _ANCESTORS:
        _ANCESTORS[key] = frozenset(inv.ancestors(concept)) if concept in inv else frozenset()
    return _ANCESTORS[key]


def agreement(text: str, ev: UnitEvidence, inventory: Optional[Inventory] = None, support: bool = False) -> float:
    """Agreement in [0, 1] of a label with a unit's evidence (0 when it names no known concept;
    ``support``: see :func:`credit`).

    "A and other B" says B of every exemplar and A of the strongest: it scores the better
    agreement of the two plus :data:`LEADING` times the other's.
    """
    inv = inventory or Inventory.load()
    leading = _OTHER.match(text)
    if leading:
        kind, rest = agreement(leading.group(1), ev, inv, support), agreement(leading.group(2), ev, inv, support)
        if kind > 0 and rest > 0:
            return round(min(1.0, max(kind, rest) + LEADING * min(kind, rest)), 4)
        return round(0.5 * max(kind, rest), 4)
    groups = inv.find_groups(text)
    if not groups:
        return 0.0
    credits = [max(credit(c, ev, inv, support) for c in ids) for _, ids in groups]
    named = {w for phrase, _ in groups for w in phrase.split()}
    claims = sum(w in QUALIFIERS and w not in named for w in re.findall(r"[a-z]+", text.lower()))
    keep = (1 - QUALIFIER) ** min(claims, 2) if ev.spatial else float(claims == 0)
    both = COMPOSED * min(credits) if len(credits) > 1 and min(credits) >= COMPOSE_MIN else 0.0
    return round(min(1.0, 0.5 * max(credits) + 0.5 * sum(credits) / len(credits) + both) * keep, 4)


def rerank(candidates: Sequence, ev: Optional[UnitEvidence], phrases: Sequence = (),
           inventory: Optional[Inventory] = None) -> list:
    """``[(text, logprob, agreement, score), ...]`` best first, from beam ``candidates`` ``[(text, logprob)]``
    and evidence ``phrases`` ``[(text, evidence score)]`` (their logprob is NaN). Without evidence,
    or for an uncertain unit, the beam keeps its order and the phrases follow it."""
    inv = inventory or Inventory.load()
    beam = [(str(t), float(lp)) for t, lp in candidates]
    finite = [lp for _, lp in beam if math.isfinite(lp)]
    top = max(finite, default=0.0)
    total = sum(math.exp(lp - top) for lp in finite) or 1.0
    rows, seen = [], set()
    for text, lp in beam:
        if text in seen:
            continue
        seen.add(text)
        share = math.exp(lp - top) / total if math.isfinite(lp) else 0.0
        agree = agreement(text, ev, inv) if ev is not None else 0.0
        rows.append((text, lp, agree, agree + CAPTION * share))
    for text, _ in phrases:
        if text in seen:
            continue
        seen.add(text)
        agree = agreement(text, ev, inv) if ev is not None else 0.0
        rows.append((text, math.nan, agree, agree))
    if ev is None or ev.uncertain:
        return rows
    return sorted(rows, key=lambda r: -r[3])
