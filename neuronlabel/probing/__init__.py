"""Streaming statistics and the one-pass probe.

>>> from neuronlabel.probing import probe, TopK, QuantileSketch, Exemplars, ProbeResult
"""

from .exemplars import Exemplars
from .streaming import ProbeResult, probe
from .quantile import QuantileSketch
from .topk import TopK

__all__ = ["probe", "ProbeResult", "Exemplars", "TopK", "QuantileSketch"]
