"""The evidence stage (probe -> evidence -> captioner -> report): what offline scorers say each unit's
masked exemplars show, with a confidence and an ``uncertain`` flag.

>>> from neuronlabel.evidence import SCORERS, UNCERTAIN
>>> SCORERS, UNCERTAIN
(('object', 'texture', 'colour', 'face'), 0.2)

Usable alone: ``compute_evidence(probe_result)`` (:mod:`.stage`); :mod:`.phrases` turns
evidence into everyday candidate labels and :mod:`.rerank` orders captions by agreement.
"""

from .stage import SCORERS, compute_evidence
from .unit_evidence import UNCERTAIN, EvidenceItem, UnitEvidence

__all__ = ["EvidenceItem", "SCORERS", "UNCERTAIN", "UnitEvidence", "compute_evidence"]
