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

    def state_dict(self) -> dict:
        return {"layer": self.layer, "ids": self.ids, "scores": self.scores, "maps": self.maps,
                "thresholds": self.thresholds, "threshold_error": self.threshold_error,
                "image_size": list(self.image_size), "quantile": self.quantile, "layout": self.layout}
