"""Units over the concept inventory, for training the captioner: every ImageNet class and its everyday
groups, the texture photos, drawn patterns, rendered text and faces, each with its pooled exemplar features.

>>> import numpy as np
>>> index = sample_units({"crabs": [0, 1, 2], "dogs": [3, 4]}, units=2, k=4, rng=np.random.default_rng(0))
>>> [(concept, len(rows), set(rows) <= {0, 1, 2, 3, 4}) for concept, rows in index]
[('crabs', 4, True), ('crabs', 4, True), ('dogs', 4, True), ('dogs', 4, True)]

The compound set (:mod:`.compound`) knows about 70 concepts; this set reaches the 1000 ImageNet
classes, the WordNet groups of at least three of them that have an everyday name (the inventory's
``everyday`` flag: "dogs", "crabs", not "carnivores" or "swine"), 21 texture classes, drawn patterns by
orientation and colour, text and faces. Fine-grained concepts with one photo are reached by
augmented crops of it: the encoder is an ImageNet network, so its features of any crab photo
point at crabs. Each exemplar is pooled twice, over the whole image (what a final-layer unit's
exemplar is) and over the region where the encoder's own classifier puts the class (its
class-activation map cut at half its peak, what a hidden unit's 0.99-quantile mask covers); a
unit takes one of the two, or a mix. Descriptions are the inventory's everyday names in the
plural, as people name units in MILANNOTATIONS ("Dungeness crabs", "crabs", "vertical stripes",
"red and white stripes", "text", "faces"). A class unit is described by its class alone: with its
group as a second description ("English foxhounds", "hounds") the decoder learnt to say the group,
which more units share.

Only the training part of the texture photos is used (:mod:`.textures`); units are split by
unit (seeded), and :func:`combine` joins them to the compound set, whose split holds the unseen
compositions. ``scripts/build_bundled_captioner.py --inventory`` trains on both.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

VERSION = 3
SIZE = 224
K = 15
SPLITS = ("train", "val", "test")
SHARES = (0.8, 0.1, 0.1)
PATTERN_COLOURS = {(0, 0, 0): "black", (255, 255, 255): "white", (200, 30, 30): "red", (30, 60, 200): "blue",
                   (30, 150, 50): "green", (240, 200, 30): "yellow", (240, 130, 20): "orange",
                   (130, 40, 160): "purple", (240, 150, 190): "pink", (120, 70, 30): "brown",
                   (128, 128, 128): "gray", (20, 30, 80): "dark blue"}
ORIENTED = {"striped": "stripes", "wavy": "wavy lines", "zigzag": "zigzags"}
ORIENTATIONS = {"vertical": 0.0, "horizontal": 90.0, "diagonal": 45.0}
WORDS = ("open", "sale", "stop", "exit", "hotel", "coffee", "news", "park", "bank", "taxi", "menu", "police",
         "welcome", "pizza", "the", "city", "market", "2024", "365", "sport", "music", "school", "bus", "bar")
TEXT_DESCRIPTIONS = ("text", "words", "letters")
FACE_DESCRIPTIONS = ("faces", "human faces")
TEXTURE_RENAME = {"banded": "striped", "chequered": "checkered"}


def sample_units(members: dict, units: int, k: int, rng: np.random.Generator) -> list[tuple[str, list[int]]]:
    """``units`` units per concept of ``members`` (concept -> candidate exemplar rows), ``k`` rows each:
    distinct while there are enough candidates, then drawn again."""
    out = []
    for concept, rows in members.items():
        rows = list(rows)
        if not rows:
            continue
        for _ in range(units):
            pick = list(rng.permutation(rows)[:k]) if len(rows) >= k else \
                list(rng.permutation(rows)) + list(rng.choice(rows, k - len(rows)))
            out.append((concept, [int(r) for r in pick]))
    return out


def _square(path: Path, size: int = SIZE) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))


def augment(photo: np.ndarray, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A random resized crop (30-100 % of the area), maybe mirrored, brightness and contrast jittered.

    >>> import numpy as np
    >>> augment(np.zeros((50, 80, 3), np.uint8), np.random.default_rng(0), size=32).shape
    (32, 32, 3)
    """
    from PIL import Image

    h, w = photo.shape[:2]
    area = rng.uniform(0.3, 1.0) * h * w
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch, cw = min(h, int(round(np.sqrt(area / aspect)))), min(w, int(round(np.sqrt(area * aspect))))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = Image.fromarray(photo[top:top + ch, left:left + cw]).resize((size, size), Image.BILINEAR)
    out = np.asarray(crop).astype(np.float32)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.8, 1.2) + mean * rng.uniform(0.8, 1.2)
    return np.clip(out, 0, 255).astype(np.uint8)


@dataclass
class Items:
    """Exemplar candidates: ``images`` uint8 ``[N, S, S, 3]``, ``masks`` (bool ``[S, S]`` or None: the
    class-activation region for ImageNet photos, the whole image otherwise) and ``labels`` (the
    ImageNet class index, or -1)."""

    images: list
    masks: list
    labels: list

    def add(self, image: np.ndarray, mask: Optional[np.ndarray] = None, label: int = -1) -> int:
        self.images.append(image)
        self.masks.append(mask)
        self.labels.append(int(label))
        return len(self.images) - 1


def _names(data: Path):
    classes = json.loads((data / "imagenet_classes_wordnet.json").read_text())
    return sorted(classes, key=lambda c: int(c["index"]))


def collect(data: Path, inventory, rng: np.random.Generator, per_class: int = K, class_units: int = 3,
            group_units: int = 5, texture_units: int = 8, pattern_units: int = 10, text_units: int = 20,
            face_units: int = 20, log=lambda m: None) -> tuple[Items, list[tuple[str, list[str], list[int]]]]:
    """Every exemplar candidate and every unit ``(concept id, descriptions, rows)``; the region of an
    ImageNet item is found by :func:`encode` (it needs the encoder's classifier)."""
    items = Items([], [], [])
    units: list[tuple[str, list[str], list[int]]] = []
    by_class: dict[str, list[int]] = {}
    photos = []
    for c in _names(data):
        path = data / "imagenet-sample-256" / c["file"]
        if not path.is_file():
            continue
        photo = _square(path, 288)
        photos.append(photo)
        by_class[c["wnid"]] = [items.add(augment(photo, rng), None, int(c["index"])) for _ in range(per_class)]
    log(f"{len(by_class)} ImageNet classes x {per_class} crops")
    if not by_class:
        raise InputError(f"no ImageNet-sample photos under {data / 'imagenet-sample-256'}")
    groups = {}
    for cid in inventory.ids("object"):
        under = [inventory.imagenet_wnid(i) for i in inventory.classes_under(cid)] if cid.startswith("n") else []
        under = [w for w in under if w in by_class and w != cid]
        if len(under) >= 3 and not inventory.is_generic(cid) and inventory.concept(cid).everyday:
            groups[cid] = under
    for wnid, rows in by_class.items():
        units += [(wnid, [inventory.name(wnid, plural=True)], r) for _, r in sample_units({wnid: rows}, class_units, K, rng)]
    for cid, under in sorted(groups.items()):
        for _ in range(group_units):
            pick = rng.choice(len(under), K, replace=len(under) < K)
            rows = [int(rng.choice(by_class[under[j]])) for j in pick]
            units.append((cid, [inventory.name(cid, plural=True)], rows))
    log(f"{len(groups)} WordNet groups of >= 3 classes with an everyday name")
    units += _textures(data, items, rng, texture_units, photos)
    units += _patterns(items, rng, pattern_units, photos)
    units += _text(items, rng, text_units, photos)
    units += _faces(data, items, rng, face_units)
    return items, units


def _textures(data, items, rng, per, photos):
    from ..concepts.vocabulary import TEXTURES
    from .patterns import paste
    from .textures import texture_photos

    root = data / "textures"
    if not (root / "labels.csv").is_file():
        return []
    by_key: dict[str, list[int]] = {}
    for r in texture_photos(root, "train"):
        key = TEXTURE_RENAME.get(r["label"], r["label"])
        if key not in TEXTURES or len(by_key.get(key, [])) >= 80:
            continue
        img = _square(Path(r["file"]), 288)
        by_key.setdefault(key, []).append(items.add(augment(img, rng)))
        image, mask = paste(photos[int(rng.integers(len(photos)))][:SIZE, :SIZE], augment(img, rng), rng,
                            cover=(0.25, 0.6))
        by_key[key].append(items.add(image, mask))
    out = []
    for key, rows in sorted(by_key.items()):
        noun, phrase = TEXTURES[key][:2]
        descriptions = list(dict.fromkeys([phrase, noun]))
        out += [(f"texture:{key}", descriptions, r) for _, r in sample_units({key: rows}, per, K, rng)]
    return out


def _patterns(items, rng, per, photos):
    from . import patterns

    out = []
    for kind in patterns.KINDS:
        variants = [(o, a) for o, a in ORIENTATIONS.items()] if kind in ORIENTED else [(None, None)]
        for orientation, angle in variants:
            for u in range(per):
                colours = patterns._colours(rng) if u % 2 == 0 else None
                rows = []
                for _ in range(K):
                    a = None if angle is None else (angle + (90.0 if orientation == "diagonal" and rng.random() < 0.5
                                                             else 0.0) + rng.uniform(-8, 8))
                    pat = patterns.draw(kind, SIZE, rng, angle=a, colours=colours)
                    if rng.random() < 0.4:
                        rows.append(items.add(pat))
                    else:
                        image, mask = patterns.paste(photos[int(rng.integers(len(photos)))][:SIZE, :SIZE], pat, rng,
                                                     cover=(0.25, 0.6))
                        rows.append(items.add(image, mask))
                noun = ORIENTED.get(kind) or {"dotted": "dots", "checkered": "checkerboard pattern",
                                              "grid": "grids"}[kind]
                named = f"{orientation} {noun}" if orientation else noun
                descriptions = [named]
                if colours is not None:
                    a, b = (PATTERN_COLOURS[tuple(int(v) for v in c)] for c in colours)
                    descriptions.insert(0, f"{a} and {b} {noun if kind != 'checkered' else 'checks'}")
                out.append((f"texture:{kind}", descriptions, rows))
    return out


def _fonts() -> list[str]:
    roots = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]
    return sorted(str(p) for r in roots if r.is_dir() for p in r.rglob("*.ttf"))


def _text(items, rng, per, photos):
    from PIL import Image, ImageDraw, ImageFont

    fonts = _fonts()
    out = []
    for _ in range(per):
        rows = []
        for _ in range(K):
            img = Image.fromarray(augment(photos[int(rng.integers(len(photos)))], rng))
            draw = ImageDraw.Draw(img)
            size = int(rng.integers(18, 56))
            try:
                font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], size) if fonts else \
                    ImageFont.load_default(size)
            except (OSError, TypeError):
                font = ImageFont.load_default()
            text = " ".join(rng.choice(WORDS, int(rng.integers(1, 3))))
            x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
            x, y = int(rng.integers(0, max(1, SIZE - (x1 - x0)))), int(rng.integers(0, max(1, SIZE - (y1 - y0))))
            if rng.random() < 0.5:
                pad = 4
                box = (x + x0 - pad, y + y0 - pad, x + x1 + pad, y + y1 + pad)
                draw.rectangle(box, fill=tuple(int(v) for v in rng.integers(150, 256, 3)))
            fill = tuple(int(v) for v in rng.integers(0, 90, 3))
            draw.text((x, y), text, fill=fill, font=font)
            mask = np.zeros((SIZE, SIZE), bool)
            mask[max(0, y + y0):y + y1, max(0, x + x0):x + x1] = True
            rows.append(items.add(np.asarray(img), mask if mask.any() else None))
        out.append(("text", list(TEXT_DESCRIPTIONS), rows))
    return out


def _faces(data, items, rng, per):
    from ..evaluation.known_answer.data import head_box

    root = data / "coco-mini"
    found = []
    for split in ("train2017", "val2017"):
        kp = root / "annotations" / f"person_keypoints_{split}.json"
        if not kp.is_file():
            continue
        info = json.loads(kp.read_text())
        sizes = {im["id"]: (im["file_name"], im["width"], im["height"]) for im in info["images"]}
        for a in info["annotations"]:
            if a["image_id"] not in sizes or a.get("iscrowd"):
                continue
            box = head_box(a["keypoints"], a["bbox"])
            name, w, h = sizes[a["image_id"]]
            if box and (box[2] - box[0]) >= 0.1 * w and (root / split / name).is_file():
                found.append((root / split / name, box, w, h))
    if not found:
        return []
    rows = []
    for path, (x0, y0, x1, y1), w, h in found[:400]:
        mask = np.zeros((SIZE, SIZE), bool)
        mask[max(0, int(y0 * SIZE / h)):int(np.ceil(y1 * SIZE / h)), max(0, int(x0 * SIZE / w)):int(np.ceil(x1 * SIZE / w))] = True
        rows.append(items.add(_square(path), mask))
    return [("body:face", list(FACE_DESCRIPTIONS), r) for _, r in sample_units({"face": rows}, per, K, rng)]


@torch.no_grad()
def encode(items: Items, encoder, batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """Pooled features ``[N, 2, D]`` of every item: over the whole image, and over its region (the given
    mask, or for an ImageNet photo the encoder's class-activation map of its class cut at half its peak)."""
    from tqdm.auto import tqdm

    head = getattr(encoder.net, "classifier", None) or getattr(encoder.net, "fc", None)
    weight = None if head is None else head.weight
    out = torch.empty(len(items.images), 2, encoder.feature_size, dtype=torch.float16)
    for lo in tqdm(range(0, len(items.images), batch_size), desc="encoding items", disable=not progress, leave=False):
        hi = min(lo + batch_size, len(items.images))
        x = torch.from_numpy(np.stack(items.images[lo:hi])).permute(0, 3, 1, 2)
        encoded = encoder.encode(x)
        last = encoded.maps[-1].float()
        regions = torch.ones(hi - lo, SIZE, SIZE)
        for j in range(hi - lo):
            m, label = items.masks[lo + j], items.labels[lo + j]
            if m is not None:
                regions[j] = torch.from_numpy(np.asarray(m, dtype=np.float32))
            elif label >= 0 and weight is not None and weight.shape[1] == last.shape[1]:
                cam = torch.einsum("chw,c->hw", last[j], weight[label].float()).clamp_min(0)
                if float(cam.max()) > 0:
                    cam = F.interpolate(cam[None, None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[0, 0]
                    regions[j] = (cam >= 0.5 * cam.max()).float()
        rows = torch.arange(hi - lo).repeat(2)
        masks = torch.cat([torch.ones(hi - lo, SIZE, SIZE), regions])
        pooled = encoder._pool(encoded, masks, rows, False).float()
        out[lo:hi, 0] = pooled[: hi - lo].half()
        out[lo:hi, 1] = pooled[hi - lo:].half()
    return out


@dataclass
class UnitSet:
    """Units with features and descriptions, a ``split`` per unit, the ``concept`` each names and
    ``novel`` (test units whose composition no training unit has; only compound units can be)."""

    data: object
    split: list
    concept: list
    novel: list

    def __len__(self) -> int:
        return len(self.split)

    def indices(self, split: str) -> list[int]:
        if split not in SPLITS:
            raise InputError(f"split must be one of {SPLITS}, got {split!r}")
        return [i for i, s in enumerate(self.split) if s == split]

    def sizes(self) -> dict:
        out: dict = {"units": len(self), "concepts": len(set(self.concept))}
        for s in SPLITS:
            idx = self.indices(s)
            words = [len(d.split()) for i in idx for d in self.data.descriptions[i]]
            out[s] = {"units": len(idx), "descriptions": len(words), "novel": sum(self.novel[i] for i in idx),
                      "long": sum(1 for i in idx if any(len(d.split()) > 10 for d in self.data.descriptions[i]))}
        return out


def _split_of(uid: str, seed: int) -> str:
    r = int(hashlib.sha256(f"{seed}:{uid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return SPLITS[0] if r < SHARES[0] else SPLITS[1] if r < SHARES[0] + SHARES[1] else SPLITS[2]


def build_inventory_units(data: "str | os.PathLike", *, encoder: str = "efficientnet_lite0", seed: int = 0,
                          per_class: int = K, class_units: int = 3, group_units: int = 5,
                          cache_dir: "str | os.PathLike | None" = None, progress: bool = False, **counts) -> UnitSet:
    """The inventory units with their pooled features, built once and cached under ``cache_dir``.

    >>> units = build_inventory_units("../shared/data", cache_dir="~/.cache/neuronlabel/inventory")  # doctest: +SKIP
    >>> units.sizes()["concepts"] >= 500                                                           # doctest: +SKIP
    True

    ``counts`` sets the units per texture class, pattern variant, text and faces
    (``texture_units``, ``pattern_units``, ``text_units``, ``face_units`` of :func:`collect`).
    """
    from ..captioner.encoder import PyramidEncoder
    from ..concepts import Inventory
    from ..training.data import CaptionData

    root = Path(data).expanduser()
    if not (root / "imagenet_classes_wordnet.json").is_file():
        raise InputError(f"{root} lacks imagenet_classes_wordnet.json and imagenet-sample-256/ "
                         "(pass the shared data folder, e.g. ../shared/data)")
    settings = dict(version=VERSION, encoder=encoder, seed=seed, per_class=per_class, class_units=class_units,
                    group_units=group_units, **{k: int(v) for k, v in sorted(counts.items())})
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = None if cache_dir is None else Path(cache_dir).expanduser() / f"inventory-units-{key}.pt"
    if path is not None and path.is_file():
        state = torch.load(path, weights_only=False)
        return UnitSet(CaptionData(state["features"].float(), state["descriptions"], state["ids"]),
                       state["split"], state["concept"], [False] * len(state["split"]))
    t0 = time.time()
    log = (lambda m: print(f"[inventory units {time.time() - t0:6.1f}s] {m}", flush=True)) if progress else \
        (lambda m: None)
    rng = np.random.default_rng(seed)
    items, units = collect(root, Inventory.load(), rng, per_class=per_class, class_units=class_units,
                           group_units=group_units, log=log, **counts)
    log(f"{len(items.images)} exemplar images, {len(units)} units")
    pooled = encode(items, PyramidEncoder(encoder), progress=progress)
    log("encoded")
    feats = torch.empty(len(units), K, pooled.shape[-1], dtype=torch.float16)
    ids, descriptions, concept = [], [], []
    for u, (cid, ds, rows) in enumerate(units):
        r = torch.as_tensor(rows)
        choice = u % 3 if items.labels[rows[0]] >= 0 else 1
        variant = torch.full((K,), choice) if choice < 2 else torch.as_tensor(rng.integers(0, 2, K))
        feats[u] = pooled[r, variant]
        ids.append(f"inventory:{u}:{cid}")
        descriptions.append(ds)
        concept.append(cid)
    split = [_split_of(i, seed) for i in ids]
    if path is not None:
        from ..files import temp_path

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path)
        torch.save({"settings": settings, "features": feats, "descriptions": descriptions, "ids": ids,
                    "split": split, "concept": concept}, tmp)
        os.replace(tmp, path)
    return UnitSet(CaptionData(feats.float(), descriptions, ids), split, concept, [False] * len(units))


def combine(compound, compound_feats, units: UnitSet) -> UnitSet:
    """The compound set (its split and novel compositions kept) followed by the inventory units; a
    compound unit's concept is the set of base concepts its description combines."""
    from ..training.data import CaptionData
    from .compound_units import leaves

    if compound_feats.features.shape[1:] != units.data.features.shape[1:]:
        raise InputError(f"compound features {tuple(compound_feats.features.shape[1:])} and inventory features "
                         f"{tuple(units.data.features.shape[1:])} differ in [k, D]: encode both with one encoder")
    n = len(compound_feats)
    split = [None] * n
    for s in SPLITS:
        for i in compound.indices(s):
            split[i] = s
    keep = [i for i in range(n) if split[i] is not None]
    part = compound_feats.subset(keep)
    data = CaptionData(torch.cat([part.features, units.data.features]), part.descriptions + units.data.descriptions,
                       [f"compound:{i}" for i in part.ids] + units.data.ids)
    return UnitSet(data, [split[i] for i in keep] + list(units.split),
                   [f"compound:{'+'.join(sorted(set(leaves(compound.trees[i]))))}" for i in keep]
                   + list(units.concept),
                   [bool(compound.novel[i]) for i in keep] + list(units.novel))
