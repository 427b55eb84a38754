"""Probe image sources: a folder, a torch Dataset, a tensor, or the built-in demo photos.

>>> import torch
>>> from neuronlabel.sources import as_source
>>> src = as_source(torch.rand(4, 3, 32, 32))
>>> len(src), src[0].shape, src.display(0).shape
(4, torch.Size([3, 32, 32]), torch.Size([3, 32, 32]))

Every source gives the model input for image ``i`` (``src[i]``) and the same image for
people and for the captioner (``src.display(i)``: float RGB in [0, 1], same crop, not
normalised). Preprocessing comes from the network's own data config (timm
``resolve_model_data_config``; torchvision's ImageNet weights transforms) unless a
``transform`` is given; a trailing ``Normalize`` is split off for display.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn
from torchvision import transforms as T

from .errors import ProbeSourceError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
_IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "input_size": (3, 224, 224),
             "interpolation": "bilinear", "crop_pct": 0.875}


def transform_from_config(config: dict) -> T.Compose:
    """Resize, centre-crop, to-tensor and normalise as a timm-style data config says.

    >>> transform_from_config({"input_size": (3, 224, 224), "mean": (0.5,) * 3, "std": (0.5,) * 3}).transforms[1]
    CenterCrop(size=(224, 224))
    """
    _, h, w = config.get("input_size", (3, 224, 224))
    crop_pct = config.get("crop_pct", 0.875) or 1.0
    interp = {"bicubic": T.InterpolationMode.BICUBIC, "bilinear": T.InterpolationMode.BILINEAR,
              "nearest": T.InterpolationMode.NEAREST}.get(config.get("interpolation", "bilinear"),
                                                           T.InterpolationMode.BILINEAR)
    resize = int(round(min(h, w) / crop_pct)) if h == w else (int(round(h / crop_pct)), int(round(w / crop_pct)))
    return T.Compose([T.Resize(resize, interpolation=interp), T.CenterCrop((h, w)), T.ToTensor(),
                      T.Normalize(list(config.get("mean", _IMAGENET["mean"])), list(config.get("std", _IMAGENET["std"])))])


def data_config(net: Optional[nn.Module]) -> dict:
    """The preprocessing a network expects: bundled, timm, torchvision, or ImageNet defaults.

    >>> import torchvision
    >>> data_config(torchvision.models.resnet18())["input_size"]
    (3, 224, 224)
    """
    if net is None:
        return dict(_IMAGENET)
    own = getattr(net, "neuronlabel_data_config", None)
    if own:
        return dict(own)
    if getattr(net, "pretrained_cfg", None) is not None:
        import timm.data

        return dict(timm.data.resolve_model_data_config(net))
    size = getattr(net, "image_size", None)
    if isinstance(size, int):
        return {**_IMAGENET, "input_size": (3, size, size)}
    return dict(_IMAGENET)


def split_normalize(transform: Callable) -> tuple[Callable, Optional[T.Normalize]]:
    """Split a trailing ``Normalize`` off a ``Compose``: (display transform, normalize)."""
    if isinstance(transform, T.Compose) and transform.transforms and isinstance(transform.transforms[-1], T.Normalize):
        return T.Compose(transform.transforms[:-1]), transform.transforms[-1]
    return transform, None


def load_rgb(path: "str | os.PathLike") -> Image.Image:
    """Open an image as 8-bit RGB: grayscale, palette, RGBA (on white) and 16-bit images included."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(im, dtype=np.float64)
            top = arr.max() if arr.max() > 255 else 255.0
            im = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8))
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            background = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, im)
        return im.convert("RGB")


class ProbeSource(torch.utils.data.Dataset):
    """Base class: ``src[i]`` model input, ``src.display(i)`` the image in [0, 1], ``src.describe()``."""

    normalize: Optional[T.Normalize] = None

    def display(self, i: int) -> torch.Tensor:
        x = self[i]
        if self.normalize is not None:
            mean = torch.tensor(self.normalize.mean, dtype=x.dtype).view(-1, 1, 1)
            std = torch.tensor(self.normalize.std, dtype=x.dtype).view(-1, 1, 1)
            return (x * std + mean).clamp(0, 1)
        lo, hi = x.amin(), x.amax()
        return x.clamp(0, 1) if lo >= 0 and hi <= 1 else (x - lo) / (hi - lo).clamp(min=1e-12)

    def displays(self, ids: Sequence[int]) -> torch.Tensor:
        """The display images of ``ids``, stacked ``[n, 3, H, W]``, fetched by id (no pass over the set)."""
        return torch.stack([self.display(int(i)) for i in ids]) if len(ids) else torch.empty(0)

    def describe(self) -> str:
        return f"{type(self).__name__} of {len(self)} images"


class TensorSource(ProbeSource):
    """Images already preprocessed, ``[N, 3, H, W]``; pass ``normalize`` to display them faithfully."""

    def __init__(self, images: torch.Tensor, normalize: Optional[T.Normalize] = None):
        if images.dim() != 4:
            raise ProbeSourceError(f"an image tensor must be [N, C, H, W], got shape {tuple(images.shape)}")
        if images.shape[0] == 0:
            raise ProbeSourceError("the image tensor holds no images (N = 0)")
        self.images = images
        self.normalize = normalize

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


class FolderSource(ProbeSource):
    """Every image under a folder, recursively, in sorted path order; corrupt files are skipped."""

    def __init__(self, root: "str | os.PathLike", transform: Callable):
        self.root = Path(root)
        if not self.root.exists():
            raise ProbeSourceError(f"the images folder {str(self.root)!r} does not exist; pass a folder of images, "
                                   "a torch Dataset, a tensor, or nothing for the built-in demo photos")
        if not self.root.is_dir():
            raise ProbeSourceError(f"{str(self.root)!r} is not a folder; pass a folder of images")
        files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not files:
            raise ProbeSourceError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) under {str(self.root)!r}")
        good, bad = [], []
        for path in files:
            try:
                with Image.open(path) as im:
                    im.verify()
                good.append(path)
            except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
                bad.append(path)
        if bad:
            warnings.warn(f"skipped {len(bad)} unreadable or corrupt image file(s) under {str(self.root)!r}, "
                          f"e.g. {bad[0].name}", stacklevel=3)
        if not good:
            raise ProbeSourceError(f"none of the {len(files)} image files under {str(self.root)!r} could be read")
        self.files = good
        self.skipped = [str(p) for p in bad]
        self.transform, self.normalize = split_normalize(transform)

    def __len__(self) -> int:
        return len(self.files)

    def _geometry(self, i: int) -> torch.Tensor:
        try:
            return self.transform(load_rgb(self.files[i]))
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
            raise ProbeSourceError(f"cannot read image {str(self.files[i])!r}: {err}") from err

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self._geometry(i)
        return self.normalize(x) if self.normalize is not None else x

    def display(self, i: int) -> torch.Tensor:
        x = self._geometry(i)
        return x if self.normalize is not None else super().display(i)

    def describe(self) -> str:
        return f"folder {str(self.root)!r} ({len(self)} images)"


class DatasetSource(ProbeSource):
    """Any torch ``Dataset`` whose items are images (PIL or tensor) or ``(image, ...)`` tuples."""

    def __init__(self, dataset, transform: Callable):
        try:
            n = len(dataset)
        except TypeError as err:
            raise ProbeSourceError(f"a probe dataset needs a length; {type(dataset).__name__} has none") from err
        if n == 0:
            raise ProbeSourceError(f"the probe dataset {type(dataset).__name__} is empty")
        self.dataset = dataset
        self.transform, self.normalize = split_normalize(transform)

    def __len__(self) -> int:
        return len(self.dataset)

    def _item(self, i: int):
        item = self.dataset[i]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if isinstance(item, Image.Image):
            return self.transform(item.convert("RGB")), True
        if isinstance(item, torch.Tensor):
            return item, False
        raise ProbeSourceError(f"item {i} of {type(self.dataset).__name__} is a {type(item).__name__}; "
                               "expected a PIL image or a [3, H, W] tensor (or a tuple starting with one)")

    def __getitem__(self, i: int) -> torch.Tensor:
        x, from_pil = self._item(i)
        return self.normalize(x) if from_pil and self.normalize is not None else x

    def display(self, i: int) -> torch.Tensor:
        x, from_pil = self._item(i)
        if from_pil and self.normalize is not None:
            return x
        return super().display(i)


def as_source(images=None, net: Optional[nn.Module] = None, transform: Optional[Callable] = None) -> ProbeSource:
    """Wrap whatever the user passed as probe images into a :class:`ProbeSource`.

    >>> as_source(None).describe()                                # doctest: +ELLIPSIS
    'built-in demo photos (... images)'
    """
    if isinstance(images, ProbeSource):
        return images
    if transform is None:
        transform = transform_from_config(data_config(net))
    if images is None:
        from .demo import DemoPhotos

        return DemoPhotos(transform)
    if isinstance(images, (str, os.PathLike)):
        return FolderSource(images, transform)
    if isinstance(images, torch.Tensor):
        return TensorSource(images)
    if hasattr(images, "__getitem__"):
        return DatasetSource(images, transform)
    raise ProbeSourceError(f"cannot read probe images from a {type(images).__name__}; pass a folder path, "
                           "a torch Dataset, a [N, 3, H, W] tensor, or None for the built-in demo photos")

