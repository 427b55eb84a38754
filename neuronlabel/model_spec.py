"""Turn a model name on the command line into a network.

>>> from neuronlabel.model_spec import load_model
>>> net = load_model("torchvision:resnet18")
>>> type(net).__name__
'ResNet'

Accepted: a bundled short name (``efficientnet_lite0``, ``mobilenet_v2``; pretrained,
offline), ``timm:<name>`` and ``torchvision:<name>`` (randomly initialised unless
``weights`` names a state-dict file), or a file: a ``torch.export`` archive (``.pt2``,
unflattened so module paths stay addressable), or a pickled full module only with
``trust_pickle=True`` (unpickling runs code from the file). TorchScript archives are
refused with an explanation: TorchScript modules accept no forward hooks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from . import models
from .errors import CheckpointError, InputError, did_you_mean


def load_model(spec: str, weights: "Optional[str | os.PathLike]" = None, trust_pickle: bool = False) -> nn.Module:
    """Build the network ``spec`` names, in eval mode."""
    if not isinstance(spec, str) or not spec:
        raise InputError(f"a model is a name such as 'efficientnet_lite0', 'timm:resnet50', "
                         f"'torchvision:mobilenet_v3_small' or a file; got {spec!r}")
    if spec in models.available():
        net, _ = models.load(spec)
    elif spec.startswith("timm:"):
        import timm

        name = spec[5:]
        if name not in timm.list_models():
            raise InputError(f"timm has no model {name!r}." + did_you_mean(name, timm.list_models(), n=3))
        net = timm.create_model(name, pretrained=False)
    elif spec.startswith("torchvision:"):
        import torchvision

        name = spec[12:]
        known = torchvision.models.list_models(module=torchvision.models)
        if name not in known:
            raise InputError(f"torchvision has no classification model {name!r}." + did_you_mean(name, known, n=3))
        net = torchvision.models.get_model(name, weights=None)
    elif os.path.sep in spec or spec.endswith((".pt", ".pth", ".pt2", ".ts", ".jit")) or Path(spec).exists():
        net = _from_file(Path(spec), trust_pickle)
    else:
        raise InputError(f"unknown model {spec!r}; use a bundled name ({', '.join(models.available())}), "
                         "timm:<name>, torchvision:<name>, or a TorchScript file."
                         + did_you_mean(spec, models.available()))
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as err:
            raise CheckpointError(f"cannot read weights {str(weights)!r}: {err}") from err
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:
            net.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"weights {str(weights)!r} do not fit {spec}: {str(err).splitlines()[0]}") from err
    return net.eval()


def _from_file(path: Path, trust_pickle: bool) -> nn.Module:
    if not path.exists():
        raise InputError(f"model file {str(path)!r} does not exist")
    try:
        return torch.export.unflatten(torch.export.load(str(path)))
    except Exception:
        pass
    try:
        torch.jit.load(str(path), map_location="cpu")
        scripted = True
    except Exception:
        scripted = False
    if scripted:
        raise InputError(f"{str(path)!r} is a TorchScript archive, and TorchScript modules accept no forward hooks, "
                         "so their units cannot be read; save the model with torch.export.save (a .pt2 archive, "
                         "loaded here with its module paths) or pass a pickled nn.Module with --trust-pickle")
    if not trust_pickle:
        raise InputError(f"{str(path)!r} is not a torch.export archive; if it is a pickled nn.Module you trust, "
                         "pass --trust-pickle (unpickling runs code from the file)")
    try:
        net = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(f"cannot unpickle a model from {str(path)!r}: {err}") from err
    if not isinstance(net, nn.Module):
        raise InputError(f"{str(path)!r} holds a {type(net).__name__}, not a torch.nn.Module")
    return net
