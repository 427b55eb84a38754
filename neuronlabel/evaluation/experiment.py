"""The captioner experiment on the compound set: attention configurations x seeds, scored on held-out units.

>>> sorted(CONFIGS)
['additive', 'dot_product', 'fused_gate', 'fused_gate_scaled', 'fused_sum', 'multiplicative']
>>> CONFIGS["additive"]                      # the MILAN baseline
{'attention': ('additive',), 'fusion': 'sum'}
>>> summarize([{"config": "additive", "plain": {"bleu": {"overall": 20.0}}},
...            {"config": "additive", "plain": {"bleu": {"overall": 24.0}}}], "plain", ("bleu", "overall"))
{'additive': (22.0, 2.8284271247461903, 2)}

:func:`compound_features` builds (or loads) the compound data set and its cached encoder
features; :func:`train_config` trains one configuration with one seed; :func:`score`
decodes a split with and without wPMI reranking and returns corpus BLEU-4 and BERTScore F1
overall, by reference length and on the novel compositions. ``scripts/captioner_experiment.py``
runs the whole table; ``neuronlabel evaluate`` scores any saved captioner.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import InputError
from .compound_scores import bertscore_by_length, bleu_by_length

MECHANISMS = ("additive", "multiplicative", "dot_product")
CONFIGS = {
    "additive": {"attention": ("additive",), "fusion": "sum"},
    "multiplicative": {"attention": ("multiplicative",), "fusion": "sum"},
    "dot_product": {"attention": ("dot_product",), "fusion": "sum"},
    "fused_sum": {"attention": MECHANISMS, "fusion": "sum"},
    "fused_gate": {"attention": MECHANISMS, "fusion": "gate"},
    "fused_gate_scaled": {"attention": ("additive", "scaled_multiplicative", "dot_product"), "fusion": "gate"},
}
DEFAULT_CACHE = Path(os.environ.get("NEURONLABEL_CACHE", Path.home() / ".cache" / "neuronlabel"))


def compound_features(data: str | os.PathLike | None = None, *, units: int = 1400, seed: int = 0, k: int = 15,
                      encoder: str = "efficientnet_lite0", cache: str | os.PathLike | None = DEFAULT_CACHE,
                      progress: bool = False):
    """The compound set and its pooled exemplar features ``(CompoundSet, CaptionData)``, both cached.

    >>> data, feats = compound_features("../shared/data")                    # doctest: +SKIP
    >>> feats.subset(data.indices("test")).features.shape                    # doctest: +SKIP
    torch.Size([143, 15, 1752])
    """
    from ..captioner.encoder import PyramidEncoder
    from ..datasets.compound import build_compound
    from ..training.data import CaptionData
    from ..training.features import featurize

    folder = None if cache is None else Path(cache).expanduser() / "compound"
    compound = build_compound(data, units=units, seed=seed, k=k, cache_dir=folder, progress=progress)
    path = None if folder is None else folder / f"features-{compound.fingerprint()}-{encoder}.pt"
    if path is not None and path.is_file():
        return compound, CaptionData.load(path)
    feats = featurize(compound.exemplar_set(), PyramidEncoder(encoder), progress=progress)
    if path is not None:
        feats.save(path)
    return compound, feats


def language_text(data: str | os.PathLike | None = None) -> list[str]:
    """Human neuron descriptions (MILANNOTATIONS ResNet152) and COCO captions from the shared data folder,
    for the vocabulary and the LM prior; empty when neither file is there.

    >>> language_text("/no/such/folder")
    []
    """
    import csv
    import json

    from ..datasets.compound import find_data

    root = find_data(data)
    if root is None:
        return []
    out: list[str] = []
    milan = root / "milannotations" / "resnet152_imagenet.csv"
    if milan.is_file():
        with open(milan, newline="") as fh:
            out += [r["summary"] for r in csv.DictReader(fh) if r.get("summary")]
    coco = root / "coco-captions" / "captions_val2017.json"
    if coco.is_file():
        out += [a["caption"] for a in json.loads(coco.read_text())["annotations"] if a.get("caption")]
    return out


def train_config(name: str, seed: int, compound, feats, *, epochs: int = 30, patience: int = 6, lm_epochs: int = 5,
                 hidden_size: int = 512, dropout: float = 0.5, lr: float = 1e-3, checkpoint_dir=None,
                 extra_text: Sequence[str] = (), max_vocab: int | None = None, progress: bool = False, **config):
    """Train configuration ``name`` of :data:`CONFIGS` with ``seed``; early stopping on the validation split.
    ``extra_text`` (e.g. :func:`language_text`) joins the compound descriptions in the
    vocabulary and the LM prior; ``config`` holds more :class:`CaptionerConfig` fields.

    >>> result = train_config("fused_sum", 0, *compound_features())          # doctest: +SKIP
    >>> result.best_epoch, result.best_bleu                                  # doctest: +SKIP
    """
    from ..captioner import CaptionerConfig
    from ..training import fit

    if name not in CONFIGS:
        raise InputError(f"unknown configuration {name!r}; choose from {', '.join(sorted(CONFIGS))}")
    cfg = CaptionerConfig(**CONFIGS[name], hidden_size=hidden_size, attention_hidden_size=hidden_size,
                          dropout=dropout, **config)
    train, val = (feats.subset(compound.indices(s)) for s in ("train", "val"))
    return fit(train, cfg, validation=val, epochs=epochs, patience=patience, seed=seed, lm_epochs=lm_epochs,
               min_count=2, lr=lr, progress=progress, checkpoint_dir=checkpoint_dir, extra_text=extra_text,
               max_vocab=max_vocab)


def score(captioner, compound, feats, split: str = "test", *, bertscore: bool = True,
          rerank: Sequence[bool] = (False, True), examples: int = 15) -> dict:
    """BLEU-4 / BERTScore F1 of ``captioner`` on one split, ``plain`` (beam search) and ``rerank`` (wPMI).

    >>> s = score(Captioner.load(), *compound_features())                    # doctest: +SKIP
    >>> s["plain"]["bleu"]["overall"], s["rerank"]["bleu"][">10"]["bleu"]    # doctest: +SKIP
    """
    idx = compound.indices(split)
    part = feats.subset(idx)
    novel = [i for i, u in enumerate(idx) if compound.novel[u]]
    out: dict[str, Any] = {"split": split, "units": len(idx), "novel_units": len(novel)}
    for rr in rerank:
        if rr and captioner.lm is None:
            continue
        hyps = [c[0][0] if c else "" for c in captioner.describe(part.features, rerank=rr, mask=part.mask)]
        row: dict[str, Any] = {"bleu": bleu_by_length(hyps, part.descriptions)}
        if novel:
            row["bleu_novel"] = bleu_by_length([hyps[i] for i in novel], [part.descriptions[i] for i in novel])
        if bertscore:
            row["bertscore"] = bertscore_by_length(hyps, part.descriptions)
        step = max(1, len(hyps) // max(examples, 1))
        row["examples"] = [[hyps[i], part.descriptions[i]] for i in range(0, len(hyps), step)][:examples]
        out["rerank" if rr else "plain"] = row
    return out


def _get(row: dict, path: Sequence[str]):
    for key in path:
        if not isinstance(row, dict) or key not in row:
            return None
        row = row[key]
    return row


def summarize(runs: Sequence[dict], decoding: str, path: Sequence[str]) -> dict[str, tuple[float, float, int]]:
    """Mean, sample standard deviation and count over seeds of one figure, per configuration."""
    values: dict[str, list[float]] = {}
    for r in runs:
        v = _get(r.get(decoding, {}), path)
        if v is not None:
            values.setdefault(r["config"], []).append(float(v))
    return {c: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) for c, v in values.items()}


COLUMNS = [("BLEU-4", ("bleu", "overall")), ("<=5", ("bleu", "<=5", "bleu")), ("6-10", ("bleu", "6-10", "bleu")),
           (">10", ("bleu", ">10", "bleu")), ("novel", ("bleu_novel", "overall")),
           ("BERTScore F1", ("bertscore", "overall")), ("BS >10", ("bertscore", ">10", "f1"))]


def markdown_table(runs: Sequence[dict]) -> str:
    """One row per configuration and decoding: mean +- std over seeds of each column of :data:`COLUMNS`.

    >>> print(markdown_table([{"config": "additive", "seed": 0, "plain": {"bleu": {"overall": 20.0}}}]))
    | configuration | decoding | seeds | BLEU-4 | <=5 | 6-10 | >10 | novel | BERTScore F1 | BS >10 |
    |---|---|---|---|---|---|---|---|---|---|
    | additive (MILAN) | beam 5 | 1 | 20.0 | - | - | - | - | - | - |
    """
    head = "| configuration | decoding | seeds | " + " | ".join(c for c, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLUMNS))]
    order = [c for c in CONFIGS if any(r["config"] == c for r in runs)]
    for decoding, label in (("plain", "beam 5"), ("rerank", "beam 5 + wPMI")):
        for c in order:
            cells, seeds = [], 0
            for _, path in COLUMNS:
                m = summarize([r for r in runs if r["config"] == c], decoding, path).get(c)
                if m is None:
                    cells.append("-")
                    continue
                seeds = max(seeds, m[2])
                fmt = "{:.3f}" if path[0] == "bertscore" else "{:.1f}"
                cells.append(fmt.format(m[0]) + ("" if m[2] < 2 else " ± " + fmt.format(m[1])))
            if seeds:
                name = c + (" (MILAN)" if c == "additive" else "")
                lines.append(f"| {name} | {label} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
