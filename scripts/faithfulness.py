"""The faithfulness study: do the labels of real units name concepts that predict when and where they fire?

From the repository root (a few minutes on 2 CPU threads):

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 /work/venv/bin/python scripts/faithfulness.py

For EfficientNet-Lite0 (``blocks.5``, ``blocks.6``) and MobileNetV2 (``features.14``,
``features.17``), every unit is labelled with :func:`neuronlabel.label_model` over the
base-concept photos (COCO-mini photos with instance masks and the ImageNet sample, 224 px,
no mirror images; each network's own normalisation), then one more pass
(:func:`neuronlabel.evaluation.faithfulness.overlap`) scores each label's subject concept
against the unit: IoU of its 0.99-quantile masks with the concept over pixels, AUPRC of its
per-image peak over images; next to the Network-Dissection baseline (the unit's best-IoU
concept) and a chance baseline (another unit's subject). Writes ``<out>/faithfulness.json``
(settings, summaries, one row per unit) and ``<out>/faithfulness.md`` (the table, also printed).
Use ``--max-images 80`` (ImageNet photos; all COCO photos are kept) for a quick run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import torch

NETWORKS = {"efficientnet_lite0": ["blocks.5", "blocks.6"], "mobilenet_v2": ["features.14", "features.17"]}


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def table(rows: list[dict]) -> str:
    """The markdown summary: one row per network/layer; label vs ND baseline vs chance.

    IoU and AUPRC are over the units whose label names a checkable concept; cells with three
    numbers read label / ND / chance; ``[q1-q3]`` is the interquartile range.
    """
    blocks = ("label", "nd", "chance")
    head = ["network", "layer", "units", "checkable", "IoU median [IQR]: label", "ND", "chance",
            "IoU mean (label / ND / chance)", "AUPRC median (label / ND / chance)",
            "IoU > 0.04 (label / ND / chance)", "label = ND concept", "held-out IoU median (label / ND)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["summary"]
        iqr = lambda b: f"{_f(s[b]['iou']['median'])} [{_f(s[b]['iou']['q1'])}-{_f(s[b]['iou']['q3'])}]"
        three = lambda key, stat: " / ".join(_f(s[b][key][stat]) for b in blocks)
        cells = [r["network"], r["layer"], str(s["units"]), _pct(s["checkable"]), *(iqr(b) for b in blocks),
                 three("iou", "mean"), three("auprc", "median"), " / ".join(_pct(s[b]["detectors"]) for b in blocks),
                 _pct(s["agreement"]), f"{_f(s['heldout']['label_iou']['median'])} / {_f(s['heldout']['nd_iou']['median'])}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data", help="folder with coco-mini/, imagenet-sample-256/ and "
                    "imagenet_classes_wordnet.json")
    ap.add_argument("--captioner", default=None, help="a saved captioner (default: the bundled one)")
    ap.add_argument("--max-images", type=int, default=None, help="use only the first N ImageNet photos (quick runs)")
    ap.add_argument("--out", default="/tmp/faithfulness", help="output folder")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0, help="seed of the chance baseline's permutation")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)

    from neuronlabel import label_model, models
    from neuronlabel.captioner import Captioner
    from neuronlabel.datasets.compound import base_concepts
    from neuronlabel.evaluation.faithfulness import (PhotoSource, Vocabulary, merge_shared_terms, overlap,
                                                     score_units, summarize)

    t0 = time.perf_counter()
    clock = lambda: f"[{time.perf_counter() - t0:6.1f}s]"
    base = base_concepts(args.data, k=15, flip=False, max_images=args.max_images, progress=True)
    names, concepts, maps = merge_shared_terms(base.names, base.concepts, base.maps)
    vocabulary = Vocabulary(concepts)
    present = maps.flatten(2).any(2)
    print(f"{clock()} {len(base)} photos, {len(names)} concepts after uniting shared words "
          f"({len(base.names)} before)", flush=True)
    captioner = Captioner.load(args.captioner) if args.captioner else Captioner.load()
    rows, units, seconds = [], [], {"concepts": round(time.perf_counter() - t0, 1)}
    for network, layers in NETWORKS.items():
        t_net = time.perf_counter()
        net, preprocess = models.load(network)
        norm = preprocess.transforms[-1]
        source = PhotoSource(base.images, norm.mean, norm.std)
        report = label_model(net, layers, images=source, captioner=captioner, batch_size=args.batch_size,
                             progress=False, model_name=network)
        t_label = time.perf_counter() - t_net
        print(f"{clock()} {network}: labelled {len(report)} units ({report.meta['seconds']})", flush=True)
        counts = overlap(net, source, layers, maps, report.probe_result, batch_size=args.batch_size)
        for layer in layers:
            labels = [report[layer, u].label for u in range(counts[layer].maxima.shape[1])]
            scores = score_units(labels, counts[layer], names, present, vocabulary, seed=args.seed)
            summary = summarize(scores)
            subjects = Counter(s.subject for s in scores if s.subject)
            rows.append({"network": network, "layer": layer, "summary": summary,
                         "top_subjects": subjects.most_common(10),
                         "top_nd_concepts": Counter(s.nd_concept for s in scores).most_common(10),
                         "distinct_labels": len(set(labels))})
            units += [{"network": network, **s.as_dict()} for s in scores]
        seconds[network] = {"label": round(t_label, 1), "total": round(time.perf_counter() - t_net, 1)}
        print(f"{clock()} {network}: scored", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = table(rows)
    settings = {"data": str(args.data), "max_images": args.max_images, "photos": len(base),
                "coco_photos": sum(s.startswith("coco/") for s in base.sources), "concepts": names,
                "concept_kinds": {n: concepts[n].kind for n in names}, "captioner": args.captioner or "bundled",
                "k": 15, "quantile": 0.99, "grid": list(maps.shape[2:]), "seed": args.seed, "seconds": seconds}
    (out / "faithfulness.json").write_text(json.dumps({"settings": settings, "layers": rows, "units": units},
                                                      indent=1))
    (out / "faithfulness.md").write_text(md + "\n")
    print(md)
    print(f"{clock()} wrote {out / 'faithfulness.json'} and {out / 'faithfulness.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
