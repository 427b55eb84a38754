"""Pictures drawn over exemplars: MILAN's region masks and captum-style blended heat maps.

>>> import numpy as np
>>> from neuronlabel.report.overlays import region_mask
>>> m = np.array([[0.0, 0.0], [0.0, 4.0]], dtype=np.float32)
>>> region_mask(m, threshold=1.0, size=(4, 4)).astype(int).tolist()
[[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import InputError

SIGNS = ("absolute_value", "positive", "negative", "all")


def upsample_bilinear(a: np.ndarray, size: tuple) -> np.ndarray:
    """Bilinear resize of ``[..., h, w]`` to ``size``, as ``F.interpolate(align_corners=False)``.

    >>> upsample_bilinear(np.array([[0.0, 2.0]]), (1, 4)).tolist()
    [[0.0, 0.5, 1.5, 2.0]]
    """
    a = np.asarray(a, dtype=np.float32)
    out_h, out_w = size
    a = _interp_axis(a, out_h, axis=-2)
    return _interp_axis(a, out_w, axis=-1)


def _interp_axis(a: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    n_in = a.shape[axis]
    if n_in == n_out:
        return a
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, None)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (src - lo).astype(np.float32)
    shape = [1] * a.ndim
    shape[axis] = n_out
    w = w.reshape(shape)
    return np.take(a, lo, axis=axis) * (1 - w) + np.take(a, hi, axis=axis) * w


def region_mask(act_map: np.ndarray, threshold: float, size: tuple) -> np.ndarray:
    """Where the unit fires on one exemplar: the map upsampled to ``size``, ``> threshold``.

    >>> bool(region_mask(np.ones((2, 2)), 0.5, (3, 3)).all())
    True
    """
    return upsample_bilinear(act_map, size) > threshold


def mask_overlay_png(mask: np.ndarray, darken: float = 0.72) -> bytes:
    """A PNG to lay over the exemplar: clear on the region, dark outside, an outline between.

    >>> png = mask_overlay_png(np.eye(8, dtype=bool))
    >>> png[:4] == b"\\x89PNG"
    True
    """
    from PIL import Image

    mask = np.asarray(mask, dtype=bool)
    idx = np.where(mask, 0, 1).astype(np.uint8)
    idx[mask & ~_erode(mask)] = 2
    im = Image.fromarray(idx, "P")
    im.putpalette([0, 0, 0, 12, 14, 20, 255, 214, 10])
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=bytes([0, int(round(darken * 255)), 255]), optimize=True)
    return buf.getvalue()


def _erode(mask: np.ndarray) -> np.ndarray:
    p = np.pad(mask, 1, mode="edge")
    return p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


def normalize_attr(attr: np.ndarray, sign: str = "absolute_value", outlier_perc: float = 2) -> np.ndarray:
    """Scale a 2-d attribution to [-1, 1] exactly as captum's ``visualize_image_attr`` does.

    >>> normalize_attr(np.array([[0.0, -2.0], [1.0, 4.0]]), "all", 0).tolist()
    [[0.0, -0.5], [0.25, 1.0]]
    """
    if sign not in SIGNS:
        raise InputError(f"sign {sign!r} is not one of {SIGNS}")
    attr = np.asarray(attr, dtype=np.float64)
    attr = np.where(np.isfinite(attr), attr, 0.0)
    if sign == "positive":
        attr = np.maximum(attr, 0)
    elif sign == "negative":
        attr = np.minimum(attr, 0)
    elif sign == "absolute_value":
        attr = np.abs(attr)
    values = np.sort(np.abs(attr).ravel())
    cum = np.cumsum(values)
    if cum.size == 0 or cum[-1] == 0:
        return np.zeros_like(attr)
    above = np.nonzero(cum >= cum[-1] * 0.01 * (100.0 - outlier_perc))[0]
    threshold = values[above[0] if above.size else -1]
    if sign == "negative":
        threshold = -threshold
    return np.clip(attr / threshold, -1, 1)


def blended_heat_map(image: np.ndarray, attr: np.ndarray, sign: str = "absolute_value",
                     alpha: float = 0.5, outlier_perc: float = 2) -> np.ndarray:
    """captum's ``"blended_heat_map"``: the heat map at ``alpha`` over the image in greyscale.

    >>> img = np.zeros((4, 4, 3), np.uint8); img[:2] = 255
    >>> blended_heat_map(img, np.ones((8, 8))).shape
    (4, 4, 3)
    """
    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap

    image = np.asarray(image)
    h, w = image.shape[:2]
    norm = normalize_attr(attr, sign, outlier_perc)
    if norm.shape != (h, w):
        norm = resize_float(norm, (h, w))
    if sign == "all":
        cmap, vmin, vmax = LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"]), -1.0, 1.0
    else:
        cmap = matplotlib.colormaps[{"positive": "Greens", "negative": "Reds",
                                     "absolute_value": "Blues"}[sign]]
        vmin, vmax = 0.0, 1.0
    heat = cmap(np.clip((norm - vmin) / (vmax - vmin), 0, 1))[..., :3]
    gray = image.astype(np.float64).mean(axis=2)
    span = gray.max() - gray.min()
    gray = (gray - gray.min()) / span if span > 0 else np.zeros_like(gray)
    out = (1 - alpha) * gray[..., None] + alpha * heat
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def resize_float(a: np.ndarray, size: tuple) -> np.ndarray:
    """Resize a 2-d float array to ``(h, w)``: antialiased when shrinking, bilinear when growing.

    >>> resize_float(np.ones((6, 6)), (3, 2)).shape
    (3, 2)
    """
    from PIL import Image

    h, w = size
    a = np.asarray(a, dtype=np.float32)
    if a.shape[0] <= h and a.shape[1] <= w:
        return upsample_bilinear(a, (h, w))
    return np.asarray(Image.fromarray(a, "F").resize((w, h), Image.BILINEAR), dtype=np.float32)


def fit_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 ``HxWx3`` image so its longer side is ``size`` pixels.

    >>> fit_image(np.zeros((20, 10, 3), np.uint8), 8).shape
    (8, 4, 3)
    """
    from PIL import Image

    h, w = image.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new == (w, h):
        return image
    return np.asarray(Image.fromarray(image, "RGB").resize(new, Image.LANCZOS))


def encode_jpeg(image: np.ndarray, quality: int = 88) -> bytes:
    """JPEG bytes of a uint8 ``HxWx3`` image.

    >>> encode_jpeg(np.zeros((2, 2, 3), np.uint8))[:2] == b"\\xff\\xd8"
    True
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()
