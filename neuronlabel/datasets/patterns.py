"""Procedurally drawn patterns (stripes at any angle, dots, checkerboards, grids, zigzags, waves) and
their placement into photos with a known mask.

>>> import numpy as np
>>> img = draw("striped", 32, np.random.default_rng(0), angle=0.0, period=8.0, colours=((0, 0, 0), (255, 255, 255)))
>>> column = img[:, 0, 0].astype(int)                       # vertical stripes: rows alternate along x only
>>> img.shape, img.dtype, int(img[0, :, 0].min()) < 40 < 215 < int(img[0, :, 0].max()), int(column.std()) < 15
((32, 32, 3), dtype('uint8'), True, True)

Every pattern alternates two colours with a random period (scale), angle and phase; the
keys are the texture keys of :mod:`neuronlabel.concepts.vocabulary` (``"striped"``,
``"dotted"``, ``"checkered"``, ``"grid"``, ``"zigzag"``, ``"wavy"``).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import InputError

KINDS = ("striped", "dotted", "checkered", "grid", "zigzag", "wavy")
PALETTE = ((0, 0, 0), (255, 255, 255), (200, 30, 30), (30, 60, 200), (30, 150, 50), (240, 200, 30),
           (240, 130, 20), (130, 40, 160), (240, 150, 190), (120, 70, 30), (128, 128, 128), (20, 30, 80))


def _colours(rng: np.random.Generator) -> tuple:
    while True:
        a, b = rng.choice(len(PALETTE), 2, replace=False)
        ca, cb = np.array(PALETTE[a]), np.array(PALETTE[b])
        if np.abs(ca - cb).sum() >= 180:
            return tuple(ca), tuple(cb)


def draw(kind: str, size: int, rng: np.random.Generator, *, angle: Optional[float] = None,
         period: Optional[float] = None, colours: Optional[Sequence] = None) -> np.ndarray:
    """One ``size`` x ``size`` RGB uint8 pattern of ``kind`` (unset parameters are drawn from ``rng``).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> {k: draw(k, 24, rng).shape for k in KINDS}["wavy"]
    (24, 24, 3)
    """
    if kind not in KINDS:
        raise InputError(f"unknown pattern {kind!r}; patterns: {', '.join(KINDS)}")
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise InputError(f"size must be an integer >= 2 pixels, got {size!r}")
    angle = float(rng.choice([0, 45, 90, 135]) + rng.uniform(-8, 8)) if angle is None else float(angle)
    period = float(size * rng.uniform(0.04, 0.18)) if period is None else float(period)
    period = max(period, 3.0)
    ca, cb = colours if colours is not None else _colours(rng)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    t = np.deg2rad(angle)
    u = x * np.cos(t) + y * np.sin(t) + rng.uniform(0, period)
    v = -x * np.sin(t) + y * np.cos(t) + rng.uniform(0, period)
    if kind == "striped":
        on = (u % period) < period * rng.uniform(0.35, 0.65)
    elif kind == "dotted":
        du, dv = (u % period) - period / 2, (v % period) - period / 2
        on = du ** 2 + dv ** 2 < (period * rng.uniform(0.18, 0.35)) ** 2
    elif kind == "checkered":
        on = ((u // period) + (v // period)) % 2 == 0
    elif kind == "grid":
        width = max(1.0, period * rng.uniform(0.08, 0.2))
        on = ((u % period) < width) | ((v % period) < width)
    elif kind == "zigzag":
        amp = period * rng.uniform(0.6, 1.5)
        tri = np.abs(((v / period) % 2) - 1) * amp
        on = ((u + tri) % period) < period / 2
    else:
        amp = period * rng.uniform(0.3, 1.0)
        on = ((u + amp * np.sin(2 * np.pi * v / (period * rng.uniform(2, 4)))) % period) < period / 2
    img = np.where(on[..., None], np.array(ca, dtype=np.float64), np.array(cb, dtype=np.float64))
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def paste(photo: np.ndarray, pattern: np.ndarray, rng: np.random.Generator, cover: tuple = (0.15, 0.5)
          ) -> tuple[np.ndarray, np.ndarray]:
    """Put a patch of ``pattern`` (same size as ``photo``, ``HxWx3`` uint8) into ``photo``: a random
    rectangle or ellipse covering a ``cover`` share of the image. Returns ``(image, mask)``.

    >>> import numpy as np
    >>> photo = np.zeros((20, 20, 3), np.uint8); pat = np.full((20, 20, 3), 255, np.uint8)
    >>> img, mask = paste(photo, pat, np.random.default_rng(0))
    >>> bool((img[mask] == 255).all() and (img[~mask] == 0).all()), bool(0.1 < mask.mean() < 0.6)
    (True, True)
    """
    if photo.shape != pattern.shape or photo.ndim != 3:
        raise InputError(f"photo and pattern must both be HxWx3 of one size, got {photo.shape} and {pattern.shape}")
    h, w = photo.shape[:2]
    share = rng.uniform(*cover)
    aspect = rng.uniform(0.6, 1.6)
    ph, pw = min(h, int(round(np.sqrt(share * h * w * aspect)))), min(w, int(round(np.sqrt(share * h * w / aspect))))
    top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    mask = np.zeros((h, w), dtype=bool)
    if rng.random() < 0.5:
        mask[top:top + ph, left:left + pw] = True
    else:
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx = top + ph / 2, left + pw / 2
        mask = ((yy - cy) / max(ph / 2, 1)) ** 2 + ((xx - cx) / max(pw / 2, 1)) ** 2 <= 1
    out = photo.copy()
    out[mask] = pattern[mask]
    return out, mask
