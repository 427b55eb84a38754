"""Build small but real LabelReports for the report, ci and browser tests.

Thumbnails are drawn with PIL and pass through a JPEG encode/decode; activation maps are
float16 noise with one hot blob per exemplar; thresholds are the unit's 0.9 quantile.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from neuronlabel.report import LabelReport, UnitLabel

DEFAULT_LABELS = {
    "layer3": ["red and white stripes", "dog faces", "the surface of water", "text on signs"],
    "layer4": ["human faces", "grass", "letters and words", "cat eyes", "wheels of cars"],
}


def make_thumbnail(rng: np.random.Generator, size=(48, 64)) -> np.ndarray:
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 255, 3)
    img = np.stack([(base[c] + 120 * x / w + 60 * y / h) % 256 for c in range(3)], axis=-1).astype(np.uint8)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        box = [x0, y0, x0 + int(rng.integers(6, w // 2)), y0 + int(rng.integers(6, h // 2))]
        fill = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=90)
    with Image.open(io.BytesIO(buf.getvalue())) as decoded:
        return np.asarray(decoded.convert("RGB")).copy()


def make_maps(rng: np.random.Generator, k: int, size=(7, 7)) -> np.ndarray:
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    maps = rng.normal(0, 0.3, (k, h, w))
    for j in range(k):
        cy, cx = rng.uniform(0, h - 1), rng.uniform(0, w - 1)
        maps[j] += (4.0 - 0.3 * j) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 2.0)
    return maps.astype(np.float16)


def make_report(labels: "dict | None" = None, *, k: int = 5, n_images: int = 12, seed: int = 0,
                map_size=(7, 7), thumb_size=(48, 64), attributions: bool = False,
                explanations: bool = False) -> LabelReport:
    rng = np.random.default_rng(seed)
    labels = DEFAULT_LABELS if labels is None else labels
    images = {100 + i: make_thumbnail(rng, thumb_size) for i in range(n_images)}
    ids = sorted(images)
    units = []
    for layer, layer_labels in labels.items():
        for unit, label in enumerate(layer_labels):
            maps = make_maps(rng, k, map_size)
            order = np.argsort(-maps.reshape(k, -1).max(axis=1).astype(np.float32))
            maps = maps[order]
            scores = maps.reshape(k, -1).max(axis=1).astype(np.float32)
            attr = rng.normal(0, 1, (k, 3) + tuple(thumb_size)).astype(np.float32) if attributions else None
            units.append(UnitLabel(
                layer, unit, label,
                candidates=[(label, -0.5 - unit / 10), (label + " and sky", -1.75), ("objects", -3.0)],
                exemplar_ids=[int(i) for i in rng.choice(ids, size=k, replace=False)],
                exemplar_scores=[float(s) for s in scores],
                threshold=float(np.quantile(maps.astype(np.float32), 0.9)),
                maps=maps,
                stats={"max": float(scores[0]), "mean": float(maps.astype(np.float32).mean()),
                       "frac_active": 0.01},
                flags=["nonfinite"] if unit == 1 else [],
                attributions=attr,
            ))
    expl = []
    if explanations:
        expl = [{"image_id": ids[0], "target": 207, "target_name": "golden retriever",
                 "contributions": [(units[1].ref, units[1].label, 2.5), (units[0].ref, units[0].label, -0.75)]}]
    meta = {"model": "resnet18", "layers": list(labels), "k": k, "quantile": 0.99,
            "probe": f"{n_images} synthetic images", "captioner": "test captioner"}
    return LabelReport(units, images=images, meta=meta, explanations=expl)
