"""Show-attend-tell LSTM decoder with fused multi-attention over exemplar features.

>>> import torch
>>> dec = Decoder(vocab_size=10, feature_size=6, attention=("additive", "dot_product"), fusion="sum",
...               hidden_size=16, attention_hidden_size=8, heads=2)
>>> logp, weights = dec(torch.randn(2, 4, 6), torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]]))
>>> logp.shape, weights.shape          # [B, T-1, V], [B, T-1, mechanisms, M]
(torch.Size([2, 3, 10]), torch.Size([2, 3, 2, 4]))

Per step (MILAN's decoder, with the attention fused over several mechanisms): attend
with the previous hidden state, gate the context by ``sigmoid(W h)``, feed
``[embed(word); context]`` to an ``LSTMCell``, and read ``log_softmax(W_o dropout(h))``.
The initial ``(h, c)`` are linear maps of the mean exemplar feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import InputError
from .attention import FusedAttention


@dataclass
class DecoderState:
    """Recurrent state for a batch of hypotheses: ``h``, ``c`` ``[B, H]``, and per unit the attention
    caches and key ``mask``; ``B`` is a whole number of rows per unit, consecutive (beam search's
    hypotheses), and the hypotheses of a unit share its caches instead of copying them.

    >>> s = DecoderState(torch.zeros(4, 3), torch.zeros(4, 3), [(torch.zeros(2, 5),)], None)
    >>> t = s.select(torch.tensor([2, 3]), units=torch.tensor([1]))
    >>> t.h.shape, t.caches[0][0].shape
    (torch.Size([2, 3]), torch.Size([1, 5]))
    """

    h: Tensor
    c: Tensor
    caches: list
    mask: Tensor | None

    def select(self, rows: Tensor, units: Tensor) -> "DecoderState":
        """The state restricted to ``rows`` of the batch and its caches and mask to ``units``."""
        return DecoderState(
            self.h.index_select(0, rows),
            self.c.index_select(0, rows),
            [tuple(t.index_select(0, units) for t in cache) for cache in self.caches],
            None if self.mask is None else self.mask.index_select(0, units),
        )

    def reorder(self, rows: Tensor) -> "DecoderState":
        """``h``, ``c`` of ``rows``, caches kept: for reordering (or repeating) the hypotheses of each
        unit within its own consecutive rows.

        >>> DecoderState(torch.zeros(2, 3), torch.zeros(2, 3), [], None).reorder(torch.tensor([1, 1])).h.shape
        torch.Size([2, 3])
        """
        return DecoderState(self.h.index_select(0, rows), self.c.index_select(0, rows), self.caches, self.mask)


class Decoder(nn.Module):
    """Word embedding → fused attention → gated context → LSTMCell → log-softmax.

    >>> dec = Decoder(vocab_size=8, feature_size=4, hidden_size=8, attention_hidden_size=8)
    >>> state = dec.start(torch.randn(3, 5, 4))
    >>> logp, state, weights = dec.step(torch.ones(3, dtype=torch.long), state)
    >>> torch.allclose(logp.exp().sum(-1), torch.ones(3))
    True
    """

    def __init__(self, vocab_size: int, feature_size: int, attention=("additive",), fusion: str = "sum",
                 embedding_size: int = 128, hidden_size: int = 512, attention_hidden_size: int = 512,
                 heads: int = 8, dropout: float = 0.5):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("feature_size", feature_size),
                            ("embedding_size", embedding_size), ("hidden_size", hidden_size)):
            if int(value) < 1:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        self.feature_size = feature_size
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=0)
        self.init_h = nn.Linear(feature_size, hidden_size)
        self.init_c = nn.Linear(feature_size, hidden_size)
        self.attention = FusedAttention(attention, fusion, hidden_size, feature_size, attention_hidden_size, heads)
        self.feature_gate = nn.Linear(hidden_size, feature_size)
        self.lstm = nn.LSTMCell(embedding_size + feature_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)

    def start(self, features: Tensor, mask: Tensor | None = None) -> DecoderState:
        """Initial state from the (masked) mean feature; precomputes the attention caches."""
        if mask is None:
            mean = features.mean(dim=1)
        else:
            m = mask.to(features.dtype).unsqueeze(-1)
            mean = (features * m).sum(1) / m.sum(1).clamp_min(1.0)
        return DecoderState(self.init_h(mean), self.init_c(mean), self.attention.precompute(features), mask)

    def step(self, tokens: Tensor, state: DecoderState, rows: Tensor | None = None
             ) -> tuple[Tensor, DecoderState, Tensor]:
        """One step: previous tokens ``[B]`` → next-token log-probs ``[B, V]``, new state, weights.

        With ``rows`` (indices into the batch), only those rows go through the gate, the LSTM
        and the output layer: the log-probs are ``[len(rows), V]`` and the other rows keep
        their old ``h``, ``c`` (beam search passes the hypotheses that are still open).
        """
        context, weights, _ = self.attention.attend(state.h, state.caches, state.mask)
        h, c = state.h, state.c
        if rows is not None:
            h, c, tokens, context = (t.index_select(0, rows) for t in (h, c, tokens, context))
        context = torch.sigmoid(self.feature_gate(h)) * context
        h, c = self.lstm(torch.cat([self.embedding(tokens), context], dim=-1), (h, c))
        logp = torch.log_softmax(self.output(self.dropout(h)), dim=-1)
        if rows is not None:
            h, c = state.h.index_copy(0, rows, h), state.c.index_copy(0, rows, c)
        return logp, DecoderState(h, c, state.caches, state.mask), weights

    def forward(self, features: Tensor, tokens: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Teacher forcing: ``tokens`` ``[B, T]`` start with ``<start>``; returns log-probs of
        ``tokens[:, 1:]`` as ``[B, T-1, V]`` and attention weights ``[B, T-1, n, M]``."""
        state = self.start(features, mask)
        outs, weights = [], []
        for t in range(tokens.shape[1] - 1):
            logp, state, w = self.step(tokens[:, t], state)
            outs.append(logp)
            weights.append(w)
        return torch.stack(outs, dim=1), torch.stack(weights, dim=1)


def doubly_stochastic_penalty(weights: Tensor, lengths: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """Show-attend-tell's regulariser, scaled to exemplar sets: ``mean (T_b / M_b - sum_t a_btnm)^2``.

    >>> w = torch.full((1, 2, 1, 2), 0.5)            # two steps, 0.5 on each of 2 keys
    >>> doubly_stochastic_penalty(w, torch.tensor([2]))
    tensor(0.)

    ``weights`` is ``[B, T, n, M]``; only the first ``lengths[b]`` steps of each row count,
    so padding after ``<end>`` does not pull attention around; padded keys
    (``key_mask`` ``[B, M]`` False) are left out. Show-attend-tell asks every key for a total
    attention of 1, which a description shorter than the number of exemplars cannot give
    (the totals add up to its length); the target here is each key's equal share
    ``T_b / M_b``, and the penalty is averaged over keys, so it stays on the scale of the
    token loss (summed over 15 exemplars with target 1 it was ~10 for 3-word descriptions
    and stalled training at 3.7 nats/token).
    """
    steps = torch.arange(weights.shape[1], device=weights.device)
    lengths = lengths.to(weights.device)
    valid = (steps.unsqueeze(0) < lengths.unsqueeze(1)).to(weights.dtype)
    total = (weights * valid[:, :, None, None]).sum(dim=1)
    if key_mask is None:
        keys = torch.full_like(lengths, weights.shape[-1], dtype=weights.dtype)
        present = torch.ones_like(total)
    else:
        present = key_mask.to(total.dtype).unsqueeze(1).expand_as(total)
        keys = key_mask.to(weights.dtype).sum(dim=1).clamp(min=1)
    target = (lengths.to(weights.dtype) / keys)[:, None, None]
    penalty = (target - total) ** 2 * present
    return penalty.sum() / present.sum().clamp(min=1)
