"""What a probe keeps per layer: top-k exemplars, their maps, and mask thresholds.

>>> import torch
>>> from neuronlabel.probing.exemplars import Exemplars
>>> ex = Exemplars("layer", ids=torch.tensor([[3, 1]]), scores=torch.tensor([[2.0, 1.0]]),
...                maps=torch.tensor([[[[0.0, 2.0]], [[1.0, 0.0]]]]), thresholds=torch.tensor([0.5]),
...                threshold_error=torch.tensor([0.01]), image_size=(1, 4), quantile=0.99)
>>> ex.masks().int().tolist()
[[[[0, 0, 1, 1]], [[1, 1, 0, 0]]]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError


@dataclass
class Exemplars:
    """One layer's result: ``ids``/``scores`` [U,k] best first, ``maps`` [U,k,h,w], ``thresholds`` [U].

    ``thresholds`` is each unit's activation quantile over every spatial position of every
    probe image, within ``threshold_error`` of the exact value; ``means`` [U] is its mean
    activation over the same values, within the same bound.
    """

    layer: str
    ids: torch.Tensor
    scores: torch.Tensor
    maps: torch.Tensor
    thresholds: torch.Tensor
    threshold_error: torch.Tensor
    image_size: tuple[int, int]
    quantile: float
    layout: str = "nchw"
    nonfinite: Optional[torch.Tensor] = field(default=None)
    means: Optional[torch.Tensor] = field(default=None)
    _counts: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def units(self) -> int:
        return self.ids.shape[0]

    @property
    def k(self) -> int:
        return self.ids.shape[1]

    def _select(self, units: Optional[Sequence[int]]) -> torch.Tensor:
        if units is None:
            return torch.arange(self.units, device=self.maps.device)
        idx = torch.as_tensor(list(units), dtype=torch.long, device=self.maps.device)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.units):
            raise InputError(f"layer {self.layer!r} has units 0..{self.units - 1}; got {sorted(set(units))[:10]}")
        return idx

    def masks(self, units: Optional[Sequence[int]] = None, size: Optional[tuple[int, int]] = None) -> torch.Tensor:
        """Binary masks [U', k, H, W]: maps upsampled (bilinear) to the image size, above the unit's threshold.

        Pass ``units`` (a list of channels) to work through a large layer in chunks.
        """
        idx = self._select(units)
        maps = self.maps[idx].float()
        u, k, h, w = maps.shape
        size = tuple(size or self.image_size)
        up = F.interpolate(maps.reshape(u * k, 1, h, w), size=size, mode="bilinear", align_corners=False)
        return up.reshape(u, k, *size) > self.thresholds[idx].float().view(u, 1, 1, 1)

    def mask_counts(self, units: Optional[Sequence[int]] = None, grid: tuple[int, int] = (7, 7)) -> torch.Tensor:
        """How many pixels of each mask (:meth:`masks`) fall in each cell of ``grid``: ``[U', k, g, g]``.

        >>> ex = Exemplars("layer", ids=torch.tensor([[0]]), scores=torch.tensor([[1.0]]),
        ...                maps=torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]]), thresholds=torch.tensor([0.5]),
        ...                threshold_error=torch.tensor([0.0]), image_size=(8, 8), quantile=0.99)
        >>> ex.mask_counts(grid=(2, 2)).tolist()
        [[[[0, 15], [0, 0]]]]

        ``grid`` must tile the image in equal blocks. No full-size mask is kept: the counts are
        made a few masks at a time and remembered per unit, so the captioner and the evidence
        stage share them.
        """
        size = tuple(self.image_size)
        grid = (int(grid[0]), int(grid[1]))
        if any(s % g for s, g in zip(size, grid)):
            raise InputError(f"grid {grid} does not tile images of size {size} in equal blocks")
        idx = self._select(units)
        area = (size[0] // grid[0]) * (size[1] // grid[1])
        if grid not in self._counts:
            dtype = torch.int16 if area < 2 ** 15 else torch.int32
            self._counts[grid] = (torch.zeros((self.units, self.k, *grid), dtype=dtype, device=self.maps.device),
                                  torch.zeros(self.units, dtype=torch.bool, device=self.maps.device))
        counts, done = self._counts[grid]
        missing = idx[~done[idx]]
        if missing.numel():
            missing = torch.unique(missing)
            found = mask_counts(self.maps[missing], self.thresholds[missing], size, grid)
            counts[missing] = found.to(counts.dtype)
            done[missing] = True
        return counts[idx]

    def coverage(self, units: Optional[Sequence[int]] = None, grid: tuple[int, int] = (7, 7)) -> torch.Tensor:
        """The share of each cell of ``grid`` inside each mask, ``[U', k, g, g]`` float: :meth:`masks`
        area-averaged to ``grid`` (``adaptive_avg_pool2d``), the same values; without making the
        full-size masks when ``grid`` tiles the image in blocks whose sides are powers of two (then
        ``count / area`` is exact).

        >>> ex = Exemplars("layer", ids=torch.tensor([[0]]), scores=torch.tensor([[1.0]]),
        ...                maps=torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]]), thresholds=torch.tensor([0.5]),
        ...                threshold_error=torch.tensor([0.0]), image_size=(8, 8), quantile=0.99)
        >>> ex.coverage(grid=(2, 2)).mul(16).tolist()
        [[[[0.0, 15.0], [0.0, 0.0]]]]
        """
        size = tuple(self.image_size)
        if not pow2_blocks(size, grid):
            masks = self.masks(units).float()
            u, k = masks.shape[:2]
            return F.adaptive_avg_pool2d(masks.view(u * k, 1, *size), tuple(grid)).view(u, k, *grid)
        area = (size[0] // grid[0]) * (size[1] // grid[1])
        return self.mask_counts(units, grid).float() / area

    def state_dict(self) -> dict:
        return {"layer": self.layer, "ids": self.ids, "scores": self.scores, "maps": self.maps,
                "thresholds": self.thresholds, "threshold_error": self.threshold_error,
                "image_size": list(self.image_size), "quantile": self.quantile, "layout": self.layout}


def pow2_blocks(size, grid) -> bool:
    """Whether a ``grid`` tiles an image of ``size`` in equal blocks whose sides are powers of two.

    >>> pow2_blocks((224, 224), (28, 28)), pow2_blocks((224, 224), (14, 7)), pow2_blocks((30, 30), (5, 5))
    (True, True, False)
    """
    return all(s % g == 0 and (s // g) & (s // g - 1) == 0 for s, g in zip(size, grid))


def mask_counts(maps: torch.Tensor, thresholds: torch.Tensor, size, grid, step: int = 128,
                packed: Optional[bool] = None) -> torch.Tensor:
    """Per map ``[U, k, h, w]``, the pixels of ``upsample(map, size) > threshold`` (thresholds ``[U]``,
    bilinear as :meth:`Exemplars.masks`) in each cell of ``grid``, ``[U, k, g, g]`` int32.

    >>> mask_counts(torch.tensor([[[[0.0, 1.0]]]]), torch.tensor([0.5]), (2, 8), (1, 2)).tolist()
    [[[[0, 8]]]]

    ``grid`` must divide ``size``. Masks are made ``step`` maps at a time, all maps of a step
    upsampled as the channels of one image (the same values as one map at a time, faster).
    The cells are summed 8 bytes at a time (:func:`_packed_counts`) where their shape allows it;
    ``packed=False`` sums them byte by byte (the same counts, slower).
    """
    u, k, h, w = maps.shape
    (H, W), (g0, g1) = (int(size[0]), int(size[1])), (int(grid[0]), int(grid[1]))
    flat = maps.reshape(u * k, h, w).float()
    limits = thresholds.float().repeat_interleave(k)
    out = torch.empty((u * k, g0, g1), dtype=torch.int32, device=maps.device)
    fits = (W // g1) % 8 == 0 and H // g0 <= 31
    count = _packed_counts if (fits if packed is None else packed and fits) else _bytewise_counts
    for lo in range(0, u * k, step):
        part = flat[lo:lo + step]
        n = part.shape[0]
        up = F.interpolate(part.unsqueeze(0), size=(H, W), mode="bilinear", align_corners=False)[0]
        above = (up > limits[lo:lo + step, None, None]).view(torch.uint8)
        out[lo:lo + n] = count(above, g0, g1)
    return out.view(u, k, g0, g1)


def _bytewise_counts(above: torch.Tensor, g0: int, g1: int) -> torch.Tensor:
    """Cell counts ``[n, g0, g1]`` of 0/1 bytes ``above`` ``[n, H, W]``, summed byte by byte."""
    n, H, W = above.shape
    rows = above.view(n, H, g1, W // g1).sum(-1, dtype=torch.int32)
    return rows.view(n, g0, H // g0, g1).sum(2, dtype=torch.int32)


def _packed_counts(above: torch.Tensor, g0: int, g1: int) -> torch.Tensor:
    """Cell counts ``[n, g0, g1]`` of 0/1 bytes ``above`` ``[n, H, W]`` whose cells are a multiple of 8 bytes
    wide and at most 31 rows high: the bytes are read 8 at a time as int64 words, a cell's rows are
    added word by word (no byte exceeds 31) and each word's 8 bytes are summed by shifts (exact).

    >>> a = torch.zeros(1, 2, 16, dtype=torch.uint8); a[0, :, 3] = 1; a[0, 1, 9:12] = 1
    >>> _packed_counts(a, 1, 2).tolist()
    [[[2, 3]]]
    """
    n, H, W = above.shape
    words = above.view(torch.int64).view(n, g0, H // g0, W // 8).sum(2)
    words = words + (words >> 8)
    words = words + (words >> 16)
    words = (words + (words >> 32)) & 0xFF
    return words.view(n, g0, g1, W // g1 // 8).sum(-1, dtype=torch.int32)

