"""Checks on the device and the network, made before any hook is registered or image read.

>>> import torch
>>> check_device("cpu")
device(type='cpu')
>>> check_device("gpu0")
Traceback (most recent call last):
...
neuronlabel.errors.InputError: unknown device 'gpu0'; use 'cpu', 'cuda', 'cuda:1' or 'mps' (or leave it out: the model's own device)
>>> check_model(torch.nn.Conv2d(3, 4, 1))
"""

from __future__ import annotations

import inspect
from typing import Optional

import torch
from torch import nn

from .errors import InputError


def check_device(device) -> Optional[torch.device]:
    """``device`` as a ``torch.device`` (None stays None), refused clearly when unknown or absent here.

    >>> check_device(None) is None
    True
    """
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:1' or 'mps' (or leave it out: "
                         "the model's own device)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise InputError(f"device {device!r} asked for, but {why}; use --device cpu (or leave it out)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device {device!r}: there are only {torch.cuda.device_count()} CUDA device(s), "
                             f"cuda:0..cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"device {device!r} asked for, but MPS is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps", "xpu"):
        raise InputError(f"device {device!r}: neuronlabel probes on 'cpu', 'cuda' or 'mps'")
    return dev


def check_model(net: nn.Module) -> None:
    """Refuse a network that cannot run on images alone: weights on the ``meta`` device, or a
    ``forward`` that needs more than one input.

    >>> class Masked(torch.nn.Module):
    ...     def forward(self, x, mask):
    ...         return x * mask
    >>> check_model(Masked())
    Traceback (most recent call last):
    ...
    neuronlabel.errors.InputError: Masked.forward needs 2 inputs (x, mask), but neuronlabel runs net(images) with one batch of images; wrap it, e.g. class Wrapped(nn.Module): forward(self, x): return net(x, mask)
    """
    tensors = list(net.parameters()) + list(net.buffers())
    if any(t.is_meta for t in tensors):
        raise InputError(f"{type(net).__name__} has weights on the 'meta' device (shapes without data), so it cannot "
                         "run; load real weights first, e.g. net.to_empty(device='cpu') then net.load_state_dict(sd), "
                         "or build it outside torch.device('meta')")
    try:
        params = list(inspect.signature(net.forward).parameters.values())
    except (TypeError, ValueError):
        return
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p.name for p in params if p.kind in positional and p.default is inspect.Parameter.empty]
    keyword_only = [p.name for p in params if p.kind == inspect.Parameter.KEYWORD_ONLY
                    and p.default is inspect.Parameter.empty]
    if len(required) > 1 or keyword_only:
        names = required + keyword_only
        rest = ", ".join(names[1:])
        raise InputError(f"{type(net).__name__}.forward needs {len(names)} inputs ({', '.join(names)}), but "
                         "neuronlabel runs net(images) with one batch of images; wrap it, e.g. class "
                         f"Wrapped(nn.Module): forward(self, x): return net(x, {rest})")
