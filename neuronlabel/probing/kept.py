"""Outputs of extra layers kept during the probe, only for images that are some unit's exemplars.

>>> import torch
>>> kept = KeptOutputs(["stage"])
>>> kept.update(torch.tensor([3, 4]), {"stage": torch.rand(2, 5, 2, 2)}, wanted=torch.tensor([4, 9]))
>>> sorted(kept.rows), kept.rows[4][0].shape
([4], torch.Size([5, 2, 2]))

The captioner's encoder needs, for every exemplar image, the feature maps of a few layers of
its backbone. When the probed network is that backbone, the probe pass computes them
anyway: :class:`KeptOutputs` holds them for the images currently in some unit's top-k
(an image that drops out of every top-k is let go), so captioning need not run the
backbone over the exemplars again. Memory is bounded by ``limit_bytes``; images past it are
simply not kept, and whoever reads the outputs computes the missing ones.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch


class KeptOutputs:
    """``rows[image id]`` = that image's outputs of ``layers`` (float32, NCHW, one tensor per layer)."""

    def __init__(self, layers: Sequence[str], limit_bytes: int = 2 << 30):
        self.layers = tuple(layers)
        self.limit_bytes = int(limit_bytes)
        self.rows: dict[int, tuple[torch.Tensor, ...]] = {}
        self.bytes = 0

    def update(self, ids: torch.Tensor, outputs: Mapping[str, torch.Tensor], wanted: torch.Tensor) -> None:
        """Let go of images not in ``wanted``, then keep the batch's images (``ids``) that are."""
        wanted_ids = set(wanted.tolist())
        for i in [i for i in self.rows if i not in wanted_ids]:
            self.bytes -= _size(self.rows.pop(i))
        for j, i in enumerate(ids.tolist()):
            if i not in wanted_ids or i in self.rows:
                continue
            row = tuple(outputs[name][j].float().clone(memory_format=torch.contiguous_format) for name in self.layers)
            if self.bytes + _size(row) > self.limit_bytes:
                continue
            self.rows[i] = row
            self.bytes += _size(row)


def _size(row) -> int:
    return sum(t.numel() * t.element_size() for t in row)
