"""Every public entry point leaves no hook behind: normally, with a bad unit, and when a layer raises."""

import tempfile

import pytest
import torch
from torch import nn

import neuronlabel
from neuronlabel import assert_no_hooks, layers, probe
from neuronlabel.errors import NeuronLabelError
from neuronlabel.hooks import capture, hooks_left
from neuronlabel.units import resolve_units


class Boom(nn.Module):
    def __init__(self, exc=RuntimeError):
        super().__init__()
        self.exc = exc

    def forward(self, x):
        raise self.exc("layer exploded")


def make_net(raising=None):
    body = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1)]
    if raising is not None:
        body.append(Boom(raising))
    return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3)).eval()


IMAGES = torch.rand(6, 3, 16, 16)
ENTRY_POINTS = {
    "probe": lambda net, layer: probe(net, IMAGES, [layer], k=2, progress=False),
    "probe_checkpoint": lambda net, layer: probe(net, IMAGES, [layer], k=2, progress=False, early_exit=False,
                                                 checkpoint=tempfile.mkdtemp() + "/c.ckpt", checkpoint_seconds=0),
    "layers": lambda net, layer: layers(net, [layer], input_size=(3, 16, 16)),
    "capture": lambda net, layer: _capture(net, layer),
    "resolve_units": lambda net, layer: resolve_units(net, [f"{layer}:1"]),
}


def _label(net, layer):
    from neuronlabel.captioner import Captioner, CaptionerConfig

    config = CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=3)
    captioner = Captioner(config, vocab=["red", "dog", "faces"])
    return neuronlabel.label_model(net, [layer], images=IMAGES, k=2, progress=False, captioner=captioner)


ENTRY_POINTS["label_model"] = _label


def _capture(net, layer):
    with capture(net, [layer], lambda name, out: None), torch.inference_mode():
        net(IMAGES)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_normal_run_leaves_no_hooks(entry):
    net = make_net()
    ENTRY_POINTS[entry](net, "2")
    assert hooks_left(net) == []


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_bad_unit_leaves_no_hooks(entry):
    net = make_net()
    with pytest.raises((NeuronLabelError, KeyError)):
        ENTRY_POINTS[entry](net, "no.such.layer")
    assert_no_hooks(net)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("entry", sorted(set(ENTRY_POINTS) - {"resolve_units"}))
def test_raising_layer_leaves_no_hooks(entry, exc):
    net = make_net(raising=exc)
    with pytest.raises((exc, NeuronLabelError), match="layer exploded"):
        ENTRY_POINTS[entry](net, "2")
    assert_no_hooks(net)


def test_assert_no_hooks_reports_a_leak():
    net = make_net()
    handle = net[0].register_forward_hook(lambda *a: None)
    with pytest.raises(AssertionError, match="0: forward_hooks"):
        assert_no_hooks(net)
    handle.remove()
    assert_no_hooks(net)
