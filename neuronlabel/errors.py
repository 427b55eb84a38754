"""The error classes neuronlabel raises.

>>> from neuronlabel.errors import NeuronLabelError, UnknownLayerError
>>> issubclass(UnknownLayerError, (NeuronLabelError, KeyError))
True

Every error names the bad value and says what to do. Catch ``NeuronLabelError`` to catch
them all; each subclass also inherits the matching builtin (``ValueError``, ``KeyError``,
...) so code written against plain Python errors keeps working.
"""

from __future__ import annotations


class NeuronLabelError(Exception):
    """Root of every error neuronlabel raises on purpose."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class InputError(NeuronLabelError, ValueError):
    """A value the user passed is not usable (shape, range, type, k, quantile ...)."""


class UnknownLayerError(NeuronLabelError, KeyError):
    """A layer name, glob or unit does not match any module of the network."""


class LayerOutputError(NeuronLabelError, ValueError):
    """A layer's output cannot be read as units (no tensor, a scalar, an unknown layout)."""


class ProbeSourceError(NeuronLabelError, ValueError):
    """The probe images cannot be read (missing folder, no readable image, bad dataset item)."""


class CheckpointError(NeuronLabelError, ValueError):
    """A checkpoint or saved file is corrupt, of another version, or for another run."""


class OutputPathError(NeuronLabelError, OSError):
    """An output file or folder cannot be written (a file in the way, read-only, no space, no permission)."""


class RunLockedError(NeuronLabelError, RuntimeError):
    """Another running process uses the same output folder or checkpoint (its lock file names it)."""


class MissingDependencyError(NeuronLabelError, ImportError):
    """An optional package is needed; the message says what to pip install."""


def did_you_mean(name: str, candidates, n: int = 5) -> str:
    """Return ' Did you mean: a, b?' for the closest candidates, or ''.

    >>> did_you_mean("layer5", ["layer1", "layer4", "fc"])
    " Did you mean: 'layer4', 'layer1'?"
    """
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean: " + ", ".join(repr(c) for c in close) + "?"
