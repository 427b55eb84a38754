"""Training the captioner: cached features, ``fit`` with early stopping, resume, the train command.

>>> from neuronlabel.training import fit, CaptionData, featurize
"""

from .data import CaptionData, split_units
from .features import ExemplarSet, featurize
from .fit import FitResult, fit

__all__ = ["CaptionData", "ExemplarSet", "FitResult", "featurize", "fit", "split_units"]
