"""Running top-k images per unit, keeping the k activation maps.

>>> import torch
>>> from neuronlabel.probing.topk import TopK
>>> top = TopK(units=3, k=2, map_size=(4, 4))
>>> top.add(torch.rand(5, 3, 4, 4), ids=torch.arange(5))
>>> top.ids.shape, top.maps.shape
(torch.Size([3, 2]), torch.Size([3, 2, 4, 4]))

Images are ranked per unit by the spatial maximum of the unit's map; ties go to the lower
image id, so the result does not depend on batch size, order or sharding. NaN maxima rank
last and are counted in ``nonfinite``. State tensors are replaced, never written in place,
so ``state_dict()`` is a snapshot that costs nothing.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..errors import CheckpointError, InputError


class TopK:
    """The k best images per unit: ``ids`` [U,k], ``scores`` [U,k], ``maps`` [U,k,h,w], best first.

    >>> t = TopK(units=1, k=1, map_size=(1, 1))
    >>> t.add(torch.tensor([[[[2.0]]], [[[5.0]]]]), ids=torch.tensor([7, 8]))
    >>> t.ids.tolist(), t.scores.tolist()
    ([[8]], [[5.0]])
    """

    def __init__(self, units: int, k: int, map_size: tuple[int, int], device=None, dtype=torch.float32):
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        h, w = map_size
        self.k = k
        self.ids = torch.full((units, k), -1, dtype=torch.long, device=device)
        self.scores = torch.full((units, k), float("-inf"), dtype=dtype, device=device)
        self.maps = torch.zeros((units, k, h, w), dtype=dtype, device=device)
        self.nonfinite = torch.zeros(units, dtype=torch.long, device=device)
        self.seen = 0

    @property
    def units(self) -> int:
        return self.ids.shape[0]

    def add(self, maps: torch.Tensor, ids: torch.Tensor, scores: Optional[torch.Tensor] = None) -> None:
        """Fold a batch of unit maps ``[B, U, h, w]`` for images ``ids`` [B] into the top-k.

        ``scores`` ([B, U], optional) is ``maps.amax((2, 3))`` if the caller has it already.
        """
        if maps.shape[1] != self.units or maps.shape[2:] != self.maps.shape[2:]:
            raise InputError(f"batch maps of shape {tuple(maps.shape)} do not match {self.units} units of "
                             f"size {tuple(self.maps.shape[2:])}")
        maps = maps.detach()
        scores = (maps.amax(dim=(2, 3)) if scores is None else scores).to(self.scores.dtype)
        bad = ~torch.isfinite(scores)
        if bad.any():
            self.nonfinite = self.nonfinite + bad.sum(0)
            scores = scores.masked_fill(torch.isnan(scores), float("-inf"))
        ids = ids.to(self.ids.device)
        self._combine(scores.t(), ids.unsqueeze(0).expand(self.units, -1), lambda rows, cols: maps[cols, rows])
        self.seen += maps.shape[0]

    def merge(self, other: "TopK") -> None:
        """Fold another shard's top-k into this one (exactly what one run over both gives)."""
        if other.ids.shape != self.ids.shape or other.maps.shape != self.maps.shape:
            raise InputError(f"cannot merge top-k of shape {tuple(other.maps.shape)} into {tuple(self.maps.shape)}")
        other_maps = other.maps.to(self.maps.device)
        self._combine(other.scores.to(self.scores.device), other.ids.to(self.ids.device),
                      lambda rows, cols: other_maps[rows, cols])
        self.nonfinite = self.nonfinite + other.nonfinite.to(self.nonfinite.device)
        self.seen += other.seen

    def _combine(self, new_scores: torch.Tensor, new_ids: torch.Tensor, new_maps) -> None:
        k = self.k
        scores = torch.cat([self.scores, new_scores], dim=1)
        ids = torch.cat([self.ids, new_ids], dim=1)
        by_id = torch.argsort(torch.where(ids < 0, torch.iinfo(torch.long).max, ids), dim=1, stable=True)
        by_score = torch.argsort(scores.gather(1, by_id), dim=1, descending=True, stable=True)
        pick = by_id.gather(1, by_score)[:, :k]
        changed = (pick != torch.arange(k, device=pick.device)).any(1).nonzero().squeeze(1)
        if changed.numel():
            pick_c = pick[changed]
            maps = self.maps.clone()
            maps[changed] = self.maps[changed.unsqueeze(1).expand_as(pick_c), pick_c.clamp(max=k - 1)]
            fresh = (pick_c >= k).nonzero()
            if fresh.numel():
                units, slots = changed[fresh[:, 0]], fresh[:, 1]
                maps[units, slots] = new_maps(units, pick_c[fresh[:, 0], slots] - k).to(maps.dtype)
            self.maps = maps
        self.scores = scores.gather(1, pick)
        self.ids = ids.gather(1, pick)

    def state_dict(self) -> dict:
        return {"k": self.k, "ids": self.ids, "scores": self.scores, "maps": self.maps,
                "nonfinite": self.nonfinite, "seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        if state["k"] != self.k or tuple(state["maps"].shape) != tuple(self.maps.shape):
            raise CheckpointError(f"saved top-k has k={state['k']} and maps {tuple(state['maps'].shape)}; "
                                  f"this run has k={self.k} and maps {tuple(self.maps.shape)}")
        device = self.ids.device
        self.ids = state["ids"].to(device)
        self.scores = state["scores"].to(device)
        self.maps = state["maps"].to(device)
        self.nonfinite = state["nonfinite"].to(device)
        self.seen = int(state["seen"])
