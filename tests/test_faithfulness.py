"""The faithfulness study's parts against brute-force references, and on a few dozen real photos
(skipped when ../shared/data is absent)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score
from torch import nn

from neuronlabel import assert_no_hooks, probe
from neuronlabel.datasets.compound_concepts import COCO_SYNONYMS, Concept
from neuronlabel.datasets.compound_units import describe, leaves, propose
from neuronlabel.errors import InputError
from neuronlabel.evaluation.faithfulness import (Overlap, PhotoSource, Vocabulary, auprc, merge_shared_terms, overlap,
                                                 score_units, summarize)
from neuronlabel.hooks import capture

pytestmark = pytest.mark.usefixtures("one_thread")

# concepts as the compound recipe makes them from the real data (names, kinds and lemmas)
REAL_CONCEPTS = {
    "person": Concept("person", "object", COCO_SYNONYMS["person"]),
    "dining table": Concept("dining table", "object", COCO_SYNONYMS["dining table"]),
    "bowl": Concept("bowl", "object", ["bowls"]),
    "car": Concept("car", "object", COCO_SYNONYMS["car"]),
    "kitchen": Concept("kitchen", "object", ["kitchen objects", "kitchen things"]),
    "dogs": Concept("dogs", "category", ["dogs", "domestic dogs"]),
    "hunting dogs": Concept("hunting dogs", "category", ["hunting dogs"]),
    "musical instruments": Concept("musical instruments", "category", ["musical instruments", "instruments"]),
    "wading birds": Concept("wading birds", "category", ["wading birds", "waders"]),
    "self-propelled vehicles": Concept("self-propelled vehicles", "category", ["self-propelled vehicles"]),
    **{c: Concept(c, "colour", [c]) for c in ("red", "orange", "green", "blue", "white", "gray")},
    "sky": Concept("sky", "region", ["sky"]),
    "grass": Concept("grass", "region", ["grass"]),
}


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary(REAL_CONCEPTS)


@pytest.mark.parametrize("label, named, subject", [
    ("red parts of bowls", ["red", "bowl"], "bowl"),
    ("sky above dogs", ["sky", "dogs"], "sky"),
    ("a red bowl", ["red", "bowl"], "bowl"),                               # singular of the lemma "bowls"
    ("the edges of a dog", ["dogs"], "dogs"),
    ("hunting dogs below the blue sky", ["hunting dogs", "sky"], "hunting dogs"),   # longest term wins
    ("grey automobiles", ["gray", "car"], "car"),
    ("men on the left of lawn", ["person", "grass"], "person"),           # built-in synonym, region word
    ("the color grey", ["gray"], "gray"),
    ("patches of white and orange", ["white", "orange"], "white"),
    ("Kitchen-Things as well as TABLES", ["kitchen", "dining table"], "kitchen"),
    ("hotdogs near a seaside skyline", [], None),                         # no match inside longer words
    ("a self propelled vehicle on grass", ["self-propelled vehicles", "grass"], "self-propelled vehicles"),
    ("Self-Propelled_Vehicles", ["self-propelled vehicles"], "self-propelled vehicles"),
    ("oranges", [], None),                                                # colours take no plural
    ("", [], None),
])
def test_label_parsing_on_template_phrases(vocab, label, named, subject):
    assert vocab.named(label) == named
    assert vocab.subject(label) == subject


def test_subject_of_generated_descriptions_is_the_first_thing_in_the_tree(vocab):
    rng = random.Random(0)
    trees = propose(REAL_CONCEPTS, rng, 300)
    checked = 0
    for tree in trees:
        lv = leaves(tree)
        if len(set(lv)) != len(lv):
            continue
        text = describe(tree, REAL_CONCEPTS, rng)
        things = [n for n in lv if REAL_CONCEPTS[n].kind != "colour"]
        assert vocab.subject(text) == (things[0] if things else lv[0]), text
        assert set(vocab.named(text)) == set(lv), text
        checked += 1
    assert checked > 200


def test_vocabulary_errors_name_the_bad_value():
    with pytest.raises(InputError, match="word 'vehicles?' names both concept 'vehicle' and concept 'vehicles'"):
        Vocabulary({"vehicle": Concept("vehicle", "object", ["vehicles"]),
                    "vehicles": Concept("vehicles", "category", ["vehicles"])})
    with pytest.raises(InputError, match="kind 'texture'"):
        Vocabulary({"stripes": Concept("stripes", "texture", ["stripes"])})
    with pytest.raises(InputError, match="got int 3"):
        Vocabulary(REAL_CONCEPTS).named(3)


def test_merge_unites_concepts_that_share_a_word():
    concepts = {"furniture": Concept("furniture", "object", ["furnitures"]),
                "furnitures": Concept("furnitures", "category", ["furnitures", "pieces of furniture"]),
                "red": Concept("red", "colour", ["red"])}
    maps = torch.rand(5, 3, 4, 4) > 0.7
    names, merged, out = merge_shared_terms(["furniture", "furnitures", "red"], concepts, maps)
    assert names == ["furniture", "red"] and merged["furniture"].kind == "object"
    assert torch.equal(out[:, 0], maps[:, 0] | maps[:, 1]) and torch.equal(out[:, 1], maps[:, 2])
    assert Vocabulary(merged).subject("red furniture") == "furniture"
    with pytest.raises(InputError, match=r"\[N, 3, g, g\] for 3 names, got \(5, 2, 4, 4\)"):
        merge_shared_terms(["furniture", "furnitures", "red"], concepts, maps[:, :2])


class Tiny(nn.Module):
    """Two conv layers at different resolutions, so the pass upsamples from 8x8 and 4x4."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 5, 3, stride=2, padding=1)
        self.b = nn.Conv2d(5, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))).mean()


def _brute(net, x, layers, maps, thresholds):
    """Full activation maps stored per layer, then every (unit, concept) pair counted on its own."""
    acts = {}
    with capture(net, layers, lambda name, out: acts.__setitem__(name, out.detach().clone())), torch.no_grad():
        net(x)
    out = {}
    g = maps.shape[-1]
    for name in layers:
        a = acts[name]
        mask = F.interpolate(a, size=(g, g), mode="bilinear", align_corners=False) > thresholds[name].view(1, -1, 1, 1)
        u, c = a.shape[1], maps.shape[1]
        inter = np.zeros((2, u, c), dtype=np.int64)
        union = np.zeros((2, u, c), dtype=np.int64)
        for fold in (0, 1):
            rows = torch.arange(len(x)) % 2 == fold
            for i in range(u):
                for j in range(c):
                    inter[fold, i, j] = int((mask[rows, i] & maps[rows, j]).sum())
                    union[fold, i, j] = int((mask[rows, i] | maps[rows, j]).sum())
        out[name] = {"maxima": a.amax(dim=(2, 3)), "inter": inter, "union": union}
    return out


@pytest.fixture(scope="module")
def tiny_pass():
    torch.manual_seed(0)
    net = Tiny().eval()
    x = torch.randn(11, 3, 16, 16)
    maps = torch.rand(11, 3, 12, 12) > 0.6
    result = probe(net, x, ["a", "b"], k=3, quantile=0.8, progress=False)    # masks of ~20% of the cells
    thresholds = {name: result[name].thresholds for name in ("a", "b")}
    streamed = overlap(net, x, ["a", "b"], maps, result, batch_size=4)       # 4 + 4 + 3 images
    return net, x, maps, thresholds, streamed, _brute(net, x, ["a", "b"], maps, thresholds)


def test_streamed_counts_equal_a_direct_computation(tiny_pass):
    net, x, maps, thresholds, streamed, brute = tiny_pass
    assert_no_hooks(net)
    for name in ("a", "b"):
        s, b = streamed[name], brute[name]
        assert torch.equal(s.thresholds, thresholds[name])
        torch.testing.assert_close(s.maxima, b["maxima"], rtol=1e-5, atol=1e-6)
        assert np.array_equal(s.intersection.numpy(), b["inter"])
        assert np.array_equal(torch.stack([s.union(0), s.union(1)]).numpy(), b["union"])
        total = b["inter"].sum(0) / np.maximum(b["union"].sum(0), 1)
        np.testing.assert_allclose(s.iou().numpy(), total)                 # sum of intersections / sum of unions
        np.testing.assert_allclose(s.iou(fold=1).numpy(), b["inter"][1] / np.maximum(b["union"][1], 1))
        assert int(s.mask_area.sum()) > 0 and bool((s.intersection > 0).any())


def test_scores_match_sklearn_and_the_argmax(tiny_pass):
    net, x, maps, thresholds, streamed, brute = tiny_pass
    names = ["dogs", "red", "sky"]
    concepts = {n: REAL_CONCEPTS[n] for n in names}
    present = maps.flatten(2).any(2)
    labels = ["red dogs", "sky above dogs", "stripes", "the color red"]
    scores = score_units(labels, streamed["b"], names, present, Vocabulary(concepts), seed=3)
    b = brute["b"]
    iou = b["inter"].sum(0) / np.maximum(b["union"].sum(0), 1)
    for s in scores:
        u = s.unit
        assert s.nd_concept == names[int(np.argmax(iou[u]))] and s.nd_iou == pytest.approx(iou[u].max())
        j = names.index(s.nd_concept)
        assert s.nd_auprc == pytest.approx(average_precision_score(present[:, j].numpy(), b["maxima"][:, u].numpy()))
        if s.subject is not None:
            j = names.index(s.subject)
            assert s.iou == pytest.approx(iou[u, j])
            assert s.auprc == pytest.approx(average_precision_score(present[:, j].numpy(), b["maxima"][:, u].numpy()))
    assert [s.subject for s in scores] == ["dogs", "sky", None, "red"]
    # chance: each checkable unit gets another unit's subject; the multiset of subjects is kept
    checkable = [s for s in scores if s.subject]
    assert sorted(s.chance_concept for s in checkable) == sorted(s.subject for s in checkable)
    assert scores[2].chance_concept is None and scores[2].chance_iou is None
    again = score_units(labels, streamed["b"], names, present, Vocabulary(concepts), seed=3)
    assert [s.chance_concept for s in again] == [s.chance_concept for s in scores]
    summary = summarize(scores)
    assert summary["checkable"] == 0.75 and summary["label"]["iou"]["n"] == 3
    assert summary["nd"]["iou"]["median"] == pytest.approx(np.median([s.nd_iou for s in checkable]))
    assert summary["nd_all"]["detectors"] == pytest.approx(np.mean([s.nd_iou > 0.04 for s in scores]))
    json.dumps([s.as_dict() for s in scores]) and json.dumps(summary)


def test_auprc_is_sklearns():
    rng = np.random.default_rng(0)
    scores, present = rng.random(50), rng.random(50) < 0.3
    assert auprc(scores, present) == pytest.approx(average_precision_score(present, scores))
    assert np.isnan(auprc(scores, np.zeros(50, bool)))
    with pytest.raises(InputError, match="same length, got 50 and 49"):
        auprc(scores, present[:49])


def test_bad_input_is_a_clear_error(tiny_pass):
    net, x, maps, thresholds, streamed, _ = tiny_pass
    with pytest.raises(InputError, match="concept_maps has 10 rows but there are 11 images"):
        overlap(net, x, ["a"], maps[:10], thresholds)
    with pytest.raises(InputError, match="layer 'b' has 4 units but 3 thresholds"):
        overlap(net, x, ["b"], maps, {"b": torch.zeros(3)})
    assert_no_hooks(net)                                                   # removed after an error in a hook
    with pytest.raises(InputError, match="no threshold for layer 'b'"):
        overlap(net, x, ["b"], maps, {"a": thresholds["a"]})
    with pytest.raises(InputError, match="batch_size must be a positive integer, got 0"):
        overlap(net, x, ["a"], maps, thresholds, batch_size=0)
    with pytest.raises(InputError, match="fold must be 0"):
        streamed["a"].iou(fold=2)
    with pytest.raises(InputError, match="4 units but 2 labels"):
        score_units(["a", "b"], streamed["b"], ["dogs", "red", "sky"], maps.flatten(2).any(2), Vocabulary({}))
    with pytest.raises(InputError, match="uint8"):
        PhotoSource(torch.zeros(2, 3, 4, 4), (0.5,) * 3, (0.5,) * 3)
    with pytest.raises(InputError, match="no unit scores"):
        summarize([])


@pytest.mark.shared_data
def test_real_photos_and_network(shared_data, tmp_path):
    """36 real COCO photos, MobileNetV2 features.14: the pass equals a direct computation, real
    concept maps line up with units better than the same maps given to the wrong photos, and the
    real concept names parse."""
    from neuronlabel import models
    from neuronlabel.datasets.compound import base_concepts

    ann = json.loads((shared_data / "coco-mini" / "annotations" / "instances_val2017.json").read_text())
    with_masks = sorted({a["image_id"] for a in ann["annotations"] if not a.get("iscrowd")})[:36]
    ann["images"] = [im for im in ann["images"] if im["id"] in with_masks]
    ann["annotations"] = [a for a in ann["annotations"] if a["image_id"] in with_masks]
    coco = tmp_path / "coco-mini"
    (coco / "annotations").mkdir(parents=True)
    (coco / "val2017").mkdir()
    (coco / "annotations" / "instances_val2017.json").write_text(json.dumps(ann))
    for im in ann["images"]:
        (coco / "val2017" / im["file_name"]).symlink_to(shared_data / "coco-mini" / "val2017" / im["file_name"])
    base = base_concepts(tmp_path, k=3, flip=False)
    assert len(base) == 36 and base.maps.dtype == torch.bool and base.maps.shape[1:] == (len(base.names), 28, 28)
    assert {"person", "red", "sky"} <= set(base.names) and all(s.startswith("coco/val2017/") for s in base.sources)

    names, concepts, maps = merge_shared_terms(base.names, base.concepts, base.maps)
    vocab = Vocabulary(concepts)
    assert all(vocab.subject(f"the upper parts of {concepts[n].lemmas[-1]}") == n for n in names)
    assert vocab.subject("red parts of people as well as dining tables") == "person"

    net, preprocess = models.load("mobilenet_v2")
    norm = preprocess.transforms[-1]
    source = PhotoSource(base.images, norm.mean, norm.std)
    layer = "features.14"
    result = probe(net, source, [layer], k=5, progress=False)
    streamed = overlap(net, source, [layer], maps, result)[layer]
    assert_no_hooks(net)
    x = torch.stack([source[i] for i in range(len(source))])
    brute = _brute(net, x, [layer], maps[:, :6], {layer: result[layer].thresholds})[layer]
    assert np.array_equal(streamed.intersection[:, :, :6].numpy(), brute["inter"])
    torch.testing.assert_close(streamed.maxima, brute["maxima"], rtol=1e-4, atol=1e-4)

    shuffled = overlap(net, source, [layer], maps[torch.arange(36).roll(1)], result)[layer]
    assert float(streamed.iou().amax(0).mean()) > 1.2 * float(shuffled.iou().amax(0).mean())

    # a unit labelled with its best concept's own words scores exactly as the ND baseline
    best = [names[j] for j in streamed.iou().argmax(1).tolist()]
    scores = score_units([concepts[n].lemmas[0] for n in best], streamed, names, maps.flatten(2).any(2), vocab)
    assert all(s.subject == s.nd_concept and s.iou == s.nd_iou and s.auprc == s.nd_auprc for s in scores)
    assert summarize(scores)["agreement"] == 1.0
