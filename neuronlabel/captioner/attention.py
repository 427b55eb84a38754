"""Attention over exemplar features: additive, multiplicative, dot and multi-head.

>>> import torch
>>> att = AdditiveAttention(query_size=4, key_size=6, hidden_size=5)
>>> context, weights = att(torch.randn(2, 4), torch.randn(2, 3, 6))
>>> context.shape, weights.shape
(torch.Size([2, 6]), torch.Size([2, 3]))

Every mechanism has one call signature::

    context, weights = mechanism(query, keys, values=None, mask=None)

``query`` is the decoder state ``[B, Q]``; ``keys`` ``[B, M, K]`` and ``values``
``[B, M, V]`` (default: the keys) are the exemplar features; ``mask`` ``[B, M]`` is True
where a key is real and False where it is padding. ``context`` is ``[B, V]`` (the same size
as the values for every mechanism, so contexts can be summed) and ``weights`` ``[B, M]``
sums to 1 over the real keys. The decoder calls :meth:`Attention.precompute` once per unit
and :meth:`Attention.attend` once per step, because keys do not change between steps. The
caches hold one row per unit; a query may hold several consecutive rows per unit (beam
search's hypotheses, ``[U * w, Q]``), which attend to their unit's keys without copies of them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import InputError, did_you_mean


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dimension that gives padded positions exactly zero weight.

    >>> masked_softmax(torch.tensor([[1.0, 1.0, 5.0]]), torch.tensor([[True, True, False]]))
    tensor([[0.5000, 0.5000, 0.0000]])
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    mask = mask.to(torch.bool)
    if mask.dim() < scores.dim():
        mask = mask.view(mask.shape[0], *([1] * (scores.dim() - mask.dim())), mask.shape[-1])
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def grouped(query: Tensor, units: int) -> Tensor:
    """``query`` ``[U * w, Q]`` as ``[U, w, Q]``: ``w`` consecutive rows per unit of the caches.

    >>> grouped(torch.zeros(6, 2), 3).shape
    torch.Size([3, 2, 2])
    """
    if units == 0 or query.shape[0] % units:
        if query.shape[0] == 0:
            return query.view(units, 0, query.shape[-1])
        raise InputError(f"{query.shape[0]} query rows do not split evenly over {units} units' attention caches")
    return query.view(units, query.shape[0] // units, query.shape[-1])


class Attention(nn.Module):
    """Base class: ``forward(query, keys, values=None, mask=None) -> (context, weights)``.

    >>> att = MultiplicativeAttention(query_size=3, key_size=3)
    >>> round(att(torch.randn(1, 3), torch.randn(1, 4, 3))[1].sum().item(), 5)
    1.0
    """

    def precompute(self, keys: Tensor, values: Tensor) -> tuple[Tensor, ...]:
        """Everything that depends on keys and values only; reused at every decoding step."""
        raise NotImplementedError

    def attend(self, query: Tensor, cache: tuple[Tensor, ...], mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Context and weights for ``query`` given a :meth:`precompute` cache."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None,
                mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.attend(query, self.precompute(keys, keys if values is None else values), mask)


class AdditiveAttention(Attention):
    """Bahdanau attention: ``e_m = v · tanh(W_q q + W_k k_m)`` (MILAN's mechanism).

    >>> att = AdditiveAttention(query_size=2, key_size=2, hidden_size=3)
    >>> att(torch.zeros(1, 2), torch.ones(1, 4, 2))[1].detach()
    tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int = 512):
        super().__init__()
        self.query_proj = nn.Linear(query_size, hidden_size)
        self.key_proj = nn.Linear(key_size, hidden_size, bias=False)
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def precompute(self, keys, values):
        return self.key_proj(keys), values

    def attend(self, query, cache, mask=None):
        keys, values = cache
        q = grouped(self.query_proj(query), keys.shape[0])
        scores = self.score(torch.tanh(keys.unsqueeze(1) + q.unsqueeze(2))).squeeze(-1)
        weights = masked_softmax(scores, mask)
        return torch.bmm(weights, values).flatten(0, 1), weights.flatten(0, 1)


class MultiplicativeAttention(Attention):
    """Luong "general" attention: ``e_m = q · W k_m``.

    >>> att = MultiplicativeAttention(query_size=2, key_size=3)
    >>> att(torch.zeros(1, 2), torch.randn(1, 5, 3))[1].shape
    torch.Size([1, 5])
    """

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def precompute(self, keys, values):
        return self.key_proj(keys), values

    def attend(self, query, cache, mask=None):
        keys, values = cache
        q = grouped(query, keys.shape[0])
        weights = masked_softmax(torch.bmm(keys, q.transpose(1, 2)).transpose(1, 2), mask)
        return torch.bmm(weights, values).flatten(0, 1), weights.flatten(0, 1)


class ScaledMultiplicativeAttention(MultiplicativeAttention):
    """Luong "general" attention divided by ``sqrt(query_size)``: ``e_m = q · W k_m / sqrt(d)``.

    >>> att = ScaledMultiplicativeAttention(query_size=4, key_size=3)
    >>> k = torch.randn(1, 5, 3)
    >>> plain = MultiplicativeAttention(4, 3); plain.load_state_dict(att.state_dict())
    <All keys matched successfully>
    >>> q = torch.randn(1, 4)
    >>> torch.allclose(att(q, k)[1], plain(q / 2, k)[1])
    True

    With pooled exemplar features (~1750 wide, rms ~1.6) the unscaled scores grow large, the
    softmax saturates and training stalls (docs/results.md); the scaling of scaled
    dot-product attention keeps them on a unit scale.
    """

    def attend(self, query, cache, mask=None):
        return super().attend(query / math.sqrt(query.shape[-1]), cache, mask)


class DotAttention(Attention):
    """Luong "dot" attention: ``e_m = q · k_m``.

    >>> att = DotAttention(query_size=2, key_size=2)
    >>> att(torch.tensor([[1.0, 0.0]]), torch.tensor([[[0.0, 0.0], [0.0, 0.0]]]))[1]
    tensor([[0.5000, 0.5000]])

    It has no parameters when query and keys have the same size. When they differ (the
    decoder state is 512 wide, pooled features are ~1750), the keys are first mapped to the
    query size by a learned linear map; the score then has Luong "general"'s form with a
    different parameterisation (keys projected before, not inside, the product).
    """

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.key_proj = nn.Linear(key_size, query_size, bias=False) if key_size != query_size else None

    def precompute(self, keys, values):
        return (keys if self.key_proj is None else self.key_proj(keys)), values

    def attend(self, query, cache, mask=None):
        keys, values = cache
        q = grouped(query, keys.shape[0])
        weights = masked_softmax(torch.bmm(keys, q.transpose(1, 2)).transpose(1, 2), mask)
        return torch.bmm(weights, values).flatten(0, 1), weights.flatten(0, 1)


class MultiHeadAttention(Attention):
    """Scaled dot-product multi-head attention (Vaswani et al.), one query per call.

    >>> att = MultiHeadAttention(query_size=8, key_size=6, value_size=6, heads=2, head_size=4)
    >>> context, weights = att(torch.randn(3, 8), torch.randn(3, 5, 6))
    >>> context.shape, weights.shape
    (torch.Size([3, 6]), torch.Size([3, 5]))

    Head ``h`` scores ``(W_q^h q) · (W_k^h k_m) / sqrt(head_size)``; the heads' contexts
    ``sum_m a_hm W_v^h v_m`` are concatenated and mapped back to ``value_size`` by ``W_o``.
    ``weights`` is the mean of the heads' weights.
    """

    def __init__(self, query_size: int, key_size: int, value_size: int | None = None,
                 heads: int = 8, head_size: int = 64):
        super().__init__()
        if heads < 1 or head_size < 1:
            raise InputError(f"multi-head attention needs heads >= 1 and head_size >= 1, got {heads}, {head_size}")
        value_size = key_size if value_size is None else value_size
        self.heads, self.head_size = heads, head_size
        inner = heads * head_size
        self.query_proj = nn.Linear(query_size, inner)
        self.key_proj = nn.Linear(key_size, inner)
        self.value_proj = nn.Linear(value_size, inner)
        self.out_proj = nn.Linear(inner, value_size)

    def precompute(self, keys, values):
        b, m, _ = keys.shape
        k = self.key_proj(keys).view(b, m, self.heads, self.head_size).transpose(1, 2)
        v = self.value_proj(values).view(b, m, self.heads, self.head_size).transpose(1, 2)
        return k, v

    def attend(self, query, cache, mask=None):
        k, v = cache
        units = k.shape[0]
        q = grouped(self.query_proj(query), units).view(units, -1, self.heads, self.head_size).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        weights = masked_softmax(scores, mask)
        heads = torch.matmul(weights, v).transpose(1, 2).reshape(query.shape[0], -1)
        return self.out_proj(heads), weights.mean(dim=1).flatten(0, 1)


MECHANISMS = {
    "additive": AdditiveAttention,
    "multiplicative": MultiplicativeAttention,
    "scaled_multiplicative": ScaledMultiplicativeAttention,
    "dot": DotAttention,
    "dot_product": MultiHeadAttention,
}
ALIASES = {
    "bahdanau": "additive", "general": "multiplicative", "luong": "multiplicative",
    "luong_general": "multiplicative", "luong_dot": "dot", "multi_head": "dot_product",
    "multihead": "dot_product", "scaled_dot_product": "dot_product",
}
FUSIONS = ("sum", "concat", "gate")


def canonical_name(name: str) -> str:
    """The registry name of an attention mechanism, accepting the usual aliases.

    >>> canonical_name("bahdanau"), canonical_name("dot_product")
    ('additive', 'dot_product')
    """
    if not isinstance(name, str):
        raise InputError(f"attention names are strings, got {name!r}")
    key = name.lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in MECHANISMS:
        raise InputError(f"unknown attention mechanism {name!r}; choose from {', '.join(MECHANISMS)}."
                         + did_you_mean(key, list(MECHANISMS) + list(ALIASES)))
    return key


def build_mechanism(name: str, query_size: int, key_size: int, hidden_size: int = 512,
                    heads: int = 8) -> Attention:
    """One attention module by name, with context size ``key_size``.

    >>> type(build_mechanism("luong", 4, 4)).__name__
    'MultiplicativeAttention'
    """
    name = canonical_name(name)
    if name == "additive":
        return AdditiveAttention(query_size, key_size, hidden_size)
    if name == "dot_product":
        if hidden_size % heads:
            raise InputError(f"attention hidden size {hidden_size} is not divisible by heads={heads}")
        return MultiHeadAttention(query_size, key_size, key_size, heads=heads, head_size=hidden_size // heads)
    return MECHANISMS[name](query_size, key_size)


class FusedAttention(nn.Module):
    """Several mechanisms over the same keys, their contexts fused by ``sum``, ``concat`` or ``gate``.

    >>> fused = FusedAttention(("additive", "dot_product"), "gate", query_size=8, key_size=6)
    >>> context, weights, mix = fused(torch.randn(2, 8), torch.randn(2, 4, 6))
    >>> context.shape, weights.shape, mix.shape
    (torch.Size([2, 6]), torch.Size([2, 2, 4]), torch.Size([2, 2]))

    * ``sum``: ``c = sum_i c_i`` (the seed paper's fusion);
    * ``concat``: ``c = W [c_1; ...; c_n] + b``;
    * ``gate``: ``c = sum_i g_i c_i`` with ``g = softmax(W_g q + b_g)``, a weight per
      mechanism conditioned on the decoder state.

    Returns ``(context [B, K], weights [B, n, M] per mechanism, mix [B, n])`` where ``mix``
    is the gate (uniform ``1/n`` for ``sum`` and ``concat``, for reporting only).
    """

    def __init__(self, mechanisms, fusion: str, query_size: int, key_size: int,
                 hidden_size: int = 512, heads: int = 8):
        super().__init__()
        if isinstance(mechanisms, str):
            mechanisms = (mechanisms,)
        names = [canonical_name(n) for n in mechanisms]
        if not names:
            raise InputError("attention needs at least one mechanism, e.g. attention=('additive',)")
        if len(set(names)) != len(names):
            raise InputError(f"attention mechanisms repeat: {tuple(mechanisms)}; name each at most once")
        if fusion not in FUSIONS:
            raise InputError(f"unknown fusion {fusion!r}; choose from {', '.join(FUSIONS)}." + did_you_mean(str(fusion), FUSIONS))
        self.names, self.fusion = tuple(names), fusion
        self.mechanisms = nn.ModuleList(build_mechanism(n, query_size, key_size, hidden_size, heads) for n in names)
        self.combine = nn.Linear(len(names) * key_size, key_size) if fusion == "concat" else None
        self.gate = nn.Linear(query_size, len(names)) if fusion == "gate" else None

    def precompute(self, keys: Tensor, values: Tensor | None = None) -> list[tuple[Tensor, ...]]:
        """Per-mechanism caches of :meth:`Attention.precompute`."""
        values = keys if values is None else values
        return [m.precompute(keys, values) for m in self.mechanisms]

    def attend(self, query: Tensor, caches, mask: Tensor | None = None):
        """Fused context, per-mechanism weights and mixing weights for one step."""
        outs = [m.attend(query, c, mask) for m, c in zip(self.mechanisms, caches)]
        contexts = torch.stack([c for c, _ in outs], dim=1)
        weights = torch.stack([w for _, w in outs], dim=1)
        n = len(outs)
        if self.fusion == "gate":
            mix = torch.softmax(self.gate(query), dim=-1)
            context = (mix.unsqueeze(-1) * contexts).sum(dim=1)
        else:
            mix = contexts.new_full((contexts.shape[0], n), 1.0 / n)
            context = contexts.sum(dim=1) if self.fusion == "sum" else self.combine(contexts.flatten(1))
        return context, weights, mix

    def forward(self, query, keys, values=None, mask=None):
        return self.attend(query, self.precompute(keys, values), mask)
