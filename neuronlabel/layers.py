"""List a network's layers with their output shape and unit count, from one dry run.

>>> import torchvision
>>> from neuronlabel.layers import layers
>>> info = {l.name: l for l in layers(torchvision.models.resnet18(), input_size=(3, 64, 64))}
>>> info["layer4"].units, info["layer4"].map_size, info["fc"].units
(512, (2, 2), 1000)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .adapters import detect_layout, select_tensor, to_unit_maps
from .errors import InputError, NeuronLabelError
from .hooks import capture
from .sources import data_config
from .units import LayerSpec, module_names, resolve_layers


@dataclass(frozen=True)
class LayerInfo:
    """One probe-able layer: path, module type, raw output shape, layout, units and map size."""

    name: str
    type: str
    output_shape: Optional[tuple]
    layout: Optional[str]
    units: Optional[int]
    map_size: Optional[tuple[int, int]]
    note: str = ""

    def __str__(self) -> str:
        if self.units is None:
            return f"{self.name:40s} {self.type:24s} -  ({self.note})"
        return (f"{self.name:40s} {self.type:24s} {str(list(self.output_shape)):22s} {self.layout:6s} "
                f"{self.units:6d} units  {self.map_size[0]}x{self.map_size[1]}")


def layers(net: nn.Module, which: "LayerSpec | list[LayerSpec] | None" = None,
           input_size: Optional[tuple[int, int, int]] = None) -> list[LayerInfo]:
    """Every module of ``net`` (or those ``which`` selects) with what probing it would give.

    One forward pass on one random input of ``input_size`` (default: the network's data
    config) with hooks on all listed modules; the hooks are removed afterwards.
    """
    if not isinstance(net, nn.Module):
        raise InputError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    names = module_names(net) if which is None else resolve_layers(net, which)
    size = tuple(input_size or data_config(net)["input_size"])
    if len(size) != 3:
        raise InputError(f"input_size must be (channels, height, width), got {size}")
    outputs: dict[str, object] = {}
    param = next(net.parameters(), None)
    x = torch.rand(1, *size, device=param.device if param is not None else "cpu",
                   dtype=param.dtype if param is not None and param.is_floating_point() else torch.float32)
    modules = dict(net.named_modules())
    was_training = net.training
    net.eval()
    try:
        with capture(net, names, lambda name, out: outputs.setdefault(name, out)), torch.inference_mode():
            net(x)
    finally:
        net.train(was_training)
    found = []
    for name in names:
        kind = type(modules[name]).__name__
        if name not in outputs:
            found.append(LayerInfo(name, kind, None, None, None, None, "did not run"))
            continue
        try:
            tensor = select_tensor(outputs[name], name)
            layout = detect_layout(tensor, size[1:], net, modules[name], name)
            maps = to_unit_maps(tensor, layout)
            found.append(LayerInfo(name, kind, tuple(tensor.shape), layout.kind, maps.shape[1], tuple(maps.shape[2:])))
        except NeuronLabelError as err:
            found.append(LayerInfo(name, kind, None, None, None, None, str(err).split(";")[0]))
    return found
