"""The evidence stage: every scorer against hand-computed cases, and the stage end to end."""

import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from neuronlabel import probe
from neuronlabel.concepts import Inventory
from neuronlabel.concepts.vocabulary import TEXTURES
from neuronlabel.datasets import patterns
from neuronlabel.errors import InputError, MissingDependencyError
from neuronlabel.evidence import UNCERTAIN, EvidenceItem, UnitEvidence, compute_evidence
from neuronlabel.evidence import faces, stage
from neuronlabel.evidence.colour import COLOURS, colour_cover, colour_shares
from neuronlabel.evidence.features import ImageFeatures, cell_logits, cells, image_features, pool, small_masks
from neuronlabel.evidence.imagenet import ImageNetTree, exemplar_probs
from neuronlabel.evidence.phrases import candidate_phrases, object_name
from neuronlabel.evidence.rerank import agreement, credit, rerank
from neuronlabel.evidence.texture import WEIGHTS, TextureHead, pooled
from neuronlabel.sources import TensorSource

torch.set_num_threads(1)


def test_pool_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 5, 4, 4, generator=g)
    rows = torch.tensor([2, 0, 1, 2])
    weights = (torch.rand(4, 8, 8, generator=g) > 0.5).float()
    weights[3] = 0                                               # an empty mask averages uniformly
    got = pool(maps, rows, weights)
    small = torch.nn.functional.adaptive_avg_pool2d(weights.unsqueeze(1), 4).squeeze(1)
    for e, r in enumerate(rows.tolist()):
        w = small[e] / small[e].sum() if small[e].sum() > 0 else torch.full((4, 4), 1 / 16)
        assert torch.allclose(got[e], (maps[r] * w).sum(dim=(1, 2)), atol=1e-5)
    assert torch.allclose(pool(cells(maps), rows, weights, (4, 4)), got)


def test_region_logits_are_the_cam_of_the_classifier():
    lin = nn.Linear(6, 4)
    bn2 = torch.rand(2, 6, 3, 3)
    logits = cell_logits(bn2, lin)
    feats = ImageFeatures(torch.tensor([10, 11]), logits, [], torch.zeros(2, 3, 4, 4))
    whole = torch.ones(2, 6, 6)
    region = pool(*feats.layout("logits")[:1], torch.tensor([0, 1]), whole, feats.layout("logits")[1])
    assert torch.allclose(region, lin(bn2.mean(dim=(2, 3))), atol=1e-5)
    assert torch.allclose(feats.whole_logits, region, atol=1e-5)
    corner = torch.zeros(1, 6, 6); corner[0, :2, :2] = 1
    assert torch.allclose(pool(logits, torch.tensor([1]), corner)[0], lin(bn2[1, :, 0, 0]), atol=1e-5)
    assert feats.rows(torch.tensor([[11, 12, -1]])).tolist() == [[1, -1, -1]]


def test_exemplar_probs_modes():
    logits = torch.zeros(1, 1000, 2, 2)
    logits[0, 7, 0, 0] = 40.0
    logits[0, 9, :, :] = 30.0                                    # class 9 everywhere, class 7 in one corner
    feats = ImageFeatures(torch.tensor([0]), logits, [], torch.zeros(1, 3, 2, 2))
    corner = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    whole = exemplar_probs(feats, torch.tensor([0]), corner, "whole")
    region = exemplar_probs(feats, torch.tensor([0]), corner, "region")
    mix = exemplar_probs(feats, torch.tensor([0]), corner, "mix")
    assert int(whole.argmax()) == 9 and int(region.argmax()) == 7
    assert torch.allclose(mix, (whole + region) / 2)
    with pytest.raises(InputError, match="mode"):
        exemplar_probs(feats, torch.tensor([0]), corner, "crop")


def test_tree_mass_and_most_specific():
    tree = ImageNetTree.load()
    inv = tree.inventory
    p = torch.zeros(3, 1000)
    p[0, 207] = 0.9; p[0, 208] = 0.1                              # golden retriever unit
    p[1, [205, 207, 208]] = torch.tensor([0.2, 0.4, 0.4])         # retrievers, no breed at 45 %
    p[2, 207] = 0.5; p[2, 281] = 0.5                              # half golden retriever, half tabby cat
    mass = tree.mass(p)
    assert torch.allclose(mass[:, tree.row["n00001740"]], torch.ones(3))
    names = [inv.name(tree.nodes[int(r)]) for r in tree.most_specific(mass)]
    assert names[0] == "golden retriever" and names[1] == "retriever"
    assert names[2] == "golden retriever"          # 50 % >= 45 %: the class itself
    assert inv.name(tree.nodes[int(tree.most_specific(mass, 0.6)[2])]) == "domestic animal"   # 123 classes < 158
    prior = torch.full((1, len(tree.nodes)), 0.1)
    lifted = tree.lifted(mass, prior)
    assert math.isclose(float(lifted[0, tree.row[inv.imagenet_wnid(207)]]), (0.9 - 0.1) / 0.9, rel_tol=1e-5)
    assert float(lifted[0, tree.row["n00001740"]]) == 0.0        # "things": too broad to count


def test_texture_head_on_unseen_patterns():
    head = TextureHead.load()
    assert head.classes == list(TEXTURES) + ["none"]
    assert WEIGHTS.stat().st_size < 200_000
    rng = np.random.default_rng(12345)                        # the training script draws with seed 0
    kinds = list(patterns.KINDS)
    images = torch.from_numpy(np.stack([patterns.draw(k, 224, rng) for k in kinds])).permute(0, 3, 1, 2) / 255
    import skimage.data

    astronaut = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float()[None] / 255
    images = torch.cat([images, torch.nn.functional.interpolate(astronaut, size=(224, 224))])
    feats = image_features(images, torch.arange(len(images)))
    probs = head.probs(pooled(feats, torch.arange(len(images)), torch.ones(len(images), 28, 28)))
    predicted = [head.classes[i] for i in probs.argmax(1).tolist()]
    assert sum(p == k for p, k in zip(predicted, kinds)) >= 5, predicted
    assert predicted[-1] == "none"


def test_colour_shares_hand_case():
    pixels = torch.zeros(1, 3, 8, 8)
    pixels[0, 0, :4] = 0.9                                        # top half red
    pixels[0, 2, 4:] = 0.9                                        # bottom half blue
    cover = colour_cover(pixels, grid=4)
    top = torch.zeros(1, 4, 4); top[0, :2] = 1
    shares = colour_shares(cover, torch.tensor([0]), top)[0]
    assert math.isclose(float(shares[COLOURS.index("red")]), 1.0, abs_tol=1e-5)
    assert float(shares[COLOURS.index("blue")]) == 0.0
    whole = colour_shares(cover, torch.tensor([0]), torch.ones(1, 4, 4))[0]
    assert math.isclose(float(whole[COLOURS.index("blue")]), 0.5, abs_tol=1e-5)


def test_face_cover_and_detection():
    cover = faces.boxes_to_cover([[(0.0, 0.0, 16.0, 32.0)], []], size=(32, 32), grid=4)
    assert cover[0, :, :2].eq(1).all() and cover[0, :, 2:].eq(0).all() and cover[1].eq(0).all()
    if not faces.available():
        pytest.skip("facenet-pytorch is not installed")
    import skimage.data

    img = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float()[None] / 255
    img = torch.nn.functional.interpolate(img, size=(224, 224))
    blank = torch.full_like(img, 0.5)
    found = faces.detect(torch.cat([img, blank]))
    assert len(found[0]) >= 1 and found[1] == []
    x0, y0, x1, y1 = found[0][0]
    assert 60 < (x0 + x1) / 2 < 140 and 20 < (y0 + y1) / 2 < 110    # her face, upper middle
    assert faces.detect(img) == found[:1]                            # cached per image content
    tiny = faces.detect(torch.rand(2, 3, 12, 12))                    # too small for MTCNN's pyramid: enlarged
    nan = faces.detect(torch.full((1, 3, 64, 64), float("nan")))
    assert len(tiny) == 2 and nan == [[]]


def test_face_scorer_refuses_without_facenet(monkeypatch):
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    monkeypatch.setattr(faces, "_DETECTOR", {})
    assert not faces.available()
    with pytest.raises(MissingDependencyError, match="pip install --no-deps facenet-pytorch"):
        stage._check_scorers(["face"])
    assert "face" not in stage._check_scorers(None)


def test_lift_prior_and_hubness():
    x = torch.tensor([0.6, 0.1])
    assert torch.allclose(stage._lift(x, torch.tensor(0.2)), torch.tensor([0.5, 0.0]))
    means = torch.tensor([[0.8], [0.4], [0.3]])
    assert torch.allclose(stage._prior(torch.tensor([0.1]), means, True), torch.tensor([0.5]))
    assert torch.allclose(stage._prior(torch.tensor([0.1]), means, False), torch.tensor([0.1]))
    ids = torch.tensor([[0, 1, 2], [0, 1, 2], [0, 1, 2], [3, 4, 5]])
    hub = stage.hubness(ids, 12)                                   # chance: 3 * 3 / 12 = 0.75 others per image
    assert torch.allclose(hub, torch.tensor([2 / 0.75, 2 / 0.75, 2 / 0.75, 0.0]))


class _ColourNet(nn.Module):
    """Unit 0 fires on red pixels, unit 1 on blue ones, unit 2 never."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0], self.conv.weight[0, 1], self.conv.weight[0, 2] = 2.0, -1.0, -1.0
            self.conv.weight[1, 2], self.conv.weight[1, 0], self.conv.weight[1, 1] = 2.0, -1.0, -1.0

    def forward(self, x):
        return torch.relu(self.conv(x))


def _colour_photos(n: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = 0.35 + 0.1 * torch.rand(n, 3, 64, 64, generator=g)       # gray backgrounds
    for i in range(n):
        top, left = int(torch.randint(0, 32, (1,), generator=g)), int(torch.randint(0, 32, (1,), generator=g))
        colour = [0.9, 0.05, 0.05] if i % 2 == 0 else [0.05, 0.1, 0.9]
        x[i, :, top:top + 24, left:left + 24] = torch.tensor(colour).view(3, 1, 1) \
            + 0.05 * torch.rand(3, 24, 24, generator=g)          # not flat: a flat region never tops its quantile
    return x.clamp(0, 1)


def test_stage_end_to_end_on_colour_units():
    net = _ColourNet().eval()
    result = probe(net, TensorSource(_colour_photos()), ["conv"], k=10, progress=False)
    ev = compute_evidence(result, scorers=["object", "texture", "colour"])
    assert set(ev) == {("conv", 0), ("conv", 1), ("conv", 2)}
    red, blue, dead = ev["conv", 0], ev["conv", 1], ev["conv", 2]
    assert red.top("colour").name == "red" and blue.top("colour").name == "blue"
    assert red.top("colour").share > 0.8 and red.top("colour").agree == pytest.approx(1.0)
    assert not red.uncertain and red.confidence >= UNCERTAIN
    assert dead.uncertain and dead.confidence == 0.0
    assert [p for p, _ in candidate_phrases(red)][:1] == ["red"]
    only = compute_evidence(result, {"conv": [1]}, scorers=["colour"])
    assert list(only) == [("conv", 1)] and only["conv", 1].top().name == "blue"


def test_stage_input_errors():
    net = _ColourNet().eval()
    result = probe(net, TensorSource(_colour_photos(12)), ["conv"], k=4, progress=False)
    with pytest.raises(InputError, match="scorer"):
        compute_evidence(result, scorers=["smell"])
    with pytest.raises(InputError, match="units 0..2"):
        compute_evidence(result, {"conv": [5]})
    with pytest.raises(InputError, match="not in the probe result"):
        compute_evidence(result, {"layer9": [0]})
    result.source = None
    with pytest.raises(InputError, match="image source"):
        compute_evidence(result)


def _ev(*items, best=None, confidence=None):
    items = [EvidenceItem(*i) for i in items]
    return UnitEvidence("fc", 0, items, max((i.score for i in items), default=0.0) if confidence is None
                        else confidence, best_object=best)


def test_phrases():
    inv = Inventory.load()
    crab = inv.imagenet_wnid(118)
    ev = _ev((crab, "object", "Dungeness crabs", 0.7), ("texture:striped", "texture", "stripes", 0.3),
             ("colour:red", "colour", "red", 0.25), best=crab)
    phrases = [p for p, _ in candidate_phrases(ev)]
    assert phrases[0] == "Dungeness crabs"
    assert {"striped Dungeness crabs", "red Dungeness crabs", "stripes", "red", "red stripes"} <= set(phrases)
    decapods = _ev(("n01976146", "object", "crabs and lobsters", 0.6), best="n01976146")
    assert object_name(decapods)[1] == "crabs and lobsters"
    rare = inv.imagenet_wnid(0)
    fish = _ev((rare, "object", "tenches", 0.6), best="n02512053")   # "fish": everyday, nameable
    assert object_name(fish)[1] == "fish"
    faces_ev = _ev(("body:face", "body", "faces", 0.6), ("body:person", "body", "people", 0.3))
    assert [p for p, _ in candidate_phrases(faces_ev)][:2] == ["faces", "faces of people"]
    assert candidate_phrases(_ev()) == []
    for p in phrases:
        words = p.split()
        assert len(words) == len(set(words)) and words[-1] not in ("and", "of", "or")


def test_agreement_and_rerank():
    inv = Inventory.load()
    golden = inv.imagenet_wnid(207)
    ev = _ev((golden, "object", "golden retrievers", 0.6), ("colour:brown", "colour", "brown", 0.3), best=golden)
    assert agreement("golden retrievers", ev) == 0.6
    assert agreement("dogs", ev) == pytest.approx(0.8 * 0.6)                  # more general
    assert credit("n02084071", ev) == pytest.approx(0.48)
    assert agreement("brown dogs", ev) == pytest.approx(0.5 * 0.48 + 0.5 * (0.48 + 0.3) / 2 + 0.1 * 0.3)
    assert agreement("reptiles", ev) == 0.0 and agreement("the", ev) == 0.0
    assert agreement("dogs and reptiles", ev) == pytest.approx(0.5 * 0.48 + 0.5 * 0.24)
    ranked = rerank([("reptiles", -0.1), ("dogs", -2.0)], ev, [("golden retrievers", 0.6)])
    assert [r[0] for r in ranked] == ["golden retrievers", "dogs", "reptiles"]
    assert math.isnan(ranked[0][1]) and ranked[1][1] == -2.0
    unsure = _ev((golden, "object", "golden retrievers", 0.1), best=golden)
    assert unsure.uncertain
    assert [r[0] for r in rerank([("reptiles", -0.1), ("dogs", -2.0)], unsure)] == ["reptiles", "dogs"]


def test_unit_evidence_round_trip():
    ev = _ev(("colour:red", "colour", "red", 0.5, 0.7, 0.9), best="n02084071")
    back = UnitEvidence.from_dict(ev.to_dict(), "fc", 0)
    assert back.items == ev.items and back.confidence == 0.5 and back.best_object == "n02084071"
    assert not back.uncertain
    with pytest.raises(InputError, match="evidence item"):
        EvidenceItem.from_list(["colour:red", "colour"])


def test_exemplars_weighted_by_activation_above_the_threshold():
    scores = torch.tensor([[9.0, 5.0, 3.0, 2.0], [4.0, 4.0, 1.0, float("-inf")]])
    w = stage.excess(scores, torch.tensor([3.0, 5.0]), power=1)
    assert torch.allclose(w[0], torch.tensor([6.0, 2.0, 0.0, 0.0]) / 8)
    assert torch.allclose(w[1], torch.tensor([1.0, 1.0, 1.0, 0.0]) / 3)      # none above: equal, missing: 0
    cubed = stage.excess(scores, torch.tensor([3.0, 5.0]))                    # default: EMPHASIS = 3
    assert torch.allclose(cubed[0], torch.tensor([216.0, 8.0, 0.0, 0.0]) / 224)
    assert torch.allclose(cubed[1], w[1])
    x = torch.randn(2, 4, 7)
    brute = torch.stack([sum(w[u, j] * x[u, j] for j in range(4)) for u in range(2)])
    assert torch.allclose(stage._mean(x, w), brute, atol=1e-6)
    valid = torch.tensor([[True, True, False, True], [True, False, False, False]])
    brute = torch.stack([x[u][valid[u]].mean(0) for u in range(2)])
    assert torch.allclose(stage._mean(x, valid), brute, atol=1e-6)


def test_leading_class_and_other_kind():
    inv = Inventory.load()
    tench, fish = inv.imagenet_wnid(0), "n02512053"
    ev = UnitEvidence("fc", 0, [EvidenceItem(fish, "object", "fish", 0.6, 0.7),
                                EvidenceItem(tench, "object", "tench", 0.3, 0.4)], 0.6, best_object=fish)
    phrases = [p for p, _ in candidate_phrases(ev)]
    assert "tench and other fish" in phrases
    assert agreement("tench and other fish", ev) == pytest.approx(0.6 + 0.25 * 0.3)
    assert [r[0] for r in rerank([], ev, candidate_phrases(ev))][0] == "tench and other fish"
    weak = UnitEvidence("fc", 0, [EvidenceItem(fish, "object", "fish", 0.6, 0.7),
                                  EvidenceItem(tench, "object", "tench", 0.1, 0.1)], 0.6, best_object=fish)
    assert not any("other" in p for p, _ in candidate_phrases(weak))          # too little mass on the class
    assert agreement("reptiles and other fish", ev) == pytest.approx(0.5 * 0.6)


def test_degenerate_beams_are_repaired_and_fallback_names_are_everyday():
    from neuronlabel.captioner.hygiene import problem
    from neuronlabel.evidence.labels import degenerate, label_candidates

    beam = [("both and fish", -1.0), ("fish or fish", -1.5), ("both the red areas of cups and the red areas of cups", -2.0)]
    unsure = _ev(("colour:red", "colour", "red", 0.05))
    assert unsure.uncertain
    out = [t for t, _ in label_candidates(beam, unsure)]
    assert out[:2] == ["fish", "red parts of cups"]
    assert not degenerate(out[0]) and problem(out[0]) is None
    from neuronlabel.captioner.everyday import plain
    assert out[2:] == [plain(t) for t, _ in beam]                              # the originals stay behind
    inv = Inventory.load()
    carnivore = "n02075296"
    assert not inv.concept(carnivore).everyday                                # nobody writes "carnivores"
    ev = _ev((carnivore, "object", "carnivores", 0.5))
    name = object_name(ev)                                  # a broader word people use ("mammals"), or none
    assert name is None or (inv.concept(name[0]).everyday and name[1] != "carnivores")


def test_single_class_nodes_stand_for_their_class():
    tree = ImageNetTree.load()
    inv = tree.inventory
    shark = inv.imagenet_wnid(2)                                           # great white shark
    parents = [w for w in inv.ancestors(shark) if len(inv.classes_under(w)) == 1]
    assert parents, "the bundled inventory has a single-class node above the great white shark"
    for w in parents:
        assert not bool(tree.leaf[tree.row[w]])
        assert tree.nodes[int(tree.collapse[tree.row[w]])] == shark
    assert int(tree.leaf.sum()) == 1000
    p = torch.zeros(1, 1000); p[0, 2] = 1.0
    assert tree.nodes[int(tree.collapse[tree.most_specific(tree.mass(p))[0]])] == shark


def test_rerank_prefers_the_agreed_class_and_checkable_claims():
    inv = Inventory.load()
    finch, birds = inv.imagenet_wnid(12), "n01503061"
    items = [EvidenceItem(birds, "object", "birds", 0.8, 0.8, rank=0.8 * 0.5),
             EvidenceItem(finch, "object", "house finches", 0.6, 0.6)]
    ev = UnitEvidence("fc", 0, items, 0.8, best_object=finch)
    assert agreement("house finches", ev) == pytest.approx(0.8)            # as supported as its ancestor
    assert agreement("house finches", ev) > agreement("birds", ev)
    assert agreement("the edges of birds", ev) == pytest.approx(0.9 * agreement("birds", ev))
    flat = UnitEvidence("fc", 0, items, 0.8, best_object=finch, spatial=False)
    assert agreement("the edges of birds", flat) == 0.0                    # a logit has no edges
    assert UnitEvidence.from_dict(flat.to_dict()).spatial is False
    assert UnitEvidence.from_dict(ev.to_dict()).spatial is True


def test_agreed_class_is_named_with_its_kind():
    inv = Inventory.load()
    deerhound, hounds = inv.imagenet_wnid(177), "n02087551"
    ev = UnitEvidence("fc", 0, [EvidenceItem(hounds, "object", "hounds", 0.8, 0.8, rank=0.5),
                                EvidenceItem(deerhound, "object", "Scottish deerhounds", 0.5, 0.5)], 0.8,
                      best_object=deerhound)
    phrases = [p for p, _ in candidate_phrases(ev)]
    assert "Scottish deerhounds and other hounds" in phrases
    assert [r[0] for r in rerank([], ev, candidate_phrases(ev))][0] == "Scottish deerhounds and other hounds"
    close = UnitEvidence("fc", 0, [EvidenceItem(hounds, "object", "hounds", 0.55, 0.55, rank=0.4),
                                   EvidenceItem(deerhound, "object", "Scottish deerhounds", 0.5, 0.5)], 0.55,
                         best_object=deerhound)
    assert not any("other" in p for p, _ in candidate_phrases(close))        # the class is nearly all of it


def test_uncertain_units_get_a_short_label():
    from neuronlabel.evidence.labels import label_candidates
    inv = Inventory.load()
    beam = [("both the upper parts of blue parts of crafts and monkeys that are red", -1.0), ("red monkeys", -3.0)]
    bibs = "n02834778"
    weak = UnitEvidence("l", 0, [EvidenceItem(bibs, "object", inv.name(bibs, plural=True), 0.17)], 0.17,
                        best_object=bibs)
    assert weak.uncertain
    assert label_candidates(beam, weak)[0][0] == inv.name(bibs, plural=True)
    empty = UnitEvidence("l", 0, [], 0.0)
    assert label_candidates(beam, empty)[0][0] == "red monkeys"


def test_a_supported_composition_says_more_than_its_parts():
    inv = Inventory.load()
    scorpion = inv.imagenet_wnid(71)
    ev = UnitEvidence("fc", 0, [EvidenceItem("colour:black", "colour", "black", 0.74),
                                EvidenceItem(scorpion, "object", "scorpions", 0.70)], 0.74, best_object=scorpion)
    assert agreement("black scorpions", ev) == pytest.approx(0.5 * 0.74 + 0.5 * 0.72 + 0.1 * 0.70)
    assert agreement("black scorpions", ev) > agreement("black", ev) > agreement("scorpions", ev)
    weak = UnitEvidence("fc", 0, [EvidenceItem("colour:black", "colour", "black", 0.74),
                                  EvidenceItem(scorpion, "object", "scorpions", 0.1)], 0.74, best_object=scorpion)
    assert agreement("black scorpions", weak) < agreement("black", weak)     # one part unsupported: no gain


def test_beam_candidates_get_the_capitals_of_proper_names_back_and_merge_with_evidence_phrases():
    from neuronlabel.concepts import Inventory
    from neuronlabel.evidence.labels import label_candidates

    inv = Inventory.load()
    shepherd = inv.imagenet_wnid(235)                                  # German shepherd
    name = inv.name(shepherd, plural=True)
    assert name != name.lower()
    ev = UnitEvidence("fc", 0, [EvidenceItem(shepherd, "object", name, 0.8)], 0.8, best_object=shepherd)
    out = label_candidates([(name.lower(), -1.0), ("red cardigans", -2.0)], ev)
    texts = [t for t, _ in out]
    assert texts[0] == name and name.lower() not in texts and texts.count(name) == 1
    assert "red cardigans" in texts                                   # a sweater, not the Cardigan corgi


def test_beam_candidates_are_put_in_plain_words():
    from neuronlabel.captioner.everyday import plain
    from neuronlabel.evidence.labels import label_candidates
    beam = [("both the upper portion of wading birds and the boundaries of dogs", -1.0),
            ("the tops of wading birds and the edges of dogs", -1.5), ("hunting dogs that are brown", -2.0)]
    out = label_candidates(beam, None)
    assert out == [("the tops of wading birds and the edges of dogs", -1.0), ("brown hunting dogs", -2.0)]
    templates = ("both", "as well as", "upper portion", "boundaries", "borders around", "that are", "colored",
                 "located", "higher up", "lower down", "patches of", "the color")
    from neuronlabel.datasets.compound_units import TEMPLATES, SINGLE
    for forms in list(TEMPLATES.values()) + list(SINGLE.values()):
        for form in forms:
            text = plain(form.format(a="dogs", b="trees", c="red", n="sky"))
            assert not any(t in text for t in templates), (form, text)
            assert "dogs" in text or "red" in text or "sky" in text


def test_joint_support_is_the_weighted_product_of_the_exemplars_class_probabilities():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(3, 5, 7, generator=g).softmax(-1)
    w = torch.rand(3, 5, generator=g)
    got = stage.joint(p, w, views=3.0)
    for u in range(3):
        brute = torch.ones(7)
        for j in range(5):
            brute = brute * p[u, j] ** (3.0 * w[u, j] / w[u].sum())
        assert torch.allclose(got[u], brute / brute.sum(), atol=1e-5)


def _raw_for(tree, mean_probs, joint_probs=None):
    mean_probs = torch.stack(mean_probs)
    raw = {"dead": torch.zeros(len(mean_probs)), "mass": tree.mass(mean_probs), "mass_agree": tree.mass(mean_probs)}
    return raw if joint_probs is None else raw | {"joint": tree.mass(torch.stack(joint_probs))}


def test_whole_image_units_are_named_by_what_their_exemplars_support_jointly():
    tree = ImageNetTree.load()
    priors = type("P", (), {"object": tree.mass(torch.full((1, 1000), 1e-3))})()
    # the mean is spread over three classes (one sure photo each); jointly the exemplars say class 207
    mean = torch.zeros(1000); mean[[3, 100, 207]] = torch.tensor([0.34, 0.33, 0.33])
    both = torch.zeros(1000); both[207] = 0.9; both[3] = 0.1
    alone = stage._items(_raw_for(tree, [mean]), priors, tree, None, layer_prior=False, hub=torch.zeros(1))[0]
    jointly = stage._items(_raw_for(tree, [mean], [both]), priors, tree, None, layer_prior=False,
                           hub=torch.zeros(1))[0]
    golden = tree.inventory.imagenet_wnid(207)
    assert alone.best_object != golden and jointly.best_object == golden
    named = next(i for i in jointly.items if i.concept == golden)
    assert named.score == pytest.approx(float(tree.lifted(tree.mass(both[None]), priors.object)[0, tree.row[golden]]))
    assert jointly.items[0].concept == golden
    assert jointly.confidence == pytest.approx(alone.confidence)     # the joint names, it does not convince


def test_mtcnn_with_channels_last_pools_finds_the_same_faces():
    if not faces.available():
        pytest.skip("facenet-pytorch is not installed")
    import skimage.data
    from facenet_pytorch import MTCNN

    pool = faces._ChannelsLastMaxPool(3, 2, ceil_mode=True)
    x = torch.randn(4, 10, 23, 23)
    for layout in (torch.contiguous_format, torch.channels_last):
        y = pool(x.contiguous(memory_format=layout))
        assert torch.equal(y, torch.nn.functional.max_pool2d(x, 3, 2, ceil_mode=True))
        assert y.is_contiguous(memory_format=layout)
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    rgb = torch.stack([torch.nn.functional.interpolate(torch.from_numpy(p).permute(2, 0, 1)[None].float(),
                                                       size=(224, 224), mode="area")[0].round().permute(1, 2, 0)
                       for p in photos])
    fast = faces.detector(None, 32)
    assert any(type(m) is faces._ChannelsLastMaxPool for m in fast.modules())
    got, want = fast.detect(rgb), MTCNN(keep_all=True, min_face_size=32).detect(rgb)
    assert got[0][0] is not None and len(got[0][0]) >= 1                # the astronaut's face
    for a, b in zip(got, want):
        assert [None if v is None else np.asarray(v).tolist() for v in a] == \
            [None if v is None else np.asarray(v).tolist() for v in b]


def test_a_labels_confidence_is_its_own_support_not_the_best_items():
    from neuronlabel.evidence.labels import label_confidence, report_fields

    inv = Inventory.load()
    warplane = inv.imagenet_wnid(895)
    ev = _ev(("n03183080", "object", "devices", 0.65), (warplane, "object", "warplanes", 0.34),
             ("colour:blue", "colour", "blue", 0.16), best=warplane)
    assert ev.confidence == 0.65 and not ev.uncertain
    assert label_confidence("warplanes", ev) == pytest.approx(0.34)      # not the 0.65 of "devices"
    assert label_confidence("aircraft", ev) == pytest.approx(0.34 * 0.8)  # a wider word: credited as the rerank does
    assert label_confidence("blue", ev) == pytest.approx(0.16)
    assert report_fields(ev, label="blue")["flags"] == ["uncertain"]      # the evidence is strong, the label is not
    assert report_fields(ev, label="warplanes") == {"confidence": pytest.approx(0.34), "evidence": ev.items,
                                                    "flags": []}
    assert report_fields(ev)["confidence"] == 0.65                      # without a label: the evidence's
    assert label_confidence("reptiles", ev) == 0.0 and label_confidence("", ev) == 0.0
    assert label_confidence("clocks", ev) == pytest.approx(0.3 * 0.65)    # narrower than "devices": a third of it
    # the agreed node is credited with its own score, not its ancestors' (a ranking device of the rerank)
    dogs = _ev(("n00015388", "object", "animals", 0.9), ("n02084071", "object", "dogs", 0.5), best="n02084071")
    assert agreement("dogs", dogs) == pytest.approx(0.9) and label_confidence("dogs", dogs) == pytest.approx(0.5)
    # a dead or hub unit keeps its scale; an uncertain unit never reads more confident than its evidence
    dead = UnitEvidence("fc", 0, ev.items, 0.0, best_object=warplane, scale=0.0)
    assert label_confidence("warplanes", dead) == 0.0 and report_fields(dead, label="warplanes")["flags"] == ["uncertain"]
    hub = UnitEvidence("fc", 0, ev.items, 0.65 * 0.5, best_object=warplane, scale=0.5)
    assert label_confidence("warplanes", hub) == pytest.approx(0.17)
    weak = UnitEvidence("fc", 0, ev.items, 0.1, best_object=warplane)
    assert weak.uncertain and label_confidence("warplanes", weak) == pytest.approx(0.1)
    assert UnitEvidence.from_dict(hub.to_dict()).scale == 0.5 and "scale" not in ev.to_dict()


def test_colour_and_texture_adjectives_do_not_repeat_their_noun():
    inv = Inventory.load()
    orange = inv.imagenet_wnid(950)
    ev = _ev((orange, "object", "oranges", 0.7), ("colour:orange", "colour", "orange", 0.5), best=orange)
    assert "orange oranges" not in [p for p, _ in candidate_phrases(ev)]
    leopard = inv.imagenet_wnid(288)
    ev = _ev((leopard, "object", "leopards", 0.7), ("texture:leopard", "texture", "leopard print", 0.5),
             ("colour:yellow", "colour", "yellow", 0.3), best=leopard)
    phrases = [p for p, _ in candidate_phrases(ev)]
    assert "leopard-print leopards" not in phrases and "yellow leopards" in phrases


def test_a_label_shown_by_few_exemplars_is_supported_less():
    """Two red photos among 40 gray ones: the red unit's other 8 exemplars are gray noise. The activation
    weights make the unit red (share ~0.95); only 2 of its 10 exemplars are, so its label "red" is
    supported by 0.2 / (1/3) of that score."""
    from neuronlabel.evidence.labels import label_confidence
    from neuronlabel.evidence.rerank import BROAD

    g = torch.Generator().manual_seed(0)
    x = 0.35 + 0.1 * torch.rand(40, 3, 64, 64, generator=g)
    for i in (3, 17):
        x[i, :, 10:34, 20:44] = torch.tensor([0.9, 0.05, 0.05]).view(3, 1, 1) + 0.05 * torch.rand(3, 24, 24, generator=g)
    result = probe(_ColourNet().eval(), TensorSource(x.clamp(0, 1)), ["conv"], k=10, progress=False)
    assert sorted(result["conv"].ids[0, :2].tolist()) == [3, 17]
    red = compute_evidence(result, {"conv": [0]}, scorers=["colour"])["conv", 0].top("colour")
    assert red.name == "red" and red.share > 0.9 and red.agree == pytest.approx(2 / 10)   # each exemplar once
    ev = compute_evidence(result, {"conv": [0]}, scorers=["colour"])["conv", 0]
    assert label_confidence("red", ev) == pytest.approx(red.score * 0.2 / BROAD, abs=1e-4)
    flat = UnitEvidence("fc", 0, ev.items, ev.confidence, spatial=False)       # whole-image units: not scaled
    assert label_confidence("red", flat) == pytest.approx(red.score, abs=1e-4)
