"""The built-in demo probe set: real photos that ship inside installed packages.

>>> from neuronlabel.demo import DemoPhotos, demo_photos
>>> names = [name for name, _ in demo_photos()]
>>> "astronaut" in names and "china" in names
True

The photos come from scikit-image (``skimage.data``), scikit-learn
(``load_sample_image``) and matplotlib (``grace_hopper.jpg``); nothing is downloaded. Each
photo is used whole and, when it is large enough, as four overlapping corner crops, which
gives about a hundred probe images.
"""

from __future__ import annotations

import warnings
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from .sources import ProbeSource, split_normalize

_SKIMAGE = ("astronaut", "chelsea", "coffee", "rocket", "cat", "hubble_deep_field", "immunohistochemistry",
            "retina", "coins", "camera", "moon", "text", "page", "brick", "grass",
            "gravel", "cell")


def _skimage() -> Iterator[tuple[str, np.ndarray]]:
    import skimage.data

    for name in _SKIMAGE:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield name, getattr(skimage.data, name)()
        except Exception:  # a scikit-image build without that file: skip it
            continue
    try:
        left, right, _ = skimage.data.stereo_motorcycle()
        yield "motorcycle", left
    except Exception:
        pass


def demo_photos() -> list[tuple[str, Image.Image]]:
    """All bundled real photos as ``(name, RGB PIL image)``."""
    photos = []
    for name, arr in _skimage():
        arr = np.asarray(arr)
        if arr.dtype != np.uint8:
            arr = arr.astype(np.float64)
            arr = (255 * (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-12)).astype(np.uint8)
        im = Image.fromarray(arr)
        if im.mode == "RGBA":
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        photos.append((name, im.convert("RGB")))
    try:
        from sklearn.datasets import load_sample_image

        for name in ("china.jpg", "flower.jpg"):
            photos.append((name[:-4], Image.fromarray(load_sample_image(name)).convert("RGB")))
    except Exception:
        pass
    try:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            photos.append(("grace_hopper", Image.open(f).convert("RGB")))
    except Exception:
        pass
    return distinct(photos)


def distinct(photos: list[tuple[str, Image.Image]], tolerance: float = 4.0) -> list[tuple[str, Image.Image]]:
    """``photos`` without repeats: a photo whose 32 x 32 grey thumbnail differs from an earlier one's by
    less than ``tolerance`` grey levels on average is dropped (skimage's ``cat`` is ``chelsea``).

    >>> a = Image.new("RGB", (64, 48), (200, 10, 10)); b = a.resize((128, 96))
    >>> [name for name, _ in distinct([("a", a), ("b", b), ("c", Image.new("RGB", (64, 48)))])]
    ['a', 'c']
    """
    kept, thumbs = [], []
    for name, im in photos:
        t = np.asarray(im.convert("L").resize((32, 32), Image.BILINEAR), dtype=np.float32)
        if any(np.abs(t - u).mean() < tolerance for u in thumbs):
            continue
        kept.append((name, im))
        thumbs.append(t)
    return kept


def _with_crops(photos: list[tuple[str, Image.Image]]) -> list[tuple[str, Image.Image]]:
    out = []
    for name, im in photos:
        out.append((name, im))
        w, h = im.size
        if min(w, h) < 300:
            continue
        cw, ch = int(w * 0.6), int(h * 0.6)
        for tag, (x, y) in {"tl": (0, 0), "tr": (w - cw, 0), "bl": (0, h - ch), "br": (w - cw, h - ch)}.items():
            out.append((f"{name}-{tag}", im.crop((x, y, x + cw, y + ch))))
    return out


class DemoPhotos(ProbeSource):
    """The demo probe set as a :class:`ProbeSource` (photos and their corner crops)."""

    def __init__(self, transform: Callable):
        self.items = _with_crops(demo_photos())
        self.names = [name for name, _ in self.items]
        self.transform, self.normalize = split_normalize(transform)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        x = self.transform(self.items[i][1])
        return self.normalize(x) if self.normalize is not None else x

    def display(self, i: int):
        return self.transform(self.items[i][1]) if self.normalize is not None else super().display(i)

    def name(self, i: int) -> str:
        return self.names[i]

    def describe(self) -> str:
        return f"built-in demo photos ({len(self)} images)"
