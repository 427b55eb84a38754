"""Training data: units with exemplar features (or images + masks) and their descriptions.

>>> import torch
>>> data = CaptionData(torch.randn(3, 5, 8), [["dog faces"], ["stripes", "red stripes"], ["cars"]])
>>> len(data), data.ids[1], data.subset([2]).descriptions
(3, 'unit:1', [['cars']])
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from ..errors import CheckpointError, InputError

FEATURES_FORMAT = "neuronlabel-caption-features"


@dataclass
class CaptionData:
    """Pooled exemplar features ``[U, k, D]`` of ``U`` units with one or more descriptions each.

    >>> CaptionData(torch.zeros(1, 2, 4), [["dog"]], ids=["layer4:7"]).ids
    ['layer4:7']

    ``mask`` ``[U, k]`` (True = real exemplar) marks padding when units have fewer than
    ``k`` exemplars. Encode images once with :func:`neuronlabel.training.featurize`, keep
    the result with :meth:`save`, and train as often as you like on it.
    """

    features: Tensor
    descriptions: list[list[str]]
    ids: list[str] | None = None
    mask: Tensor | None = None

    def __post_init__(self):
        if not isinstance(self.features, Tensor) or self.features.dim() != 3 or not self.features.is_floating_point():
            shape = tuple(self.features.shape) if isinstance(self.features, Tensor) else type(self.features).__name__
            raise InputError(f"features must be a float tensor [units, k, D]; got {shape}")
        self.features = self.features.float()
        units = self.features.shape[0]
        self.descriptions = [[d] if isinstance(d, str) else list(d) for d in self.descriptions]
        if len(self.descriptions) != units:
            raise InputError(f"{units} units of features but {len(self.descriptions)} description lists")
        for i, ds in enumerate(self.descriptions):
            ds[:] = [d for d in ds if isinstance(d, str) and d.strip()]
            if not ds:
                raise InputError(f"unit {i} has no non-empty description; drop it or add one")
        self.ids = [f"unit:{i}" for i in range(units)] if self.ids is None else [str(i) for i in self.ids]
        if len(self.ids) != units or len(set(self.ids)) != units:
            raise InputError(f"ids must be {units} distinct names, got {len(self.ids)} ({len(set(self.ids))} distinct)")
        if self.mask is not None:
            self.mask = torch.as_tensor(self.mask, dtype=torch.bool)
            if tuple(self.mask.shape) != tuple(self.features.shape[:2]) or not bool(self.mask.any(1).all()):
                raise InputError(f"mask must be [units, k] = {tuple(self.features.shape[:2])} with a real exemplar "
                                 f"in every row; got {tuple(self.mask.shape)}")

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def feature_size(self) -> int:
        return self.features.shape[-1]

    def subset(self, indices: Sequence[int]) -> "CaptionData":
        """The units at ``indices``, in that order.

        >>> CaptionData(torch.zeros(3, 1, 2), [["a"], ["b"], ["c"]]).subset([2, 0]).ids
        ['unit:2', 'unit:0']
        """
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return CaptionData(self.features.index_select(0, idx), [list(self.descriptions[i]) for i in idx.tolist()],
                           [self.ids[i] for i in idx.tolist()],
                           None if self.mask is None else self.mask.index_select(0, idx))

    def fingerprint(self) -> str:
        """SHA-256 of ids, descriptions and feature bytes: two runs on the same data agree.

        >>> len(CaptionData(torch.zeros(1, 1, 2), [["a"]]).fingerprint())
        64
        """
        h = hashlib.sha256()
        for i, ds in zip(self.ids, self.descriptions):
            h.update(("\x00".join([i, *ds]) + "\x01").encode())
        h.update(str(tuple(self.features.shape)).encode())
        h.update(self.features.contiguous().numpy().tobytes())
        if self.mask is not None:
            h.update(self.mask.numpy().tobytes())
        return h.hexdigest()

    def save(self, path: str | os.PathLike) -> Path:
        """Write features, descriptions, ids and mask as plain tensors/lists (``torch.load(weights_only=True)``).

        >>> CaptionData(torch.zeros(1, 1, 2), [["a"]]).save("feats.pt")     # doctest: +SKIP
        """
        from ..files import temp_path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path)
        torch.save({"format": FEATURES_FORMAT, "version": 1, "features": self.features,
                    "descriptions": self.descriptions, "ids": self.ids, "mask": self.mask}, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CaptionData":
        """Inverse of :meth:`save`.

        >>> CaptionData.load("feats.pt").descriptions                      # doctest: +SKIP
        [['a']]
        """
        from ..captioner.model import read_checkpoint

        state = read_checkpoint(path)
        if not isinstance(state, dict) or state.get("format") != FEATURES_FORMAT or state.get("version") != 1:
            raise CheckpointError(f"{path} is not a neuronlabel feature file (format {FEATURES_FORMAT!r}, version 1)")
        return cls(state["features"], state["descriptions"], state["ids"], state["mask"])


def split_units(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of unit indices into (train, validation); every description of a unit
    stays on one side.

    >>> split_units(10, 0.2, seed=0) == split_units(10, 0.2, seed=0)
    True
    >>> sorted(sum(split_units(5, 0.4, seed=1), []))
    [0, 1, 2, 3, 4]
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0 or n < 2:
        return list(range(n)), []
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()
    n_val = min(n - 1, max(1, round(n * val_fraction)))
    return sorted(order[n_val:]), sorted(order[:n_val])
