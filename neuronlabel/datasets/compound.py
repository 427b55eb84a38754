"""The compound data set: units whose correct description is known, with probe-made exemplars.

>>> data = build_compound("../shared/data", units=500)                  # doctest: +SKIP
>>> len(data), data.descriptions[0], data.split[0]                       # doctest: +SKIP
(500, ['dogs', 'canines', 'domestic dogs'], 'train')

Recipe (reproducible: same data, settings and ``seed`` give the same set):

1. Probe images: the COCO-mini photos that have instance masks (and their mirror
   images) and the 1000 ImageNet-sample photos, squashed to 224 px.
2. Base concepts per image (:mod:`.compound_concepts`): COCO categories and
   supercategories from the instance polygons, ImageNet WordNet hypernym groups of
   >= ``k`` classes (dogs, birds, fish, musical instruments, ... at several levels; the
   object region is where LayerGradCam of EfficientNet-Lite0 puts the true class),
   named colours (HSV), sky and grass. :func:`base_concepts` returns these binary maps
   (kept when present in >= ``k`` images) for other uses, e.g. the faithfulness study.
3. Units (:mod:`.compound_units`): random trees of one to three concepts (colour
   ``with``, ``and``, ``tops`` / ``edges``, ``left`` / ``above`` / ``below``), kept when
   they fire on at least ``k`` images; three paraphrases each.
4. Exemplars: a :class:`~.compound_units.ConceptDetector` (one output channel per unit)
   is probed with :func:`neuronlabel.probe` (top-``k`` by peak, 0.99 quantile) and masks
   come from :meth:`neuronlabel.probing.Exemplars.masks` -- the project's own code.
5. Split by unit: every unit of a held-out set of concept combinations goes to
   ``test`` (``novel``: never seen whole in training), the rest 80/10/10.

The result is cached under ``cache_dir`` (default ``~/.cache/neuronlabel/compound``),
outside the repository; a second call with the same arguments loads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from . import compound_concepts as cc
from .compound_units import ConceptDetector, branches, leaves, paraphrases, propose, visible_share

VERSION = 3
DEFAULT_DATA = Path("../shared/data")
DEFAULT_CACHE = Path(os.environ.get("NEURONLABEL_CACHE", Path.home() / ".cache" / "neuronlabel")) / "compound"
MASK_SIZE = 56


@dataclass
class CompoundSet:
    """Units with ``images`` ``[N, 3, 224, 224]`` uint8, ``masks`` ``[U, k, 56, 56]`` bool,
    ``index`` ``[U, k]`` rows of ``images``, ``descriptions``, ``ids``, ``trees``, ``split``
    (``train`` / ``val`` / ``test``) and ``novel`` (test units whose concept combination
    never occurs in training).

    >>> s = CompoundSet(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.ones(1, 1, 2, 2, dtype=torch.bool),
    ...                 torch.zeros(1, 1, dtype=torch.long), [["dogs"]], ["u0"], [("c", "dogs")], ["test"], [False])
    >>> len(s), s.indices("test")
    (1, [0])
    """

    images: torch.Tensor
    masks: torch.Tensor
    index: torch.Tensor
    descriptions: list[list[str]]
    ids: list[str]
    trees: list[tuple]
    split: list[str]
    novel: list[bool]
    sources: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def indices(self, split: str) -> list[int]:
        """Unit positions of one split (``train``, ``val`` or ``test``)."""
        if split not in ("train", "val", "test"):
            raise InputError(f"split must be 'train', 'val' or 'test', got {split!r}")
        return [i for i, s in enumerate(self.split) if s == split]

    def exemplar_set(self, units: Sequence[int] | None = None):
        """A :class:`neuronlabel.training.features.ExemplarSet` of these units (all by default)."""
        from ..training.features import ExemplarSet

        idx = list(range(len(self))) if units is None else list(units)
        t = torch.as_tensor(idx, dtype=torch.long)
        return ExemplarSet(self.images, self.masks.index_select(0, t), self.index.index_select(0, t),
                           [list(self.descriptions[i]) for i in idx], [self.ids[i] for i in idx])

    def sizes(self) -> dict:
        """Counts for reports: units, descriptions and images per split, and words per description."""
        out = {"images": int(self.images.shape[0]), "k": int(self.index.shape[1])}
        for s in ("train", "val", "test"):
            idx = self.indices(s)
            out[s] = {"units": len(idx), "descriptions": sum(len(self.descriptions[i]) for i in idx),
                      "novel": sum(self.novel[i] for i in idx)}
        lengths = [len(d.split()) for ds in self.descriptions for d in ds]
        out["words"] = {"<=5": sum(n <= 5 for n in lengths), "6-10": sum(5 < n <= 10 for n in lengths),
                        ">10": sum(n > 10 for n in lengths), "max": max(lengths, default=0)}
        return out

    def fingerprint(self) -> str:
        """A short hash of the units (trees, exemplar rows, masks): cached features are keyed by it.

        >>> s = CompoundSet(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.ones(1, 1, 2, 2, dtype=torch.bool),
        ...                 torch.zeros(1, 1, dtype=torch.long), [["dogs"]], ["u0"], [("c", "dogs")], ["test"], [False])
        >>> len(s.fingerprint())
        16
        """
        h = hashlib.sha256(json.dumps([self.trees, self.descriptions, self.split]).encode())
        h.update(self.index.numpy().tobytes())
        h.update(np.packbits(self.masks.numpy()).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..files import temp_path

        tmp = temp_path(path)
        torch.save({"format": "neuronlabel-compound", "version": VERSION, "images": self.images, "masks": self.masks,
                    "index": self.index, "descriptions": self.descriptions, "ids": self.ids,
                    "trees": json.dumps(self.trees), "split": self.split, "novel": self.novel,
                    "sources": self.sources}, tmp)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CompoundSet":
        from ..captioner.model import read_checkpoint

        s = read_checkpoint(path)
        if not isinstance(s, dict) or s.get("format") != "neuronlabel-compound" or s.get("version") != VERSION:
            raise InputError(f"{path} is not a version-{VERSION} compound data set; delete it to rebuild")
        trees = [_tuple(t) for t in json.loads(s["trees"])]
        return cls(s["images"], s["masks"], s["index"], s["descriptions"], s["ids"], trees, s["split"], s["novel"],
                   s["sources"])


def _tuple(x):
    return tuple(_tuple(v) for v in x) if isinstance(x, list) else x


def find_data(data: str | os.PathLike | None = None) -> Path | None:
    """The shared data folder if it exists (``data``, else ``$NEURONLABEL_DATA``, else ``../shared/data``).

    >>> find_data("/no/such/folder") is None
    True
    """
    path = Path(data) if data is not None else Path(os.environ.get("NEURONLABEL_DATA", DEFAULT_DATA))
    return path if path.is_dir() else None


def _fingerprint(root: Path, settings: dict) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for sub in ("coco-mini", "imagenet-sample-256", "imagenet_classes_wordnet.json"):
        p = root / sub
        files = sorted(p.rglob("*")) if p.is_dir() else [p] if p.exists() else []
        for f in files:
            if f.is_file():
                h.update(f"{f.relative_to(root)}|{f.stat().st_size}".encode())
    return h.hexdigest()[:16]


@dataclass
class BaseConcepts:
    """The photos and where each base concept is in them: ``images`` ``[N, 3, 224, 224]`` uint8,
    ``sources`` (where each photo came from), concept ``names``, the :class:`~.compound_concepts.Concept`
    of each name, and ``maps`` ``[N, C, 28, 28]`` bool (column ``j`` is ``names[j]``).

    >>> b = BaseConcepts(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), ["x.jpg"], ["sky"],
    ...                  {"sky": cc.Concept("sky", "region", ["sky"])}, torch.ones(1, 1, 2, 2, dtype=torch.bool))
    >>> len(b), b.present().tolist()
    (1, [[True]])
    """

    images: torch.Tensor
    sources: list[str]
    names: list[str]
    concepts: dict
    maps: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def present(self) -> torch.Tensor:
        """``[N, C]`` bool: whether each concept occurs anywhere in each photo."""
        return self.maps.flatten(2).any(2)


def base_concepts(data: str | os.PathLike | None = None, *, k: int = 15, flip: bool = True,
                  max_images: int | None = None, progress: bool = False) -> BaseConcepts:
    """The probe photos and binary base-concept maps of the compound recipe (steps 1-2), unsoftened.

    >>> base_concepts("/no/such/folder")
    Traceback (most recent call last):
    ...
    neuronlabel.errors.InputError: no data folder at /no/such/folder: pass the folder holding coco-mini/, imagenet-sample-256/ and imagenet_classes_wordnet.json (see ../shared/data/README.md)

    COCO-mini photos with instance masks (and, with ``flip``, their mirror images), then the
    ImageNet-sample photos (the first ``max_images`` of them); COCO categories and
    supercategories, WordNet groups (GradCAM regions), colours, sky and grass; only
    concepts present in at least ``k`` photos are kept. :func:`build_compound` softens
    these maps to make its units; ``flip=False`` gives real photos only, for evaluation.
    """
    t0 = time.time()
    log = (lambda msg: print(f"[concepts {time.time() - t0:6.1f}s] {msg}", flush=True)) if progress else (lambda m: None)
    return _base_concepts(_root(data), int(k), bool(flip), max_images, log)


def _root(data) -> Path:
    root = find_data(data)
    if root is None:
        raise InputError(f"no data folder at {data if data is not None else DEFAULT_DATA}: pass the folder holding "
                         "coco-mini/, imagenet-sample-256/ and imagenet_classes_wordnet.json "
                         "(see ../shared/data/README.md)")
    return root


def _base_concepts(root: Path, k: int, flip: bool, max_images: int | None, log) -> BaseConcepts:
    pixels, sources, concepts, per_image = [], [], {}, []
    if (root / "coco-mini").is_dir():
        p, s, c, m = cc.coco_concepts(root / "coco-mini", flip=flip)
        pixels += p; sources += s; concepts.update(c); per_image += m
    wn = root / "imagenet_classes_wordnet.json"
    if (root / "imagenet-sample-256").is_dir() and wn.is_file():
        p, s, c, m = cc.imagenet_concepts(root / "imagenet-sample-256", wn, k)
        if max_images is not None:
            p, s, m = p[:max_images], s[:max_images], m[:max_images]
        pixels += p; sources += s; concepts.update(c); per_image += m
    if len(pixels) < k:
        raise InputError(f"only {len(pixels)} probe images under {root}; need at least k={k}")
    log(f"{len(pixels)} images, {len(concepts)} object/category concepts")
    rgb = np.stack(pixels)
    colour_names, colour = cc.colour_maps(rgb)
    region_names, region = cc.region_maps(colour)
    names = sorted(concepts)
    maps = torch.zeros(len(pixels), len(names) + len(colour_names) + len(region_names), cc.GRID, cc.GRID,
                       dtype=torch.bool)
    for i, found in enumerate(per_image):
        for j, n in enumerate(names):
            if n in found:
                maps[i, j] = torch.as_tensor(found[n])
    maps[:, len(names): len(names) + len(colour_names)] = colour
    maps[:, len(names) + len(colour_names):] = region
    names += colour_names + region_names
    for n in colour_names:
        concepts[n] = cc.Concept(n, "colour", [n])
    for n in region_names:
        concepts[n] = cc.Concept(n, "region", [n])
    # keep concepts present in >= k images
    present = maps.flatten(2).any(2).sum(0)
    keep = [j for j in range(len(names)) if int(present[j]) >= k]
    maps, names = maps[:, keep].contiguous(), [names[j] for j in keep]
    log(f"{len(names)} base concepts fire on >= {k} images")
    return BaseConcepts(torch.from_numpy(rgb), sources, names, {n: concepts[n] for n in names}, maps)


def build_compound(data: str | os.PathLike | None = None, *, units: int = 3000, k: int = 15, seed: int = 0,
                   cache_dir: str | os.PathLike | None = DEFAULT_CACHE, novel_fraction: float = 0.08,
                   max_images: int | None = None, min_visible: float = 0.2, progress: bool = False) -> CompoundSet:
    """Build (or load from the cache) the compound data set from the shared data folder.

    >>> build_compound("/no/such/folder")
    Traceback (most recent call last):
    ...
    neuronlabel.errors.InputError: no data folder at /no/such/folder: pass the folder holding coco-mini/, imagenet-sample-256/ and imagenet_classes_wordnet.json (see ../shared/data/README.md)

    ``data`` holds ``coco-mini/``, ``imagenet-sample-256/`` and
    ``imagenet_classes_wordnet.json`` (any may be missing, not all). ``units`` caps the
    number of units; ``max_images`` the ImageNet photos used (tests). ``cache_dir=None``
    disables the cache. A unit is kept only when each alternative of its ``and`` nodes
    reaches half the unit's peak in at least ``min_visible`` of its ``k`` exemplars
    (:func:`~.compound_units.visible_share`): a description naming something that no
    exemplar shows cannot be learnt from the exemplars.
    """
    root = _root(data)
    settings = {"version": VERSION, "units": int(units), "k": int(k), "seed": int(seed),
                "novel_fraction": float(novel_fraction), "max_images": max_images, "min_visible": float(min_visible)}
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir).expanduser() / f"compound-{_fingerprint(root, settings)}.pt"
        if cache.is_file():
            return CompoundSet.load(cache)
    t0 = time.time()
    log = (lambda msg: print(f"[compound {time.time() - t0:6.1f}s] {msg}", flush=True)) if progress else (lambda m: None)
    found = _base_concepts(root, k, True, max_images, log)
    names, concepts = found.names, found.concepts
    base = found.maps.float()
    for j in range(base.shape[1]):
        base[:, j] = cc.soften(base[:, j])

    rng = random.Random(seed)
    candidates = propose(concepts, rng, (6 if min_visible > 0 else 3) * int(units))
    maps = {n: base[:, j] for j, n in enumerate(names)}
    from .compound_units import evaluate

    trees, seen = [], set()
    for t in candidates:
        lv = leaves(t)
        if len(set(lv)) != len(lv) or t in seen:
            continue
        seen.add(t)
        act = evaluate(t, maps)
        peak = act.flatten(1).amax(1)
        pos = peak > 0.05
        if int(pos.sum()) < k:
            continue
        sig = (tuple(torch.nonzero(pos)[:, 0].tolist()), round(float(act.sum()), 2))
        if sig in seen:
            continue
        seen.add(sig)
        trees.append(t)
        if len(trees) >= (2 if min_visible > 0 else 1) * units:
            break
    log(f"{len(trees)} units kept of {len(seen)} candidates")

    from ..probing import probe

    det = ConceptDetector(names, trees).eval()
    result = probe(det, base, layers=["units"], k=k, quantile=0.99, batch_size=32, transform=lambda x: x,
                   progress=progress, early_exit=False)
    ex = result["units"]
    keep = []
    for u, t in enumerate(trees):
        if branches(t):
            shown = base.index_select(0, ex.ids[u].long())
            if visible_share(t, {n: shown[:, j] for j, n in enumerate(names)}) < min_visible:
                continue
        keep.append(u)
    keep = keep[:units]
    if not keep:
        raise InputError(f"no compound unit shows all its alternatives in >= {min_visible} of its exemplars; "
                         "lower min_visible or add probe images")
    log(f"{len(keep)} of {len(trees)} units show every alternative in >= {min_visible:.0%} of their exemplars")
    trees = [trees[u] for u in keep]
    masks = torch.cat([ex.masks(units=keep[lo: lo + 256], size=(MASK_SIZE, MASK_SIZE))
                       for lo in range(0, len(keep), 256)])
    empty = ~masks.flatten(2).any(2)                      # exemplars whose mask is empty: fall back to the map's top cells
    if bool(empty.any()):
        up = torch.nn.functional.interpolate(ex.maps[keep].float(), size=(MASK_SIZE, MASK_SIZE), mode="bilinear")
        peak = up.flatten(2).amax(2, keepdim=True).unsqueeze(-1)
        masks = torch.where(empty[..., None, None], up >= 0.5 * peak, masks) & (up > 0)
    log("probed and masked")

    text_rng = random.Random(seed + 1)
    descriptions = [paraphrases(t, concepts, text_rng) for t in trees]
    split, novel = _split(trees, seed, novel_fraction)
    ids = [f"compound:{i}" for i in range(len(trees))]
    out = CompoundSet(found.images, masks, ex.ids[keep].long(), descriptions, ids, trees, split, novel, found.sources)
    if cache is not None:
        out.save(cache)
        log(f"cached at {cache}")
    return out


def _split(trees: Sequence[tuple], seed: int, novel_fraction: float) -> tuple[list[str], list[bool]]:
    """Hold out whole concept combinations (>= 2 concepts) for test, then split the rest 80/10/10."""
    rng = random.Random(seed + 2)
    combos = sorted({frozenset(leaves(t)) for t in trees if len(set(leaves(t))) >= 2}, key=sorted)
    rng.shuffle(combos)
    held = set(combos[: int(round(novel_fraction * len(combos)))])
    split, novel = [], []
    for t in trees:
        if frozenset(leaves(t)) in held:
            split.append("test"); novel.append(True)
            continue
        r = rng.random()
        split.append("train" if r < 0.8 else "val" if r < 0.9 else "test")
        novel.append(False)
    return split, novel
