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
  that is a tensor of 2 or more dims is used (``(out, attn_weights)``, ``(out, (h, c))``).
  From a dict, the only tensor value, or else the value under ``"x"``, ``"out"``,
  ``"last_hidden_state"`` or ``"features"`` (first found). Anything else raises
  :class:`LayerOutputError` naming what was found.
- **A declared layout wins.** A module with a ``neuronlabel_layout`` attribute (``"nchw"``,
  ``"nhwc"``, ``"flat"`` or a :class:`Layout`) is read that way.
- **4-d outputs** are ``NCHW`` when the last two dims fit the input's spatial grid and dims
  1-2 do not, ``NHWC`` (Swin/ConvNeXt-block style) the other way round, and an error when
  neither does (MaxViT's ``(B, windows, tokens, C)``, a ViT's ``(B, tokens, heads, dim)``).
  For a square input, dims 1-2 fit only when equal. When both fit, the reading whose grid
  has the input's aspect ratio more closely wins; when that ties too (channels == height ==
  width, e.g. ConvNeXt-T stage 0 at 384x384), a layer whose last leaf module is a ``Linear``
  or a channels-last ``LayerNorm`` is read as ``NHWC``, anything else as ``NCHW``; declare
  the layout where that guess is wrong.
- **3-d outputs** ``(B, N, C)`` are tokens, prefix tokens (CLS, distillation, registers)
  dropped. When the network declares its patch grid (``grid_size`` of its first patch
  embedding, scaled to the input size) and ``N`` minus a prefix count (timm's
  ``num_prefix_tokens`` first, then 0, 1, ... 16) equals it, that is the layout; if instead
  the last dim equals it, the output is ``(B, C, N)`` (``ctokens``: the token-mixing MLPs of
  Mixer, ResMLP, gMLP). Otherwise the (prefix, grid) whose aspect ratio is closest to the
  input's is used, ties going to the declared prefix and then to fewer prefix tokens; grids
  finer than the declared patch grid are not considered. One token is a 1x1 map.
- **2-d outputs** ``(B, C)`` (Linear, pooled features) become ``(B, C, 1, 1)``.
- Scalars, 1-d outputs and outputs of 5 or more dims raise :class:`LayerOutputError`.

The first dim must be the batch: outputs that fold windows, heads or tokens into it (Swin
window attention, BatchNorm1d over flattened tokens) cannot be probed, and
:func:`neuronlabel.layers` marks them. Token orders other than row-major (Hiera's unrolled
tokens, NesT's blocked ``(B, blocks, tokens, C)``) are not recognised from the shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .errors import LayerOutputError

_DICT_KEYS = ("x", "out", "last_hidden_state", "features")
_MAX_PREFIX = 16


@dataclass(frozen=True)
class Layout:
    """How one layer's output maps to units: ``nchw``, ``nhwc``, ``tokens``, ``ctokens`` or ``flat``."""

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


@dataclass(frozen=True)
class _TokenInfo:
    prefix: Optional[int] = None
    grid: Optional[tuple[int, int]] = None
    bound: Optional[tuple[int, int]] = None


def _pair(value) -> Optional[tuple[int, int]]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    return None


def _token_info(net: Optional[nn.Module], input_hw: tuple[int, int]) -> _TokenInfo:
    """What the network declares: timm's ``num_prefix_tokens`` and its patch embedding's grid."""
    if net is None:
        return _TokenInfo()
    prefix, embed = None, None
    for module in net.modules():
        if prefix is None and isinstance(getattr(module, "num_prefix_tokens", None), int):
            prefix = module.num_prefix_tokens
        if embed is None and _pair(getattr(module, "grid_size", None)) and hasattr(module, "patch_size"):
            embed = module
        if prefix is not None and embed is not None:
            break
    if embed is None:
        return _TokenInfo(prefix)
    grid = _pair(embed.grid_size)
    size = _pair(getattr(embed, "img_size", None))
    if size is None:
        return _TokenInfo(prefix, grid, None)
    scaled = [g * x / s for g, x, s in zip(grid, input_hw, size)]
    bound = tuple(math.ceil(v) + 1 for v in scaled)
    exact = tuple(round(v) for v in scaled) if all(abs(v - round(v)) < 1e-6 for v in scaled) else None
    return _TokenInfo(prefix, exact, bound)


def _aspect_error(hw: tuple[int, int], input_hw: tuple[int, int]) -> float:
    return abs(math.log(hw[0] / hw[1]) - math.log(input_hw[0] / input_hw[1]))


def _token_layout(shape: tuple, input_hw: tuple[int, int], net: Optional[nn.Module]) -> Optional[Layout]:
    n = shape[1]
    info = _token_info(net, input_hw)
    order = [info.prefix] if info.prefix is not None and 0 <= info.prefix < n else []
    order += [p for p in range(min(n, _MAX_PREFIX + 1)) if p != info.prefix]
    if info.grid is not None and _fits_grid(info.grid, input_hw):
        area = info.grid[0] * info.grid[1]
        for p in order:
            if n - p == area:
                return Layout("tokens", p, info.grid)
        if shape[2] == area:
            return Layout("ctokens", 0, info.grid)
    best = None
    for rank, p in enumerate(order):
        m = n - p
        for d in range(1, math.isqrt(m) + 1):
            if m % d:
                continue
            for hw in dict.fromkeys([(d, m // d), (m // d, d)]):
                if not _fits_grid(hw, input_hw) or (info.bound and (hw[0] > info.bound[0] or hw[1] > info.bound[1])):
                    continue
                key = (_aspect_error(hw, input_hw), rank)
                if best is None or key < best[0]:
                    best = (key, Layout("tokens", p, hw))
    return best[1] if best is not None else None


def _channels_last(module: Optional[nn.Module]) -> bool:
    if module is None:
        return False
    leaves = [m for m in module.modules() if not list(m.children())] or [module]
    last = leaves[-1]
    return isinstance(last, (nn.Linear, nn.LayerNorm)) and not type(last).__name__.lower().endswith("2d")


def _declared_layout(declared, shape: tuple, layer: str) -> Layout:
    layout = Layout(declared) if isinstance(declared, str) else declared
    ranks = {"nchw": 4, "nhwc": 4, "tokens": 3, "ctokens": 3, "flat": 2}
    if not isinstance(layout, Layout) or ranks.get(layout.kind) != len(shape) or (
            layout.kind.endswith("tokens") and layout.grid is None):
        raise LayerOutputError(f"layer {layer!r} declares neuronlabel_layout={declared!r}, which does not fit its "
                               f"output of shape {shape}; use 'nchw' or 'nhwc' for 4-d outputs, Layout('tokens', "
                               "prefix, (h, w)) for 3-d ones, 'flat' for 2-d ones")
    return layout


def detect_layout(output: torch.Tensor, input_hw: tuple[int, int], net: Optional[nn.Module] = None,
                  module: Optional[nn.Module] = None, layer: str = "?") -> Layout:
    """Decide how a layer's output tensor maps to units, from its shape and the input size.

    >>> import torch
    >>> detect_layout(torch.rand(2, 7, 7, 768), (224, 224)).kind      # Swin stage
    'nhwc'
    """
    shape = tuple(output.shape)
    declared = getattr(module, "neuronlabel_layout", None)
    if declared is not None:
        return _declared_layout(declared, shape, layer)
    if output.dim() <= 1:
        raise LayerOutputError(f"layer {layer!r} outputs a tensor of shape {shape}: a scalar per batch or per "
                               "image has no units. Choose a layer with channels (see neuronlabel.layers(net)).")
    if output.dim() == 2:
        return Layout("flat")
    if output.dim() == 3:
        layout = _token_layout(shape, input_hw, net)
        if layout is None:
            raise LayerOutputError(f"layer {layer!r} outputs {shape}, read as (batch, tokens, channels), but "
                                   f"{shape[1]} tokens form no patch grid for a {input_hw[0]}x{input_hw[1]} input. "
                                   "Choose another layer, or set the module's neuronlabel_layout.")
        return layout
    if output.dim() == 4:
        nchw = _fits_grid(shape[2:4], input_hw)
        nhwc = _fits_grid(shape[1:3], input_hw) and (input_hw[0] != input_hw[1] or shape[1] == shape[2])
        if nhwc and not nchw:
            return Layout("nhwc")
        if nchw and nhwc:
            nchw_error, nhwc_error = _aspect_error(shape[2:4], input_hw), _aspect_error(shape[1:3], input_hw)
            if math.isclose(nchw_error, nhwc_error, abs_tol=1e-9):
                return Layout("nhwc" if _channels_last(module) else "nchw")
            return Layout("nhwc" if nhwc_error < nchw_error else "nchw")
        if nchw:
            return Layout("nchw")
        raise LayerOutputError(f"layer {layer!r} outputs {shape}, which is neither (B, C, H, W) nor (B, H, W, C) "
                               f"with a grid for a {input_hw[0]}x{input_hw[1]} input (windows or tokens folded "
                               "into the spatial dims?). Choose its parent or another layer, or set the module's "
                               "neuronlabel_layout.")
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
    if layout.kind == "ctokens":
        h, w = layout.grid
        if output.shape[2] != h * w:
            raise LayerOutputError(f"expected {h * w} patch tokens in the last dim, got {output.shape[2]}; "
                                   "the input size changed between batches")
        return output.reshape(output.shape[0], output.shape[1], h, w)
    raise LayerOutputError(f"unknown layout {layout.kind!r}")
