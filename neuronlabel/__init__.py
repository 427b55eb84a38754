"""neuronlabel: give every neuron of a vision network a natural-language label.

>>> import neuronlabel
>>> neuronlabel.UnitRef.parse("layer4.1.conv2:37").channel
37
"""

from .editing import ablate
from .errors import NeuronLabelError
from .hooks import assert_no_hooks
from .labeling import label_model
from .layers import layers
from .probing import Exemplars, ProbeResult, probe
from .report import LabelReport
from .units import UnitRef

__version__ = "0.1.0"

__all__ = ["label_model", "probe", "layers", "LabelReport", "Captioner", "check", "ablate", "Exemplars",
           "ProbeResult", "UnitRef", "NeuronLabelError", "assert_no_hooks", "__version__"]


def __getattr__(name):
    """``Captioner`` and ``check`` load on first use (they pull in the captioner and CI modules)."""
    if name == "Captioner":
        from .captioner import Captioner

        return Captioner
    if name == "check":
        from .ci import check

        return check
    raise AttributeError(f"module 'neuronlabel' has no attribute {name!r}")
