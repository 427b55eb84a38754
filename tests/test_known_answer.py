"""The known-answer benchmark's scorers against hand-computed cases, and the check warning and refusal."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from neuronlabel.ci import check
from neuronlabel.ci.rules import Rule, RuleError
from neuronlabel.evaluation.faithfulness import image_level_iou
from neuronlabel.evaluation.known_answer import scoring as S
from neuronlabel.evaluation.known_answer.sections import Row, summary
from neuronlabel.report import LabelReport, UnitLabel


def test_lemma_and_plural_matching():
    assert S.names_any("crabs on sand", ["crab"])
    assert S.names_any("a Crab", ["crabs"])                       # plural lemma, singular label
    assert S.names_any("bell peppers in a bowl", ["bell pepper"])
    assert S.names_any("dungeness-crabs", ["Dungeness crab"])
    assert not S.names_any("crabby faces", ["crab"])            # whole words only
    assert not S.names_any("the cabs", ["crab"])
    assert S.names_any("wolves", ["wolf"]) and S.names_any("geese", ["goose"])


def test_hypernym_cut_skips_generic_nodes_and_stops_at_three_levels():
    chain = [{"lemmas": ["king crab"]}, {"lemmas": ["crab"]}, {"lemmas": ["decapod crustacean"]},
             {"lemmas": ["crustacean"]}, {"lemmas": ["arthropod"]}]
    assert S.close_hypernyms(chain) == ["king crab", "crab", "decapod crustacean"]
    assert S.close_hypernyms(chain, levels=1) == ["king crab"]
    chain = [{"lemmas": ["dog", "domestic dog"]}, {"lemmas": ["whole", "unit"]}, {"lemmas": ["organism"]},
             {"lemmas": ["canine"]}]
    assert S.close_hypernyms(chain) == ["dog", "domestic dog"]      # generic nodes give no words, still count a level


def test_dominance_needs_two_thirds_and_prefers_the_most_specific_concept():
    ex = [["terrier", "dog"]] * 6 + [["hound", "dog"]] * 4 + [["cat"]] * 5
    assert S.dominant(ex, k=15, order={"terrier": 2, "hound": 2, "dog": 1, "cat": 1}) == "dog"
    assert S.dominant(ex[:9] + [["cat"]] * 6, k=15) is None           # 9 of 15
    assert S.dominant([["a"]] * 10 + [[]] * 5, k=15) == "a"           # exactly 10 of 15
    assert S.dominant([["a"]] * 10, k=15) == "a"                      # missing exemplars count against
    assert S.dominant([["a"]] * 9, k=15) is None


def test_colour_dominance_rule():
    k, names = 3, ["red", "blue"]
    col = np.zeros((k, 2, 4, 4), bool)
    col[:, 0, :2] = True                               # top half red
    col[:, 1, 2:] = True                               # bottom half blue
    top = np.zeros((k, 4, 4), bool); top[:, :2] = True
    both = np.ones((k, 4, 4), bool)
    assert S.dominant_colour(S.colour_share(col, top), names) == "red"
    assert S.colour_share(col, both).tolist() == [0.5, 0.5]
    assert S.dominant_colour(S.colour_share(col, both), names, threshold=0.51) is None
    empty = np.zeros((k, 4, 4), bool)
    assert S.colour_share(col, empty).tolist() == [0.0, 0.0]
    one = empty.copy(); one[0, 0, 0] = True             # exemplars without a mask do not dilute the share
    assert S.colour_share(col, one).tolist() == [1.0, 0.0]


def test_face_share():
    masks = np.zeros((2, 4, 4), bool); masks[:, :, :2] = True
    faces = np.zeros((2, 4, 4), bool); faces[0] = True
    assert S.mask_share_on(faces, masks) == 0.5


def test_degenerate_and_uncommon():
    for bad in ("fish or fish", "both animals and animals", "reptilians as well as reptilians", "orange parts of",
                "the black areas of and and", "both and birds colored brown", "above the trees", ""):
        assert S.degenerate(bad), bad
    for good in ("dog faces", "vertical stripes", "the wheels of cars", "blue sky above trees", "text",
                 "white regions", "red and white stripes"):
        assert S.degenerate(good) is None, good
    known = {"dog", "dogs", "and", "cars", "the", "wheels", "of"}
    assert S.uncommon_words("habiliments and dogs", known) == ["habiliments"]
    assert S.uncommon_words("the wheels of cars", known) == []


def test_chance_is_another_units_answer_and_summary_counts_by_hand():
    rows = [Row("l", 0, "crabs", ("crab",), "crab"), Row("l", 1, "dogs", ("dog",), "dog"),
            Row("l", 2, "dogs", ("dog",), "dog")]
    cycle = S.chance_cycle(3, seed=0)
    assert all(cycle[i] != i for i in range(3)) and sorted(cycle) == [0, 1, 2]
    s = summary(rows, {"l": "dogs"}, {("l", 0): "crab", ("l", 1): "crab", ("l", 2): "dogs"}, seed=0)
    assert s["label"] == 1.0 and s["constant"] == pytest.approx(2 / 3) and s["nd"] == pytest.approx(2 / 3)
    by_hand = np.mean([rows[cycle[i]].hit(rows[i].label) for i in range(3)])
    assert s["chance"] == pytest.approx(by_hand)


def test_image_level_iou_equals_pixel_iou_with_whole_image_masks():
    torch.manual_seed(0)
    n, u, c, g = 7, 3, 2, 4
    masks = torch.rand(n, u, g, g) > 0.6
    members = torch.rand(n, c) > 0.5
    concept = members[:, :, None, None].expand(n, c, g, g)
    inter = torch.einsum("nuhw,nchw->uc", masks.double(), concept.double())
    union = (masks[:, :, None] | concept[:, None]).double().sum(dim=(0, 3, 4))
    brute = inter / union
    got = image_level_iou(masks.flatten(2).sum(2), members, g * g)
    assert torch.allclose(got, brute)


def test_check_refuses_concepts_that_cannot_match_a_word():
    for bad in ("humans;cups", "*", "faces|text"):
        with pytest.raises(RuleError, match="separate several concepts with commas"):
            Rule(bad)
    assert Rule("license plate").concept == "license plate"


def test_check_warns_when_the_labeller_has_no_word_for_a_concept():
    report = LabelReport([UnitLabel("l", 0, "red dogs")], meta={"vocabulary": ["red", "dogs", "dog", "of"]})
    result = check(report, concepts=["face", "dog"])
    assert len(result.warnings) == 1 and "'face' can never match" in result.warnings[0]
    for fmt in ("text", "json", "github", "junit"):
        assert "can never match" in result.format(fmt), fmt
    assert check(LabelReport([UnitLabel("l", 0, "red dogs")]), concepts=["face"]).warnings == []


def test_check_cli_refusal_is_one_line_exit_2(tmp_path):
    path = tmp_path / "r.json"
    LabelReport([UnitLabel("l", 0, "dogs")]).to_json(path)
    out = subprocess.run([sys.executable, "-m", "neuronlabel.cli", "check", str(path), "--concepts", "humans;cups"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "commas" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
