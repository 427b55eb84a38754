"""Compact, JSON-safe encodings for the arrays, images and floats of a report.

>>> import numpy as np
>>> from neuronlabel.report.codec import encode_array, decode_array
>>> a = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
>>> decode_array(encode_array(a), "maps").tolist()
[[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]

Arrays are stored as base64 of little-endian float16 when every finite value fits float16,
float32 otherwise; images as base64 PNG (lossless). Non-finite floats, which JSON cannot
hold, are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np

from ..errors import CheckpointError

FLOAT16_MAX = float(np.finfo(np.float16).max)
_NONFINITE_OUT = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_NONFINITE_IN = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class ReportSchemaError(CheckpointError):
    """A report file is not a neuronlabel report, is of another schema version, or is corrupt.

    >>> issubclass(ReportSchemaError, ValueError)
    True
    """


def float_out(x) -> "float | str":
    """A float for JSON: finite values as numbers, the others as strings.

    >>> float_out(1.5), float_out(float("nan")), float_out(float("-inf"))
    (1.5, 'NaN', '-Infinity')
    """
    x = float(x)
    if math.isfinite(x):
        return x
    return _NONFINITE_OUT[repr(x)]


def float_in(x, where: str) -> float:
    """Read a float written by :func:`float_out`; ``where`` names the field in errors.

    >>> float_in("Infinity", "threshold")
    inf
    """
    if isinstance(x, bool):
        raise ReportSchemaError(f"{where}: expected a number, got {x!r}")
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str) and x in _NONFINITE_IN:
        return _NONFINITE_IN[x]
    raise ReportSchemaError(f"{where}: expected a number, got {x!r}")


def encode_array(a: np.ndarray) -> dict:
    """``{"dtype", "shape", "data"}`` with ``data`` the base64 of the raw little-endian values.

    >>> encode_array(np.zeros((2, 2)))["dtype"]
    'float16'
    """
    a = np.asarray(a)
    finite = a[np.isfinite(a)]
    fits16 = finite.size == 0 or float(np.abs(finite).max()) <= FLOAT16_MAX
    dtype = "<f2" if fits16 else "<f4"
    raw = np.ascontiguousarray(a, dtype=dtype).tobytes()
    return {"dtype": "float16" if fits16 else "float32", "shape": list(a.shape),
            "data": base64.b64encode(raw).decode("ascii")}


def decode_array(d, where: str) -> np.ndarray:
    """Inverse of :func:`encode_array`; a malformed entry raises :class:`ReportSchemaError`.

    >>> decode_array({"dtype": "float32", "shape": [1], "data": "AACAPw=="}, "x")
    array([1.], dtype=float32)
    """
    if not isinstance(d, dict) or not {"dtype", "shape", "data"} <= set(d):
        raise ReportSchemaError(f"{where}: expected an encoded array "
                                f"{{'dtype', 'shape', 'data'}}, got {_short(d)}")
    dtypes = {"float16": "<f2", "float32": "<f4"}
    if d["dtype"] not in dtypes:
        raise ReportSchemaError(f"{where}: unknown dtype {d['dtype']!r}; expected one of {sorted(dtypes)}")
    shape = d["shape"]
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ReportSchemaError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    try:
        raw = base64.b64decode(d["data"], validate=True)
    except (ValueError, TypeError) as e:
        raise ReportSchemaError(f"{where}: data is not valid base64 ({e})") from None
    dtype = np.dtype(dtypes[d["dtype"]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ReportSchemaError(f"{where}: data holds {len(raw)} bytes but shape {shape} of "
                                f"{d['dtype']} needs {expected}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def encode_png(image: np.ndarray) -> str:
    """Base64 PNG of a uint8 ``HxWx3`` image.

    >>> decode_png(encode_png(np.full((2, 3, 3), 7, np.uint8)), "img").shape
    (2, 3, 3)
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB").save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_png(data, where: str) -> np.ndarray:
    """Inverse of :func:`encode_png`: a uint8 ``HxWx3`` array.

    >>> decode_png(encode_png(np.zeros((1, 1, 3), np.uint8)), "img").dtype
    dtype('uint8')
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, str):
        raise ReportSchemaError(f"{where}: expected base64 PNG text, got {_short(data)}")
    try:
        with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (ValueError, TypeError, OSError, UnidentifiedImageError) as e:
        raise ReportSchemaError(f"{where}: not a readable base64 PNG image ({e})") from None


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."
