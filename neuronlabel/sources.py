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
from PIL import Image, ImageOps, UnidentifiedImageError
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
    """Open an image as 8-bit RGB, upright: grayscale, palette, RGBA (on white) and 16-bit images included.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "gray.png")
    >>> Image.new("L", (4, 2), 128).save(path)
    >>> load_rgb(path).mode, load_rgb(path).size
    ('RGB', (4, 2))

    An EXIF orientation tag (phone photos) is applied, so the image is probed and shown as
    it is meant to be seen.
    """
    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
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
        x = x.clamp(0, 1) if lo >= 0 and hi <= 1 else (x - lo) / (hi - lo).clamp(min=1e-12)
        return x.expand(3, -1, -1) if x.shape[0] == 1 else x

    def name(self, i: int) -> str:
        """How warnings name image ``i`` (a file name, a photo name, or its index)."""
        return f"image {i}"

    def displays(self, ids: Sequence[int]) -> torch.Tensor:
        """The display images of ``ids``, stacked ``[n, 3, H, W]``, fetched by id (no pass over the set)."""
        return torch.stack([self.display(int(i)) for i in ids]) if len(ids) else torch.empty(0)

    def describe(self) -> str:
        return f"{type(self).__name__} of {len(self)} images"


class TensorSource(ProbeSource):
    """Images already preprocessed, ``[N, C, H, W]``; pass ``normalize`` to display them faithfully.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     src = TensorSource(torch.full((2, 20, 20, 3), 255, dtype=torch.uint8))
    >>> src[0].shape, float(src[0].max()), [str(w.message)[:30] for w in caught]
    (torch.Size([3, 20, 20]), 1.0, ['the image tensor of shape (2, ', 'the image tensor holds uint8 p'])

    Read with a warning: a channels-last ``[N, H, W, C]`` tensor (permuted), 1-channel images
    for a 3-channel network (repeated), uint8 pixels 0-255 (scaled to [0, 1], then normalised
    with ``pixel_normalize``, the network's own mean and std). Images holding NaN or infinite
    values are skipped like unreadable files; a tensor of only such images is refused.
    """

    def __init__(self, images: torch.Tensor, normalize: Optional[T.Normalize] = None, *,
                 channels: Optional[int] = None, pixel_normalize: Optional[T.Normalize] = None):
        if images.dim() != 4:
            raise ProbeSourceError(f"an image tensor must be [N, C, H, W], got shape {tuple(images.shape)}")
        if images.shape[0] == 0:
            raise ProbeSourceError("the image tensor holds no images (N = 0)")
        want = channels or 3
        last = (1, want) if channels else (3,)
        if images.shape[1] not in (1, want) and images.shape[-1] in last:
            warnings.warn(f"the image tensor of shape {tuple(images.shape)} looks channels-last [N, H, W, C]; it is "
                          "read as [N, C, H, W] (images.permute(0, 3, 1, 2)); pass NCHW to silence this", stacklevel=4)
            images = images.permute(0, 3, 1, 2)
        c = images.shape[1]
        if channels and c not in (1, want):
            raise ProbeSourceError(f"the image tensor has {c} channels (shape {tuple(images.shape)}) and the network "
                                   f"takes {want}; pass [N, {want}, H, W]")
        self.repeat = bool(channels) and c == 1 and want != 1
        if self.repeat:
            warnings.warn(f"the image tensor has 1 channel (grayscale) and the network takes {want}; the channel is "
                          f"repeated {want} times", stacklevel=4)
        self.pixels = images.dtype == torch.uint8
        if self.pixels:
            how = (f"normalised with the network's mean {list(pixel_normalize.mean)} and std "
                   f"{list(pixel_normalize.std)}" if pixel_normalize is not None else "not normalised")
            warnings.warn(f"the image tensor holds uint8 pixels (0-255); they are scaled to [0, 1] and {how}. Pass "
                          "float model inputs to skip this", stacklevel=4)
            normalize = pixel_normalize
        elif not images.is_floating_point():
            raise ProbeSourceError(f"the image tensor has dtype {images.dtype}; pass float model inputs "
                                   "(preprocessed) or uint8 pixels 0-255")
        if min(images.shape[-2:]) < TINY:
            warnings.warn(f"the probe images are tiny ({images.shape[-2]}x{images.shape[-1]} pixels): units see "
                          "almost nothing in them", stacklevel=4)
        self.images = images
        self.want = want
        self.normalize = normalize
        self.pixel_normalize = pixel_normalize if self.pixels else None
        self.nonfinite = set() if self.pixels else _nonfinite(images)
        if len(self.nonfinite) == len(images):
            raise ProbeSourceError(f"all {len(images)} images of the tensor hold NaN or infinite values; nothing "
                                   "can be probed")
        if self.nonfinite:
            bad = sorted(self.nonfinite)
            warnings.warn(f"{len(bad)} image(s) of the tensor hold NaN or infinite values and are skipped: "
                          f"{_listed([f'image {i}' for i in bad])}", stacklevel=4)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        if i in self.nonfinite:
            raise ProbeSourceError(f"image {i} of the tensor holds NaN or infinite values")
        x = self.images[i]
        if self.pixels:
            x = x.float() / 255.0
        if self.repeat:
            x = x.expand(self.want, -1, -1)
        if self.pixel_normalize is not None:
            x = self.pixel_normalize(x)
        return x


TINY = 8


def _nonfinite(images: torch.Tensor) -> set:
    bad = []
    for lo in range(0, len(images), 256):
        rows = images[lo:lo + 256].flatten(1)
        bad += (lo + torch.nonzero(~torch.isfinite(rows).all(1)).flatten()).tolist()
    return set(bad)


def _listed(names: Sequence[str], n: int = 5) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


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
        good, bad, oversized, tiny = [], [], [], []
        for path in files:
            try:
                with Image.open(path) as im:
                    size = im.size
                    im.verify()
                good.append(path)
                if min(size) < TINY:
                    tiny.append(f"{path.relative_to(self.root)} ({size[0]}x{size[1]})")
            except Image.DecompressionBombError as err:
                bad.append(path)
                oversized.append(f"{path.name} ({err})")
            except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
                bad.append(path)
        if bad:
            bomb = (f"; {len(oversized)} of them over Pillow's decompression-bomb limit, e.g. {oversized[0]} "
                    "(raise PIL.Image.MAX_IMAGE_PIXELS to read them)") if oversized else ""
            warnings.warn(f"skipped {len(bad)} unreadable, corrupt or oversized image file(s) under "
                          f"{str(self.root)!r}, e.g. {bad[0].name}{bomb}", stacklevel=3)
        if not good:
            raise ProbeSourceError(f"none of the {len(files)} image files under {str(self.root)!r} could be read")
        if tiny:
            warnings.warn(f"{len(tiny)} of the {len(good)} probe images under {str(self.root)!r} are tiny (under "
                          f"{TINY} pixels on a side), so units see almost nothing in them: {_listed(tiny)}",
                          stacklevel=3)
        self.files = good
        self.skipped = [str(p) for p in bad]
        self.transform, self.normalize = split_normalize(transform)

    def __len__(self) -> int:
        return len(self.files)

    def _geometry(self, i: int) -> torch.Tensor:
        try:
            return self.transform(load_rgb(self.files[i]))
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise ProbeSourceError(f"cannot read image {str(self.files[i])!r}: {err}") from err

    def __getitem__(self, i: int) -> torch.Tensor:
        x = self._geometry(i)
        return self.normalize(x) if self.normalize is not None else x

    def display(self, i: int) -> torch.Tensor:
        x = self._geometry(i)
        return x if self.normalize is not None else super().display(i)

    def name(self, i: int) -> str:
        return str(self.files[i].relative_to(self.root))

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
            return self.transform(ImageOps.exif_transpose(item).convert("RGB")), True
        if isinstance(item, torch.Tensor):
            if item.dtype == torch.uint8:
                if not getattr(self, "_warned_pixels", False):
                    self._warned_pixels = True
                    warnings.warn(f"{type(self.dataset).__name__} gives uint8 pixel tensors (0-255); they are scaled "
                                  "to [0, 1] and normalised like PIL images", stacklevel=2)
                return item.float() / 255.0, True
            if item.is_floating_point() and not bool(torch.isfinite(item).all()):
                raise ProbeSourceError(f"item {i} of {type(self.dataset).__name__} holds NaN or infinite values")
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

    def name(self, i: int) -> str:
        return f"item {i} of {type(self.dataset).__name__}"


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
        return TensorSource(images, channels=_input_channels(net), pixel_normalize=split_normalize(transform)[1])
    if hasattr(images, "__getitem__"):
        return DatasetSource(images, transform)
    raise ProbeSourceError(f"cannot read probe images from a {type(images).__name__}; pass a folder path, "
                           "a torch Dataset, a [N, 3, H, W] tensor, or None for the built-in demo photos")



def _input_channels(net: Optional[nn.Module]) -> Optional[int]:
    """The colour channels the network's first convolution takes (None when it has none)."""
    if net is None:
        return None
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return None
