"""Train the texture head of the evidence stage (neuronlabel/evidence/texture_head.pt).

    python scripts/train_texture_head.py --data ../shared/data

What it learns from (nothing else):

* the **training part** of ../shared/data/textures (``texture_photos(root, "train")``; the
  ``"heldout"`` part belongs to the known-answer benchmark and is never read here), 85 % of it
  to fit and 15 % (by image, fixed hash) to choose the weight decay and report accuracy;
  DTD "banded" counts as "striped" and "chequered" as "checkered";
* procedurally drawn patterns (neuronlabel.datasets.patterns), whole-frame and pasted into
  non-texture photos with a known mask (the mask is the pattern, the rest is "none");
* "none": non-texture photos: the COCO-mini train2017 photos and the ImageNet-sample photos of
  odd class index, less classes that are textures themselves (zebra, leopard, honeycomb, ...).

Each photo is encoded once by EfficientNet-Lite0 (224 px, squashed whole); features are the
mask-pooled ``blocks.6`` + ``bn2`` maps (whole image, plus random sub-rectangles), the same
pooling the evidence stage applies to a unit's exemplar masks. The head is a class-balanced
multinomial logistic regression on standardised features, saved in float16.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neuronlabel.concepts.vocabulary import TEXTURES  # noqa: E402
from neuronlabel.datasets import patterns  # noqa: E402
from neuronlabel.datasets.textures import texture_photos  # noqa: E402
from neuronlabel.evidence.features import GRID, encoder, image_features  # noqa: E402
from neuronlabel.evidence.texture import NONE, WEIGHTS, TextureHead, pooled  # noqa: E402

RENAME = {"banded": "striped", "chequered": "checkered"}
# ImageNet classes that are textures or patterns themselves (or garments that often carry one): never "none"
TEXTURE_LIKE = {"zebra", "leopard", "snow leopard", "jaguar", "tiger", "cheetah", "tabby", "tiger cat", "honeycomb",
                "chain mail", "crossword puzzle", "window screen", "chainlink fence", "quilt", "wool", "velvet",
                "doormat", "prayer rug", "shower curtain", "maze", "jigsaw puzzle", "theater curtain", "fire screen",
                "brain coral", "stone wall", "tile roof", "mosquito net", "cardigan", "jersey", "sweatshirt", "poncho",
                "kimono", "swimming trunks", "bikini", "handkerchief", "dishrag", "bath towel"}
SIZE = 224


def _val(path: str) -> bool:
    return int(hashlib.sha256(f"texture-val:{path}".encode()).hexdigest(), 16) % 100 < 15


def _load(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))


def _rects(rng: np.random.Generator, n: int) -> list:
    out = []
    for _ in range(n):
        h, w = rng.uniform(0.35, 0.8, 2)
        top, left = rng.uniform(0, 1 - h), rng.uniform(0, 1 - w)
        m = np.zeros((GRID, GRID), bool)
        m[int(top * GRID): int((top + h) * GRID) + 1, int(left * GRID): int((left + w) * GRID) + 1] = True
        out.append(m)
    return out


def collect(data: Path, rng: np.random.Generator, procedural: int) -> list:
    """``[(image HxWx3, [(mask GRIDxGRID or None for whole, label), ...], split)]``."""
    items = []
    for r in texture_photos(data / "textures", "train"):
        label = RENAME.get(r["label"], r["label"])
        if label not in TEXTURES:
            raise SystemExit(f"texture class {label!r} has no entry in concepts.vocabulary.TEXTURES")
        split = "val" if _val(r["path"]) else "fit"
        regions = [(None, label)]
        if r["dataset"] == "dtd" and split == "fit":
            regions += [(m, label) for m in _rects(rng, 2)]
        items.append((_load(Path(r["file"])), regions, split))
    plain = []
    imagenet = sorted((data / "imagenet-sample-256").glob("*.jpg"))
    import torchvision

    names = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    unknown = TEXTURE_LIKE - set(names)
    if unknown:
        raise SystemExit(f"TEXTURE_LIKE names that are no ImageNet class: {sorted(unknown)}")
    plain += [p for i, p in enumerate(imagenet) if i % 2 == 1 and names[i] not in TEXTURE_LIKE]
    plain += sorted((data / "coco-mini" / "train2017").glob("*.jpg"))
    for p in plain:
        split = "val" if _val(p.name) else "fit"
        items.append((_load(p), [(None, NONE)] + [(m, NONE) for m in _rects(rng, 1)], split))
    photos = [p for p in plain if not _val(p.name)]
    for kind in patterns.KINDS:
        for j in range(procedural):
            split = "val" if j % 7 == 0 else "fit"
            pat = patterns.draw(kind, SIZE, rng)
            if j % 2 == 0:
                items.append((pat, [(None, kind)] + [(m, kind) for m in _rects(rng, 1)], split))
            else:
                photo = _load(photos[int(rng.integers(len(photos)))])
                img, mask = patterns.paste(photo, pat, rng, cover=(0.25, 0.6))
                small = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(mask).float()[None, None],
                                                                 GRID)[0, 0].numpy()
                items.append((img, [(small > 0.6, kind), (small < 0.05, NONE)], split))
    return items


@torch.no_grad()
def featurize(items: list, batch: int = 32) -> tuple:
    xs, ys, splits = [], [], []
    for lo in range(0, len(items), batch):
        chunk = items[lo: lo + batch]
        images = torch.from_numpy(np.stack([im for im, _, _ in chunk])).permute(0, 3, 1, 2).float() / 255
        feats = image_features(images, torch.arange(len(chunk)))
        rows, weights = [], []
        for i, (_, regions, split) in enumerate(chunk):
            for mask, label in regions:
                rows.append(i)
                weights.append(torch.ones(GRID, GRID) if mask is None else torch.from_numpy(mask).float())
                ys.append(label)
                splits.append(split)
        xs.append(pooled(feats, torch.tensor(rows), torch.stack(weights)))
        print(f"  encoded {min(lo + batch, len(items))}/{len(items)} images", file=sys.stderr, flush=True)
    return torch.cat(xs), ys, splits


def fit(x: torch.Tensor, y: torch.Tensor, n_classes: int, decay: float, steps: int = 300) -> tuple:
    torch.manual_seed(0)
    w = torch.zeros(n_classes, x.shape[1], requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    counts = torch.bincount(y, minlength=n_classes).float()
    class_weight = (counts.sum() / (n_classes * counts.clamp(min=1)))
    opt = torch.optim.LBFGS([w, b], lr=0.5, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w.T + b, y, weight=class_weight) + decay * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--procedural", type=int, default=70, help="patterns drawn per procedural kind")
    ap.add_argument("--cache", type=Path, help="keep the encoded features here (reruns skip the encoding)")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.perf_counter()
    if args.cache and args.cache.is_file():
        x, ys, splits = torch.load(args.cache, weights_only=False)
    else:
        rng = np.random.default_rng(0)
        items = collect(args.data, rng, args.procedural)
        print(f"{len(items)} images", file=sys.stderr)
        encoder()
        x, ys, splits = featurize(items)
        if args.cache:
            torch.save((x, ys, splits), args.cache)
    classes = list(TEXTURES) + [NONE]
    y = torch.tensor([classes.index(c) for c in ys])
    fit_rows = torch.tensor([s == "fit" for s in splits])
    mean, std = x[fit_rows].mean(0), x[fit_rows].std(0).clamp(min=1e-3)
    z = (x - mean) / std
    best = None
    for decay in (1e-4, 3e-4, 1e-3, 3e-3):
        w, b = fit(z[fit_rows], y[fit_rows], len(classes), decay)
        pred = (z[~fit_rows] @ w.T + b).argmax(1)
        truth = y[~fit_rows]
        per_class = [float((pred[truth == c] == c).float().mean()) for c in range(len(classes)) if (truth == c).any()]
        score = float(np.mean(per_class))
        print(f"decay {decay:g}: validation accuracy {float((pred == truth).float().mean()):.3f}, "
              f"mean per class {score:.3f}", file=sys.stderr)
        if best is None or score > best[0]:
            best = (score, decay, w, b, pred, truth)
    score, decay, w, b, pred, truth = best
    per_class = {classes[c]: round(float((pred[truth == c] == c).float().mean()), 3)
                 for c in range(len(classes)) if (truth == c).any()}
    counts = {c: int((y[fit_rows] == i).sum()) for i, c in enumerate(classes)}
    meta = {"trained_by": "scripts/train_texture_head.py", "decay": decay, "fit_examples": counts,
            "validation_mean_per_class_accuracy": round(score, 3), "validation_per_class": per_class,
            "features": "mask-pooled EfficientNet-Lite0 blocks.6 + bn2, standardised"}
    head = TextureHead(classes, mean, std, w, b, meta)
    tmp = args.out.with_suffix(".tmp")
    torch.save(head.state_dict(), tmp)
    os.replace(tmp, args.out)
    print(json.dumps(meta, indent=1))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB) in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
