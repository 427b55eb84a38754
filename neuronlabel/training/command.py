"""``neuronlabel train``: train a captioner on MILANNOTATIONS-format data or cached features.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="neuronlabel train"); add_arguments(parser)
>>> parser.parse_args(["--data", "milan/", "--out", "cap.pt"]).attention
['additive']

Examples::

    neuronlabel train --data milannotations/ --out captioner.pt --checkpoint-dir runs/milan
    neuronlabel train --data milannotations/ --features-cache runs/feats.pt --out captioner.pt \\
        --attention additive multiplicative dot_product --fusion sum
    neuronlabel train --features runs/feats.pt --out captioner.pt --checkpoint-dir runs/milan --resume
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from ..errors import InputError, NeuronLabelError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser``.

    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> p.parse_args(["--features", "f.pt", "--out", "c.pt", "--fusion", "gate"]).fusion
    'gate'
    """
    src = parser.add_argument_group("data")
    src.add_argument("--data", type=Path, help="MILANNOTATIONS root: <root>/<network>/annotations.csv and "
                     "<root>/<network>/<layer>/{images,masks}.npy")
    src.add_argument("--network", action="append", dest="networks", metavar="NAME",
                     help="only this network folder (repeatable)")
    src.add_argument("--layer", action="append", dest="layers", metavar="NAME", help="only this layer (repeatable)")
    src.add_argument("--features", type=Path, help="train on features saved earlier (--features-cache) instead of --data")
    src.add_argument("--features-cache", type=Path, help="save the encoded features of --data here (reused if present)")
    src.add_argument("--extra-text", type=Path, action="append", default=[], metavar="FILE",
                     help="more descriptions for the vocabulary and LM prior: .txt (one per line) or .csv "
                          "(column summary, description or caption); repeatable")
    model = parser.add_argument_group("model")
    model.add_argument("--attention", nargs="+", default=["additive"],
                       help="attention mechanisms: additive multiplicative dot dot_product (default: additive)")
    model.add_argument("--fusion", default="sum", choices=["sum", "concat", "gate"])
    model.add_argument("--encoder", default="efficientnet_lite0", help="backbone: efficientnet_lite0, mobilenet_v2, ...")
    model.add_argument("--max-length", type=int, default=30, help="longest description in tokens")
    train = parser.add_argument_group("training")
    train.add_argument("--out", type=Path, required=True, help="where to write the trained captioner")
    train.add_argument("--checkpoint-dir", type=Path, help="write checkpoint.pt and best.pt here every epoch")
    train.add_argument("--resume", action="store_true", help="continue the run in --checkpoint-dir")
    train.add_argument("--epochs", type=int, default=100)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--weight-decay", type=float, default=1e-4)
    train.add_argument("--patience", type=int, default=5, help="epochs without better validation BLEU before stopping")
    train.add_argument("--val-fraction", type=float, default=0.1, help="share of units held out for validation")
    train.add_argument("--lm-epochs", type=int, default=10, help="epochs of LM-prior training (0: no prior)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run ``neuronlabel train`` with parsed ``args``; 0 on success, 2 on a usage or data error.

    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> run(p.parse_args(["--out", "c.pt"]))                               # doctest: +SKIP
    error: pass --data (a MILANNOTATIONS folder) or --features (a saved feature file), not both
    2
    """
    try:
        return _run(args)
    except NeuronLabelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from ..captioner.config import CaptionerConfig
    from ..captioner.encoder import PyramidEncoder
    from .data import CaptionData
    from .features import featurize
    from .fit import fit

    if (args.data is None) == (args.features is None):
        raise InputError("pass --data (a MILANNOTATIONS folder) or --features (a saved feature file), not both")
    progress = not args.no_progress
    config = CaptionerConfig(attention=tuple(args.attention), fusion=args.fusion, encoder=args.encoder,
                             max_length=args.max_length)
    if args.features is not None:
        data = CaptionData.load(args.features)
    elif args.features_cache is not None and args.features_cache.is_file():
        data = CaptionData.load(args.features_cache)
        print(f"using cached features {args.features_cache} ({len(data)} units)", file=sys.stderr)
    else:
        from ..datasets.milan_format import load_milannotations

        dataset = load_milannotations(args.data, args.networks, args.layers)
        print(f"{dataset}: encoding exemplars with {args.encoder}", file=sys.stderr)
        import torch

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        data = featurize(dataset, PyramidEncoder(args.encoder, device=device), progress=progress)
        if args.features_cache is not None:
            data.save(args.features_cache)
    result = fit(data, config, val_fraction=args.val_fraction, epochs=args.epochs, batch_size=args.batch_size,
                 lr=args.lr, weight_decay=args.weight_decay, patience=args.patience, seed=args.seed,
                 lm_epochs=args.lm_epochs, extra_text=_read_texts(args.extra_text),
                 checkpoint_dir=args.checkpoint_dir, resume=args.resume, progress=progress, device=args.device)
    result.captioner.save(args.out)
    bleu = "n/a" if result.best_bleu is None else f"{result.best_bleu:.2f}"
    print(f"saved {args.out}: {len(result.train_ids)} training units, {len(result.val_ids)} validation units, "
          f"best epoch {result.best_epoch}, validation BLEU {bleu}")
    return 0


def _read_texts(paths) -> list[str]:
    texts: list[str] = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"--extra-text file {path} does not exist")
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                column = next((c for c in ("summary", "description", "caption") if c in (reader.fieldnames or [])), None)
                if column is None:
                    raise InputError(f"{path} needs a summary, description or caption column; it has {reader.fieldnames}")
                texts.extend(row[column] for row in reader if (row.get(column) or "").strip())
        else:
            texts.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return texts
