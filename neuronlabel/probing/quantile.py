"""A streaming, mergeable per-unit quantile sketch with a deterministic error bound.

>>> import torch
>>> from neuronlabel.probing.quantile import QuantileSketch
>>> sketch = QuantileSketch(units=2, bins=1024)
>>> data = torch.randn(100, 2, 8, 8)
>>> sketch.add(data)
>>> est = sketch.quantile(0.99)
>>> exact = torch.quantile(data.transpose(0, 1).reshape(2, -1), 0.99, dim=1, interpolation="lower")
>>> bool(((est - exact).abs() <= sketch.error_bound()).all())
True

Each unit keeps a histogram of ``bins`` equal bins whose width is a power of two and whose
edges are multiples of that width. When a value falls outside, the width doubles (pairs of
bins merge exactly) until the range covers it; two sketches merge by bringing both to the
coarser grid, which is exact on counts. The q-quantile returned is the middle of the bin
that holds the exact lower q-quantile (``torch.quantile(..., interpolation="lower")``), so
it is never further than half a bin width, ``error_bound()``, from it. With the default
2048 bins that is 1/4094 of the range of the unit's activations or less. Memory is
``units x bins`` counts, whatever the number of images. NaN and inf values are not binned;
they are counted in ``nonfinite``. State tensors are replaced, never written in place, so
``state_dict()`` is a snapshot that costs nothing.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..errors import CheckpointError, InputError

BLOCK = 1 << 20


class QuantileSketch:
    """Per-unit histograms on power-of-two grids; ``add``, ``merge``, ``quantile``, ``state_dict``."""

    def __init__(self, units: int, bins: int = 2048, device=None):
        if bins < 8:
            raise InputError(f"bins must be at least 8, got {bins}")
        self.bins = bins
        self.counts = torch.zeros((units, bins), dtype=torch.long, device=device)
        self.origin = torch.zeros(units, dtype=torch.long, device=device)   # grid starts at origin * 2**exponent
        self.exponent = torch.zeros(units, dtype=torch.long, device=device)
        self.ready = torch.zeros(units, dtype=torch.bool, device=device)
        self.nonfinite = torch.zeros(units, dtype=torch.long, device=device)

    @property
    def units(self) -> int:
        return self.counts.shape[0]

    @property
    def count(self) -> torch.Tensor:
        """Values binned per unit."""
        return self.counts.sum(1)

    def error_bound(self) -> torch.Tensor:
        """Half the current bin width per unit: the most the estimate can be off."""
        return torch.ldexp(torch.full_like(self.exponent, 1, dtype=torch.float64), self.exponent - 1)

    def add(self, maps: torch.Tensor, lo: Optional[torch.Tensor] = None, hi: Optional[torch.Tensor] = None) -> None:
        """Add a batch ``[B, U, ...]`` of values: every value of unit ``u`` is ``maps[:, u]``.

        ``lo``/``hi`` ([U], optional) are the batch's per-unit min and max if already known.
        """
        if maps.dim() < 2 or maps.shape[1] != self.units:
            raise InputError(f"expected a batch of shape (B, {self.units}, ...), got {tuple(maps.shape)}")
        x = maps.detach()
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        if last:
            x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.units).transpose(1, 2)
        else:
            x = x.reshape(x.shape[0], self.units, -1)
        lo = x.amin(dim=(0, 2)) if lo is None else lo
        hi = x.amax(dim=(0, 2)) if hi is None else hi
        finite = bool((torch.isfinite(lo) & torch.isfinite(hi)).all())
        if not finite:
            ok = torch.isfinite(x)
            self.nonfinite = self.nonfinite + (~ok).sum(dim=(0, 2))
            lo = torch.where(ok, x, torch.full_like(x, math.inf)).amin(dim=(0, 2))
            hi = torch.where(ok, x, torch.full_like(x, -math.inf)).amax(dim=(0, 2))
            x = torch.where(ok, x, torch.full_like(x, math.nan))
        present = torch.isfinite(lo)
        self._cover(lo.double(), hi.double(), present)
        scale = torch.ldexp(torch.ones_like(self.exponent, dtype=x.dtype), -self.exponent)[None, :, None]
        small = self.units * self.bins < 2 ** 23 and int(self.origin.abs().max()) + self.bins < 2 ** 23
        if finite and small and x.dtype == torch.float32:
            self.counts = self._binned(x, scale[0, :, 0])
            return
        x = x.contiguous()
        offset = torch.arange(self.units, device=x.device) * self.bins - self.origin
        idx = (x * scale).floor_()
        if not finite:
            keep = torch.isfinite(idx)
            flat = (torch.where(keep, idx, torch.zeros_like(idx)).long() + offset[None, :, None])[keep]
        elif small and x.dtype == torch.float32:
            flat = idx.add_(offset.to(idx.dtype)[None, :, None]).to(torch.int32).reshape(-1)
        else:
            flat = idx.long().add_(offset[None, :, None]).reshape(-1)
        delta = torch.bincount(flat, minlength=self.units * self.bins).view(self.units, self.bins)
        self.counts = self.counts + delta

    def _binned(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``counts`` plus the histogram of finite float32 ``x`` ``[B, U, n]`` on the current grids.

        A value's bin is ``x * 2**-exponent - origin`` truncated: the product is exact (a
        power of two), the difference is exact (both lie on the product's grid and the
        result is below ``bins``) and it is never negative, so truncation is the floor.
        On CPU the units (or, for channels-last maps, the images) go in blocks of about
        ``BLOCK`` values so that the temporaries stay in cache and the maps are read once.
        """
        b, units, n = x.shape
        neg_origin = (-self.origin).to(torch.float32)[:, None]
        counts = self.counts.clone()
        if x.stride(1) == 1 and units > 1:
            offsets = (torch.arange(units, device=x.device, dtype=torch.int32) * self.bins)[:, None]
            step = b if x.device.type != "cpu" else max(1, max(BLOCK, 4 * units * self.bins) // (units * n))
            for b0 in range(0, b, step):
                idx = torch.addcmul(neg_origin, x[b0:b0 + step], scale[:, None]).to(torch.int32).add_(offsets)
                counts += torch.bincount(idx.transpose(1, 2).reshape(-1), minlength=units * self.bins).view(units, -1)
            return counts
        step = units if x.device.type != "cpu" else max(1, min(units, BLOCK // max(1, b * n)))
        offsets = (torch.arange(step, device=x.device, dtype=torch.int32) * self.bins)[:, None]
        for u0 in range(0, units, step):
            u1 = min(units, u0 + step)
            idx = torch.addcmul(neg_origin[u0:u1], x[:, u0:u1], scale[u0:u1, None]).to(torch.int32)
            idx.add_(offsets[: u1 - u0])
            counts[u0:u1] += torch.bincount(idx.view(-1), minlength=(u1 - u0) * self.bins).view(u1 - u0, self.bins)
        return counts

    def _bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        width = torch.ldexp(torch.ones_like(self.exponent, dtype=torch.float64), self.exponent)
        return self.origin.double() * width, (self.origin + self.bins).double() * width

    def _cover(self, lo: torch.Tensor, hi: torch.Tensor, present: torch.Tensor) -> None:
        """Regrid the units whose range must grow to hold [lo, hi]."""
        fresh = present & ~self.ready
        if bool(fresh.any()):
            span = torch.maximum(hi - lo, torch.maximum(hi.abs(), lo.abs()) * 1e-6).clamp(min=1e-30)
            exp = torch.ceil(torch.log2(span / (self.bins - 4))).long()
            self.exponent = torch.where(fresh, exp, self.exponent)
            width = torch.ldexp(torch.ones_like(lo), self.exponent)
            origin = torch.floor(lo / width).long() - 1
            self.origin = torch.where(fresh, origin, self.origin)
            self.ready = self.ready | fresh
        cur_lo, cur_hi = self._bounds()
        grow = present & ((lo < cur_lo) | (hi >= cur_hi))
        if bool(grow.any()):
            self._regrid(torch.minimum(lo, cur_lo), torch.maximum(hi, cur_hi), grow, self.exponent)

    def _regrid(self, lo: torch.Tensor, hi: torch.Tensor, which: torch.Tensor, min_exponent: torch.Tensor) -> None:
        """Move the units in ``which`` to the finest grid with exponent >= min_exponent covering [lo, hi]."""
        exp = torch.maximum(self.exponent, min_exponent).clone()
        while True:
            width = torch.ldexp(torch.ones_like(lo), exp)
            origin = torch.floor(lo / width).long()
            ok = (origin.double() * width <= lo) & (hi < (origin + self.bins).double() * width)
            if bool((ok | ~which).all()):
                break
            exp = torch.where(which & ~ok, exp + 1, exp)
        shift = torch.where(which, exp - self.exponent, torch.zeros_like(exp))
        new_origin = torch.where(which, origin, self.origin)
        absolute = self.origin[:, None] + torch.arange(self.bins, device=self.counts.device)[None, :]
        target = torch.div(absolute, torch.ldexp(torch.ones_like(shift, dtype=torch.float64), shift)[:, None].long(),
                           rounding_mode="floor") - new_origin[:, None]
        occupied = self.counts > 0
        if bool((occupied & ((target < 0) | (target >= self.bins))).any()):
            raise RuntimeError("quantile sketch regrid lost counts")
        counts = torch.zeros_like(self.counts)
        counts.scatter_add_(1, target.clamp(0, self.bins - 1), self.counts)
        self.counts = counts
        self.origin = new_origin
        self.exponent = torch.where(which, exp, self.exponent)

    def merge(self, other: "QuantileSketch") -> None:
        """Fold another sketch of the same units in; counts stay exact, the grid may coarsen."""
        if other.units != self.units or other.bins != self.bins:
            raise InputError(f"cannot merge a sketch of {other.units} units x {other.bins} bins into "
                             f"{self.units} x {self.bins}")
        other = other._to(self.counts.device)
        both = self.ready & other.ready
        only_other = other.ready & ~self.ready
        self.counts = torch.where(only_other[:, None], other.counts, self.counts)
        self.origin = torch.where(only_other, other.origin, self.origin)
        self.exponent = torch.where(only_other, other.exponent, self.exponent)
        self.ready = self.ready | other.ready
        self.nonfinite = self.nonfinite + other.nonfinite
        if not bool(both.any()):
            return
        a_lo, a_hi = self._bounds()
        b_lo, b_hi = other._bounds()
        exp = torch.maximum(self.exponent, other.exponent)
        top = torch.maximum(a_hi, b_hi)
        lo, hi = torch.minimum(a_lo, b_lo), torch.nextafter(top, torch.full_like(top, -math.inf))
        self._regrid(lo, hi, both, exp)
        other = other._copy()
        other._regrid(lo, hi, both, self.exponent)
        if not bool(((other.origin == self.origin) & (other.exponent == self.exponent) | ~both).all()):
            raise RuntimeError("quantile sketch merge could not align grids")
        self.counts = torch.where(both[:, None], self.counts + other.counts, self.counts)

    def quantile(self, q: float) -> torch.Tensor:
        """The q-quantile of every unit's values (float64 [U]; NaN for units with no values)."""
        if not 0.0 <= q <= 1.0:
            raise InputError(f"quantile must be in [0, 1], got {q}")
        n = self.count
        rank = torch.floor((n - 1).clamp(min=0).double() * q).long() + 1
        cum = self.counts.cumsum(1)
        b = torch.searchsorted(cum, rank[:, None]).squeeze(1).clamp(max=self.bins - 1)
        width = torch.ldexp(torch.ones_like(self.exponent, dtype=torch.float64), self.exponent)
        value = (self.origin + b).double() * width + width / 2
        return torch.where(n > 0, value, torch.full_like(value, math.nan))

    def mean(self) -> torch.Tensor:
        """Every unit's mean value (float64 [U]; NaN for units with no values), within ``error_bound()``.

        >>> sketch = QuantileSketch(units=1, bins=64)
        >>> sketch.add(torch.tensor([[1.0, 2.0, 6.0]]).T[:, :, None])
        >>> abs(float(sketch.mean()[0]) - 3.0) <= float(sketch.error_bound()[0])
        True

        Each value is taken at the middle of its bin, so the mean is off by half a bin width at most.
        """
        n = self.count
        width = torch.ldexp(torch.ones_like(self.exponent, dtype=torch.float64), self.exponent)
        middle = (self.origin[:, None] + torch.arange(self.bins, device=self.counts.device)[None, :]).double() + 0.5
        total = (self.counts.double() * middle).sum(1) * width
        return torch.where(n > 0, total / n.clamp(min=1).double(), torch.full_like(total, math.nan))

    def state_dict(self) -> dict:
        return {"bins": self.bins, "counts": self.counts, "origin": self.origin, "exponent": self.exponent,
                "ready": self.ready, "nonfinite": self.nonfinite}

    def load_state_dict(self, state: dict) -> None:
        if state["bins"] != self.bins or tuple(state["counts"].shape) != tuple(self.counts.shape):
            raise CheckpointError(f"saved sketch has {tuple(state['counts'].shape)} counts; this run needs "
                                  f"{tuple(self.counts.shape)}")
        device = self.counts.device
        for key in ("counts", "origin", "exponent", "ready", "nonfinite"):
            setattr(self, key, state[key].to(device))

    def _copy(self) -> "QuantileSketch":
        twin = QuantileSketch(self.units, self.bins, device=self.counts.device)
        twin.load_state_dict({k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in self.state_dict().items()})
        return twin

    def _to(self, device) -> "QuantileSketch":
        if self.counts.device == torch.device(device):
            return self
        twin = QuantileSketch(self.units, self.bins, device=device)
        twin.load_state_dict(self.state_dict())
        return twin
