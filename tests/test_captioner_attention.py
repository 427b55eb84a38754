"""Each attention mechanism and fusion mode against a hand computation on small tensors."""

import math

import pytest
import torch

from neuronlabel.captioner.attention import (AdditiveAttention, DotAttention, FusedAttention, MultiHeadAttention,
                                             MultiplicativeAttention, canonical_name, masked_softmax)
from neuronlabel.errors import InputError


pytestmark = pytest.mark.usefixtures("one_thread")


Q = [[0.5, -1.0]]
K = [[[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [0.5, 0.5, 0.5]]]


def _softmax(xs):
    m = max(xs)
    ex = [math.exp(x - m) for x in xs]
    return [e / sum(ex) for e in ex]


def _weighted(weights, rows):
    return [sum(w * r[d] for w, r in zip(weights, rows)) for d in range(len(rows[0]))]


def _set(linear, weight, bias=None):
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight, dtype=torch.float64))
        if bias is not None:
            linear.bias.copy_(torch.tensor(bias, dtype=torch.float64))


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_additive_matches_hand_computation():
    att = AdditiveAttention(query_size=2, key_size=3, hidden_size=2).double()
    wq, bq = [[1.0, 0.5], [-0.5, 2.0]], [0.1, -0.2]
    wk = [[0.3, -1.0, 0.2], [1.0, 0.0, -0.4]]
    v = [[1.5, -0.7]]
    _set(att.query_proj, wq, bq)
    _set(att.key_proj, wk)
    _set(att.score, v)
    q, keys = Q[0], K[0]
    scores = []
    for k in keys:
        hidden = [math.tanh(sum(wq[a][i] * q[i] for i in range(2)) + bq[a] + sum(wk[a][j] * k[j] for j in range(3)))
                  for a in range(2)]
        scores.append(sum(v[0][a] * hidden[a] for a in range(2)))
    weights = _softmax(scores)
    context, got = att(_t(Q), _t(K))
    assert torch.allclose(got, _t([weights]), atol=1e-12)
    assert torch.allclose(context, _t([_weighted(weights, keys)]), atol=1e-12)


def test_multiplicative_general_matches_hand_computation():
    att = MultiplicativeAttention(query_size=2, key_size=3).double()
    w = [[0.2, -0.3, 1.0], [0.7, 0.1, -0.5]]
    _set(att.key_proj, w)
    q, keys = Q[0], K[0]
    scores = [sum(q[i] * w[i][j] * k[j] for i in range(2) for j in range(3)) for k in keys]
    weights = _softmax(scores)
    context, got = att(_t(Q), _t(K))
    assert torch.allclose(got, _t([weights]), atol=1e-12)
    assert torch.allclose(context, _t([_weighted(weights, keys)]), atol=1e-12)


def test_dot_matches_hand_computation_and_has_no_parameters_for_equal_sizes():
    att = DotAttention(query_size=3, key_size=3).double()
    assert list(att.parameters()) == []
    q, keys = [0.3, -0.2, 1.1], K[0]
    values = [[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]]
    weights = _softmax([sum(a * b for a, b in zip(q, k)) for k in keys])
    context, got = att(_t([q]), _t(K), _t([values]))
    assert torch.allclose(got, _t([weights]), atol=1e-12)
    assert torch.allclose(context, _t([_weighted(weights, values)]), atol=1e-12)


def test_dot_with_different_sizes_projects_the_keys_first():
    att = DotAttention(query_size=2, key_size=3).double()
    p = [[1.0, 0.0, -1.0], [0.5, 0.5, 0.0]]
    _set(att.key_proj, p)
    q, keys = Q[0], K[0]
    projected = [[sum(p[i][j] * k[j] for j in range(3)) for i in range(2)] for k in keys]
    weights = _softmax([sum(a * b for a, b in zip(q, pk)) for pk in projected])
    context, got = att(_t(Q), _t(K))
    assert torch.allclose(got, _t([weights]), atol=1e-12)
    assert torch.allclose(context, _t([_weighted(weights, keys)]), atol=1e-12)


def test_multi_head_matches_hand_computation():
    att = MultiHeadAttention(query_size=2, key_size=3, value_size=3, heads=2, head_size=2).double()
    torch.manual_seed(0)
    wq, bq = torch.randn(4, 2).double(), torch.randn(4).double()
    wk, bk = torch.randn(4, 3).double(), torch.randn(4).double()
    wv, bv = torch.randn(4, 3).double(), torch.randn(4).double()
    wo, bo = torch.randn(3, 4).double(), torch.randn(3).double()
    for lin, w, b in ((att.query_proj, wq, bq), (att.key_proj, wk, bk), (att.value_proj, wv, bv), (att.out_proj, wo, bo)):
        _set(lin, w.tolist(), b.tolist())
    q, keys = Q[0], K[0]

    def affine(w, b, x):
        return [sum(w[r][c].item() * x[c] for c in range(len(x))) + b[r].item() for r in range(len(b))]

    qp = affine(wq, bq, q)
    kp = [affine(wk, bk, k) for k in keys]
    vp = [affine(wv, bv, k) for k in keys]
    head_ctx, head_w = [], []
    for h in range(2):
        sl = slice(2 * h, 2 * h + 2)
        w = _softmax([sum(a * b for a, b in zip(qp[sl], k[sl])) / math.sqrt(2) for k in kp])
        head_w.append(w)
        head_ctx += _weighted(w, [v[sl] for v in vp])
    expected = affine(wo, bo, head_ctx)
    context, got = att(_t(Q), _t(K))
    assert torch.allclose(context, _t([expected]), atol=1e-12)
    assert torch.allclose(got, _t([[(a + b) / 2 for a, b in zip(*head_w)]]), atol=1e-12)


@pytest.mark.parametrize("cls,kwargs", [
    (AdditiveAttention, {"hidden_size": 5}), (MultiplicativeAttention, {}), (DotAttention, {}),
    (MultiHeadAttention, {"heads": 2, "head_size": 3}),
])
def test_padding_gets_zero_weight_and_batch_rows_are_independent(cls, kwargs):
    torch.manual_seed(1)
    att = cls(query_size=4, key_size=4, **kwargs).double()
    q, keys = torch.randn(3, 4).double(), torch.randn(3, 5, 4).double()
    mask = torch.tensor([[True] * 5, [True, True, False, False, False], [True, False, True, False, True]])
    context, weights = att(q, keys, mask=mask)
    assert torch.all(weights[~mask] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(3, dtype=torch.float64))
    for i in range(3):
        real = keys[i][mask[i]].unsqueeze(0)
        c_i, w_i = att(q[i: i + 1], real)
        assert torch.allclose(context[i], c_i[0], atol=1e-12)
        assert torch.allclose(weights[i][mask[i]], w_i[0], atol=1e-12)


def _pieces(fused, q, keys):
    return [m(q, keys) for m in fused.mechanisms]


def test_fusion_sum_is_the_sum_of_the_mechanisms_contexts():
    torch.manual_seed(2)
    fused = FusedAttention(("additive", "multiplicative", "dot_product"), "sum", 4, 3, hidden_size=4, heads=2).double()
    q, keys = torch.randn(2, 4).double(), torch.randn(2, 5, 3).double()
    context, weights, mix = fused(q, keys)
    parts = _pieces(fused, q, keys)
    assert torch.allclose(context, sum(c for c, _ in parts), atol=1e-12)
    assert torch.allclose(weights, torch.stack([w for _, w in parts], 1), atol=1e-12)
    assert torch.allclose(mix, torch.full((2, 3), 1 / 3, dtype=torch.float64))


def test_fusion_concat_is_a_linear_map_of_the_stacked_contexts():
    fused = FusedAttention(("additive", "dot"), "concat", 3, 3, hidden_size=4).double()
    w = [[0.1 * (i + j) - 0.2 for j in range(6)] for i in range(3)]
    b = [0.5, -0.5, 0.25]
    _set(fused.combine, w, b)
    q, keys = torch.randn(1, 3).double(), torch.randn(1, 4, 3).double()
    (c1, _), (c2, _) = _pieces(fused, q, keys)
    stacked = c1[0].tolist() + c2[0].tolist()
    expected = [sum(w[r][c] * stacked[c] for c in range(6)) + b[r] for r in range(3)]
    assert torch.allclose(fused(q, keys)[0], _t([expected]), atol=1e-12)


def test_fusion_gate_weighs_contexts_by_a_softmax_of_the_query():
    fused = FusedAttention(("additive", "multiplicative"), "gate", 2, 3, hidden_size=3).double()
    wg, bg = [[1.0, -2.0], [0.5, 0.25]], [0.0, 0.3]
    _set(fused.gate, wg, bg)
    q, keys = _t(Q), _t(K)
    (c1, _), (c2, _) = _pieces(fused, q, keys)
    g = _softmax([sum(wg[i][j] * Q[0][j] for j in range(2)) + bg[i] for i in range(2)])
    context, _, mix = fused(q, keys)
    assert torch.allclose(mix, _t([g]), atol=1e-12)
    assert torch.allclose(context, g[0] * c1 + g[1] * c2, atol=1e-12)


def test_gate_mixture_depends_on_the_decoder_state():
    torch.manual_seed(3)
    fused = FusedAttention(("additive", "multiplicative"), "gate", 4, 3, hidden_size=3)
    keys = torch.randn(2, 4, 3)
    _, _, mix = fused(torch.stack([torch.ones(4), -torch.ones(4)]), keys)
    assert not torch.allclose(mix[0], mix[1])


def test_masked_softmax_zeroes_padding():
    out = masked_softmax(torch.tensor([[0.0, 0.0, 100.0]]), torch.tensor([[True, True, False]]))
    assert out.tolist() == [[0.5, 0.5, 0.0]]


def test_names_aliases_and_errors():
    assert canonical_name("Bahdanau") == "additive"
    assert canonical_name("luong") == "multiplicative"
    with pytest.raises(InputError, match="'additiv'.*Did you mean"):
        canonical_name("additiv")
    with pytest.raises(InputError, match="unknown fusion 'mean'"):
        FusedAttention(("additive",), "mean", 2, 2)
    with pytest.raises(InputError, match="repeat"):
        FusedAttention(("additive", "bahdanau"), "sum", 2, 2)


def test_attention_penalty_is_zero_for_equal_shares_and_on_the_token_loss_scale():
    from neuronlabel.captioner.decoder import doubly_stochastic_penalty

    uniform = torch.full((2, 4, 1, 15), 1 / 15)
    assert float(doubly_stochastic_penalty(uniform, torch.tensor([3, 4]))) == pytest.approx(0.0, abs=1e-12)
    peaked = torch.zeros(1, 3, 1, 15)
    peaked[..., 0] = 1.0
    expected = ((0.2 - 3.0) ** 2 + 14 * 0.2 ** 2) / 15
    assert float(doubly_stochastic_penalty(peaked, torch.tensor([3]))) == pytest.approx(expected)
    mask = torch.zeros(1, 15, dtype=torch.bool)
    mask[0, :5] = True
    half = torch.zeros(1, 2, 1, 15)
    half[..., :5] = 0.2
    assert float(doubly_stochastic_penalty(half, torch.tensor([2]), mask)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("names", [("additive",), ("multiplicative",), ("scaled_multiplicative",), ("dot",),
                                   ("dot_product",), ("additive", "scaled_multiplicative", "dot_product")])
def test_several_query_rows_per_unit_attend_like_one_row_with_its_own_copy_of_the_caches(names):
    # beam search's hypotheses share their unit's caches; the reference copies the caches for every row
    torch.manual_seed(0)
    fused = FusedAttention(names, "gate", query_size=8, key_size=6, hidden_size=8, heads=2)
    keys = torch.randn(3, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False], [True, True, True, True, False]])
    queries = torch.randn(3 * 4, 8)
    with torch.no_grad():
        context, weights, mix = fused.attend(queries, fused.precompute(keys), mask)
        rows = torch.arange(3).repeat_interleave(4)
        ref = fused.attend(queries, fused.precompute(keys[rows]), mask[rows])
    assert context.shape == (12, 6) and weights.shape == (12, len(names), 5)
    assert torch.allclose(context, ref[0], atol=1e-6) and torch.allclose(weights, ref[1], atol=1e-6)
    assert torch.equal(mix, ref[2])
    assert torch.all(weights[4:8, :, 2:] == 0)                      # unit 1's padded keys get no weight


def test_query_rows_that_do_not_split_over_the_units_are_refused():
    att = AdditiveAttention(query_size=2, key_size=3, hidden_size=4)
    with pytest.raises(InputError, match="5 query rows do not split evenly over 2 units"):
        att.attend(torch.zeros(5, 2), att.precompute(torch.zeros(2, 4, 3), torch.zeros(2, 4, 3)))
