import torch
from hypothesis import given, settings, strategies as st

from neuronlabel.probing import TopK


def brute(maps: torch.Tensor, ids: torch.Tensor, k: int):
    """Reference: sort all images per unit by (spatial max desc, id asc)."""
    scores = maps.amax(dim=(2, 3))
    out_ids, out_scores, out_maps = [], [], []
    for u in range(maps.shape[1]):
        order = sorted(range(maps.shape[0]), key=lambda i: (-float(scores[i, u]), int(ids[i])))[:k]
        out_ids.append([int(ids[i]) for i in order])
        out_scores.append([float(scores[i, u]) for i in order])
        out_maps.append(torch.stack([maps[i, u] for i in order]))
    return out_ids, out_scores, torch.stack(out_maps)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 6), st.integers(1, 9), st.integers(0, 9999),
       st.booleans())
def test_running_topk_equals_brute_force(n, units, k, batch, seed, ties):
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(n, units, 3, 2, generator=g)
    if ties:
        maps = maps.round()
    ids = torch.randperm(1000, generator=g)[:n]
    top = TopK(units, k, (3, 2))
    for i in range(0, n, batch):
        top.add(maps[i:i + batch], ids[i:i + batch])
    ref_ids, ref_scores, ref_maps = brute(maps, ids, k)
    m = min(k, n)
    assert top.ids[:, :m].tolist() == ref_ids
    assert top.scores[:, :m].tolist() == ref_scores
    assert torch.equal(top.maps[:, :m], ref_maps)
    assert bool((top.ids[:, m:] == -1).all())


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(1, 4), st.integers(1, 5), st.integers(0, 9999))
def test_merge_of_shards_equals_one_run(n, units, k, seed):
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(n, units, 2, 2, generator=g).round()
    ids = torch.arange(n)
    cut = n // 2
    a, b, whole = TopK(units, k, (2, 2)), TopK(units, k, (2, 2)), TopK(units, k, (2, 2))
    a.add(maps[cut:], ids[cut:])
    b.add(maps[:cut], ids[:cut])
    whole.add(maps, ids)
    a.merge(b)
    assert torch.equal(a.ids, whole.ids) and torch.equal(a.scores, whole.scores) and torch.equal(a.maps, whole.maps)


def test_nan_maps_rank_last_and_are_counted():
    maps = torch.ones(3, 2, 1, 1)
    maps[1, 0] = float("nan")
    top = TopK(2, 3, (1, 1))
    top.add(maps, torch.tensor([0, 1, 2]))
    assert top.ids[0].tolist() == [0, 2, 1]
    assert top.nonfinite.tolist() == [1, 0]


def test_state_is_never_written_in_place():
    top = TopK(2, 2, (1, 1))
    top.add(torch.rand(4, 2, 1, 1), torch.arange(4))
    before = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in top.state_dict().items()}
    snapshot = top.state_dict()
    top.add(torch.rand(4, 2, 1, 1) + 5, torch.arange(4, 8))
    for key, value in snapshot.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, before[key]), key
