"""Colour evidence: which named colours fill a unit's masked exemplar pixels.

>>> import torch
>>> pixels = torch.zeros(1, 3, 8, 8); pixels[0, 0] = 0.9                     # a red image
>>> cover = colour_cover(pixels, grid=4)
>>> COLOURS[int(cover[0].sum(dim=(1, 2)).argmax())]
'red'

Pixels are named by :func:`neuronlabel.datasets.compound_concepts.colour_maps` (HSV rules over
11 colours) at :data:`~neuronlabel.evidence.features.PIXELS` resolution and averaged to the
mask grid, so each grid cell holds the share of its pixels of each colour. A mask's colour
shares are the mask-weighted means of those covers (pixels of no named colour count for none).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets.compound_concepts import COLOURS, colour_maps
from .features import GRID


def colour_cover(pixels: Tensor, grid: int = GRID) -> Tensor:
    """Per image and colour, the share of each grid cell's pixels of that colour ``[N, 11, grid, grid]``."""
    if not len(pixels):
        return torch.zeros(0, len(COLOURS), grid, grid)
    rgb = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    _, member = colour_maps(rgb, grid=pixels.shape[-1])
    return F.adaptive_avg_pool2d(member.float(), grid)


def colour_shares(cover: Tensor, rows: Tensor, weights: Tensor) -> Tensor:
    """Colour shares ``[E, 11]`` of exemplar masks (``weights`` [E, g, g]) over the ``cover`` of their images.

    >>> cover = torch.zeros(1, 11, 2, 2); cover[0, 0, 0] = 1.0; cover[0, 4, 1] = 1.0     # red top, blue bottom
    >>> w = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    >>> [round(float(v), 2) for v in colour_shares(cover, torch.tensor([0]), w)[0, [0, 4]]]
    [1.0, 0.0]
    """
    from .features import pool

    return pool(cover, rows, weights)
