"""Encode a data set's exemplars once (frozen encoder), keeping only pooled ``[U, k, D]`` features.

>>> import torch
>>> from torch import nn
>>> from neuronlabel.captioner.encoder import PyramidEncoder
>>> enc = PyramidEncoder(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)), layers=["0"], input_size=16)
>>> exemplars = ExemplarSet(torch.rand(3, 3, 16, 16), torch.ones(2, 2, 16, 16), torch.tensor([[0, 1], [1, 2]]),
...                         [["dog faces"], ["stripes"]])
>>> featurize(exemplars, enc, progress=False).features.shape
torch.Size([2, 2, 4])
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .data import CaptionData


@dataclass
class ExemplarSet:
    """In-memory units: unique ``images`` ``[N, 3, H, W]``, ``masks`` ``[U, k, H, W]``,
    ``index`` ``[U, k]`` (rows of ``images``) and descriptions per unit.

    >>> ExemplarSet(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8), torch.zeros(1, 1, dtype=torch.long), [["a"]]).ids
    ['unit:0']
    """

    images: Any
    masks: Any
    index: Tensor
    descriptions: list[list[str]]
    ids: list[str] | None = None

    def __post_init__(self):
        self.index = torch.as_tensor(self.index)
        if self.ids is None:
            self.ids = [f"unit:{i}" for i in range(self.index.shape[0])]


def featurize(data: Any, encoder, spatial: bool = False, batch_size: int | None = None,
              progress: bool = True) -> CaptionData:
    """Pooled features of every unit of an :class:`ExemplarSet` (or any object with ``images``,
    ``masks``, ``index``, ``descriptions`` and optionally ``ids`` laid out the same way) or a
    MILANNOTATIONS data set.

    >>> from neuronlabel.datasets.milan_format import load_milannotations   # doctest: +SKIP
    >>> featurize(load_milannotations("data/"), PyramidEncoder()).save("feats.pt")  # doctest: +SKIP

    Each distinct image is encoded once: for MILANNOTATIONS, exemplars of one layer whose
    pixels are byte-identical (the same top image of several units) share one encoding.
    """
    from ..datasets.milan_format import MilannotationsDataset

    if isinstance(data, ExemplarSet) or all(hasattr(data, a) for a in ("images", "masks", "index", "descriptions")):
        feats = encoder.encode_pool(data.images, data.masks, torch.as_tensor(data.index), spatial=spatial,
                                    batch_size=batch_size, progress=progress)
        return CaptionData(feats, data.descriptions, getattr(data, "ids", None))
    if isinstance(data, MilannotationsDataset):
        if len(data) == 0:
            raise InputError("the MILANNOTATIONS data set has no annotated units")
        parts = []
        for li, layer in enumerate(data.layers):
            units = [u for l, u in data.entries if l == li]
            if not units:
                continue
            images, index = _dedupe(layer.images, units)
            masks = _UnitRows(layer.masks, units)
            parts.append(encoder.encode_pool(images, masks, index, spatial=spatial, batch_size=batch_size,
                                             progress=progress))
        return CaptionData(torch.cat(parts), data.descriptions, data.ids)
    raise InputError(f"cannot featurize a {type(data).__name__}; pass an ExemplarSet, an object with images, "
                     "masks, index and descriptions, or a MilannotationsDataset")


class _UnitRows:
    """``array[units[u], j]`` for index pairs, without loading the whole (memory-mapped) array."""

    def __init__(self, array: np.ndarray, units: Sequence[int]):
        self.array, self.units = array, np.asarray(units)
        self.shape = (len(units), *array.shape[1:])
        self.ndim = array.ndim

    def __getitem__(self, key):
        u, j = key
        return np.asarray(self.array[self.units[np.asarray(u)], np.asarray(j)])


class _Images:
    """Unique images addressed by row id; each row is ``array[unit, slot]``."""

    def __init__(self, array: np.ndarray, where: list[tuple[int, int]]):
        self.array, self.where = array, np.asarray(where, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.where)

    def __getitem__(self, rows):
        w = self.where[np.asarray(rows)]
        return np.asarray(self.array[w[:, 0], w[:, 1]])


def _dedupe(images: np.ndarray, units: list[int]) -> tuple[_Images, Tensor]:
    k = images.shape[1]
    seen: dict[bytes, int] = {}
    where: list[tuple[int, int]] = []
    index = torch.empty(len(units), k, dtype=torch.long)
    for r, u in enumerate(units):
        for j in range(k):
            key = hashlib.blake2b(np.ascontiguousarray(images[u, j]).tobytes(), digest_size=16).digest()
            if key not in seen:
                seen[key] = len(where)
                where.append((u, j))
            index[r, j] = seen[key]
    return _Images(images, where), index
