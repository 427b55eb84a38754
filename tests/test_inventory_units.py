import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from neuronlabel.captioner.encoder import PyramidEncoder
from neuronlabel.datasets import inventory_units as iu
from neuronlabel.errors import InputError


def test_sample_units_draws_distinct_rows_while_there_are_enough():
    rng = np.random.default_rng(0)
    many = iu.sample_units({"a": list(range(40))}, units=5, k=15, rng=rng)
    assert len(many) == 5 and all(len(set(rows)) == 15 for _, rows in many)
    few = iu.sample_units({"b": [7, 8, 9]}, units=2, k=15, rng=rng)
    assert all(len(rows) == 15 and set(rows) == {7, 8, 9} for _, rows in few)
    assert iu.sample_units({"empty": []}, units=3, k=15, rng=rng) == []


def test_augment_crops_the_photo_it_is_given():
    photo = np.zeros((60, 90, 3), np.uint8)
    photo[..., 0] = 200                                   # a red photo stays red whatever the crop
    out = iu.augment(photo, np.random.default_rng(1), size=40)
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    assert out[..., 0].min() > 120 and out[..., 1:].max() < 40


class _Net(nn.Module):
    """A backbone with a classifier over its last map, like timm's (a class-activation map exists)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 4, 1)
        self.classifier = nn.Linear(4, 3)

    def forward(self, x):
        return self.classifier(self.body(x).mean((2, 3)))


def test_encode_pools_over_the_whole_image_and_over_the_class_activation_region():
    torch.manual_seed(0)
    net = _Net()
    enc = PyramidEncoder(net, layers=["body"], input_size=iu.SIZE, mean=(0, 0, 0), std=(1, 1, 1))
    rng = np.random.default_rng(0)
    items = iu.Items([], [], [])
    for _ in range(3):
        items.add(rng.integers(0, 256, (iu.SIZE, iu.SIZE, 3), dtype=np.uint8), None, 1)
    given = np.zeros((iu.SIZE, iu.SIZE), bool)
    given[:112, :112] = True
    items.add(rng.integers(0, 256, (iu.SIZE, iu.SIZE, 3), dtype=np.uint8), given)
    pooled = iu.encode(items, enc, batch_size=2).float()
    assert pooled.shape == (4, 2, 4)
    x = torch.from_numpy(np.stack(items.images)).permute(0, 3, 1, 2).float() / 255
    maps = net.body(x)                                     # [4, 4, 224, 224]
    assert torch.allclose(pooled[:, 0], maps.mean((2, 3)), atol=2e-2)
    cam = torch.einsum("nchw,c->nhw", maps[:3], net.classifier.weight[1]).clamp_min(0)
    for j in range(3):
        region = cam[j] >= 0.5 * cam[j].max()
        assert torch.allclose(pooled[j, 1], maps[j][:, region].mean(1), atol=2e-2)
    assert torch.allclose(pooled[3, 1], maps[3][:, :112, :112].mean((1, 2)), atol=2e-2)


def test_patterns_are_named_by_orientation_and_by_their_two_colours():
    rng = np.random.default_rng(0)
    photos = [np.full((288, 288, 3), 90, np.uint8)]
    items = iu.Items([], [], [])
    units = iu._patterns(items, rng, 2, photos)
    names = [d for _, ds, _ in units for d in ds]
    assert {"vertical stripes", "horizontal stripes", "diagonal stripes", "dots", "grids"} <= set(names)
    coloured = [d for d in names if " and " in d]
    assert coloured and all(d.split(" and ")[0] in iu.PATTERN_COLOURS.values() for d in coloured)
    assert all(len(rows) == iu.K for _, _, rows in units)
    assert len(items.images) == sum(len(rows) for _, _, rows in units)


def _folder(tmp_path: Path) -> Path:
    """Four real ImageNet classes (three of them terriers) as one tiny photo each."""
    from PIL import Image

    from neuronlabel.concepts import Inventory

    inv = Inventory.load()
    rows = []
    (tmp_path / "imagenet-sample-256").mkdir(parents=True)
    for n, index in enumerate((189, 190, 191, 118)):        # Lakeland, Sealyham, Airedale terriers; a crab
        wnid = inv.imagenet_wnid(index)
        name = f"{wnid}_{index}.jpg"
        Image.fromarray(np.random.default_rng(n).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
            tmp_path / "imagenet-sample-256" / name)
        rows.append({"index": index, "file": name, "wnid": wnid})
    (tmp_path / "imagenet_classes_wordnet.json").write_text(json.dumps(rows))
    return tmp_path


def test_build_names_classes_and_their_everyday_groups_and_caches(tmp_path):
    from neuronlabel.concepts import Inventory

    inv = Inventory.load()
    data = _folder(tmp_path / "data")
    kw = dict(per_class=3, class_units=2, group_units=2, cache_dir=tmp_path / "cache", texture_units=1,
              pattern_units=1, text_units=1, face_units=1)
    units = iu.build_inventory_units(data, **kw)
    terriers = inv.ancestors(inv.imagenet_wnid(191))[0]                   # "terriers": all three are under it
    crab = inv.imagenet_wnid(118)
    by_concept = {}
    for i, c in enumerate(units.concept):
        by_concept.setdefault(c, []).append(i)
    assert len(by_concept[crab]) == 2 and units.data.descriptions[by_concept[crab][0]] == [inv.name(crab, plural=True)]
    assert not any(d == ["crabs"] for d in units.data.descriptions)            # a group needs >= 3 classes here
    assert terriers in by_concept and all(units.data.descriptions[i] == [inv.name(terriers, plural=True)]
                                          for i in by_concept[terriers])
    assert units.data.descriptions[by_concept[inv.imagenet_wnid(190)][0]] == [inv.name(inv.imagenet_wnid(190), plural=True)]
    assert all(inv.concept(c).everyday for c in by_concept if c.startswith("n"))   # no "carnivores", "swine"
    assert "body:face" not in by_concept and "text" in by_concept           # no COCO here; text is drawn
    assert units.data.features.shape[1:] == (iu.K, PyramidEncoder("efficientnet_lite0").feature_size)
    assert set(units.split) <= set(iu.SPLITS) and sum(units.sizes()[s]["units"] for s in iu.SPLITS) == len(units)
    again = iu.build_inventory_units(data, **kw)
    assert again.data.ids == units.data.ids and torch.equal(again.data.features, units.data.features)
    assert len(list((tmp_path / "cache").glob("inventory-units-*.pt"))) == 1


def test_build_refuses_a_folder_without_the_imagenet_sample(tmp_path):
    with pytest.raises(InputError, match="imagenet_classes_wordnet.json"):
        iu.build_inventory_units(tmp_path)


def test_combine_keeps_the_compound_split_and_checks_feature_shapes():
    from neuronlabel.training.data import CaptionData

    class Compound:
        descriptions = [["red cars"], ["blue sky"], ["dogs"]]
        trees = [("with", "red", ("c", "cars")), ("with", "blue", ("c", "sky")), ("c", "dogs")]
        novel = [False, False, True]

        def indices(self, split):
            return {"train": [0], "val": [1], "test": [2]}[split]

    compound_feats = CaptionData(torch.zeros(3, iu.K, 8), Compound.descriptions)
    units = iu.UnitSet(CaptionData(torch.ones(2, iu.K, 8), [["crabs"], ["text"]], ["inventory:0:n1", "inventory:1:text"]),
                       ["train", "test"], ["n1", "text"], [False, False])
    both = iu.combine(Compound(), compound_feats, units)
    assert both.split == ["train", "val", "test", "train", "test"]
    assert both.novel == [False, False, True, False, False] and both.indices("test") == [2, 4]
    assert both.data.descriptions[3] == ["crabs"] and float(both.data.features[3].sum()) == iu.K * 8
    assert both.concept == ["compound:cars+red", "compound:blue+sky", "compound:dogs", "n1", "text"]
    assert both.sizes()["concepts"] == 5 and both.sizes()["test"]["units"] == 2
    wrong = CaptionData(torch.zeros(3, iu.K, 4), Compound.descriptions)
    with pytest.raises(InputError, match="differ"):
        iu.combine(Compound(), wrong, units)
