"""Base concepts of the compound data set: where each known concept is in each probe image.

>>> import numpy as np
>>> rgb = np.zeros((1, 3, 8, 8), dtype=np.uint8); rgb[:, 0] = 220          # a red image
>>> names, maps = colour_maps(rgb, grid=4)
>>> names[int(maps[0].float().amax(dim=(1, 2)).argmax())]
'red'

A *base concept* is a name (with paraphrase lemmas) and a map ``[N, g, g]`` in ``[0, 1]``
over the probe images (``g`` = :data:`GRID`): COCO instance masks rasterised from their
polygons with PIL, ImageNet classes grouped by WordNet hypernyms (the object's region is
localised by captum ``LayerGradCam`` of EfficientNet-Lite0 for the photo's true class,
:func:`gradcam_regions`), named colours from
HSV pixel values, and sky / grass regions. Maps are soft (blurred, scaled by how much of
the image the concept covers), so a probe's top-k prefers images where the concept is
prominent and its 0.99-quantile threshold cuts masks the way a real unit's would.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

GRID = 28
IMAGE_SIZE = 224


@dataclass
class Concept:
    """One base concept: ``kind`` (object, category, colour, region), plural noun phrases."""

    name: str
    kind: str
    lemmas: list[str] = field(default_factory=list)


@dataclass
class ProbeImages:
    """The probe images ``[N, 3, S, S]`` uint8 with where each came from."""

    pixels: torch.Tensor
    sources: list[str]


def load_rgb(path: Path, flip: bool = False) -> np.ndarray:
    """A photo squashed to ``IMAGE_SIZE`` square, ``[3, S, S]`` uint8 (always RGB)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        if flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return np.asarray(im).transpose(2, 0, 1).copy()


def soften(maps: torch.Tensor) -> torch.Tensor:
    """Blur binary maps ``[N, g, g]`` and weight them by coverage, so peaks sit inside large regions.

    >>> m = torch.zeros(1, 8, 8); m[0, 2:6, 2:6] = 1
    >>> s = soften(m); bool(s[0, 3, 3] > s[0, 2, 2] > 0), float(s[0, 0, 7])
    (True, 0.0)
    """
    m = maps.float().unsqueeze(1)
    blurred = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False) * m
    cover = maps.float().mean(dim=(1, 2)).clamp(max=0.5) * 2
    return (blurred[:, 0] * (0.5 + 0.5 * cover.view(-1, 1, 1))).clamp(0, 1)


def _polygon_mask(segs: Sequence, width: float, height: float, size: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in segs:
        pts = [(poly[i] * size / width, poly[i + 1] * size / height) for i in range(0, len(poly) - 1, 2)]
        if len(pts) >= 3:
            draw.polygon(pts, fill=255)
    return np.asarray(canvas) > 127


COCO_SYNONYMS = {
    "person": ["people", "persons", "humans"], "car": ["cars", "automobiles"], "dining table": ["tables"],
    "cup": ["cups", "mugs"], "chair": ["chairs", "seats"], "bottle": ["bottles"], "truck": ["trucks", "lorries"],
    "bus": ["buses", "coaches"], "motorcycle": ["motorcycles", "motorbikes"], "bicycle": ["bicycles", "bikes"],
    "tv": ["televisions", "tv screens"], "couch": ["couches", "sofas"], "cell phone": ["cell phones", "phones"],
}


def coco_concepts(root: Path, flip: bool = True) -> tuple[list[np.ndarray], list[str], dict[str, Concept], list[dict]]:
    """COCO-mini photos (and their mirror images) with one binary map per category and supercategory.

    Returns ``(pixels, sources, concepts, maps)`` where ``maps[i]`` maps a concept name to a
    ``[GRID, GRID]`` bool array for image ``i``.
    """
    from ..ci.inflection import plural

    pixels, sources, per_image = [], [], []
    concepts: dict[str, Concept] = {}
    fine = 4 * GRID
    for split in ("train2017", "val2017"):
        ann_path = root / "annotations" / f"instances_{split}.json"
        if not ann_path.is_file():
            continue
        data = json.loads(ann_path.read_text())
        cats = {c["id"]: c for c in data["categories"]}
        by_image = defaultdict(list)
        for a in data["annotations"]:
            if not a.get("iscrowd") and isinstance(a.get("segmentation"), list):
                by_image[a["image_id"]].append(a)
        for img in sorted(data["images"], key=lambda im: im["id"]):
            path = root / split / img["file_name"]
            if img["id"] not in by_image or not path.is_file():
                continue
            masks: dict[str, np.ndarray] = {}
            for a in by_image[img["id"]]:
                cat = cats[a["category_id"]]
                m = _polygon_mask(a["segmentation"], img["width"], img["height"], fine)
                for name, kind in ((cat["name"], "object"), (cat["supercategory"], "supercategory")):
                    if kind == "supercategory" and name == cat["name"]:
                        continue
                    masks[name] = masks.get(name, False) | m
                    if name not in concepts:
                        lem = COCO_SYNONYMS.get(name, [plural(name)])
                        if kind == "supercategory":
                            lem = [f"{name} objects", f"{name} things"] if name in ("kitchen", "sports", "outdoor",
                                   "indoor", "accessory", "electronic", "appliance") else [plural(name)]
                        concepts[name] = Concept(name, "object", lem)
            for flipped in ((False, True) if flip else (False,)):
                pixels.append(load_rgb(path, flipped))
                sources.append(f"coco/{split}/{img['file_name']}" + ("#flip" if flipped else ""))
                small = {}
                for name, m in masks.items():
                    g = torch.from_numpy(m).float().view(1, 1, fine, fine)
                    g = F.avg_pool2d(g, 4)[0, 0] > 0.3
                    if flipped:
                        g = g.flip(-1)
                    if bool(g.any()):
                        small[name] = g.numpy()
                per_image.append(small)
    return pixels, sources, concepts, per_image


SKIP_HYPERNYMS = {"entity", "physical entity", "object", "whole", "organism", "living thing", "artifact",
                  "instrumentality", "abstraction", "matter", "causal agent", "chordate", "vertebrate",
                  "placental", "eutherian mammal", "animal", "mammal", "craniate", "invertebrate", "commodity",
                  "covering", "structure", "device", "container", "conveyance", "equipment", "implement",
                  "carnivore", "ungulate", "arthropod", "diapsid", "aquatic vertebrate", "way", "psychological feature",
                  "group", "unit", "part", "substance", "food", "solid", "natural object", "geological formation",
                  "consumer goods", "durables", "protective covering", "artefact", "hoofed mammal", "even-toed ungulate",
                  "plant part", "reproductive structure", "vascular plant", "plant", "flora", "system", "creation",
                  "surface", "instrument", "article", "product", "measure", "shape", "attribute", "relation",
                  "location", "region", "point", "component", "constituent", "element", "furnishing"}


def _lemma_phrases(lemmas: Sequence[str]) -> list[str]:
    from ..ci.inflection import plural

    out = []
    for lem in lemmas:
        lem = lem.replace("_", " ")
        if any(ch.isupper() for ch in lem) or any(ch.isdigit() for ch in lem) or len(lem.split()) > 3:
            continue
        words = lem.split()
        if words[-1] in ("clothing", "wear", "vesture", "wearable", "apparel"):
            continue
        phrase = " ".join(words[:-1] + [plural(words[-1])]) if words[-1] not in ("fish", "sheep", "deer") else lem
        if phrase not in out:
            out.append(phrase)
    return out


def imagenet_concepts(root: Path, wordnet_json: Path, k: int, max_size: int = 160
                      ) -> tuple[list[np.ndarray], list[str], dict[str, Concept], list[dict]]:
    """ImageNet-sample photos with the object's GradCAM region per WordNet hypernym group of >= ``k`` classes."""
    classes = json.loads(wordnet_json.read_text())
    groups: dict[str, set[int]] = defaultdict(set)
    lemmas: dict[str, list[str]] = {}
    for c in classes:
        for h in c.get("hypernyms", []):
            if h["lemmas"] and h["lemmas"][0].replace("_", " ") not in SKIP_HYPERNYMS:
                groups[h["wnid"]].add(int(c["index"]))
                lemmas[h["wnid"]] = h["lemmas"]
    chosen: dict[frozenset, str] = {}
    for wnid, members in sorted(groups.items()):
        phrases = _lemma_phrases(lemmas[wnid])
        if k <= len(members) <= max_size and phrases:
            chosen.setdefault(frozenset(members), wnid)   # identical member sets: keep one
    concepts, member_of = {}, defaultdict(list)
    for members, wnid in sorted(chosen.items(), key=lambda kv: kv[1]):
        phrases = _lemma_phrases(lemmas[wnid])
        name = phrases[0]
        if name in concepts:
            continue
        concepts[name] = Concept(name, "category", phrases)
        for i in members:
            member_of[i].append(name)
    pixels, sources, per_image, labels = [], [], [], []
    for c in sorted(classes, key=lambda c: int(c["index"])):
        path = root / c["file"]
        if not path.is_file():
            continue
        pixels.append(load_rgb(path))
        sources.append(f"imagenet/{c['file']}")
        labels.append(int(c["index"]))
    regions = gradcam_regions(np.stack(pixels), labels) if pixels else []
    for region, label in zip(regions, labels):
        per_image.append({name: region for name in member_of.get(label, [])})
    return pixels, sources, concepts, per_image


def gradcam_regions(pixels: np.ndarray, labels: Sequence[int], grid: int = GRID, batch_size: int = 25
                    ) -> list[np.ndarray]:
    """Where the true class is, per photo: EfficientNet-Lite0's LayerGradCam (last block) for
    ``labels``, upsampled to ``grid`` and cut at half its peak, ``[grid, grid]`` bool each.

    >>> rgb = np.zeros((1, 3, 224, 224), dtype=np.uint8); rgb[0, :, 60:160, 60:160] = 200
    >>> r = gradcam_regions(rgb, [0], grid=7); r[0].shape, r[0].dtype
    ((7, 7), dtype('bool'))
    """
    from captum.attr import LayerGradCam

    from ..models import load

    net, _ = load("efficientnet_lite0")
    cam = LayerGradCam(net, net.blocks[-1])
    out = []
    for lo in range(0, len(labels), batch_size):
        x = torch.as_tensor(pixels[lo: lo + batch_size]).float() / 127.5 - 1.0     # lite0: mean = std = 0.5
        target = torch.as_tensor(list(labels[lo: lo + batch_size]))
        a = cam.attribute(x, target=target, relu_attributions=True).detach()
        a = F.interpolate(a, size=(grid, grid), mode="bilinear", align_corners=False)[:, 0]
        peak = a.flatten(1).amax(1).view(-1, 1, 1)
        region = (a >= 0.5 * peak) & (peak > 0)
        fallback = ~region.flatten(1).any(1)                   # no positive evidence: the centre quarter
        if bool(fallback.any()):
            centre = torch.zeros(grid, grid, dtype=torch.bool)
            centre[grid // 4: grid - grid // 4, grid // 4: grid - grid // 4] = True
            region[fallback] = centre
        out.extend(region.numpy())
    return out


COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "white", "black", "gray")


def colour_maps(pixels: np.ndarray, grid: int = GRID) -> tuple[list[str], torch.Tensor]:
    """Named-colour membership ``[N, len(COLOURS), grid, grid]`` (bool) from RGB ``[N, 3, S, S]`` uint8."""
    x = torch.as_tensor(pixels).float() / 255.0
    x = F.adaptive_avg_pool2d(x, grid)
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    mx, mn = x.max(1).values, x.min(1).values
    v, s = mx, (mx - mn) / mx.clamp(min=1e-6)
    d = (mx - mn).clamp(min=1e-6)
    h = torch.where(mx == r, ((g - b) / d) % 6, torch.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)) * 60
    chroma = (s > 0.35) & (v > 0.25)
    out = {
        "red": chroma & ((h < 15) | (h >= 340)) & (v > 0.35),
        "orange": chroma & (h >= 15) & (h < 40) & (v > 0.6),
        "brown": chroma & (h >= 10) & (h < 45) & (v <= 0.6),
        "yellow": chroma & (h >= 40) & (h < 70),
        "green": chroma & (h >= 70) & (h < 165),
        "blue": chroma & (h >= 190) & (h < 255),
        "purple": chroma & (h >= 255) & (h < 300),
        "pink": chroma & (h >= 300) & (h < 340),
        "white": (s < 0.15) & (v > 0.85),
        "black": v < 0.12,
        "gray": (s < 0.12) & (v > 0.3) & (v < 0.7),
    }
    return list(COLOURS), torch.stack([out[c] for c in COLOURS], 1)


def region_maps(colours: torch.Tensor) -> tuple[list[str], torch.Tensor]:
    """Sky (blue or white-bright in the upper half) and grass (green in the lower half) ``[N, 2, g, g]``."""
    idx = {c: i for i, c in enumerate(COLOURS)}
    g = colours.shape[-1]
    rows = torch.arange(g).view(1, g, 1)
    upper, lower = rows < g * 0.5, rows >= g * 0.4
    sky = (colours[:, idx["blue"]] | colours[:, idx["white"]]) & upper
    grass = colours[:, idx["green"]] & lower
    # a region, not a speck: keep only images where it covers >= 10% of the image
    keep = lambda m: m & (m.float().mean(dim=(1, 2)) >= 0.1).view(-1, 1, 1)
    return ["sky", "grass"], torch.stack([keep(sky), keep(grass)], 1)
