"""Language-model prior over descriptions and MILAN's wPMI reranking.

>>> import torch
>>> lm = LanguageModel(vocab_size=10, embedding_size=8, hidden_size=16).eval()
>>> lm.score([[4, 5], [6]]).shape
torch.Size([2])

MILAN picks, among the beam's candidates ``d``, the one maximising
``log p(d | E) - λ log p(d)`` (weighted pointwise mutual information, λ = 0.2), which
favours specific descriptions over generic ones that the prior already finds likely.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import InputError
from .vocab import Vocabulary


class LanguageModel(nn.Module):
    """Two-layer LSTM over token ids; ``p(d) = prod_t p(w_t | w_<t)`` including ``<end>``.

    >>> lm = LanguageModel(vocab_size=6, embedding_size=4, hidden_size=8)
    >>> lm(torch.tensor([[1, 4, 5, 2]])).shape         # log-probs of the next token
    torch.Size([1, 4, 6])
    """

    def __init__(self, vocab_size: int, embedding_size: int = 128, hidden_size: int = 512,
                 layers: int = 2, dropout: float = 0.5):
        super().__init__()
        if layers < 1:
            raise InputError(f"the language model needs at least one layer, got layers={layers}")
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=Vocabulary.pad)
        self.lstm = nn.LSTM(embedding_size, hidden_size, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: Tensor) -> Tensor:
        """Next-token log-probs ``[B, T, V]`` for input tokens ``[B, T]``."""
        hidden, _ = self.lstm(self.dropout(self.embedding(tokens)))
        return torch.log_softmax(self.output(self.dropout(hidden)), dim=-1)

    def sequence_logprob(self, tokens: Tensor) -> Tensor:
        """``log p`` of each row of ``tokens`` ``[B, T]`` (``<start> ... <end> <pad>...``), as ``[B]``.

        >>> lm = LanguageModel(vocab_size=6, embedding_size=4, hidden_size=8).eval()
        >>> lm.sequence_logprob(torch.tensor([[1, 4, 2, 0]])).shape
        torch.Size([1])
        """
        logp = self(tokens[:, :-1])
        targets = tokens[:, 1:]
        picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return (picked * (targets != Vocabulary.pad).to(picked.dtype)).sum(dim=1)

    @torch.no_grad()
    def score(self, sequences: list[list[int]]) -> Tensor:
        """``log p(d)`` for each id sequence (without start/end markers), as ``[N]`` on CPU.

        In eval mode each distinct sequence is scored once and remembered until the weights
        change (beam candidates repeat across units: "dog faces" is scored once per run), and
        the new ones are scored one word at a time over their distinct prefixes (beam
        candidates share most of theirs: "red and white stripes", "red and white dots").
        """
        if not sequences:
            return torch.zeros(0)
        if self.training:
            return self._score(sequences)
        key = tuple((p.data_ptr(), p._version, p.dtype) for p in self.parameters())
        if getattr(self, "_memo_key", None) != key or len(self._memo) > 200_000:
            self._memo_key, self._memo = key, {}
        memo = self._memo
        new = list(dict.fromkeys(tuple(s) for s in sequences if tuple(s) not in memo))
        if new:
            memo.update(zip(new, self._score_prefixes(new).tolist()))
        return torch.tensor([memo[tuple(s)] for s in sequences], dtype=torch.float32)

    def _score_prefixes(self, sequences: list[tuple]) -> Tensor:
        """``log p`` of each sequence, stepping the LSTM once per distinct prefix (eval mode)."""
        device = self.output.weight.device
        total = torch.zeros(len(sequences), dtype=torch.float64)
        state, index = None, {(): 0}
        for t in range(max(len(s) for s in sequences) + 1):
            prefixes = list(dict.fromkeys(s[:t] for s in sequences if len(s) >= t))
            last = [p[-1] if p else Vocabulary.start for p in prefixes]
            x = self.embedding(torch.tensor(last, device=device).view(-1, 1))
            if state is not None:
                parents = torch.tensor([index[p[:-1]] for p in prefixes], device=device)
                state = (state[0].index_select(1, parents), state[1].index_select(1, parents))
            hidden, state = self.lstm(x, state)
            logp = torch.log_softmax(self.output(hidden[:, 0]), dim=-1).float().cpu()
            index = {p: i for i, p in enumerate(prefixes)}
            rows = [(j, index[s[:t]], s[t] if len(s) > t else Vocabulary.end)
                    for j, s in enumerate(sequences) if len(s) >= t]
            at = torch.tensor([r[0] for r in rows])
            total.index_add_(0, at, logp[torch.tensor([r[1] for r in rows]), torch.tensor([r[2] for r in rows])]
                             .double())
        return total.float()

    def _score(self, sequences: list[list[int]]) -> Tensor:
        device = self.output.weight.device
        longest = max(len(s) for s in sequences)
        tokens = torch.full((len(sequences), longest + 2), Vocabulary.pad, dtype=torch.long)
        for i, seq in enumerate(sequences):
            tokens[i, : len(seq) + 2] = torch.tensor([Vocabulary.start, *seq, Vocabulary.end])
        return self.sequence_logprob(tokens.to(device)).float().cpu()


def wpmi(logp_caption: Tensor, logp_prior: Tensor, lam: float = 0.2) -> Tensor:
    """MILAN's reranking score ``log p(d|E) - λ log p(d)``.

    >>> wpmi(torch.tensor([-2.0, -3.0]), torch.tensor([-1.0, -10.0]))
    tensor([-1.8000, -1.0000])
    """
    return logp_caption - lam * logp_prior


def rerank(candidates: list[tuple[list[int], float]], prior: Tensor, lam: float = 0.2
           ) -> list[tuple[list[int], float]]:
    """Candidates ``(ids, log p(d|E))`` sorted by wPMI, best first (stable on ties).

    >>> rerank([([4], -2.0), ([5], -3.0)], torch.tensor([-1.0, -10.0]))
    [([5], -3.0), ([4], -2.0)]
    """
    if len(prior) != len(candidates):
        raise InputError(f"{len(candidates)} candidates but {len(prior)} prior scores")
    scores = wpmi(torch.tensor([lp for _, lp in candidates], dtype=torch.float64), prior.double(), lam)
    order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
    return [candidates[i] for i in order]
