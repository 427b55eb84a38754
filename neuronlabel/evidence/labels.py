"""From captions and evidence to a unit's label: the hooks :func:`neuronlabel.label_model` calls.

>>> from neuronlabel.evidence.unit_evidence import EvidenceItem, UnitEvidence
>>> ev = UnitEvidence("fc", 0, [EvidenceItem("n01976957", "object", "crabs", 0.8)], 0.8, best_object="n01976957")
>>> [t for t, _ in label_candidates([("reptiles and reptiles", -0.5), ("reptiles", -1.0)], ev)][:2]
['crabs', 'reptiles']

:func:`label_candidates` puts the captioner's beam in plain words
(:func:`~neuronlabel.captioner.everyday.plain`: "both the upper portion of dogs" -> "the tops of dogs"),
merges it with the evidence phrases
(:func:`~neuronlabel.evidence.phrases.candidate_phrases`), drops degenerate texts
(:func:`degenerate`: "X and X", a dangling last word, only a preposition phrase) and, with
``rerank`` (default), orders the rest by :func:`~neuronlabel.evidence.rerank.rerank`. An
uncertain unit is not described at length: its label is the evidence's best phrase, else the
captioner's shortest clean text. The candidates keep the captioner's log-probability (NaN for
evidence phrases).
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

from ..captioner.everyday import cased, plain
from ..captioner.hygiene import problem, repair
from .phrases import candidate_phrases
from .rerank import agreement, rerank
from .unit_evidence import UNCERTAIN, UnitEvidence

DANGLING = frozenset("""and or of the a an with on in to at by for from both as near above below next colored
coloured upper lower left right well either its their""".split())
PREPOSITIONS = frozenset("on in at above below under over near next beside behind between around inside across "
                         "along of with".split())
_CONJUNCTS = re.compile(r"\s*(?:,|\band\b|\bor\b|\bas well as\b|\bwith\b|\bnext to\b)\s*")


def degenerate(text: str) -> bool:
    """True for labels nobody would write: a repeated conjunct or content word, a dangling last word,
    only a preposition phrase.

    >>> [degenerate(t) for t in ("fish or fish", "both animals and animals", "orange parts of", "on the left",
    ...                          "red colored red", "red and white stripes", "the tops of dogs")]
    [True, True, True, True, True, False, False]
    """
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())
    if not words or words[-1] in DANGLING or words[0] in PREPOSITIONS:
        return True
    content = [w for w in words if w not in DANGLING and w not in PREPOSITIONS and w not in ("parts", "areas")]
    if len(content) != len(set(content)):
        return True
    parts = [" ".join(p.split()) for p in _CONJUNCTS.split(text.lower()) if p.strip()]
    parts = [re.sub(r"^(?:both|the|a|an)\s+", "", p) for p in parts]
    return len(parts) != len(set(parts))


def _bad(text: str) -> bool:
    return degenerate(text) or problem(text) is not None


def label_candidates(candidates: Sequence, ev: Optional[UnitEvidence], *, rerank_candidates: bool = True,
                     phrases: bool = True) -> list:
    """``[(text, logprob), ...]`` best first (the label is the first): beam ``candidates`` (in plain
    words, :func:`~neuronlabel.captioner.everyday.plain`, with the capitals of proper names put back,
    :func:`~neuronlabel.captioner.everyday.cased`) plus evidence phrases, degenerate texts left out
    (when nothing else remains, their repaired forms, :func:`~neuronlabel.captioner.hygiene.repair`,
    lead), ordered by agreement with the evidence when ``rerank_candidates``.

    >>> [t for t, _ in label_candidates([("both and fish", -1.0)], None)]
    ['fish', 'and fish']
    """
    beam: dict = {}
    for text, lp in candidates:
        beam.setdefault(cased(plain(text)), float(lp))
    beam = list(beam.items())
    extra = candidate_phrases(ev) if (ev is not None and phrases) else []
    clean = [(t, lp) for t, lp in beam if not _bad(t)]
    if ev is not None and ev.uncertain and rerank_candidates:        # see decided()
        # no conviction: the evidence's best guess in a few words, else the captioner's shortest clean text
        short = [(t, math.nan) for t, _ in extra] + sorted(clean, key=lambda c: len(c[0].split()))
        if short:
            return list(dict(short).items())
    if not clean and not extra:
        fixed: dict = {}
        for text, lp in beam:
            mended = repair(text)
            if mended and not _bad(mended):
                fixed.setdefault(mended, lp)
        return list(fixed.items()) + beam
    if not rerank_candidates or ev is None:
        return clean + [(t, math.nan) for t, _ in extra if t not in {c for c, _ in clean}]
    return [(text, lp) for text, lp, _, _ in rerank(clean, ev, extra)]


def decided(ev: Optional[UnitEvidence], *, rerank_candidates: bool = True) -> bool:
    """True when a unit's label is its evidence's best phrase whatever the captioner says: the unit is
    uncertain and has an evidence phrase (:func:`label_candidates` then puts that phrase first), so
    :func:`neuronlabel.label_model` need not run the beam for it.

    >>> from neuronlabel.evidence.unit_evidence import EvidenceItem, UnitEvidence
    >>> weak = UnitEvidence("fc", 0, [EvidenceItem("colour:red", "colour", "red", 0.1)], 0.1)
    >>> decided(weak), decided(UnitEvidence("fc", 1, [], 0.0)), decided(weak, rerank_candidates=False)
    (True, False, False)
    """
    return ev is not None and ev.uncertain and rerank_candidates and bool(candidate_phrases(ev))


def apply_evidence(described: dict, evidence: dict, *, rerank_candidates: bool = True) -> dict:
    """``described`` (``{(layer, unit): [(text, logprob), ...]}``) with each unit's candidates passed
    through :func:`label_candidates` with its evidence (``{(layer, unit): UnitEvidence}``).

    >>> apply_evidence({("fc", 0): [("dogs", -1.0)]}, {})
    {('fc', 0): [('dogs', -1.0)]}
    """
    keys = list(dict.fromkeys(list(described) + list(evidence)))
    return {key: label_candidates(described.get(key, []), evidence.get(key), rerank_candidates=rerank_candidates)
            for key in keys}


def label_confidence(label: str, ev: Optional[UnitEvidence]) -> float:
    """How much a unit's evidence supports the label it was given: the label's agreement with the evidence
    (:func:`~neuronlabel.evidence.rerank.agreement`) times what the unit's confidence keeps of its scores
    (``ev.scale``: 0 for a dead unit, less than 1 when its exemplars are the layer's hub images); for a unit
    the evidence stage flags uncertain, at most its evidence confidence. NaN without evidence.

    A label says one thing; the evidence's best item may say another ("warplanes" named by a unit whose
    best-supported item is "equipment"), so the label's own support, not the best item's, is its confidence:
    each item credits its :func:`~neuronlabel.evidence.rerank.support_of` (its score, less when few
    exemplars show it), not its rank, and the node most exemplars agree on its own score, not its
    ancestors' (the rerank's ways to prefer the specific name).

    >>> from neuronlabel.evidence.unit_evidence import EvidenceItem, UnitEvidence
    >>> ev = UnitEvidence("fc", 0, [EvidenceItem("colour:red", "colour", "red", 0.6),
    ...                             EvidenceItem("texture:striped", "texture", "stripes", 0.3)], 0.6)
    >>> label_confidence("red", ev), label_confidence("stripes", ev), label_confidence("clocks", ev)
    (0.6, 0.3, 0.0)
    """
    if ev is None:
        return math.nan
    value = agreement(label, ev, support=True) * float(ev.scale) if label else 0.0
    return round(min(value, float(ev.confidence)) if ev.uncertain else value, 4)


def report_fields(ev: Optional[UnitEvidence], top: int = 8, label: Optional[str] = None) -> dict:
    """The :class:`~neuronlabel.report.UnitLabel` fields a unit's evidence fills: ``confidence`` (of
    ``label`` when given, :func:`label_confidence`; else the evidence's), ``evidence`` (the best ``top``
    items) and the flag ``"uncertain"`` (the evidence's, or a label confidence below
    :data:`~neuronlabel.evidence.unit_evidence.UNCERTAIN`).

    >>> report_fields(None)
    {'confidence': nan, 'evidence': [], 'flags': []}
    """
    if ev is None:
        return {"confidence": math.nan, "evidence": [], "flags": []}
    confidence = float(ev.confidence) if label is None else label_confidence(label, ev)
    uncertain = ev.uncertain or not confidence >= UNCERTAIN
    return {"confidence": confidence, "evidence": list(ev.items[:top]), "flags": ["uncertain"] if uncertain else []}
