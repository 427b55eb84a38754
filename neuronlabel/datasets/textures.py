"""The labelled texture photos of ``../shared/data/textures``, split by image into a training and a held-out part.

>>> rows = [{"path": f"dtd/banded/{i}.jpg", "dataset": "dtd", "label": "banded"} for i in range(10)]
>>> train, heldout = split_rows(rows)
>>> len(train), len(heldout), set(r["path"] for r in train) & set(r["path"] for r in heldout)
(7, 3, set())

The split is fixed (seed :data:`SEED`, :data:`HELDOUT` of each class held out, by image):
the known-answer benchmark probes only the held-out part, and anything that learns from
texture photos (the texture scorer, training sets) must use only the training part.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Sequence

from ..errors import InputError

SEED = 0
HELDOUT = 0.3
PARTS = ("train", "heldout")


def _rank(path: str) -> str:
    return hashlib.sha256(f"{SEED}:{path}".encode()).hexdigest()


def split_rows(rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """``(train, heldout)``: per class, the :data:`HELDOUT` share of images with the smallest seeded hash is held out."""
    by_class: dict[tuple, list[dict]] = {}
    for r in rows:
        by_class.setdefault((r["dataset"], r["label"]), []).append(r)
    train, heldout = [], []
    for key in sorted(by_class):
        members = sorted(by_class[key], key=lambda r: _rank(r["path"]))
        cut = round(len(members) * HELDOUT)
        heldout += members[:cut]
        train += members[cut:]
    return train, heldout


def texture_photos(root: "str | Path", part: str) -> list[dict]:
    """The rows of ``root/labels.csv`` in ``part`` (``"train"`` or ``"heldout"``), each with an absolute ``file``.

    >>> texture_photos("/nonexistent", "test")
    Traceback (most recent call last):
    ...
    neuronlabel.errors.InputError: part must be one of ('train', 'heldout'), got 'test'
    """
    if part not in PARTS:
        raise InputError(f"part must be one of {PARTS}, got {part!r}")
    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise InputError(f"no texture photos at {root}: {labels} is missing (expected ../shared/data/textures)")
    with labels.open(newline="") as f:
        rows = [dict(r, file=str(root / r["path"])) for r in csv.DictReader(f)]
    return split_rows(rows)[PARTS.index(part)]
