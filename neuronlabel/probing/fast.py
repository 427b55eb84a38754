"""The fast probe's network layout: channels-last weights for the pass, put back afterwards.

>>> import torch
>>> conv = torch.nn.Conv2d(3, 4, 3)
>>> with channels_last(conv):
...     conv.weight.is_contiguous(memory_format=torch.channels_last)
True
>>> conv.weight.is_contiguous()
True

On CPU, oneDNN convolutions run faster on channels-last (NHWC) tensors than on the
default NCHW layout, which it otherwise converts to and from around every convolution.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


@contextmanager
def channels_last(net: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Store the 4-d weights and buffers of ``net`` channels-last inside the block, then restore them.

    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1))
    >>> with channels_last(net, enabled=False):
    ...     net[0].weight.is_contiguous()
    True
    """
    if not enabled:
        yield net
        return
    plain = [(module, name) for module in net.modules()
             for name, t in [*module._parameters.items(), *module._buffers.items()]
             if t is not None and t.dim() == 4 and t.is_contiguous()
             and not t.is_contiguous(memory_format=torch.channels_last)]
    net.to(memory_format=torch.channels_last)
    try:
        yield net
    finally:
        with torch.no_grad():
            for module, name in plain:
                t = module._parameters.get(name)
                if t is None:
                    module._buffers[name] = module._buffers[name].contiguous()
                elif not t.is_contiguous():
                    t.data = t.data.contiguous()
