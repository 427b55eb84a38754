"""Edit a network by its labels (MILAN, section 7): find the units whose label names a concept, ablate them,
and measure accuracy with and without, against as many random units of the same layer.

    python examples/edit_by_labels.py                       # quick: 32 units, 40 + 40 photos
    python examples/edit_by_labels.py --units 0 --probe 500 --eval 500     # the whole layer (docs/results.md)

EfficientNet-Lite0 (pretrained, offline), layer blocks.6. With ../shared/data/imagenet-sample-256
(1000 ImageNet photos, one per class) the probe uses even-numbered photos and accuracy is measured
on odd-numbered ones, against their ImageNet labels; the concept's classes are those whose WordNet
ancestors name it. Without that folder, the built-in photos serve for both and the "accuracy" is
agreement with the unedited network's top-1 prediction.
"""

import argparse
import json
import random
from pathlib import Path

import torch

import neuronlabel
from neuronlabel import models
from neuronlabel.demo import demo_photos
from neuronlabel.editing import ablation_accuracy
from neuronlabel.sources import FolderSource

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LAYER = "blocks.6"


def photos(preprocess, n_probe: int, n_eval: int):
    """Probe photos, evaluation inputs, their targets, the class groups file (or None), and a description."""
    folder = SHARED / "imagenet-sample-256"
    if folder.is_dir():
        source = FolderSource(folder, preprocess)
        probe_ids = list(range(0, len(source), 2))[:n_probe]
        eval_ids = list(range(1, len(source), 2))
        eval_ids = eval_ids[::max(1, len(eval_ids) // n_eval)][:n_eval]
        probe = torch.utils.data.Subset(source, probe_ids)
        inputs = torch.stack([source[i] for i in eval_ids])
        return probe, inputs, eval_ids, SHARED / "imagenet_classes_wordnet.json", (
            f"probe: {len(probe_ids)} ImageNet-sample photos (even files); accuracy on {len(eval_ids)} others "
            "(odd files) against their ImageNet labels")
    pil = [image for _, image in demo_photos()]
    return pil, torch.stack([preprocess(im) for im in pil]), None, None, (
        f"probe and evaluation: the {len(pil)} built-in photos; accuracy = agreement with the unedited "
        "network's top-1 prediction (../shared/data is absent)")


def concept_classes(wordnet: "Path | None", concept: str) -> "set | None":
    if wordnet is None or not wordnet.is_file():
        return None
    word = concept.lower().rstrip("s")
    classes = set()
    for entry in json.loads(wordnet.read_text()):
        names = [entry.get("lemmas", [])] + [h.get("lemmas", []) for h in entry.get("hypernyms", [])]
        if any(word == lemma.lower().replace("_", " ") for group in names for lemma in group):
            classes.add(entry["index"])
    return classes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concept", default="dogs")
    parser.add_argument("--units", type=int, default=32, help=f"label units 0..N-1 of {LAYER} (0: all 320)")
    parser.add_argument("--probe", type=int, default=40, help="probe photos (ImageNet sample)")
    parser.add_argument("--eval", type=int, default=40, help="evaluation photos (ImageNet sample)")
    parser.add_argument("--mode", choices=["zero", "mean"], default="zero")
    args = parser.parse_args(argv)

    net, preprocess = models.load("efficientnet_lite0")
    probe, inputs, targets, wordnet, described = photos(preprocess, args.probe, args.eval)
    print(described)
    if targets is None:
        with torch.inference_mode():
            targets = net(inputs).argmax(1).tolist()
    units = {LAYER: range(args.units)} if args.units else None
    report = neuronlabel.label_model(net, None if units else [LAYER], images=probe, progress=False,
                                     k=15 if len(probe) >= 60 else 5,
                                     units=units, model_name="efficientnet_lite0")
    concept, found = args.concept, report.search(args.concept)
    if not found:
        concept = report.layers()[0].top_words[0][0]
        print(f"no label of the {len(report)} labelled units mentions {args.concept!r}; using the most common "
              f"label word, {concept!r}")
        found = report.search(concept)
    others = [u for u in report if u not in found]
    control = random.Random(0).sample(others, min(len(found), len(others)))
    print(f"labelled {len(report)} units of {LAYER} in {sum(report.meta['seconds'].values()):.0f} s; "
          f"{len(found)} labels mention {concept!r}, e.g. " + "; ".join(f"{u.ref} {u.label!r}" for u in found[:3]))

    classes = concept_classes(wordnet, concept)
    rows = [("no ablation", None)]
    results = {}
    for name, chosen in ((f"ablate the {len(found)} {concept!r} units", found),
                         (f"ablate {len(control)} random units", control)):
        if chosen:
            results[name] = ablation_accuracy(net, chosen, inputs, targets=targets, mode=args.mode, means=report)
            rows.append((name, results[name]))
    header = f"{'top-1 accuracy':38s}{'all':>8s}"
    if classes is not None:
        header += f"{f'{concept} classes':>16s}{'other classes':>16s}"
    print(header)
    for name, result in rows:
        base = result is None
        result = result or next(iter(results.values()))
        line = f"{name:38s}{100 * (result.before if base else result.after).top1_rate:7.1f}%"
        if classes is not None:
            for which in (lambda c: c in classes, lambda c: c not in classes):
                n, before, after = result.classes(which)
                line += f"{100 * (before if base else after):9.1f}% ({n:3d})"
        print(line)
    for name, result in results.items():
        print(f"{name}: {result.changed} of {result.before.total} top-1 predictions changed")


if __name__ == "__main__":
    main()
