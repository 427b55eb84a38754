"""Face evidence: where faces are in each exemplar image (facenet-pytorch's MTCNN, offline), and how
much of a unit's masks falls on them.

>>> import torch
>>> boxes_to_cover([[(0.0, 0.0, 32.0, 32.0)]], size=(64, 64), grid=4)[0].tolist()
[[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]

MTCNN ships its weights inside the ``facenet-pytorch`` package (install it with
``pip install --no-deps facenet-pytorch==2.6.0``; it pins an old torch, the detector runs on
current ones). Without it, face evidence is skipped (:func:`available`), or refused with a
clear error when asked for by name. Detections are cached per image content in the process,
so each image is searched once however many units and runs use it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import MissingDependencyError
from .features import GRID

MIN_PROB = 0.9
MIN_SIDE = 160
MIN_FACE = 1 / 7       # faces narrower than this share of the image are not searched for: they cover less
                       # than one cell of a 7 x 7 map, and skipping them halves MTCNN's time (its largest pyramid levels)
PIP = "pip install --no-deps facenet-pytorch==2.6.0"
_DETECTOR: dict = {}
_CACHE: "OrderedDict[str, list]" = OrderedDict()
_CACHE_SIZE = 20000


def available() -> bool:
    """True when facenet-pytorch (MTCNN) can be imported.

    >>> isinstance(available(), bool)
    True
    """
    try:
        import facenet_pytorch  # noqa: F401
    except ImportError:
        return False
    return True


def detector(device=None, min_face: int = 20):
    """The shared MTCNN detector (all faces per image, none under ``min_face`` pixels)."""
    key = (str(device or "cpu"), int(min_face))
    if key not in _DETECTOR:
        try:
            from facenet_pytorch import MTCNN
        except ImportError as err:
            raise MissingDependencyError(f"face evidence needs facenet-pytorch's MTCNN detector: {PIP}") from err
        _DETECTOR[key] = _channels_last_pools(MTCNN(keep_all=True, device=device, min_face_size=int(min_face)))
    return _DETECTOR[key]


class _ChannelsLastMaxPool(torch.nn.MaxPool2d):
    """``nn.MaxPool2d`` that pools in channels-last memory and hands back the input's layout: the same
    values (a maximum is exact), 3-6x faster on CPU for MTCNN's few-channel maps."""

    def forward(self, x: Tensor) -> Tensor:
        last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        y = super().forward(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)
        return y.contiguous(memory_format=torch.channels_last if last else torch.contiguous_format)


def _channels_last_pools(mtcnn):
    """``mtcnn`` with the max pools of its three networks made :class:`_ChannelsLastMaxPool` (a third of
    its time on CPU went to pooling channels-first maps); detections are unchanged."""
    for module in mtcnn.modules():
        if type(module) is torch.nn.MaxPool2d:
            module.__class__ = _ChannelsLastMaxPool
    return mtcnn


@torch.no_grad()
def detect(images: Tensor, device=None, batch_size: int = 32) -> list:
    """Face boxes ``[(x0, y0, x1, y1), ...]`` in pixels for each image ``[N, 3, H, W]`` in [0, 1].

    Images under :data:`MIN_SIDE` pixels are enlarged for the search (MTCNN's pyramid needs room);
    an image the detector fails on counts as showing no face.
    """
    h, w = images.shape[-2:]
    scale = max(1.0, MIN_SIDE / max(min(h, w), 1))
    rgb = np.concatenate([_as_rgb(images[lo: lo + batch_size], scale) for lo in range(0, len(images), batch_size)]) \
        if len(images) else np.zeros((0, h, w, 3), dtype=np.uint8)
    keys = [hashlib.sha1(a.tobytes() + str(a.shape).encode()).hexdigest() for a in rgb]
    todo = [i for i, k in enumerate(keys) if k not in _CACHE]
    if todo:
        mtcnn = detector(device, max(20, round(min(rgb.shape[1:3]) * MIN_FACE)))
        for lo in range(0, len(todo), batch_size):
            chunk = todo[lo: lo + batch_size]
            for i, found in zip(chunk, _detect_batch(mtcnn, [rgb[i] for i in chunk])):
                _CACHE[keys[i]] = [tuple(v / scale for v in box) for box in found]
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return [_CACHE[k] for k in keys]


def _as_rgb(images: Tensor, scale: float) -> np.ndarray:
    """A batch of images in [0, 1] as HWC uint8, enlarged by ``scale`` (done a batch at a time, so the
    float temporaries stay small)."""
    x = torch.nan_to_num(images.detach().float().cpu(), nan=0.0, posinf=1.0, neginf=0.0).clamp_(0, 1)
    if scale > 1:
        h, w = x.shape[-2:]
        x = torch.nn.functional.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear",
                                            align_corners=False)
    return x.mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _detect_batch(mtcnn, arrays: list) -> list:
    try:
        boxes, probs = mtcnn.detect(torch.from_numpy(np.stack(arrays)).float())
    except (RuntimeError, ValueError, IndexError):
        if len(arrays) == 1:
            return [[]]
        return [f for a in arrays for f in _detect_batch(mtcnn, [a])]
    return [[] if b is None else [tuple(float(v) for v in box) for box, q in zip(b, p)
                                  if q is not None and q >= MIN_PROB] for b, p in zip(boxes, probs)]


def boxes_to_cover(boxes: Sequence, size: tuple, grid: int = GRID) -> Tensor:
    """Per image, the share of each grid cell inside a face box ``[N, grid, grid]`` (``size`` = (H, W))."""
    h, w = size
    fine = 4 * grid
    out = torch.zeros(len(boxes), fine, fine)
    for i, found in enumerate(boxes):
        for x0, y0, x1, y1 in found:
            c0, c1 = int(np.floor(max(x0, 0) / w * fine)), int(np.ceil(min(x1, w) / w * fine))
            r0, r1 = int(np.floor(max(y0, 0) / h * fine)), int(np.ceil(min(y1, h) / h * fine))
            out[i, r0:r1, c0:c1] = 1.0
    return torch.nn.functional.avg_pool2d(out.unsqueeze(1), 4).squeeze(1) if len(boxes) else out[:, :grid, :grid]


def face_cover(images: Tensor, device=None) -> Tensor:
    """``[N, GRID, GRID]``: where MTCNN finds faces in each image."""
    if not len(images):
        return torch.zeros(0, GRID, GRID)
    return boxes_to_cover(detect(images, device), tuple(images.shape[-2:]))
