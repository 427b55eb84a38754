"""Address layers and units of a network.

>>> import torchvision
>>> from neuronlabel.units import UnitRef, resolve_layers
>>> net = torchvision.models.resnet18()
>>> resolve_layers(net, ["layer4", "layer1.*.conv1"])
['layer1.0.conv1', 'layer1.1.conv1', 'layer4']
>>> UnitRef.parse("layer4.1.conv2:37")
UnitRef(layer='layer4.1.conv2', channel=37)

A layer is addressed by its ``named_modules()`` path, by a glob (``*`` matches one path
part, ``**`` any number), or by a predicate ``(name, module) -> bool``. Every name is
checked before anything runs; an unknown one fails with the closest existing names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Union

from torch import nn

from .errors import InputError, UnknownLayerError, did_you_mean

LayerSpec = Union[str, Callable[[str, nn.Module], bool]]


@dataclass(frozen=True, order=True)
class UnitRef:
    """One unit: a layer path and a channel index, written ``"layer:channel"``.

    >>> str(UnitRef("features.3", 5))
    'features.3:5'
    """

    layer: str
    channel: int

    @classmethod
    def parse(cls, text: "str | UnitRef") -> "UnitRef":
        """Parse ``"layer4.1.conv2:37"``.

        >>> UnitRef.parse("blocks.6:0").layer
        'blocks.6'
        """
        if isinstance(text, UnitRef):
            return text
        if not isinstance(text, str) or ":" not in text:
            raise InputError(f"unit {text!r} is not of the form '<layer path>:<channel>', e.g. 'layer4.1.conv2:37'")
        layer, _, channel = text.rpartition(":")
        if not layer or not channel.strip().isdigit():
            raise InputError(f"unit {text!r}: the channel after ':' must be a non-negative integer, "
                             "e.g. 'layer4.1.conv2:37'")
        return cls(layer.strip(), int(channel))

    def __str__(self) -> str:
        return f"{self.layer}:{self.channel}"


def _glob_to_regex(pattern: str) -> re.Pattern:
    parts = []
    for token in re.split(r"(\*\*|\*|\?)", pattern):
        if token == "**":
            parts.append(r".*")
        elif token == "*":
            parts.append(r"[^.]*")
        elif token == "?":
            parts.append(r"[^.]")
        else:
            parts.append(re.escape(token))
    return re.compile("^" + "".join(parts) + "$")


def module_names(net: nn.Module) -> list[str]:
    """All addressable module paths of ``net`` (the root, ``""``, excluded)."""
    return [name for name, _ in net.named_modules() if name]


def resolve_layers(net: nn.Module, layers: "LayerSpec | Iterable[LayerSpec]") -> list[str]:
    """Turn names, globs and predicates into module paths, in network order, without repeats.

    >>> import torch
    >>> resolve_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()), "*")
    ['0', '1']
    """
    if isinstance(net, nn.Module) is False:
        raise InputError(f"expected a torch.nn.Module, got {type(net).__name__}")
    if isinstance(layers, str) or callable(layers):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise InputError("no layers given; pass names such as ['layer4'] (see neuronlabel.layers(net))")
    modules = dict(net.named_modules())
    names = [n for n in modules if n]
    chosen: set[str] = set()
    for spec in layers:
        if callable(spec) and not isinstance(spec, str):
            hits = [n for n in names if spec(n, modules[n])]
            if not hits:
                raise UnknownLayerError(f"the layer predicate {getattr(spec, '__name__', spec)!r} matched no module")
        elif isinstance(spec, str):
            if any(ch in spec for ch in "*?"):
                rx = _glob_to_regex(spec)
                hits = [n for n in names if rx.match(n)]
                if not hits:
                    raise UnknownLayerError(f"the layer pattern {spec!r} matched no module of "
                                            f"{type(net).__name__}." + did_you_mean(spec.replace("*", "0"), names)
                                            + " List layers with neuronlabel.layers(net).")
            else:
                if spec not in modules or spec == "":
                    raise UnknownLayerError(f"{type(net).__name__} has no layer {spec!r}." + did_you_mean(spec, names)
                                            + " List layers with neuronlabel.layers(net).")
                hits = [spec]
        else:
            raise InputError(f"a layer must be a name, a glob or a predicate (name, module) -> bool, got {spec!r}")
        chosen.update(hits)
    return [n for n in names if n in chosen]


def group_units(units) -> dict[str, list[int]]:
    """``{layer: [channel, ...]}`` (sorted, no repeats) from any way of naming units.

    >>> group_units(["layer4:17", "layer4:3", UnitRef("layer3", 0)])
    {'layer4': [3, 17], 'layer3': [0]}
    >>> group_units({"layer4": [17, 3, 3]})
    {'layer4': [3, 17]}

    ``units`` is a ``{layer: [channel, ...]}`` dict, or an iterable of ``"layer:channel"``
    strings, :class:`UnitRef` objects, or anything with ``layer`` and ``unit`` attributes
    (report units from ``report.search(...)``, findings of ``neuronlabel.check``); a
    ``CheckResult`` stands for its findings.
    """
    if hasattr(units, "findings") and not isinstance(units, (str, dict)):
        units = units.findings
    if isinstance(units, str) or not hasattr(units, "__iter__"):
        raise InputError(f"units must be a list such as ['layer4:3'] or a dict such as {{'layer4': [3]}}, "
                         f"got {units!r}")
    pairs = []
    if isinstance(units, dict):
        for layer, channels in units.items():
            if not isinstance(layer, str) or not layer:
                raise InputError(f"units: the keys are layer paths, got {layer!r}")
            if isinstance(channels, (int, str)) or not hasattr(channels, "__iter__"):
                raise InputError(f"units[{layer!r}] must be a list of channels, e.g. [3, 17]; got {channels!r}")
            pairs += [(layer, c) for c in channels]
    else:
        for item in units:
            if hasattr(item, "layer") and hasattr(item, "unit"):
                pairs.append((item.layer, item.unit))
            else:
                ref = UnitRef.parse(item)
                pairs.append((ref.layer, ref.channel))
    out: dict[str, set] = {}
    for layer, c in pairs:
        if isinstance(c, bool) or not hasattr(c, "__index__") or int(c) < 0:
            raise InputError(f"unit {layer}:{c!r}: the channel must be a non-negative integer")
        out.setdefault(layer, set()).add(int(c))
    return {layer: sorted(channels) for layer, channels in out.items()}


def resolve_units(net: nn.Module, units: Iterable["str | UnitRef"]) -> list[UnitRef]:
    """Parse unit strings and check that their layers exist (channels are checked at probe time).

    >>> import torchvision
    >>> resolve_units(torchvision.models.resnet18(), ["layer4:3"])
    [UnitRef(layer='layer4', channel=3)]
    """
    refs = [UnitRef.parse(u) for u in units]
    resolve_layers(net, sorted({r.layer for r in refs}))
    return refs
