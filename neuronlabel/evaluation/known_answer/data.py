"""The known-answer probe sets and what is known about each photo.

>>> head_box([10, 10, 2, 14, 10, 2] + [0] * 45, (0, 0, 40, 80))       # two eyes in a 40 px wide person
(4.0, 2.0, 20.0, 18.0)

Set A ("photos"): the ImageNet sample (class = file order, WordNet chain from
``imagenet_classes_wordnet.json``) and every COCO-mini photo (instance masks where annotated,
heads from person keypoints); faces found by facenet-pytorch's MTCNN on every photo, cached.
Set B ("textures"): the held-out part of ``textures/`` (:func:`neuronlabel.datasets.textures.texture_photos`).
Photos are squashed to :data:`SIZE` square; masks and boxes follow.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ...errors import InputError

SIZE = 224
GRID = 56
HEAD_KEYPOINTS = 5          # nose, eyes, ears: the first five COCO keypoints


@dataclass
class PhotoSet:
    """Photos ``[N, 3, SIZE, SIZE]`` uint8 and what is known about them (``None`` where unknown).

    ``classes[i]``: ImageNet class index; ``textures[i]``: texture class; ``coco[i]``: ``{category:
    [GRID, GRID] bool}``; ``faces[i]``: ``[GRID, GRID]`` bool (MTCNN faces and keypoint heads).
    """

    pixels: torch.Tensor
    files: list[str]
    classes: list[Optional[int]] = field(default_factory=list)
    textures: list[Optional[str]] = field(default_factory=list)
    coco: list[dict] = field(default_factory=list)
    faces: list[Optional[np.ndarray]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)


def _squash(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        size = im.size
        return np.asarray(im.resize((SIZE, SIZE), Image.BILINEAR)).transpose(2, 0, 1).copy(), size


def _box_mask(boxes: Sequence, width: float, height: float) -> np.ndarray:
    m = np.zeros((GRID, GRID), bool)
    for x0, y0, x1, y1 in boxes:
        c0, c1 = int(np.floor(x0 * GRID / width)), int(np.ceil(x1 * GRID / width))
        r0, r1 = int(np.floor(y0 * GRID / height)), int(np.ceil(y1 * GRID / height))
        m[max(r0, 0):max(min(r1, GRID), 0), max(c0, 0):max(min(c1, GRID), 0)] = True
    return m


def head_box(keypoints: Sequence[float], bbox: Sequence[float]) -> Optional[tuple]:
    """A head box ``(x0, y0, x1, y1)`` from COCO person keypoints (nose, eyes, ears), or None with < 2 visible.

    The box is centred on the visible head points, its half side the larger of their spread and
    a fifth of the person box's width.
    """
    pts = [(keypoints[3 * j], keypoints[3 * j + 1]) for j in range(HEAD_KEYPOINTS) if keypoints[3 * j + 2] > 0]
    if len(pts) < 2:
        return None
    xy = np.asarray(pts, dtype=float)
    cx, cy = (float(v) for v in xy.mean(0))
    half = max(float((xy.max(0) - xy.min(0)).max()), bbox[2] / 5)
    return (cx - half, cy - half, cx + half, cy + half)


def _polygons(segs, width, height) -> np.ndarray:
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (GRID * 4, GRID * 4), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in segs:
        pts = [(poly[i] * GRID * 4 / width, poly[i + 1] * GRID * 4 / height) for i in range(0, len(poly) - 1, 2)]
        if len(pts) >= 3:
            draw.polygon(pts, fill=255)
    small = np.asarray(canvas, dtype=np.float32).reshape(GRID, 4, GRID, 4).mean((1, 3))
    return small > 127


def _faces(paths: Sequence[Path], cache: Path, progress: bool) -> list[list]:
    """MTCNN face boxes per photo in original pixel coordinates (p >= 0.9), cached by file content."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError as err:
        raise InputError("the face section needs facenet-pytorch: pip install --no-deps facenet-pytorch==2.6.0") from err
    from PIL import Image, ImageOps

    cache.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    keys = [hashlib.sha1(p.read_bytes()).hexdigest() for p in paths]
    todo = [i for i, k in enumerate(keys) if k not in known]
    if todo:
        detector = MTCNN(keep_all=True, device="cpu")
        bar = _bar(len(todo), "faces (MTCNN)", progress)
        for i in todo:
            with Image.open(paths[i]) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                scale = min(1.0, 448 / max(im.size))
                small = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
                boxes, probs = detector.detect(small)
            keep = [] if boxes is None else [[round(float(v) / scale, 1) for v in b] for b, p in zip(boxes, probs) if p >= 0.9]
            known[keys[i]] = keep
            bar.update(1)
        bar.close()
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, cache)
    return [known[k] for k in keys]


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not progress, leave=False)


def photos(data: Path, cache: Path, progress: bool = True, limit: Optional[int] = None) -> PhotoSet:
    """Set A: the ImageNet sample then every COCO-mini photo, with classes, COCO masks and faces.

    ``limit`` keeps every ``N // limit``-th ImageNet photo (quick runs); COCO photos are always all kept.
    """
    data = Path(data)
    classes = json.loads((data / "imagenet_classes_wordnet.json").read_text())
    rows = sorted(classes, key=lambda c: int(c["index"]))
    if limit:
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    paths, cls, coco, sizes = [], [], [], []
    for c in rows:
        paths.append(data / "imagenet-sample-256" / c["file"])
        cls.append(int(c["index"]))
        coco.append({})
    heads: dict[str, list] = {}
    root = data / "coco-mini"
    for split in ("train2017", "val2017"):
        ann = root / "annotations" / f"instances_{split}.json"
        kp = root / "annotations" / f"person_keypoints_{split}.json"
        info = json.loads(ann.read_text()) if ann.is_file() else {"images": [], "annotations": [], "categories": []}
        cats = {c["id"]: c["name"] for c in info["categories"]}
        by_image = defaultdict(list)
        for a in info["annotations"]:
            if not a.get("iscrowd") and isinstance(a.get("segmentation"), list):
                by_image[a["image_id"]].append(a)
        images = {im["file_name"]: im for im in info["images"]}
        if kp.is_file():
            for a in json.loads(kp.read_text())["annotations"]:
                box = head_box(a["keypoints"], a["bbox"])
                if box:
                    heads.setdefault(f"{split}/{a['image_id']}", []).append(box)
        for path in sorted((root / split).glob("*.jpg")):
            im = images.get(path.name)
            masks: dict[str, np.ndarray] = {}
            if im is not None:
                for a in by_image[im["id"]]:
                    name = cats[a["category_id"]]
                    masks[name] = masks.get(name, np.zeros((GRID, GRID), bool)) | _polygons(
                        a["segmentation"], im["width"], im["height"])
            paths.append(path)
            cls.append(None)
            coco.append({k: v for k, v in masks.items() if v.any()})
            heads_here = heads.get(f"{split}/{im['id']}", []) if im is not None else []
            sizes.append((path, heads_here))
    pixels, faces = [], []
    boxes = _faces(paths, cache / "known_answer_faces.json", progress)
    head_of = {str(p): h for p, h in sizes}
    for path, found in zip(paths, boxes):
        px, (w, h) = _squash(path)
        pixels.append(px)
        faces.append(_box_mask(list(found) + head_of.get(str(path), []), w, h))
    return PhotoSet(torch.from_numpy(np.stack(pixels)), [str(p.relative_to(data)) for p in paths], cls,
                    [None] * len(paths), coco, faces)


def textures(data: Path, limit: Optional[int] = None) -> PhotoSet:
    """Set B: the held-out texture photos with their texture class."""
    from ...datasets.textures import texture_photos

    rows = texture_photos(Path(data) / "textures", "heldout")
    if limit:
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    pixels = [_squash(Path(r["file"]))[0] for r in rows]
    n = len(rows)
    return PhotoSet(torch.from_numpy(np.stack(pixels)), [f"textures/{r['path']}" for r in rows], [None] * n,
                    [r["label"] for r in rows], [{} for _ in rows], [None] * n)


def wordnet(data: Path) -> list[dict]:
    """The 1000 ImageNet classes in index order, each with ``lemmas`` and its hypernym ``chain`` (nearest first)."""
    rows = sorted(json.loads((Path(data) / "imagenet_classes_wordnet.json").read_text()), key=lambda c: int(c["index"]))
    return [{"wnid": c["wnid"], "lemmas": [lem.replace("_", " ") for lem in c["lemmas"]], "chain": c["hypernyms"]}
            for c in rows]


def require(data: Path) -> Path:
    """``data`` if it holds what the benchmark needs, else a clear error naming what is missing."""
    data = Path(data)
    need = ["imagenet-sample-256", "imagenet_classes_wordnet.json", "coco-mini", "textures/labels.csv",
            "milannotations/resnet152_imagenet.csv", "coco-captions/captions_val2017.json"]
    missing = [n for n in need if not (data / n).exists()]
    if missing:
        raise InputError(f"--data {data} lacks {', '.join(missing)}; point it at the shared data folder "
                         "(../shared/data) described in the README")
    return data
