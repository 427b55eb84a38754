"""Texture evidence: a linear head on frozen, mask-pooled EfficientNet-Lite0 features.

>>> head = TextureHead.load()
>>> head.classes[-1], "striped" in head.classes
('none', True)

The head reads the concatenation of the exemplar's mask-pooled ``blocks.6`` and ``bn2``
features (:data:`neuronlabel.evidence.features.LAYERS`), standardised, and gives
probabilities over the texture keys of :mod:`neuronlabel.concepts.vocabulary` plus
``"none"`` (no texture: ordinary photos). It ships as ``texture_head.pt`` (float16, tens of
KB) and is trained by ``scripts/train_texture_head.py`` on the *training* part of the shared
texture photos only, procedurally drawn patterns and non-texture photos.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import Tensor

from ..errors import CheckpointError, InputError
from .features import ImageFeatures, pool

WEIGHTS = Path(__file__).with_name("texture_head.pt")
NONE = "none"


class TextureHead:
    """``probs(features)`` ``[E, classes]`` from pooled features ``[E, D]``.

    >>> h = TextureHead(["striped", "none"], torch.zeros(3), torch.ones(3), torch.zeros(2, 3), torch.tensor([1.0, 0.0]))
    >>> h.probs(torch.zeros(1, 3)).argmax(1).tolist()
    [0]
    """

    def __init__(self, classes, mean: Tensor, std: Tensor, weight: Tensor, bias: Tensor, meta: dict | None = None):
        self.classes = list(classes)
        self.mean, self.std = mean.float(), std.float().clamp(min=1e-6)
        self.weight, self.bias = weight.float(), bias.float()
        self.meta = dict(meta or {})
        if self.weight.shape != (len(self.classes), self.mean.numel()) or self.bias.shape != (len(self.classes),):
            raise CheckpointError(f"texture head: weight {tuple(self.weight.shape)} and bias {tuple(self.bias.shape)} "
                                  f"do not fit {len(self.classes)} classes of {self.mean.numel()} features")

    @classmethod
    @functools.lru_cache(maxsize=None)
    def load(cls, path: "str | Path | None" = None) -> "TextureHead":
        """The bundled head (or one saved by the training script at ``path``)."""
        path = Path(path) if path is not None else WEIGHTS
        if not path.is_file():
            raise CheckpointError(f"no texture head at {path}; train one with scripts/train_texture_head.py")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return cls(state["classes"], state["mean"], state["std"], state["weight"], state["bias"], state.get("meta"))

    def state_dict(self) -> dict:
        half = lambda t: t.to(torch.float16)
        return {"classes": self.classes, "mean": half(self.mean), "std": half(self.std), "weight": half(self.weight),
                "bias": half(self.bias), "meta": self.meta}

    def probs(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.mean.numel():
            raise InputError(f"texture features must be [exemplars, {self.mean.numel()}], got {tuple(x.shape)}")
        z = (x.float() - self.mean.to(x.device)) / self.std.to(x.device)
        return (z @ self.weight.T.to(x.device) + self.bias.to(x.device)).softmax(-1)


def pooled(features: ImageFeatures, rows: Tensor, weights: Tensor) -> Tensor:
    """Mask-pooled texture features ``[E, D]`` of exemplars (all feature layers, concatenated)."""
    parts = []
    for i in range(len(features.maps)):
        flat, grid = features.layout("maps", i)
        parts.append(pool(flat, rows, weights, grid).float())
    return torch.cat(parts, dim=1)
