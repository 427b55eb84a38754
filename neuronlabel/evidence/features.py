"""What the scorers need of each exemplar image, computed once per image: EfficientNet-Lite0's ImageNet
logits per cell of its last feature map, its pooled-feature maps, small pixels for colours.

>>> import torch
>>> feats = image_features(torch.rand(2, 3, 64, 64), torch.tensor([5, 9]))      # doctest: +SKIP
>>> feats.cell_logits.shape, feats.rows(torch.tensor([[9, 5]])).tolist()        # doctest: +SKIP
(torch.Size([2, 1000, 7, 7]), [[1, 0]])

Images come as the probe source shows them (``[N, 3, H, W]`` in ``[0, 1]``) and are resized
whole to 224 px, as the captioner's encoder does, so masks stay aligned. Because global
average pooling and the classifier are linear, the logits of any mask-weighted region are the
mask-weighted mean of the per-cell logits (a class activation map), so one forward pass per
image serves every exemplar mask of every unit. The captioner's own encoding is reused when
it is EfficientNet-Lite0 with the layers needed (:data:`LAYERS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError

BACKBONE = "efficientnet_lite0"
LAYERS = ("blocks.6", "bn2")          # texture features: mask-pooled blocks.6 (320) and bn2 (1280)
GRID = 28                              # masks, colours and faces are compared on a 28 x 28 grid
PIXELS = 56                            # colours are read from 56 x 56 pixels per image


@dataclass
class ImageFeatures:
    """Per distinct exemplar image: ``ids`` [N] probe ids, ``cell_logits`` [N, 1000, h, w],
    ``maps`` (feature maps of :data:`LAYERS`, each [N, C, h, w]), ``pixels`` [N, 3, PIXELS, PIXELS] in [0, 1].
    :meth:`layout` gives any of them in the cell-rows layout that :func:`pool` reads fastest."""

    ids: Tensor
    cell_logits: Tensor
    maps: list
    pixels: Tensor

    def layout(self, name: str, i: int = 0) -> tuple:
        """``(cells, (h, w))`` of ``cell_logits`` (``name="logits"``) or of ``maps[i]`` (``"maps"``), cached."""
        cache = self.__dict__.setdefault("_cells", {})
        if (name, i) not in cache:
            t = self.cell_logits if name == "logits" else self.maps[i]
            cache[(name, i)] = (cells(t), tuple(t.shape[-2:]))
        return cache[(name, i)]

    def __len__(self) -> int:
        return int(self.ids.numel())

    def rows(self, ids: Tensor) -> Tensor:
        """Row of each probe id in these features (-1 where absent).

        >>> f = ImageFeatures(torch.tensor([4, 2]), torch.zeros(2, 1, 1, 1), [], torch.zeros(2, 3, 1, 1))
        >>> f.rows(torch.tensor([[2, 4, 7]])).tolist()
        [[1, 0, -1]]
        """
        ids = torch.as_tensor(ids).long()
        top = int(max(int(self.ids.max()) if len(self) else 0, int(ids.max()) if ids.numel() else 0)) + 1
        row_of = torch.full((top,), -1, dtype=torch.long)
        row_of[self.ids.cpu()] = torch.arange(len(self))
        out = torch.full_like(ids, -1)
        ok = ids >= 0
        out[ok] = row_of[ids[ok].cpu()].to(out.device)
        return out

    @property
    def whole_logits(self) -> Tensor:
        """ImageNet logits of each whole image ``[N, 1000]`` (what the classifier itself predicts)."""
        return self.cell_logits.mean(dim=(2, 3))


_ENCODERS: dict = {}


def encoder(device=None):
    """The shared EfficientNet-Lite0 :class:`~neuronlabel.captioner.encoder.PyramidEncoder` and classifier.

    >>> enc, classifier = encoder()                                               # doctest: +SKIP
    >>> classifier.weight.shape                                                   # doctest: +SKIP
    torch.Size([1000, 1280])
    """
    key = str(device or "cpu")
    if key not in _ENCODERS:
        from ..captioner.encoder import PyramidEncoder

        enc = PyramidEncoder(BACKBONE, layers=LAYERS, device=device)
        _ENCODERS[key] = (enc, enc.net.classifier)
    return _ENCODERS[key]


def cell_logits(bn2: Tensor, classifier: torch.nn.Linear) -> Tensor:
    """Per-cell ImageNet logits ``[N, 1000, h, w]`` of bn2 maps ``[N, 1280, h, w]`` (a 1x1 convolution).

    >>> lin = torch.nn.Linear(3, 2); maps = torch.rand(1, 3, 2, 2)
    >>> torch.allclose(cell_logits(maps, lin).mean(dim=(2, 3)), lin(maps.mean(dim=(2, 3))), atol=1e-6)
    True
    """
    w = classifier.weight.to(bn2.dtype)
    b = classifier.bias.to(bn2.dtype)
    return torch.einsum("nchw,kc->nkhw", bn2, w) + b.view(1, -1, 1, 1)


@torch.no_grad()
def image_features(images: Tensor, ids: Tensor, *, encoded=None, device=None, batch_size: int = 32) -> ImageFeatures:
    """Compute (or take from the captioner's ``encoded``) what the scorers need of each image."""
    images = torch.as_tensor(images)
    ids = torch.as_tensor(ids).long().cpu()
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] != ids.numel():
        raise InputError(f"images must be [N, 3, H, W] with one probe id each; got images {tuple(images.shape)} "
                         f"and {ids.numel()} ids")
    enc, classifier = encoder(device)
    maps = _reuse(encoded, images.shape[0])
    if maps is None:
        maps = enc.encode(images, batch_size=batch_size).maps
    logits = torch.cat([cell_logits(maps[-1][i:i + 64].to(classifier.weight.device), classifier)
                        for i in range(0, maps[-1].shape[0], 64)]) if len(ids) else torch.empty(0, 1000, 1, 1)
    pixels = F.interpolate(images.float(), size=(PIXELS, PIXELS), mode="area") if len(ids) else \
        torch.empty(0, 3, PIXELS, PIXELS)
    return ImageFeatures(ids, logits, [m for m in maps], pixels.clamp(0, 1))


def _reuse(encoded, n: int) -> Optional[list]:
    if encoded is None:
        return None
    layers = tuple(getattr(encoded, "layers", ()))
    if not all(layer in layers for layer in LAYERS) or len(encoded) != n:
        return None
    maps = [encoded.maps[layers.index(layer)] for layer in LAYERS]
    if maps[-1].shape[1] != 1280:
        return None
    return maps


def small_masks(masks: Tensor, grid: int = GRID) -> Tensor:
    """Binary masks ``[..., H, W]`` as float coverage ``[..., grid, grid]`` (area-averaged).

    >>> m = torch.zeros(1, 4, 4, dtype=torch.bool); m[0, :2, :2] = True
    >>> small_masks(m, 2).tolist()
    [[[1.0, 0.0], [0.0, 0.0]]]
    """
    lead = masks.shape[:-2]
    flat = masks.reshape(-1, 1, *masks.shape[-2:]).float()
    return F.adaptive_avg_pool2d(flat, grid).reshape(*lead, grid, grid)


def cells(maps: Tensor) -> Tensor:
    """Maps ``[N, C, h, w]`` as one row per cell ``[N * h * w, C]`` (the layout :func:`pool` reads).

    >>> cells(torch.arange(8.0).view(1, 2, 2, 2))[:, 1].tolist()
    [4.0, 5.0, 6.0, 7.0]
    """
    n, c, h, w = maps.shape
    return maps.permute(0, 2, 3, 1).reshape(n * h * w, c).contiguous()


def pool(maps: Tensor, rows: Tensor, weights: Tensor, grid: "tuple | None" = None) -> Tensor:
    """Mask-weighted means ``[E, C]`` of per-image maps for exemplars (``rows`` [E], ``weights`` [E, g, g]
    coverage, resized to the maps' grid and normalised; an empty mask averages uniformly).

    ``maps`` is ``[N, C, h, w]``, or its :func:`cells` ``[N * h * w, C]`` with ``grid=(h, w)``; the
    means are one product per image (:func:`~neuronlabel.captioner.encoder.weighted_means`), so no
    exemplar copies its image's maps.

    >>> maps = torch.arange(4.0).view(1, 1, 2, 2)
    >>> pool(maps, torch.tensor([0, 0]), torch.tensor([[[1.0, 0], [0, 0]], [[0.0, 0], [0, 0]]])).tolist()
    [[0.0], [1.5]]
    """
    if grid is None:
        grid = tuple(maps.shape[-2:])
        maps = cells(maps)
    h, w = grid
    wts = F.adaptive_avg_pool2d(weights.unsqueeze(1).float(), (h, w)).squeeze(1) if weights.shape[-2:] != (h, w) \
        else weights.float()
    wts = wts.flatten(1)
    total = wts.sum(-1, keepdim=True)
    wts = torch.where(total > 0, wts / total.clamp(min=1e-12), torch.full_like(wts, 1.0 / (h * w)))
    from ..captioner.encoder import weighted_means

    return weighted_means(maps.view(-1, h * w, maps.shape[-1]), rows.long().to(maps.device), wts.to(maps.device))
