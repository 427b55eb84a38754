"""One labelled unit: its label, beam candidates, exemplars, activation maps and stats.

>>> from neuronlabel.report import UnitLabel
>>> u = UnitLabel("layer4", 37, "dog faces", candidates=[("dog faces", -1.2), ("dogs", -2.0)],
...               exemplar_ids=[12, 40], exemplar_scores=[3.5, 2.9], threshold=1.1)
>>> u.ref, u.score
('layer4:37', -1.2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


@dataclass(eq=False)
class UnitLabel:
    """The label of one unit and the evidence behind it.

    >>> UnitLabel("features.8", 3, "red and white stripes").ref
    'features.8:3'

    ``maps`` is ``[k, h, w]`` at the layer's own resolution (float16 is fine) and is drawn as
    MILAN does: upsampled bilinearly to each exemplar, thresholded at ``threshold``.
    ``attributions`` is ``[k, H, W]`` (or ``[k, C, H, W]``, summed over ``C`` as captum does).
    ``evidence`` lists the concepts the evidence stage found in the exemplars, best first
    (:class:`~neuronlabel.evidence.EvidenceItem`, or ``[concept, kind, name, score, share, agree]``
    rows), and ``confidence`` (in [0, 1], NaN without evidence) how strongly they agree; units
    below :data:`~neuronlabel.evidence.UNCERTAIN` carry the flag ``"uncertain"``.

    >>> UnitLabel("fc", 1, "red", evidence=[["colour:red", "colour", "red", 0.6, 0.7, 0.9]],
    ...           confidence=0.6).evidence[0].name
    'red'
    """

    layer: str
    unit: int
    label: str
    candidates: list = field(default_factory=list)
    exemplar_ids: list = field(default_factory=list)
    exemplar_scores: list = field(default_factory=list)
    threshold: float = math.nan
    maps: "np.ndarray | None" = None
    stats: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    attributions: "np.ndarray | None" = None
    confidence: float = math.nan
    evidence: list = field(default_factory=list)

    def __post_init__(self) -> None:
        where = f"UnitLabel({self.layer!r}, {self.unit!r})"
        if not isinstance(self.layer, str) or not self.layer:
            raise InputError(f"{where}: layer must be a non-empty module path string, got {self.layer!r}")
        self.unit = _as_int(self.unit, f"{where}: unit")
        where = f"unit {self.layer}:{self.unit}"
        if self.unit < 0:
            raise InputError(f"{where}: the unit index must be >= 0")
        if not isinstance(self.label, str):
            raise InputError(f"{where}: label must be a string, got {type(self.label).__name__}")
        self.candidates = [_candidate(c, f"{where}: candidates[{i}]") for i, c in enumerate(self.candidates)]
        self.exemplar_ids = [_as_int(i, f"{where}: exemplar_ids") for i in self.exemplar_ids]
        self.exemplar_scores = [_as_float(s, f"{where}: exemplar_scores") for s in self.exemplar_scores]
        if len(self.exemplar_ids) != len(self.exemplar_scores):
            raise InputError(f"{where}: {len(self.exemplar_ids)} exemplar_ids but "
                             f"{len(self.exemplar_scores)} exemplar_scores; give one score per exemplar")
        self.threshold = _as_float(self.threshold, f"{where}: threshold")
        self.confidence = _as_float(self.confidence, f"{where}: confidence")
        self.evidence = [_evidence_item(e, f"{where}: evidence[{i}]") for i, e in enumerate(self.evidence)]
        self.stats = {str(k): _as_float(v, f"{where}: stats[{k!r}]") for k, v in dict(self.stats).items()}
        self.flags = [str(f) for f in self.flags]
        k = len(self.exemplar_ids)
        self.maps = _array(self.maps, f"{where}: maps", k, ndims=(3,))
        attributions = _array(self.attributions, f"{where}: attributions", k, ndims=(3, 4))
        if attributions is not None and attributions.ndim == 4:
            attributions = attributions.sum(axis=1)
        self.attributions = attributions

    @property
    def ref(self) -> str:
        """``"layer:unit"``, the key of this unit in a report.

        >>> UnitLabel("fc", 0, "x").ref
        'fc:0'
        """
        return f"{self.layer}:{self.unit}"

    @property
    def score(self) -> "float | None":
        """The best candidate's log-probability, or None without candidates.

        >>> UnitLabel("fc", 0, "x").score is None
        True
        """
        return self.candidates[0][1] if self.candidates else None

    def _repr_html_(self) -> str:
        """The notebook view: label, candidates, stats, and exemplars with masks when in a report.

        >>> "layer4:2" in UnitLabel("layer4", 2, "grass")._repr_html_()
        True
        """
        from .notebook import unit_html

        return unit_html(self, getattr(self, "_images", None))

    def __repr__(self) -> str:
        return (f"UnitLabel({self.ref!r}, label={self.label!r}, k={len(self.exemplar_ids)}, "
                f"flags={self.flags!r})")


def _as_int(x, where: str) -> int:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        if hasattr(x, "item") and getattr(x, "ndim", 1) == 0:
            return _as_int(x.item(), where)
        raise InputError(f"{where}: expected an integer, got {x!r}")
    return int(x)


def _as_float(x, where: str) -> float:
    if hasattr(x, "item") and getattr(x, "ndim", 1) == 0:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise InputError(f"{where}: expected a number, got {x!r}")
    return float(x)


def _evidence_item(e, where: str):
    from ..evidence.unit_evidence import EvidenceItem

    if isinstance(e, EvidenceItem):
        return e
    try:
        return EvidenceItem.from_list(e)
    except (InputError, TypeError, ValueError) as err:
        raise InputError(f"{where}: {err}") from None


def _candidate(c, where: str) -> tuple:
    if not isinstance(c, (tuple, list)) or len(c) != 2 or not isinstance(c[0], str):
        raise InputError(f"{where}: expected a (text, log-prob score) pair, got {c!r}")
    return (c[0], _as_float(c[1], where))


def _array(a, where: str, k: int, ndims: tuple) -> "np.ndarray | None":
    if a is None:
        return None
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise InputError(f"{where}: expected a numeric array, got dtype {a.dtype}")
    if a.ndim not in ndims or a.shape[0] != k:
        want = " or ".join(f"{n}-d" for n in ndims)
        raise InputError(f"{where}: expected a {want} array with one entry per exemplar "
                         f"(first dim {k}), got shape {tuple(a.shape)}")
    if a.dtype.kind in "iu":
        a = a.astype(np.float32)
    return a
