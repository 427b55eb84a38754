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

import contextlib
import logging
import os
import warnings
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
        _load_weights(net, weights, spec)
    return net.eval()


_WRAPPERS = ("state_dict", "model", "model_state_dict", "net", "module", "weights", "params", "ema")


def _unwrap(state, weights) -> dict:
    """The state dict inside a checkpoint: ``{"model": sd}`` and friends unwrapped, ``module.`` prefixes dropped."""
    for _ in range(3):
        if not isinstance(state, dict) or all(isinstance(v, torch.Tensor) for v in state.values()):
            break
        inner = [k for k in _WRAPPERS if isinstance(state.get(k), dict)]
        if not inner:
            keys = ", ".join(repr(k) for k in list(state)[:6])
            raise CheckpointError(f"weights {str(weights)!r} hold a dict with keys {keys}, not a state dict; save "
                                  "net.state_dict() itself, or one wrapped as {'state_dict': ...} or {'model': ...}")
        state = state[inner[0]]
    if not isinstance(state, dict):
        raise CheckpointError(f"weights {str(weights)!r} hold a {type(state).__name__}, not a state dict")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _load_weights(net: nn.Module, weights, spec: str) -> None:
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read weights {str(weights)!r}: {str(err).splitlines()[0]}") from err
    state = _unwrap(state, weights)
    ours = net.state_dict()
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in ours.items()
              if k in state and isinstance(state[k], torch.Tensor) and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = []
        for name, items in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)):
            if items:
                more = f" and {len(items) - 3} more" if len(items) > 3 else ""
                parts.append(f"{len(items)} {name} ({', '.join(items[:3])}{more})")
        raise CheckpointError(f"weights {str(weights)!r} do not fit {spec} ({len(ours)} tensors): "
                              f"{'; '.join(parts)}; are they for another architecture?")
    net.load_state_dict(state)


def _kind(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80":
        return "pickle"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "json"
    return "other"


def _from_file(path: Path, trust_pickle: bool) -> nn.Module:
    if not path.exists():
        raise InputError(f"model file {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError(f"model {str(path)!r} is a folder; pass a model file (a torch.export .pt2 archive)")
    kind = _kind(path)
    if kind == "json":
        raise InputError(f"{str(path)!r} is a JSON file (a neuronlabel report?), not a model; render a report with "
                         f"`neuronlabel report {path} --html OUT.html`; a model is a name such as "
                         "torchvision:resnet18 or a torch.export .pt2 archive")
    if kind == "other":
        raise InputError(f"{str(path)!r} is not a model file (neither a torch.export archive nor a torch.save "
                         "file); save the model with torch.export.save")
    if kind == "zip":
        with _quiet_torch():
            try:
                return torch.export.unflatten(torch.export.load(str(path)))
            except Exception:
                pass
            try:
                torch.jit.load(str(path), map_location="cpu")
                scripted = True
            except Exception:
                scripted = False
    else:
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


@contextlib.contextmanager
def _quiet_torch():
    """Silence torch's log lines and warnings while the file's format is being found out."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
