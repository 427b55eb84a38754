"""Pyramid encoder: mask pooling against a hand computation, one encode per unique image, backbones."""

import numpy as np
import pytest
import torch
from torch import nn

from neuronlabel.captioner.encoder import PyramidEncoder
from neuronlabel.errors import InputError


pytestmark = pytest.mark.usefixtures("one_thread")


class CountingIdentity(nn.Module):
    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return x


def _identity_encoder():
    net = nn.Sequential(CountingIdentity(), nn.AvgPool2d(2))
    return net, PyramidEncoder(net, layers=["0", "1"], input_size=8, mean=(0, 0, 0), std=(1, 1, 1))


def _hand_pool(image, mask):
    """Mask-weighted mean at full resolution and at the 2x2-block-averaged resolution."""
    c, h, w = len(image), len(image[0]), len(image[0][0])
    full = [sum(mask[y][x] * image[ch][y][x] for y in range(h) for x in range(w)) / sum(map(sum, mask))
            for ch in range(c)]
    small_img = [[[sum(image[ch][2 * y + dy][2 * x + dx] for dy in (0, 1) for dx in (0, 1)) / 4
                   for x in range(w // 2)] for y in range(h // 2)] for ch in range(c)]
    small_m = [[sum(mask[2 * y + dy][2 * x + dx] for dy in (0, 1) for dx in (0, 1)) / 4
                for x in range(w // 2)] for y in range(h // 2)]
    total = sum(map(sum, small_m))
    small = [sum(small_m[y][x] * small_img[ch][y][x] for y in range(h // 2) for x in range(w // 2)) / total
             for ch in range(c)]
    return full + small


def test_mask_pooling_matches_hand_computation():
    torch.manual_seed(0)
    _, enc = _identity_encoder()
    images = torch.rand(3, 3, 8, 8)
    masks = torch.rand(2, 2, 8, 8) > 0.6
    masks[1, 1] = False
    masks[1, 1, 2, 5] = True
    index = torch.tensor([[2, 0], [1, 2]])
    pooled = enc.pool(enc.encode(images), masks, index)
    assert pooled.shape == (2, 2, 6)
    for u in range(2):
        for j in range(2):
            expected = _hand_pool(images[index[u, j]].tolist(), masks[u, j].float().tolist())
            assert torch.allclose(pooled[u, j], torch.tensor(expected), atol=1e-5)


def test_soft_and_empty_masks():
    _, enc = _identity_encoder()
    images = torch.rand(1, 3, 8, 8)
    empty = torch.zeros(1, 1, 8, 8)
    pooled = enc.pool(enc.encode(images), empty, torch.tensor([[0]]))
    assert torch.allclose(pooled[0, 0, :3], images[0].mean(dim=(1, 2)), atol=1e-6)
    soft = torch.rand(1, 1, 8, 8)
    pooled = enc.pool(enc.encode(images), soft, torch.tensor([[0]]))
    expected = (images[0] * soft[0, 0]).sum(dim=(1, 2)) / soft.sum()
    assert torch.allclose(pooled[0, 0, :3], expected, atol=1e-6)


def test_each_unique_image_is_encoded_once_and_streaming_equals_two_steps():
    torch.manual_seed(1)
    net, enc = _identity_encoder()
    images = torch.rand(10, 3, 8, 8)
    index = torch.tensor([[0, 3, 3, 7], [7, 7, 0, 3], [9, 3, 0, 0]])
    masks = torch.rand(3, 4, 8, 8) > 0.5
    net[0].seen = 0
    streamed = enc.encode_pool(images, masks, index, batch_size=2)
    assert net[0].seen == 4
    assert torch.allclose(streamed, enc.pool(enc.encode(images), masks, index), atol=1e-6)


def test_uint8_nhwc_numpy_inputs_equal_float_nchw():
    _, enc = _identity_encoder()
    raw = np.random.default_rng(0).integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)
    masks = np.ones((1, 2, 1, 8, 8), dtype=np.uint8)
    a = enc.encode_pool(raw, masks, torch.tensor([[0, 1]]))
    b = enc.encode_pool(torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255, torch.ones(1, 2, 8, 8),
                        torch.tensor([[0, 1]]))
    assert torch.allclose(a, b, atol=1e-6)


def test_spatial_rows_hold_the_pooled_vector_then_the_grid():
    _, enc = _identity_encoder()
    images = torch.rand(2, 3, 8, 8)
    masks = torch.rand(1, 2, 8, 8) > 0.5
    index = torch.tensor([[0, 1]])
    flat = enc.pool(enc.encode(images), masks, index)
    grid = enc.pool(enc.encode(images), masks, index, spatial=True)
    assert grid.shape == (1, 2 * (1 + 16), 7)
    assert torch.allclose(grid[0, 0, :6], flat[0, 0]) and grid[0, 0, 6] == 1
    assert torch.allclose(grid[0, 17, :6], flat[0, 1])
    assert torch.allclose(grid[0, 1:17, 6].sum(), torch.tensor(1.0))


def _named():
    net = nn.Sequential()
    net.add_module("layer4", nn.Conv2d(3, 2, 1))
    return net


def test_bad_inputs_raise_clear_errors():
    _, enc = _identity_encoder()
    with pytest.raises(InputError, match=r"\[0, 1\] and not normalised"):
        enc.encode(torch.randn(1, 3, 8, 8) * 3)
    feats = enc.encode(torch.rand(2, 3, 8, 8))
    with pytest.raises(InputError, match="there are 2 images"):
        enc.pool(feats, torch.ones(1, 1, 8, 8), torch.tensor([[5]]))
    with pytest.raises(InputError, match="matching index 1×2"):
        enc.pool(feats, torch.ones(1, 3, 8, 8), torch.tensor([[0, 1]]))
    with pytest.raises(InputError, match="no layer 'O'. Its layers include: 0"):
        PyramidEncoder(nn.Sequential(nn.Conv2d(3, 2, 1)), layers=["O"], input_size=8)
    with pytest.raises(InputError, match="Did you mean: 'layer4'"):
        PyramidEncoder(_named(), layers=["layer5"], input_size=8)


def test_timm_backbone_passed_by_the_user():
    timm = pytest.importorskip("timm")
    enc = PyramidEncoder(timm.create_model("resnet18", pretrained=False), input_size=64)
    assert enc.layers == ("layer1", "layer2", "layer3", "layer4")
    assert enc.feature_size == 64 + 128 + 256 + 512
    x = enc.encode_pool(torch.rand(2, 3, 64, 64), torch.ones(1, 2, 64, 64), torch.tensor([[0, 1]]))
    assert x.shape == (1, 2, 960) and torch.isfinite(x).all()


def test_efficientnet_lite0_default_encoder():
    enc = PyramidEncoder("efficientnet_lite0")
    assert enc.layers == ("blocks.2", "blocks.4", "blocks.6", "bn2") and enc.feature_size == 1752
    assert enc.mean == (0.5, 0.5, 0.5)
    images = torch.rand(2, 3, 160, 160)
    masks = torch.zeros(2, 2, 160, 160, dtype=torch.bool)
    masks[0, :, :80] = True
    masks[1, :, 80:] = True
    x = enc.encode_pool(images, masks, torch.tensor([[0, 1], [0, 1]]))
    assert x.shape == (2, 2, 1752) and torch.isfinite(x).all()
    assert not torch.allclose(x[0], x[1])


@pytest.mark.slow
def test_mobilenet_v2_alternative_encoder():
    enc = PyramidEncoder("mobilenet_v2")
    assert enc.feature_size == 32 + 96 + 320 + 1280
    x = enc.encode_pool(torch.rand(1, 3, 224, 224), torch.ones(1, 1, 224, 224), torch.tensor([[0]]))
    assert x.shape == (1, 1, 1728) and torch.isfinite(x).all()


class _Pyramid(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 5, 3, stride=2, padding=1)
        self.b = nn.Conv2d(5, 7, 3, stride=2, padding=1)
        self.c = nn.Conv2d(7, 9, 3, stride=2, padding=1)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


@pytest.mark.parametrize("size, map_size", [(32, (4, 4)), (32, (7, 5)), (24, (3, 3)), (20, (5, 5))])
def test_pooling_unit_maps_equals_pooling_their_masks(size, map_size):
    import torch.nn.functional as F

    torch.manual_seed(size)
    enc = PyramidEncoder(_Pyramid(), layers=["a", "b", "c"], input_size=size)
    feats = enc.encode(torch.rand(6, 3, size, size))
    units, k = 70, 5
    maps = torch.randn(units, k, *map_size)
    maps[3] = -5.0
    thresholds = torch.rand(units) * 0.5
    index = torch.randint(0, 6, (units, k))
    up = F.interpolate(maps.view(units * k, 1, *map_size), size=(size, size), mode="bilinear", align_corners=False)
    masks = up.view(units, k, size, size) > thresholds.view(units, 1, 1, 1)
    expected = enc.pool(feats, masks, index)
    assert torch.equal(enc.pool_maps(feats, maps, thresholds, (size, size), index, chunk=128), expected)
