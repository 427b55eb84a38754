"""``neuronlabel evaluate``: score a captioner on the compound data set's held-out units, or on real
units with known answers (``--known-answer``).

>>> import argparse
>>> p = argparse.ArgumentParser(prog="neuronlabel evaluate"); add_arguments(p)
>>> p.parse_args(["--split", "val"]).split
'val'

Examples::

    neuronlabel evaluate                                  # the bundled captioner, test split
    neuronlabel evaluate runs/milan.pt --no-bertscore --json scores.json
    neuronlabel evaluate --known-answer --data ../shared/data --json known.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` options to ``parser``."""
    parser.add_argument("captioner", nargs="?", help="a saved captioner file (default: the bundled one)")
    parser.add_argument("--data", default=None, help="the shared data folder (default: $NEURONLABEL_DATA or "
                        "../shared/data)")
    parser.add_argument("--units", type=int, default=1400, help="compound units asked for (default 1400)")
    parser.add_argument("--seed", type=int, default=0, help="compound set seed (default 0)")
    parser.add_argument("-k", type=int, default=15, help="exemplars per unit (default 15)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--cache", type=Path, default=None, help="cache folder for the data set and features "
                        "(default: $NEURONLABEL_CACHE or ~/.cache/neuronlabel)")
    parser.add_argument("--no-bertscore", action="store_true", help="BLEU only (skips loading the text model)")
    parser.add_argument("--json", type=Path, help="also write the scores and example descriptions here")
    parser.add_argument("--known-answer", action="store_true", help="label real units of EfficientNet-Lite0 and "
                        "MobileNetV2 whose answer is known (class, texture, colour and face units) and score the "
                        "labels against chance, constant and Network-Dissection baselines (docs/results.md)")
    parser.add_argument("--networks", nargs="+", default=None, help="--known-answer: networks to run "
                        "(default: efficientnet_lite0 mobilenet_v2)")
    parser.add_argument("--limit", type=int, default=None, help="--known-answer: at most this many ImageNet and "
                        "texture photos each (quick runs; all COCO photos are kept)")
    parser.add_argument("--markdown", type=Path, help="--known-answer: also write the table here")
    parser.add_argument("--no-evidence", action="store_true", help="--known-answer: label with the captioner "
                        "alone (label_model(evidence=False)), as before the evidence stage")


def _row(name: str, s: dict) -> str:
    b, bs = s["bleu"], s.get("bertscore")
    cells = [f"{b['overall']:.1f}"] + [f"{b[k]['bleu']:.1f}" if b[k]["bleu"] is not None else "-"
                                       for k in ("<=5", "6-10", ">10")]
    cells.append(f"{s['bleu_novel']['overall']:.1f}" if "bleu_novel" in s else "-")
    cells.append(f"{bs['overall']:.3f}" if bs else "-")
    return f"| {name} | " + " | ".join(cells) + " |"


def run_known_answer(args) -> int:
    """``--known-answer``: the benchmark of :mod:`neuronlabel.evaluation.known_answer`."""
    from .known_answer.runner import NETWORKS, known_answer
    from .known_answer.table import markdown

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be >= 1, got {args.limit}")
    for path in (args.json, args.markdown):
        if path is not None and path.is_dir():
            raise InputError(f"{path} is a folder; give a file name")
    result = known_answer(args.captioner, args.data or _default_data(), cache=args.cache,
                          networks=args.networks or list(NETWORKS), limit=args.limit, seed=args.seed,
                          evidence=False if args.no_evidence else None)
    table = markdown(result)
    print(table)
    print(f"total {result['seconds']['total']:.0f} s")
    for path, text in ((args.json, json.dumps(result, indent=1, default=str)), (args.markdown, table)):
        if path is not None:
            _write_atomic(path, text)
    return 0


def _default_data() -> str:
    import os

    return os.environ.get("NEURONLABEL_DATA", "../shared/data")


def _write_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run(args) -> int:
    if args.known_answer:
        return run_known_answer(args)
    from ..captioner import Captioner
    from .experiment import DEFAULT_CACHE, compound_features, score

    cap = Captioner.load(args.captioner)
    if args.units < 1:
        raise InputError(f"--units must be >= 1, got {args.units}")
    compound, feats = compound_features(args.data, units=args.units, seed=args.seed, k=args.k,
                                        encoder=cap.config.encoder, cache=args.cache or DEFAULT_CACHE,
                                        progress=True)
    result = score(cap, compound, feats, args.split, bertscore=not args.no_bertscore)
    print(f"{args.split} split: {result['units']} units ({result['novel_units']} novel compositions)")
    print("| decoding | BLEU-4 | <=5 | 6-10 | >10 | novel | BERTScore F1 |")
    print("|---|---|---|---|---|---|---|")
    for key, name in (("plain", "beam search"), ("rerank", "beam search + wPMI rerank")):
        if key in result:
            print(_row(name, result[key]))
    if "bertscore" in result.get("plain", {}):
        print(f"bert-score hash: {result['plain']['bertscore']['hash'].rsplit('/', 1)[-1]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0
