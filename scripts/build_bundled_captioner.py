"""Rebuild the bundled captioner (neuronlabel/weights/captioner.pt) from ../shared/data, and score it.

One command, from the repository root (about 30 minutes on 2 CPU cores):

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \
        python scripts/build_bundled_captioner.py --data ../shared/data

Steps: build (or load from ~/.cache/neuronlabel/compound) the compound data set, encode
every exemplar once with the frozen EfficientNet-Lite0 encoder (features cached next to
the data set), train the fused captioner (additive + multiplicative + dot-product
attention, sum fusion) with early stopping on validation BLEU, store the weights in
float16 (so the file stays under 40 MB) and write BLEU-4 / BERTScore on the test split to
``--scores`` (JSON). ``--attention additive`` trains the MILAN baseline instead (use
``--out`` elsewhere then).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--units", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--attention", default="additive,multiplicative,dot_product")
    ap.add_argument("--fusion", default="sum")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--lm-epochs", type=int, default=2)
    ap.add_argument("--hidden-size", type=int, default=512, help="decoder LSTM and attention hidden size")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--alpha-c", type=float, default=0.0,
                    help="doubly stochastic attention penalty weight (1.0 stalled training at 3.7 nats/token)")
    ap.add_argument("--no-extra-text", action="store_true",
                    help="train vocabulary and LM prior on the compound descriptions only (smaller, faster)")
    ap.add_argument("--out", default=str(ROOT / "neuronlabel" / "weights" / "captioner.pt"))
    ap.add_argument("--scores", default=None, help="JSON file for the test-split scores")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "neuronlabel"))
    ap.add_argument("--no-bertscore", action="store_true")
    args = ap.parse_args(argv)

    from neuronlabel.captioner import CaptionerConfig
    from neuronlabel.captioner.encoder import PyramidEncoder
    from neuronlabel.captioner.model import digest
    from neuronlabel.datasets.compound import build_compound
    from neuronlabel.evaluation.compound_scores import bertscore_by_length, bleu_by_length
    from neuronlabel.training import fit
    from neuronlabel.training.data import CaptionData
    from neuronlabel.training.features import featurize

    t0 = time.time()
    cache = Path(args.cache).expanduser()
    data = build_compound(args.data, units=args.units, seed=args.seed, cache_dir=cache / "compound", progress=True)
    print("sizes", json.dumps(data.sizes()), flush=True)
    feats_path = cache / "compound" / f"features-u{args.units}-s{args.seed}-efficientnet_lite0.pt"
    if feats_path.is_file():
        feats = CaptionData.load(feats_path)
    else:
        feats = featurize(data.exemplar_set(), PyramidEncoder("efficientnet_lite0"), progress=True)
        feats.save(feats_path)
    print(f"features {tuple(feats.features.shape)} at {time.time() - t0:.0f}s", flush=True)
    train, val, test = (feats.subset(data.indices(s)) for s in ("train", "val", "test"))

    extra = []
    milan = Path(args.data) / "milannotations" / "resnet152_imagenet.csv"
    if milan.is_file() and not args.no_extra_text:   # MILANNOTATIONS descriptions shape the vocabulary and the LM prior
        with open(milan, newline="") as fh:
            extra = [r["summary"] for r in csv.DictReader(fh) if r.get("summary")]
    config = CaptionerConfig(attention=tuple(args.attention.split(",")), fusion=args.fusion,
                             hidden_size=args.hidden_size, attention_hidden_size=args.hidden_size,
                             dropout=args.dropout, alpha_c=args.alpha_c)
    began = time.time()
    result = fit(train, config, validation=val, epochs=args.epochs, patience=args.patience, seed=args.seed,
                 lm_epochs=args.lm_epochs, extra_text=extra, min_count=2, progress=False, lr=args.lr,
                 checkpoint_dir=cache / "runs" / f"{args.attention.replace(',', '+')}-{args.fusion}-s{args.seed}")
    train_s = time.time() - began
    for h in result.history:
        print(json.dumps(h), flush=True)
    cap = result.captioner

    state = cap.state_dict()          # float16 weights: half the size, same Captioner.load
    for part in ("decoder", "lm"):
        if state[part] is not None:
            state[part] = {k: v.half() if v.is_floating_point() else v for k, v in state[part].items()}
    state["sha256"] = digest(state)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    print(f"saved {out} ({out.stat().st_size / 2**20:.1f} MB), training {train_s:.0f}s", flush=True)

    from neuronlabel.captioner import Captioner

    cap = Captioner.load(out)
    scores = {"config": {"attention": args.attention, "fusion": args.fusion, "seed": args.seed},
              "sizes": data.sizes(), "train_seconds": train_s, "best_epoch": result.best_epoch,
              "val_bleu": result.best_bleu, "history": result.history}
    for rerank in (False, True):
        hyps = [c[0][0] for c in cap.describe(test.features, rerank=rerank and cap.lm is not None)]
        key = "rerank" if rerank else "plain"
        scores[key] = {"bleu": bleu_by_length(hyps, test.descriptions)}
        novel = [i for i, u in enumerate(data.indices("test")) if data.novel[u]]
        if novel:
            scores[key]["bleu_novel"] = bleu_by_length([hyps[i] for i in novel], [test.descriptions[i] for i in novel])
        if not args.no_bertscore:
            scores[key]["bertscore"] = bertscore_by_length(hyps, test.descriptions)
        scores[key]["examples"] = [[hyps[i], test.descriptions[i]] for i in range(0, len(hyps), max(1, len(hyps) // 15))]
        print(key, json.dumps({k: v for k, v in scores[key].items() if k != "examples"}), flush=True)
    if args.scores:
        Path(args.scores).write_text(json.dumps(scores, indent=1))
    print(f"done in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
