"""The bundled captioner on a real network: labels are varied (issue 4: no description covers > 10 % of a layer)."""

import collections
from pathlib import Path

import pytest

BUNDLED = Path(__file__).resolve().parent.parent / "neuronlabel" / "weights" / "captioner.pt"


@pytest.mark.slow
@pytest.mark.skipif(not BUNDLED.is_file(), reason="no bundled captioner weights")
def test_labels_of_efficientnet_lite0_are_varied():
    import neuronlabel
    from neuronlabel import models

    net, _ = models.load("efficientnet_lite0")
    report = neuronlabel.label_model(net, ["blocks.5", "blocks.6"], progress=False)
    for layer in ("blocks.5", "blocks.6"):
        labels = [u.label for u in report if u.layer == layer]
        label, count = collections.Counter(labels).most_common(1)[0]
        print(f"{layer}: {len(labels)} units, {len(set(labels))} distinct labels, most common {label!r} "
              f"on {count / len(labels):.1%}")
        assert all(labels)
        assert count / len(labels) <= 0.10, (layer, label, count)
