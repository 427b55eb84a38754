"""Reader for MILAN's on-disk MILANNOTATIONS format: exemplars per layer plus annotations.

>>> data = load_milannotations("milannotations/", networks=["resnet152/imagenet"])   # doctest: +SKIP
>>> len(data), data.ids[0], data.descriptions[0]                                     # doctest: +SKIP
(3904, 'resnet152/imagenet/conv1:0', ['dark lines', 'vertical edges', 'black lines'])

Layout accepted (MILAN's)::

    <root>/<network>/annotations.csv            columns: layer, unit (or neuron), summary
    <root>/<network>/<layer>/images.npy         [units, k, 3, H, W] float in [0, 1],
                                                or uint8 [units, k, 3, H, W] / [units, k, H, W, 3]
    <root>/<network>/<layer>/masks.npy          [units, k, 1, H, W] or [units, k, H, W];
                                                bool/integer (nonzero = inside) or float weights >= 0

``<network>`` may be nested (``alexnet/imagenet``): any folder holding ``annotations.csv``
is a network, named by its path below ``root``; any folder below it holding
``images.npy`` is a layer, named by its path below the network (the CSV's ``layer``
values). Each CSV row is one annotation of one unit (0-based row of the layer's arrays);
units annotated several times get several descriptions; rows with an empty summary are
skipped; units without annotations are left out. Masks may have another ``H, W`` than the
images (they are resized), but ``units`` and ``k`` must agree. Arrays are memory-mapped, so
opening a large data set reads nothing but the CSVs and array headers. Other files
(``ids.npy``, ``activations.npy``) are ignored.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ..errors import InputError, did_you_mean

ANNOTATIONS = "annotations.csv"
UNIT_COLUMNS = ("unit", "neuron")
TEXT_COLUMNS = ("summary",)


@dataclass
class MilannotationsLayer:
    """One layer's exemplar arrays and its units' descriptions.

    >>> layer = MilannotationsLayer("net", "conv1", np.zeros((2, 3, 3, 8, 8), "f4"), np.zeros((2, 3, 1, 8, 8), bool))
    >>> layer.units, layer.k
    (2, 3)
    """

    network: str
    layer: str
    images: np.ndarray
    masks: np.ndarray
    descriptions: dict[int, list[str]] = field(default_factory=dict)

    @property
    def units(self) -> int:
        return int(self.images.shape[0])

    @property
    def k(self) -> int:
        return int(self.images.shape[1])


class MilannotationsDataset:
    """Annotated units of one or more networks/layers, in network, layer, unit order.

    >>> ds = MilannotationsDataset([])
    >>> len(ds)
    0

    ``ids[i]`` is ``"<network>/<layer>:<unit>"``, ``descriptions[i]`` its human
    descriptions, ``entries[i]`` ``(layer index, unit row)``; :meth:`exemplars` gives a
    unit's images ``[k, 3, H, W]`` in ``[0, 1]`` and masks ``[k, H, W]``.
    """

    def __init__(self, layers: Sequence[MilannotationsLayer]):
        self.layers = list(layers)
        self.entries: list[tuple[int, int]] = []
        for li, layer in enumerate(self.layers):
            self.entries.extend((li, u) for u in sorted(layer.descriptions))

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"MilannotationsDataset({len(self)} units in {len(self.layers)} layers)"

    @property
    def ids(self) -> list[str]:
        return [f"{self.layers[li].network}/{self.layers[li].layer}:{u}" for li, u in self.entries]

    @property
    def descriptions(self) -> list[list[str]]:
        return [list(self.layers[li].descriptions[u]) for li, u in self.entries]

    def exemplars(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[k, 3, H, W]`` (float, ``[0, 1]``) and masks ``[k, H, W]`` (float) of unit ``i``.

        >>> images, masks = load_milannotations("milannotations/").exemplars(0)   # doctest: +SKIP
        """
        from ..captioner.encoder import as_image_batch, as_mask_batch

        li, u = self.entries[i]
        layer = self.layers[li]
        return as_image_batch(np.asarray(layer.images[u])), as_mask_batch(np.asarray(layer.masks[u]))


def load_milannotations(root: str | os.PathLike, networks: Iterable[str] | None = None,
                        layers: Iterable[str] | None = None, mmap: bool = True) -> MilannotationsDataset:
    """Open a MILANNOTATIONS folder (see the module docs for the exact layout).

    >>> load_milannotations("/no/such/folder")
    Traceback (most recent call last):
    ...
    neuronlabel.errors.InputError: MILANNOTATIONS root /no/such/folder is not a folder

    ``networks`` and ``layers`` keep only those names (CSV rows of other layers are
    ignored then).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"MILANNOTATIONS root {root} is not a folder")
    found = sorted(p.parent for p in root.rglob(ANNOTATIONS))
    if not found:
        raise InputError(f"no {ANNOTATIONS} under {root}; expected <root>/<network>/{ANNOTATIONS} with "
                         f"<root>/<network>/<layer>/images.npy and masks.npy")
    names = {p.relative_to(root).as_posix(): p for p in found}
    wanted = list(networks) if networks is not None else list(names)
    for n in wanted:
        if n not in names:
            raise InputError(f"no network {n!r} under {root}; found {sorted(names)}." + did_you_mean(n, names))
    wanted_layers = None if layers is None else set(layers)
    out: list[MilannotationsLayer] = []
    for n in wanted:
        out.extend(_read_network(n, names[n], wanted_layers, mmap))
    if wanted_layers is not None:
        have = {layer.layer for layer in out}
        missing = sorted(wanted_layers - have)
        if missing:
            raise InputError(f"layers {missing} not found in networks {wanted}")
    return MilannotationsDataset(out)


def _read_network(network: str, folder: Path, wanted: set[str] | None, mmap: bool) -> list[MilannotationsLayer]:
    layer_dirs = {p.parent.relative_to(folder).as_posix(): p.parent for p in sorted(folder.rglob("images.npy"))}
    rows = _read_csv(folder / ANNOTATIONS)
    by_layer: dict[str, list[tuple[int, int, str]]] = {}
    for line, layer, unit, text in rows:
        if wanted is not None and layer not in wanted:
            continue
        if layer not in layer_dirs:
            raise InputError(f"{folder / ANNOTATIONS} line {line}: layer {layer!r} has no folder with images.npy "
                             f"under {folder}." + did_you_mean(layer, layer_dirs))
        by_layer.setdefault(layer, []).append((line, unit, text))
    result = []
    for layer in sorted(layer_dirs):
        if wanted is not None and layer not in wanted:
            continue
        images, masks = _read_arrays(layer_dirs[layer], mmap)
        descriptions: dict[int, list[str]] = {}
        for line, unit, text in by_layer.get(layer, []):
            if not 0 <= unit < images.shape[0]:
                raise InputError(f"{folder / ANNOTATIONS} line {line}: unit {unit} of layer {layer!r} is out of "
                                 f"range; {layer_dirs[layer] / 'images.npy'} holds {images.shape[0]} units")
            if text:
                descriptions.setdefault(unit, []).append(text)
        result.append(MilannotationsLayer(network, layer, images, masks, descriptions))
    return result


def _read_csv(path: Path) -> list[tuple[int, str, int, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        unit_col = next((c for c in UNIT_COLUMNS if c in header), None)
        text_col = next((c for c in TEXT_COLUMNS if c in header), None)
        if "layer" not in header or unit_col is None or text_col is None:
            raise InputError(f"{path} must have columns layer, unit (or neuron), summary; it has {header}")
        reader.fieldnames = header
        out = []
        for line, row in enumerate(reader, start=2):
            raw = (row.get(unit_col) or "").strip()
            try:
                unit = int(float(raw)) if raw and float(raw).is_integer() else int(raw)
            except ValueError:
                raise InputError(f"{path} line {line}: unit {raw!r} is not an integer") from None
            out.append((line, (row.get("layer") or "").strip(), unit, (row.get(text_col) or "").strip()))
    return out


def _read_arrays(folder: Path, mmap: bool) -> tuple[np.ndarray, np.ndarray]:
    ipath, mpath = folder / "images.npy", folder / "masks.npy"
    if not mpath.is_file():
        raise InputError(f"{folder} has images.npy but no masks.npy")
    mode = "r" if mmap else None
    try:
        images = np.load(ipath, mmap_mode=mode, allow_pickle=False)
        masks = np.load(mpath, mmap_mode=mode, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputError(f"cannot read the arrays in {folder}: {err}") from err
    nchw = images.ndim == 5 and images.shape[2] == 3
    nhwc = images.ndim == 5 and images.shape[-1] == 3 and images.dtype == np.uint8
    if not (nchw or nhwc):
        raise InputError(f"{ipath} must be [units, k, 3, H, W] (float in [0, 1] or uint8) or uint8 "
                         f"[units, k, H, W, 3]; got {images.dtype} {images.shape}")
    if not (images.dtype == np.uint8 or np.issubdtype(images.dtype, np.floating)):
        raise InputError(f"{ipath} must hold float or uint8 pixels, got {images.dtype}")
    if masks.ndim not in (4, 5) or (masks.ndim == 5 and masks.shape[2] != 1) or masks.shape[:2] != images.shape[:2]:
        raise InputError(f"{mpath} must be [units, k, 1, H, W] or [units, k, H, W] with units, k = "
                         f"{images.shape[:2]} like images.npy; got {masks.shape}")
    return images, masks
