"""Train the language-model prior ``p(d)`` on descriptions (for wPMI reranking).

>>> import torch
>>> from neuronlabel.captioner.lm import LanguageModel
>>> lm = LanguageModel(vocab_size=8, embedding_size=8, hidden_size=16)
>>> losses = train_language_model(lm, [[4, 5], [6, 7, 4]], epochs=2, progress=False)
>>> len(losses)
2
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..captioner.vocab import Vocabulary
from ..errors import InputError


def token_batch(sequences: list[list[int]]) -> torch.Tensor:
    """``<start> ids <end> <pad>...`` rows as one ``[B, T]`` long tensor.

    >>> token_batch([[4], [5, 6]]).tolist()
    [[1, 4, 2, 0], [1, 5, 6, 2]]
    """
    longest = max((len(s) for s in sequences), default=0)
    out = torch.full((len(sequences), longest + 2), Vocabulary.pad, dtype=torch.long)
    for i, seq in enumerate(sequences):
        out[i, : len(seq) + 2] = torch.tensor([Vocabulary.start, *seq, Vocabulary.end])
    return out


def train_language_model(lm, sequences: list[list[int]], epochs: int = 10, batch_size: int = 64, lr: float = 1e-3,
                         weight_decay: float = 1e-4, generator: torch.Generator | None = None,
                         progress: bool = True) -> list[float]:
    """Teacher-forced next-token training with AdamW; returns the mean loss of each epoch.

    >>> from neuronlabel.captioner.lm import LanguageModel
    >>> train_language_model(LanguageModel(6, 4, 8), [[4, 5]], epochs=1, progress=False)[0] > 0
    True
    """
    if not sequences:
        raise InputError("the language-model prior needs at least one description to train on")
    if epochs < 0 or batch_size < 1:
        raise InputError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    generator = generator or torch.Generator().manual_seed(0)
    device = lm.output.weight.device
    opt = torch.optim.AdamW(lm.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="language-model prior", unit="epoch", leave=False)
    lm.train()
    for _ in range(epochs):
        order = torch.randperm(len(sequences), generator=generator).tolist()
        total, count = 0.0, 0
        for lo in range(0, len(order), batch_size):
            tokens = token_batch([sequences[i] for i in order[lo: lo + batch_size]]).to(device)
            logp = lm(tokens[:, :-1])
            loss = F.nll_loss(logp.reshape(-1, logp.shape[-1]), tokens[:, 1:].reshape(-1),
                              ignore_index=Vocabulary.pad)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.parameters(), 5.0)
            opt.step()
            n = int((tokens[:, 1:] != Vocabulary.pad).sum())
            total, count = total + loss.item() * n, count + n
        losses.append(total / max(count, 1))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    if bar is not None:
        bar.close()
    lm.eval()
    return losses
