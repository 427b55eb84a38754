"""Read any layer's output as a stack of unit maps ``(B, C, H, W)``.

>>> import torch
>>> from neuronlabel.adapters import detect_layout, to_unit_maps
>>> tokens = torch.rand(2, 1 + 14 * 14, 384)                # ViT: CLS + 14x14 patches
>>> layout = detect_layout(tokens, input_hw=(224, 224))
>>> layout
Layout(kind='tokens', prefix=1, grid=(14, 14))
>>> to_unit_maps(tokens, layout).shape
torch.Size([2, 384, 14, 14])

Rules, in order:

- **Selecting the tensor.** A tensor is used as is. From a tuple or list, the first element
  that is a tensor with a batch dimension is used (``(out, attn_weights)``, ``(out, (h, c))``).
  From a dict, the only tensor value, or the value under ``"x"``/``"out"``/``"last_hidden_state"``.
  Anything else raises :class:`LayerOutputError` naming what was found.
- **4-d outputs** are ``NCHW`` unless the last two dims do not fit the input's spatial grid
  and dims 1-2 do (Swin/ConvNeXt-block style ``NHWC``); when both fit, a layer that ends in a
  ``Linear`` or ``LayerNorm`` is read as ``NHWC``, anything else as ``NCHW``.
- **3-d outputs** ``(B, N, C)`` are tokens: prefix tokens (CLS, distillation, registers) are
  dropped, using timm's ``num_prefix_tokens`` and ``patch_embed.grid_size`` when present, and
  otherwise the fewest leading tokens that leave a grid with the input's aspect ratio.
- **2-d outputs** ``(B, C)`` (Linear, pooled features) become ``(B, C, 1, 1)``.
- Scalars and 1-d outputs have no units: :class:`LayerOutputError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .errors import LayerOutputError

_DICT_KEYS = ("x", "out", "last_hidden_state", "features")


@dataclass(frozen=True)
class Layout:
    """How one layer's output maps to units: ``nchw``, ``nhwc``, ``tokens`` or ``flat``."""

    kind: str
    prefix: int = 0
    grid: Optional[tuple[int, int]] = None


def select_tensor(output, layer: str = "?") -> torch.Tensor:
    """Pick the tensor that holds a layer's units out of whatever the layer returned.

    >>> import torch
    >>> select_tensor((torch.zeros(2, 3), torch.zeros(2))).shape
    torch.Size([2, 3])
    """
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor) and item.dim() >= 2:
                return item
        kinds = [type(o).__name__ for o in output]
        raise LayerOutputError(f"layer {layer!r} returned a {type(output).__name__} of {kinds} with no tensor "
                               "of shape (batch, ...); choose a sub-layer that outputs a feature map "
                               "(see neuronlabel.layers(net))")
    if isinstance(output, dict):
        tensors = {k: v for k, v in output.items() if isinstance(v, torch.Tensor)}
        if len(tensors) == 1:
            return next(iter(tensors.values()))
        for key in _DICT_KEYS:
            if key in tensors:
                return tensors[key]
        raise LayerOutputError(f"layer {layer!r} returned a dict with keys {list(output)}; neuronlabel uses the "
                               f"only tensor value or one of {_DICT_KEYS}. Choose a sub-layer with one output.")
    raise LayerOutputError(f"layer {layer!r} returned {type(output).__name__}, not a tensor; "
                           "choose a layer that outputs a feature map (see neuronlabel.layers(net))")


def _fits_grid(hw: tuple[int, int], input_hw: tuple[int, int]) -> bool:
    h, w = hw
    H, W = input_hw
    if h < 1 or w < 1 or h > H or w > W:
        return False
    stride = H / h
    return abs(w - W / stride) <= 1 + 0.1 * w


def _last_leaf(module: Optional[nn.Module]) -> Optional[nn.Module]:
    if module is None:
        return None
    leaves = [m for m in module.modules() if not list(m.children())]
    return leaves[-1] if leaves else module


def _prefix_info(net: Optional[nn.Module]) -> tuple[Optional[int], Optional[tuple[int, int]]]:
    if net is None:
        return None, None
    prefix, grid = None, None
    for module in net.modules():
        if prefix is None and isinstance(getattr(module, "num_prefix_tokens", None), int):
            prefix = module.num_prefix_tokens
        g = getattr(getattr(module, "patch_embed", None), "grid_size", None)
        if grid is None and g is not None and len(tuple(g)) == 2:
            grid = tuple(int(v) for v in g)
        if prefix is not None and grid is not None:
            break
    return prefix, grid


def _token_layout(n: int, input_hw: tuple[int, int], net: Optional[nn.Module]) -> Optional[Layout]:
    prefix, grid = _prefix_info(net)
    if prefix is not None and grid is not None and n - prefix == grid[0] * grid[1]:
        return Layout("tokens", prefix, grid)
    H, W = input_hw
    candidates = [prefix] if prefix is not None and 0 <= prefix < n else []
    candidates += [p for p in range(0, min(n - 1, 17)) if p != prefix]
    for p in candidates:
        m = n - p
        best = None
        for h in range(1, int(math.isqrt(m * max(H, 1))) + 2):
            if m % h:
                continue
            w = m // h
            if _fits_grid((h, w), input_hw):
                err = abs(math.log(h / w) - math.log(H / W))
                if best is None or err < best[0]:
                    best = (err, (h, w))
        if best is not None:
            return Layout("tokens", p, best[1])
    return None


def detect_layout(output: torch.Tensor, input_hw: tuple[int, int], net: Optional[nn.Module] = None,
                  module: Optional[nn.Module] = None, layer: str = "?") -> Layout:
    """Decide how a layer's output tensor maps to units, from its shape and the input size.

    >>> import torch
    >>> detect_layout(torch.rand(2, 7, 7, 768), (224, 224)).kind      # Swin stage
    'nhwc'
    """
    shape = tuple(output.shape)
    if output.dim() <= 1:
        raise LayerOutputError(f"layer {layer!r} outputs a tensor of shape {shape}: a scalar per batch or per "
                               "image has no units. Choose a layer with channels (see neuronlabel.layers(net)).")
    if output.dim() == 2:
        return Layout("flat")
    if output.dim() == 3:
        layout = _token_layout(shape[1], input_hw, net)
        if layout is None:
            raise LayerOutputError(f"layer {layer!r} outputs {shape}, read as (batch, tokens, channels), but "
                                   f"{shape[1]} tokens form no patch grid for a {input_hw[0]}x{input_hw[1]} input. "
                                   "Choose another layer.")
        return layout
    if output.dim() == 4:
        nchw = _fits_grid(shape[2:4], input_hw)
        nhwc = _fits_grid(shape[1:3], input_hw)
        if nhwc and not nchw:
            return Layout("nhwc")
        if nchw and nhwc and isinstance(_last_leaf(module), (nn.Linear, nn.LayerNorm)):
            return Layout("nhwc")
        return Layout("nchw")
    raise LayerOutputError(f"layer {layer!r} outputs a {output.dim()}-d tensor {shape}; neuronlabel reads 2-d "
                           "(B,C), 3-d tokens (B,N,C) and 4-d maps (B,C,H,W)/(B,H,W,C). Choose another layer.")


def to_unit_maps(output: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Reshape a layer output to ``(B, units, h, w)`` following ``layout`` (a view when possible).

    >>> import torch
    >>> to_unit_maps(torch.rand(2, 10), Layout("flat")).shape
    torch.Size([2, 10, 1, 1])
    """
    if layout.kind == "nchw":
        return output
    if layout.kind == "nhwc":
        return output.permute(0, 3, 1, 2)
    if layout.kind == "flat":
        return output[:, :, None, None]
    if layout.kind == "tokens":
        h, w = layout.grid
        tokens = output[:, layout.prefix:, :]
        if tokens.shape[1] != h * w:
            raise LayerOutputError(f"expected {h * w} patch tokens after {layout.prefix} prefix tokens, "
                                   f"got {tokens.shape[1]}; the input size changed between batches")
        return tokens.transpose(1, 2).reshape(output.shape[0], output.shape[2], h, w)
    raise LayerOutputError(f"unknown layout {layout.kind!r}")
