"""Rebuild the bundled captioner (neuronlabel/weights/captioner.pt) from ../shared/data, and score it.

From the repository root (a few minutes on 2 CPU cores once the data set is cached):

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \
        python scripts/build_bundled_captioner.py --data ../shared/data

Steps: build (or load from ~/.cache/neuronlabel/compound) the compound data set and its
EfficientNet-Lite0 exemplar features, train configuration ``--config`` (one of
``neuronlabel.evaluation.experiment.CONFIGS``) with early stopping on validation BLEU, store
the weights in float16 (the file stays under 40 MB) and write BLEU-4 / BERTScore on the test
split of the float16 model to ``--scores`` (JSON). Use ``--out`` elsewhere to try a
configuration without replacing the bundled file. ``--from FILE`` skips training and ships
a captioner trained earlier (e.g. ``~/.cache/neuronlabel/experiment/fused_sum-s0.pt`` from
``scripts/captioner_experiment.py``, which trains exactly what ``--config``/``--seed`` would).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    from neuronlabel.evaluation.experiment import CONFIGS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--units", type=int, default=1400)
    ap.add_argument("--config", default="fused_sum", choices=list(CONFIGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--lm-epochs", type=int, default=5)
    ap.add_argument("--hidden-size", type=int, default=512, help="decoder LSTM and attention hidden size")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--alpha-c", type=float, default=0.0, help="doubly stochastic attention penalty weight")
    ap.add_argument("--extra-text", action="store_true",
                    help="add the MILANNOTATIONS descriptions and COCO captions to the vocabulary and LM prior")
    ap.add_argument("--inventory", action="store_true",
                    help="also train on the inventory units (neuronlabel.datasets.inventory_units): ImageNet classes "
                         "and groups, textures, patterns, text, faces")
    ap.add_argument("--max-vocab", type=int, default=None)
    ap.add_argument("--from", dest="source", help="a trained captioner file to ship instead of training")
    ap.add_argument("--out", default=str(ROOT / "neuronlabel" / "weights" / "captioner.pt"))
    ap.add_argument("--scores", default=None, help="JSON file for the test-split scores")
    ap.add_argument("--no-bertscore", action="store_true")
    args = ap.parse_args(argv)

    from neuronlabel.captioner import Captioner
    from neuronlabel.captioner.model import digest
    from neuronlabel.evaluation.experiment import compound_features, language_text, score, train_config

    t0 = time.time()
    compound, feats = compound_features(args.data, units=args.units, progress=True)
    print("sizes", json.dumps(compound.sizes()), flush=True)
    scores = {"config": args.config, "seed": args.seed, "sizes": compound.sizes()}
    units, unit_feats = compound, feats
    if args.inventory:
        from neuronlabel.datasets.inventory_units import build_inventory_units, combine
        from neuronlabel.evaluation.experiment import DEFAULT_CACHE

        units = combine(compound, feats, build_inventory_units(args.data, cache_dir=DEFAULT_CACHE / "inventory",
                                                               progress=True))
        unit_feats = units.data
        scores["inventory_sizes"] = units.sizes()
        print("inventory sizes", json.dumps(units.sizes()), flush=True)
    if args.source:
        captioner = Captioner.load(args.source)
        scores["from"] = args.source
    else:
        extra = language_text(args.data) if args.extra_text else []
        result = train_config(args.config, args.seed, units, unit_feats, epochs=args.epochs, patience=args.patience,
                              lm_epochs=args.lm_epochs, hidden_size=args.hidden_size, dropout=args.dropout,
                              lr=args.lr, alpha_c=args.alpha_c, extra_text=extra, max_vocab=args.max_vocab,
                              progress=True)
        captioner = result.captioner
        scores.update(train_seconds=time.time() - t0, best_epoch=result.best_epoch, val_bleu=result.best_bleu,
                      history=result.history)
        for h in result.history:
            print(json.dumps(h), flush=True)

    state = captioner.state_dict()          # float16 weights: half the size, same Captioner.load
    for part in ("decoder", "lm"):
        if state[part] is not None:
            state[part] = {k: v.half() if v.is_floating_point() else v for k, v in state[part].items()}
    state["sha256"] = digest(state)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, out)
    print(f"saved {out} ({out.stat().st_size / 2**20:.1f} MB) at {time.time() - t0:.0f}s", flush=True)
    scores.update(score(Captioner.load(out), compound, feats, "test", bertscore=not args.no_bertscore))
    if args.inventory:
        scores["all_units"] = score(Captioner.load(out), units, unit_feats, "test", bertscore=not args.no_bertscore)
        for key in ("plain", "rerank"):
            if key in scores["all_units"]:
                row = scores["all_units"][key]
                print("all units", key, json.dumps({k: v for k, v in row.items() if k != "examples"}), flush=True)
    for key in ("plain", "rerank"):
        if key in scores:
            print(key, json.dumps({k: v for k, v in scores[key].items() if k != "examples"}), flush=True)
    if args.scores:
        Path(args.scores).write_text(json.dumps(scores, indent=1))
    print(f"done in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
