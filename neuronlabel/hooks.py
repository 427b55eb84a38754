"""Forward hooks that are always removed, and a check that none are left behind.

>>> import torch, torchvision
>>> from neuronlabel.hooks import capture, assert_no_hooks
>>> net = torchvision.models.resnet18().eval()
>>> seen = {}
>>> with capture(net, ["layer4"], lambda name, out: seen.setdefault(name, out.shape)):
...     _ = net(torch.rand(1, 3, 64, 64))
>>> seen["layer4"]
torch.Size([1, 512, 2, 2])
>>> assert_no_hooks(net)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from torch import nn

from .errors import InputError, LayerOutputError


@contextmanager
def capture(net: nn.Module, layers: list[str], fn: Callable[[str, object], None]) -> Iterator[None]:
    """Call ``fn(layer_name, output)`` after each listed layer runs; hooks leave on exit, error or not.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3))
    >>> with capture(net, ["0"], lambda n, o: None):
    ...     pass
    >>> assert_no_hooks(net)
    """
    modules = dict(net.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise InputError(f"cannot hook unknown layers {missing}; resolve names with neuronlabel.units.resolve_layers")
    handles = []
    try:
        for name in layers:
            handles.append(modules[name].register_forward_hook(_hook(name, fn)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _hook(name: str, fn: Callable[[str, object], None]):
    def hook(module, inputs, output):
        fn(name, output)

    return hook


class StopForward(Exception):
    """Raised by a hook once every wanted layer has run, so the rest of the network is skipped."""


def forward_until(net: nn.Module, x, layers: list[str], ran: set) -> None:
    """Run ``net(x)`` until a hook raises :class:`StopForward`; fail if any of ``layers`` is not in ``ran``.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    >>> forward_until(net, torch.rand(1, 2), ["1"], set())
    Traceback (most recent call last):
    ...
    neuronlabel.errors.LayerOutputError: layers ['1'] did not run in the forward pass of Sequential; choose layers the forward pass uses
    """
    try:
        net(x)
    except StopForward:
        pass
    missing = [name for name in layers if name not in ran]
    if missing:
        raise LayerOutputError(f"layers {missing} did not run in the forward pass of "
                               f"{type(net).__name__}; choose layers the forward pass uses")


def hooks_left(net: nn.Module) -> list[str]:
    """Names of the modules of ``net`` that still carry hooks, with the kind of hook.

    >>> import torch
    >>> hooks_left(torch.nn.Linear(2, 2))
    []
    """
    found = []
    for name, module in net.named_modules():
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                     "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs"):
            if getattr(module, kind, None):
                found.append(f"{name or '<root>'}: {kind.strip('_')}")
    return found


def assert_no_hooks(net: nn.Module) -> None:
    """Raise ``AssertionError`` listing any hook left on ``net``; for users' own test suites.

    >>> import torch
    >>> assert_no_hooks(torch.nn.Linear(2, 2))
    """
    left = hooks_left(net)
    if left:
        raise AssertionError("hooks left on the network: " + "; ".join(left))
