"""Labels as a user meets them: 30 random labels of the demo and of EfficientNet-Lite0 ``blocks.6`` over
the COCO-mini photos, and the share of a random-weight ResNet-18's ``layer4`` units flagged uncertain.

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python benchmarks/label_samples.py --data ../shared/data --json samples.json
    PYTHONPATH=../nl-before python benchmarks/label_samples.py --before ...   # an older checkout

Units are drawn with ``random.Random(0).sample``; ``--before`` calls ``label_model`` without the
arguments older checkouts lack.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path


def _rows(report, n: int = 30) -> list:
    rng = random.Random(0)
    return [(u.layer, u.unit, u.label, getattr(u, "confidence", None), list(getattr(u, "flags", [])))
            for u in rng.sample(report.units, n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--before", action="store_true")
    args = ap.parse_args()
    import torch
    import torchvision

    from neuronlabel import label_model, models

    torch.set_num_threads(2)
    kw = {} if args.before else {"evidence": True}
    out: dict = {}
    net, _ = models.load("efficientnet_lite0")
    t = time.time()
    demo = label_model(net, ["blocks.5", "blocks.6"], images=None, progress=False, **kw)
    out["demo_seconds"] = round(time.time() - t, 1)
    out["demo"] = _rows(demo)
    with tempfile.TemporaryDirectory() as folder:
        for f in sorted((args.data / "coco-mini").glob("*2017/*.jpg")):
            os.symlink(f.resolve(), os.path.join(folder, f.name))
        coco = label_model(net, ["blocks.6"], images=folder, progress=False, **kw)
    out["coco_blocks6"] = _rows(coco)
    out["coco_blocks6_uncertain"] = sum("uncertain" in u.flags for u in coco.units) / len(coco.units)
    torch.manual_seed(0)
    rn = torchvision.models.resnet18(weights=None).eval()
    t = time.time()
    r = label_model(rn, ["layer4"], images=str(args.data / "imagenet-sample-256"), progress=False, **kw)
    out["random_resnet18_seconds"] = round(time.time() - t, 1)
    out["random_resnet18_uncertain"] = sum("uncertain" in u.flags for u in r.units) / len(r.units)
    out["random_resnet18_top_labels"] = Counter(u.label for u in r.units).most_common(8)
    out["random_resnet18_sample"] = _rows(r, 10)
    args.json.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if not isinstance(v, list)}, indent=1))


if __name__ == "__main__":
    main()
