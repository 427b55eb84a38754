"""What the evidence stage says about one unit: ranked concepts with scores, a confidence, a flag.

>>> ev = UnitEvidence("blocks.6", 3, [EvidenceItem("texture:striped", "texture", "stripes", 0.62, 0.7, 0.8)],
...                   confidence=0.62)
>>> ev.top().name, ev.uncertain, UnitEvidence.from_dict(ev.to_dict()).items[0].score
('stripes', False, 0.62)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from ..errors import InputError

UNCERTAIN = 0.2    # a unit whose confidence is below this is flagged uncertain


@dataclass(frozen=True)
class EvidenceItem:
    """One concept a unit's exemplars agree on.

    ``score`` in [0, 1]: how much more than the probe set at large (and the layer's average unit)
    the exemplars show the concept, ``(unit mean - baseline) / (1 - baseline)``; ``rank`` orders
    the list (objects: score times the WordNet node's specificity); ``share``: the raw mean over
    exemplars (class probability mass, texture probability, share of masked pixels of a colour or
    on faces); ``agree``: the fraction of exemplars, each counted once, on which the concept is present
    (top class under the node, most likely texture, colour covering a third of the mask, a face under
    the mask, a face in the image for "people").

    >>> EvidenceItem("colour:red", "colour", "red", 0.5, 0.6, 0.9).kind
    'colour'
    """

    concept: str
    kind: str
    name: str
    score: float
    share: float = math.nan
    agree: float = math.nan
    rank: float = field(default=math.nan, compare=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.rank):
            object.__setattr__(self, "rank", self.score)

    def to_list(self) -> list:
        return [self.concept, self.kind, self.name, _r(self.score), _r(self.share), _r(self.agree)]

    @classmethod
    def from_list(cls, row) -> "EvidenceItem":
        if not isinstance(row, (list, tuple)) or len(row) != 6 or not all(isinstance(v, str) for v in row[:3]):
            raise InputError(f"an evidence item must be [concept, kind, name, score, share, agree], got {row!r}")
        return cls(row[0], row[1], row[2], *(float(v) if v is not None else math.nan for v in row[3:]))


def _r(x: float):
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 4)


@dataclass
class UnitEvidence:
    """The evidence of one unit: ``items`` best first, ``confidence`` in [0, 1], ``uncertain`` flag.

    >>> UnitEvidence("fc", 0, [], confidence=0.1).uncertain
    True
    """

    layer: str
    unit: int
    items: list = field(default_factory=list)
    confidence: float = 0.0
    uncertain: Optional[bool] = None
    best_object: Optional[str] = None     # the most specific WordNet node most exemplars agree on
    spatial: bool = True                  # False where the layer has no spatial map (a 1x1 output: logits)
    scale: float = 1.0                    # what a confidence keeps of an evidence score: 0 dead, < 1 hub units

    def __post_init__(self) -> None:
        if self.uncertain is None:
            self.uncertain = not (self.confidence >= UNCERTAIN)

    def top(self, kind: Optional[str] = None) -> Optional[EvidenceItem]:
        """The best item (of one kind), or None.

        >>> UnitEvidence("fc", 0, [EvidenceItem("colour:red", "colour", "red", 0.5)]).top("texture") is None
        True
        """
        for item in self.items:
            if kind is None or item.kind == kind:
                return item
        return None

    def score(self, concept: str) -> float:
        """The score of a concept (0 when the evidence does not list it)."""
        return max((i.score for i in self.items if i.concept == concept), default=0.0)

    def to_dict(self) -> dict:
        return {"items": [i.to_list() for i in self.items], "confidence": _r(self.confidence),
                "uncertain": bool(self.uncertain), "best_object": self.best_object,
                **({} if self.spatial else {"spatial": False}),
                **({} if self.scale == 1.0 else {"scale": _r(self.scale)})}

    @classmethod
    def from_dict(cls, d: dict, layer: str = "", unit: int = 0) -> "UnitEvidence":
        if not isinstance(d, dict):
            raise InputError(f"evidence must be an object with items, confidence, uncertain; got {d!r}")
        conf = d.get("confidence")
        return cls(layer, unit, [EvidenceItem.from_list(r) for r in d.get("items", [])],
                   float(conf) if conf is not None else math.nan, bool(d.get("uncertain", True)),
                   d.get("best_object"), bool(d.get("spatial", True)), float(d.get("scale", 1.0)))
