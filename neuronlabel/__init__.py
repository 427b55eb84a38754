"""neuronlabel: give every neuron of a vision network a natural-language label.

>>> import neuronlabel
>>> neuronlabel.UnitRef.parse("layer4.1.conv2:37").channel
37
"""

from .errors import NeuronLabelError
from .hooks import assert_no_hooks
from .layers import layers
from .probing import Exemplars, ProbeResult, probe
from .units import UnitRef

__version__ = "0.1.0"

__all__ = ["probe", "layers", "Exemplars", "ProbeResult", "UnitRef", "NeuronLabelError", "assert_no_hooks",
           "__version__"]
