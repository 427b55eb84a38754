"""The compound data set builder on a tiny synthetic fixture, on the real data (skips without it),
and the bundled captioner (skips without its weights)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuronlabel.datasets.compound import CompoundSet, build_compound, find_data
from neuronlabel.datasets.compound_concepts import gradcam_regions
from neuronlabel.datasets.compound_units import ConceptDetector, evaluate, leaves, paraphrases
from neuronlabel.errors import InputError

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _fixture(root: Path, n_per_class: int = 6) -> Path:
    """A COCO-format folder with person polygons and an ImageNet-like folder of dogs and birds."""
    rng = np.random.default_rng(0)
    coco = root / "coco-mini"
    (coco / "train2017").mkdir(parents=True)
    (coco / "annotations").mkdir()
    images, anns = [], []
    for i in range(5):
        arr = (rng.random((60, 80, 3)) * 60).astype(np.uint8)
        arr[10:50, 5 + 8 * i: 30 + 8 * i] = (200, 30, 30)          # a red "person" moving right
        name = f"{i:012d}.jpg"
        Image.fromarray(arr).save(coco / "train2017" / name)
        images.append({"id": i + 1, "file_name": name, "width": 80, "height": 60})
        x0 = 5 + 8 * i
        anns.append({"id": 100 + i, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                     "segmentation": [[x0, 10, x0 + 25, 10, x0 + 25, 50, x0, 50]]})
    (coco / "annotations" / "instances_train2017.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}))
    inet = root / "imagenet-sample-256"
    inet.mkdir()
    classes = []
    for i in range(2 * n_per_class):
        dog = i < n_per_class
        arr = np.zeros((64, 64, 3), np.uint8)
        arr[:32] = (40, 80, 230)                                    # blue sky on top
        arr[32:] = (40, 180, 40) if dog else (120, 120, 120)         # grass under dogs
        arr[20:44, 20:44] = (250, 250, 250) if dog else (20, 20, 20)
        file = f"n{i:08d}_{'dog' if dog else 'bird'}{i}.jpg"
        Image.fromarray(arr).save(inet / file)
        group = {"wnid": "n90000001", "lemmas": ["dog", "domestic dog", "Canis familiaris"]} if dog else \
            {"wnid": "n90000002", "lemmas": ["bird"]}
        classes.append({"index": i, "file": file, "wnid": f"n{i:08d}", "lemmas": [file], "gloss": "",
                        "hypernyms": [group, {"wnid": "n00001740", "lemmas": ["entity"]}]})
    (root / "imagenet_classes_wordnet.json").write_text(json.dumps(classes))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = _fixture(tmp_path_factory.mktemp("data"))
    cache = tmp_path_factory.mktemp("cache")
    return root, cache, build_compound(root, units=40, k=3, cache_dir=cache)


def test_builder_on_synthetic_fixture(tiny):
    root, cache, data = tiny
    assert isinstance(data, CompoundSet) and len(data) >= 5
    n = data.images.shape[0]
    assert n == 5 * 2 + 12                                           # COCO photos mirrored + ImageNet photos
    assert data.masks.shape[:2] == data.index.shape == (len(data), 3) and data.masks.dtype == torch.bool
    assert int(data.index.max()) < n
    assert bool(data.masks.flatten(2).any(2).all())                  # every exemplar has a region
    names = {x for t in data.trees for x in leaves(t)}
    assert {"dogs", "birds", "person", "white", "sky"} <= names
    assert all(1 <= len(ds) <= 3 and len(set(ds)) == len(ds) for ds in data.descriptions)
    assert set(data.split) <= {"train", "val", "test"}
    # the dog unit's top exemplars are the dog photos, masked inside GradCAM's region for the photo's class
    dog = data.trees.index(("c", "dogs"))
    rows = data.index[dog].tolist()
    src = [data.sources[i] for i in rows]
    assert all("_dog" in s for s in src)
    labels = [int(s.split("_dog")[1].split(".")[0]) for s in src]
    regions = torch.as_tensor(np.stack(gradcam_regions(data.images[rows].numpy(), labels)))
    inside = torch.nn.functional.interpolate(regions[:, None].float(), size=data.masks.shape[-2:])[:, 0] > 0
    assert not bool((data.masks[dog] & ~inside).any())
    # the person unit's exemplars are COCO photos; a flipped copy mirrors the mask
    person = data.trees.index(("c", "person"))
    assert all(s.startswith("coco/") for s in (data.sources[i] for i in data.index[person].tolist()))


def test_builder_is_seeded_and_cached(tiny):
    root, cache, data = tiny
    assert len(list(cache.glob("compound-*.pt"))) == 1
    again = build_compound(root, units=40, k=3, cache_dir=None)
    assert again.descriptions == data.descriptions and again.trees == data.trees and again.split == data.split
    assert torch.equal(again.index, data.index) and torch.equal(again.masks, data.masks)
    other = build_compound(root, units=40, k=3, seed=1, cache_dir=None)
    assert other.descriptions != data.descriptions


def test_novel_test_combinations_never_seen_whole_in_training(tiny):
    data = tiny[2]
    train = {frozenset(leaves(data.trees[i])) for i in data.indices("train")}
    for i in data.indices("test"):
        if data.novel[i]:
            assert frozenset(leaves(data.trees[i])) not in train


def test_relations_and_modifiers_follow_the_maps():
    x = torch.zeros(2, 2, 8, 8)
    x[:, 0, 2:6, 0:3] = 1                         # concept a on the left in both images
    x[0, 1, 2:6, 5:8] = 1                         # b on the right in image 0 only
    x[1, 1, 2:6, 0:2] = 1                         # b on the left in image 1
    maps = {"a": x[:, 0], "b": x[:, 1]}
    left = evaluate(("left", ("c", "a"), ("c", "b")), maps)
    assert left[0].sum() > 0 and left[1].sum() == 0
    tops = evaluate(("tops", ("c", "a")), maps)
    assert tops[0, 2].sum() > 0 and tops[0, 5].sum() == 0
    edges = evaluate(("edges", ("c", "a")), maps)
    assert edges[0, 2, 1] > 0 and edges[0, 3, 1] == 0             # boundary kept, interior dropped
    det = ConceptDetector(["a", "b"], [("c", "a"), ("and", ("c", "a"), ("c", "b"))])
    assert det(x).shape == (2, 2, 8, 8)
    with pytest.raises(InputError):
        det(torch.zeros(1, 3, 8, 8))


def test_paraphrases_are_distinct_and_long_for_compositions():
    from neuronlabel.datasets.compound_concepts import Concept

    concepts = {"dogs": Concept("dogs", "category", ["dogs", "domestic dogs"]), "red": Concept("red", "colour"),
                "grass": Concept("grass", "region"), "cars": Concept("cars", "object", ["cars", "automobiles"])}
    tree = ("tops", ("left", ("with", "red", ("c", "dogs")), ("c", "grass")))
    out = paraphrases(tree, concepts, random.Random(0))
    assert len(out) == 3 and len(set(out)) == 3
    assert all("dog" in d and "grass" in d or "lawn" in d for d in out)
    assert max(len(d.split()) for d in out) >= 7


def test_missing_data_folder_is_a_clear_error(tmp_path):
    assert find_data(tmp_path / "nope") is None
    with pytest.raises(InputError, match="no data folder"):
        build_compound(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="probe images"):
        build_compound(tmp_path / "empty", cache_dir=None)


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data is absent")
def test_real_data_builds_units_of_every_kind(tmp_path):
    data = build_compound(REAL, units=60, cache_dir=None, max_images=200)
    kinds = {t[0] for t in data.trees}
    assert "c" in kinds and len(kinds) >= 3
    assert data.index.shape == (len(data), 15)
    assert bool(data.masks.flatten(2).any(2).float().mean() > 0.95)


BUNDLED = Path(__file__).resolve().parent.parent / "neuronlabel" / "weights" / "captioner.pt"


@pytest.mark.skipif(not BUNDLED.is_file(), reason="no bundled captioner weights")
def test_bundled_captioner_loads_and_describes():
    from neuronlabel.captioner import Captioner

    cap = Captioner.load()
    assert BUNDLED.stat().st_size <= 40 * 2 ** 20
    from neuronlabel.evaluation.experiment import CONFIGS

    shipped = CONFIGS["fused_gate_scaled"]                 # the choice documented in docs/results.md
    assert (cap.config.attention, cap.config.fusion) == (shipped["attention"], shipped["fusion"])
    out = cap.describe(torch.randn(2, 15, cap.config.feature_size).abs(), beam_size=2, max_length=12)
    assert len(out) == 2 and all(isinstance(c[0][0], str) and c[0][0] for c in out)
