import pytest
import torch
import torch.nn.functional as F

from neuronlabel.errors import InputError
from neuronlabel.probing.exemplars import Exemplars, mask_counts


def _exemplars(units, k, map_size, image_size, seed):
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(units, k, *map_size, generator=g)
    maps[1] = -3.0
    return Exemplars("layer", ids=torch.zeros(units, k, dtype=torch.long), scores=maps.amax((2, 3)), maps=maps,
                     thresholds=torch.rand(units, generator=g), threshold_error=torch.zeros(units),
                     image_size=image_size, quantile=0.99)


@pytest.mark.parametrize("map_size, image_size, grid", [((7, 7), (224, 224), (28, 28)), ((56, 56), (224, 224), (7, 7)),
                                                        ((5, 3), (32, 24), (8, 3)), ((4, 4), (32, 32), (1, 1)),
                                                        ((5, 3), (30, 24), (5, 4))])
def test_coverage_is_the_area_average_of_the_full_masks(map_size, image_size, grid):
    ex = _exemplars(9, 4, map_size, image_size, seed=sum(map_size))
    masks = ex.masks().float()
    expected = F.adaptive_avg_pool2d(masks.view(36, 1, *image_size), grid).view(9, 4, *grid)
    assert torch.equal(ex.coverage(grid=grid), expected)
    area = image_size[0] // grid[0] * image_size[1] // grid[1]
    assert torch.equal(ex.mask_counts(grid=grid).long(), (expected * area).round().long())
    assert int(ex.mask_counts(units=[1], grid=grid).sum()) == 0


def test_counts_remembered_for_some_units_agree_with_a_fresh_computation():
    ex = _exemplars(12, 3, (7, 7), (56, 56), seed=3)
    first = ex.mask_counts(units=[5, 2, 5], grid=(14, 14))
    whole = ex.mask_counts(grid=(14, 14))
    fresh = _exemplars(12, 3, (7, 7), (56, 56), seed=3).mask_counts(grid=(14, 14))
    assert torch.equal(whole, fresh) and torch.equal(first, fresh[[5, 2, 5]])


def test_a_grid_that_does_not_tile_the_image_is_refused_or_pooled_unevenly():
    ex = _exemplars(2, 2, (3, 3), (10, 10), seed=0)
    with pytest.raises(InputError, match="does not tile"):
        ex.mask_counts(grid=(3, 3))
    masks = ex.masks().float().view(4, 1, 10, 10)
    assert torch.equal(ex.coverage(grid=(3, 3)), F.adaptive_avg_pool2d(masks, 3).view(2, 2, 3, 3))


@pytest.mark.parametrize("map_size, image_size, grid", [((7, 7), (224, 224), (28, 28)), ((3, 5), (16, 48), (2, 3))])
def test_packed_cell_sums_equal_byte_by_byte_sums(map_size, image_size, grid):
    ex = _exemplars(6, 3, map_size, image_size, seed=7)
    packed = mask_counts(ex.maps, ex.thresholds, image_size, grid)
    assert torch.equal(packed, mask_counts(ex.maps, ex.thresholds, image_size, grid, packed=False))
    assert int(packed.sum()) > 0
