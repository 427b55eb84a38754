"""Two evidence-stage costs, old way against new way in one run, with the results compared.

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 python benchmarks/evidence_speed.py

* face detection: facenet-pytorch's stock MTCNN against :func:`neuronlabel.evidence.faces.detector`
  (the same networks with channels-last max pools) over ``--images`` ImageNet-sample photos at
  224 x 224, the batches and minimum face size that :func:`~neuronlabel.evidence.faces.detect` uses;
  every box and probability must be equal;
* mask counts: :func:`neuronlabel.probing.exemplars.mask_counts` with the cells' bytes summed 8 at a
  time against ``packed=False`` (byte by byte, the code before), for random ``[units, 15, h, h]``
  maps of ResNet-50's layer1..layer4 sizes onto the 28 x 28 grid; the counts must be equal.

Rounds alternate (``--repeats``); the medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample-256"


def _photos(folder: Path, n: int) -> torch.Tensor:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    out = [torch.from_numpy(np.array(Image.open(f).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)))
           for f in files]
    return torch.stack(out).float()                       # [N, 224, 224, 3] in 0..255, as detect() feeds MTCNN


def _detect_all(mtcnn, rgb: torch.Tensor, batch: int = 32) -> list:
    return [mtcnn.detect(rgb[lo:lo + batch]) for lo in range(0, len(rgb), batch)]


def _same_faces(a: list, b: list) -> bool:
    flat = lambda runs: [None if v is None else np.asarray(v).tolist() for boxes, probs in runs for v in (*boxes, *probs)]
    return flat(a) == flat(b)


def _timed(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def main() -> None:
    from facenet_pytorch import MTCNN

    from neuronlabel.evidence import faces
    from neuronlabel.probing.exemplars import mask_counts

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--images", type=int, default=900)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    rgb = _photos(args.data, args.images)
    min_face = max(20, round(224 * faces.MIN_FACE))
    stock, ours = MTCNN(keep_all=True, min_face_size=min_face), faces.detector(None, min_face)
    times = {"stock": [], "ours": []}
    for _ in range(args.repeats):
        t, want = _timed(lambda: _detect_all(stock, rgb))
        times["stock"].append(t)
        t, got = _timed(lambda: _detect_all(ours, rgb))
        times["ours"].append(t)
    found = sum(len(b) for run in got for b in run[0] if b is not None)
    print(f"MTCNN over {len(rgb)} photos: stock {statistics.median(times['stock']):.2f} s, channels-last pools "
          f"{statistics.median(times['ours']):.2f} s; {found} faces; identical: {_same_faces(want, got)}", flush=True)

    g = torch.Generator().manual_seed(0)
    total = {"bytewise": 0.0, "packed": 0.0}
    for h, units in ((56, 256), (28, 512), (14, 1024), (7, 2048)):
        maps = torch.randn(units, 15, h, h, generator=g).relu()
        thr = torch.rand(units, generator=g) + 0.5
        old, new = [], []
        for _ in range(args.repeats):
            t, a = _timed(lambda: mask_counts(maps, thr, (224, 224), (28, 28), packed=False))
            old.append(t)
            t, b = _timed(lambda: mask_counts(maps, thr, (224, 224), (28, 28)))
            new.append(t)
        total["bytewise"] += statistics.median(old)
        total["packed"] += statistics.median(new)
        print(f"mask counts {units} x 15 maps of {h} x {h}: bytewise {statistics.median(old):.2f} s, packed "
              f"{statistics.median(new):.2f} s; identical: {torch.equal(a, b)}", flush=True)
    print(f"mask counts, all four layers: bytewise {total['bytewise']:.2f} s, packed {total['packed']:.2f} s")


if __name__ == "__main__":
    main()
