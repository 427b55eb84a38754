"""The result of labelling a network, and its JSON, CSV, DataFrame and HTML forms.

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> report = LabelReport([UnitLabel("layer4", 37, "dog faces")], meta={"model": "resnet18"})
>>> report["layer4:37"].label, report.to_csv().splitlines()[1]
('dog faces', 'layer4,37,dog faces')
"""

from .codec import ReportSchemaError
from .label_report import LabelReport, LayerSummary
from .serialization import SCHEMA
from .unit_label import UnitLabel

__all__ = ["LabelReport", "UnitLabel", "LayerSummary", "ReportSchemaError", "SCHEMA"]
