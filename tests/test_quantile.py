import math
from contextlib import contextmanager

import torch
from hypothesis import given, settings, strategies as st

from neuronlabel.probing import QuantileSketch, quantile as quantile_module


@contextmanager
def block_size(block: int):
    """The sketch's cache block (values per block) set to ``block`` inside the with-block."""
    before = quantile_module.BLOCK
    quantile_module.BLOCK = block
    try:
        yield
    finally:
        quantile_module.BLOCK = before


def exact(values: torch.Tensor, q: float) -> torch.Tensor:
    return torch.quantile(values.double(), q, dim=1, interpolation="lower")


def stream(units: int, batches: list[torch.Tensor], bins: int = 64) -> QuantileSketch:
    sketch = QuantileSketch(units, bins=bins)
    for b in batches:
        sketch.add(b)
    return sketch


def flat(batches: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([b.transpose(0, 1).reshape(b.shape[1], -1) for b in batches], dim=1)


batch_shapes = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=6)
scales = st.sampled_from([1e-3, 1.0, 50.0, 1e4])
shifts = st.sampled_from([0.0, -7.5, 300.0])
kinds = st.sampled_from(["normal", "relu", "integers", "growing", "constant"])


def make(shapes, units, scale, shift, kind, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for t, (b, h, w) in enumerate(shapes):
        x = torch.randn(b, units, h, w, generator=g) * scale + shift
        if kind == "relu":
            x = x.clamp(min=0)
        elif kind == "integers":
            x = x.round()
        elif kind == "growing":
            x = x * (4.0 ** t)
        elif kind == "constant":
            x = torch.full_like(x, shift)
        out.append(x)
    return out


@settings(max_examples=120, deadline=None)
@given(batch_shapes, st.integers(1, 4), scales, shifts, kinds, st.integers(0, 10_000),
       st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
def test_streaming_quantile_within_stated_bound(shapes, units, scale, shift, kind, seed, q):
    batches = make(shapes, units, scale, shift, kind, seed)
    sketch = stream(units, batches)
    err = (sketch.quantile(q) - exact(flat(batches), q)).abs()
    assert bool((err <= sketch.error_bound()).all()), (err, sketch.error_bound())
    assert sketch.count.tolist() == [flat(batches).shape[1]] * units


@settings(max_examples=80, deadline=None)
@given(batch_shapes, batch_shapes, st.integers(1, 3), scales, shifts, kinds, st.integers(0, 10_000))
def test_merge_equals_one_run_within_bound(shapes_a, shapes_b, units, scale, shift, kind, seed):
    a = make(shapes_a, units, scale, shift, kind, seed)
    b = make(shapes_b, units, scale * 3, shift + 1, kind, seed + 1)
    merged = stream(units, a)
    merged.merge(stream(units, b))
    whole = exact(flat(a + b), 0.99)
    assert merged.count.tolist() == stream(units, a + b).count.tolist()
    assert bool(((merged.quantile(0.99) - whole).abs() <= merged.error_bound()).all())


def test_bound_is_tight_for_default_bins():
    torch.manual_seed(0)
    data = torch.randn(200, 3, 7, 7).clamp(min=0) * torch.tensor([1.0, 10.0, 0.01]).view(1, 3, 1, 1)
    sketch = QuantileSketch(3)
    sketch.add(data)
    span = data.amax(dim=(0, 2, 3)) - data.amin(dim=(0, 2, 3))
    assert bool((sketch.error_bound() <= span.double() / 2048 * 1.01 + 1e-12).all())


def test_nonfinite_values_are_counted_and_skipped():
    x = torch.arange(40, dtype=torch.float32).view(2, 2, 10)
    x[0, 0, 3] = math.nan
    x[1, 1, 0] = math.inf
    sketch = QuantileSketch(2, bins=128)
    sketch.add(x)
    assert sketch.nonfinite.tolist() == [1, 1]
    assert sketch.count.tolist() == [19, 19]
    clean0 = torch.cat([x[0, 0][torch.isfinite(x[0, 0])], x[1, 0]])
    assert abs(float(sketch.quantile(0.5)[0]) - float(torch.quantile(clean0, 0.5, interpolation="lower"))) \
        <= float(sketch.error_bound()[0])


def test_state_dict_round_trip_and_memory_independent_of_images():
    sketch = QuantileSketch(4, bins=256)
    for i in range(5):
        sketch.add(torch.randn(8, 4, 3, 3) * (i + 1))
    twin = QuantileSketch(4, bins=256)
    twin.load_state_dict(sketch.state_dict())
    assert torch.equal(twin.quantile(0.99), sketch.quantile(0.99))
    assert twin.counts.shape == (4, 256)


def test_unit_with_only_nan_gives_nan_threshold():
    x = torch.zeros(3, 2, 2, 2)
    x[:, 1] = math.nan
    sketch = QuantileSketch(2, bins=32)
    sketch.add(x)
    q = sketch.quantile(0.99)
    assert abs(q[0].item()) <= sketch.error_bound()[0].item() and math.isnan(q[1].item())


def brute_counts(sketch: QuantileSketch, values: torch.Tensor) -> torch.Tensor:
    """Each value's bin on the sketch's final grids, computed in float64 (exact), counted per unit."""
    width = torch.ldexp(torch.ones(sketch.units, dtype=torch.float64), sketch.exponent)
    bins = torch.floor(values.double() / width[:, None]).long() - sketch.origin[:, None]
    return torch.stack([torch.bincount(b, minlength=sketch.bins) for b in bins])


@settings(max_examples=60, deadline=None)
@given(batch_shapes, st.integers(1, 6), scales, shifts, kinds, st.integers(0, 10_000),
       st.sampled_from([1, 7, 1 << 20]))
def test_counts_equal_brute_force_bins_in_every_block_size(shapes, units, scale, shift, kind, seed, block):
    batches = make(shapes, units, scale, shift, kind, seed)
    with block_size(block):
        sketch = stream(units, batches)
    assert torch.equal(sketch.counts, brute_counts(sketch, flat(batches)))
