"""Corpus BLEU of generated descriptions against human ones, computed by sacrebleu.

>>> round(corpus_bleu(["red and white stripes"], [["red and white stripes", "stripes"]]), 1)
100.0
"""

from __future__ import annotations

from typing import Sequence

from ..errors import InputError


def normalize(text: str) -> str:
    """The captioner's own text normal form: lowercase, tokenized, trailing punctuation dropped.

    >>> normalize("Dog  Faces.")
    'dog faces'
    """
    from ..captioner.vocab import detokenize, tokenize

    return detokenize(tokenize(text))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], normalized: bool = True) -> float:
    """sacrebleu corpus BLEU (0-100) with a variable number of references per hypothesis.

    >>> round(corpus_bleu(["the dog faces", "dog faces"], [["dog faces", "the dog face"], ["dog faces"]]), 1)
    79.4

    ``references[i]`` holds every human description of unit ``i``. With ``normalized``
    both sides go through :func:`normalize` first, so case and final punctuation do not
    count. BLEU uses sacrebleu's effective order: n-gram orders that no hypothesis of the
    corpus is long enough to have are left out instead of zeroing the score (neuron
    descriptions are often 2-3 words); on corpora with 4-grams it equals standard BLEU.
    """
    import sacrebleu

    hypotheses = list(hypotheses)
    references = [list(r) for r in references]
    if len(hypotheses) != len(references):
        raise InputError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise InputError("corpus_bleu needs at least one hypothesis")
    empty = [i for i, r in enumerate(references) if not r]
    if empty:
        raise InputError(f"units {empty[:5]} have no reference descriptions")
    if normalized:
        hypotheses = [normalize(h) for h in hypotheses]
        references = [[normalize(r) for r in refs] for refs in references]
    width = max(len(r) for r in references)
    streams = [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]
    return float(sacrebleu.corpus_bleu(hypotheses, streams, use_effective_order=True).score)
