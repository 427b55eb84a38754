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

_BATCH = 2


@dataclass(frozen=True)
class LayerInfo:
    """One layer: path, module type, raw output shape (for a batch of 2), layout, units and map size.

    ``units`` is ``None`` for a layer that cannot be probed, and ``note`` says why.
    """

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

    One forward pass on a batch of two random inputs of ``input_size`` (default: the
    network's data config) with hooks on all listed modules; the hooks are removed
    afterwards. A layer that cannot be probed has ``units=None`` and a ``note`` saying why:
    it did not run, it runs more than once per pass (a shared module), its output folds
    windows or heads into the batch dim, or no layout rule of :mod:`neuronlabel.adapters`
    fits its output.
    """
    if not isinstance(net, nn.Module):
        raise InputError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    names = module_names(net) if which is None else resolve_layers(net, which)
    size = tuple(input_size or data_config(net)["input_size"])
    if len(size) != 3:
        raise InputError(f"input_size must be (channels, height, width), got {size}")
    outputs: dict[str, object] = {}
    calls: dict[str, int] = {}

    def record(name: str, out) -> None:
        calls[name] = calls.get(name, 0) + 1
        outputs.setdefault(name, out)

    param = next(net.parameters(), None)
    x = torch.rand(_BATCH, *size, device=param.device if param is not None else "cpu",
                   dtype=param.dtype if param is not None and param.is_floating_point() else torch.float32)
    modules = dict(net.named_modules())
    was_training = net.training
    net.eval()
    try:
        with capture(net, names, record), torch.inference_mode():
            net(x)
    except NeuronLabelError:
        raise
    except Exception as err:
        raise InputError(f"{type(net).__name__} failed on a {_BATCH}x{size[0]}x{size[1]}x{size[2]} input "
                         f"({type(err).__name__}: {err}); pass an input_size the network accepts") from err
    finally:
        net.train(was_training)
    return [_describe(name, modules[name], outputs.get(name), calls.get(name, 0), size, net) for name in names]


def _describe(name: str, module: nn.Module, output, calls: int, size: tuple, net: nn.Module) -> LayerInfo:
    kind = type(module).__name__
    if not calls:
        return LayerInfo(name, kind, None, None, None, None, "did not run")
    try:
        tensor = select_tensor(output, name)
    except NeuronLabelError as err:
        return LayerInfo(name, kind, None, None, None, None, str(err).split(";")[0])
    shape = tuple(tensor.shape)
    if calls > 1:
        return LayerInfo(name, kind, shape, None, None, None, f"runs {calls} times per forward pass (a shared "
                         "module); probe a layer that runs once")
    if tensor.dim() >= 1 and shape[0] != _BATCH:
        return LayerInfo(name, kind, shape, None, None, None, f"its first dim is not the batch (input batch "
                         f"{_BATCH}, output {list(shape)}); probe its parent")
    try:
        layout = detect_layout(tensor, size[1:], net, module, name)
        maps = to_unit_maps(tensor, layout)
    except NeuronLabelError as err:
        return LayerInfo(name, kind, shape, None, None, None, str(err).split(";")[0])
    return LayerInfo(name, kind, shape, layout.kind, maps.shape[1], tuple(maps.shape[2:]))
