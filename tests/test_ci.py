"""Concept checks: term expansion, whole-word matching, limits, allow-lists, the pytest helper."""

from __future__ import annotations

import pytest

from neuronlabel.ci import Rule, assert_no_concepts, check
from neuronlabel.ci.inflection import forms, plural, singular
from neuronlabel.ci.matching import TermMatcher
from neuronlabel.errors import InputError
from neuronlabel.report import LabelReport, UnitLabel


def _report(labels: dict, candidates: "dict | None" = None) -> LabelReport:
    units = []
    for layer, layer_labels in labels.items():
        for i, label in enumerate(layer_labels):
            cands = (candidates or {}).get(f"{layer}:{i}", [])
            units.append(UnitLabel(layer, i, label, candidates=[(label, -1.0)] + [(c, -2.0) for c in cands],
                                   exemplar_ids=[10 * i + 1, 10 * i + 2], exemplar_scores=[2.0, 1.0]))
    return LabelReport(units, meta={"model": "toy"})


@pytest.mark.parametrize("label, concept, term", [
    ("dog faces", "face", "faces"),
    ("Faces of people", "face", "faces"),
    ("a facial expression", "face", "facial"),
    ("heads of birds", "face", "heads"),
    ("face-like patterns", "face", "face"),
    ("crowds of people", "person", "crowds"),
    ("a group of people", "person", "people"),
    ("a woman's hat", "people", "woman"),
    ("children playing", "person", "children"),
    ("words on a page", "text", "words"),
    ("handwriting", "text", "handwriting"),
    ("letters", "text", "letters"),
    ("skin tones", "skin", "skin tones"),
    ("human eyes", "eyes", "eyes"),
    ("an eye", "eyes", "eye"),
    ("fingers and hands", "hands", "fingers"),
    ("LICENSE-PLATES of cars", "license plate", "license plates"),
])
def test_concepts_match_plurals_and_synonyms(label, concept, term):
    result = check(_report({"layer4": [label]}), concepts=[concept])
    assert [(f.ref, f.term) for f in result.findings] == [("layer4:0", term)]


@pytest.mark.parametrize("label, concept", [
    ("surface of a lake", "face"),
    ("typefaces", "face"),
    ("interfaces and facets", "face"),
    ("textures of bark", "text"),
    ("context", "text"),
    ("skinny branches", "skin"),
    ("handsome building", "hands"),
    ("personal computers", "person"),
    ("forehead", "face"),
])
def test_no_match_inside_other_words(label, concept):
    assert check(_report({"layer4": [label]}), concepts=[concept]).findings == []


def test_inflection_rules():
    assert [plural(w) for w in ("face", "glass", "body", "key", "knife", "person")] == \
        ["faces", "glasses", "bodies", "keys", "knives", "people"]
    assert [singular(w) for w in ("faces", "bodies", "watches", "children", "bus")] == \
        ["face", "body", "watch", "child", "bus"]
    assert forms("Eyes") == {"eye", "eyes"}
    assert forms("text") == {"text"} and forms("skin") == {"skin"}


def test_matcher_prefers_the_longest_term_and_normalises_separators():
    m = TermMatcher(["plate", "license plate", "license-plates"])
    assert [h.term for h in m.find("license_plates and a plate")] == ["license plates", "plate"]


def test_rule_terms_combine_builtin_user_synonyms_and_inflection():
    rule = Rule("face", synonyms=("mug",))
    assert {"face", "faces", "facial", "head", "heads", "mug", "mugs"} <= set(rule.terms)
    bare = Rule("face", builtin_synonyms=False, inflect=False)
    assert bare.terms == ("face",)
    assert check(_report({"l": ["faces"]}), rules=[bare]).findings == []


def test_unknown_concepts_still_match_their_forms():
    result = check(_report({"l": ["zebras at noon", "a zebra"]}), concepts=["zebra"], max_matches=5)
    assert [f.term for f in result.findings] == ["zebras", "zebra"] and result.passed


def test_limits_are_per_layer_with_overrides_and_total():
    report = _report({"layer3": ["faces", "heads", "grass"], "layer4": ["faces", "sky"]})
    assert check(report, concepts=["face"], max_matches=1).exit_code == 1
    result = check(report, rules=[Rule("face", max_matches=1, layer_max_matches={"layer3": 2})])
    assert result.passed and [(c.layer, c.count, c.limit) for c in result.counts] == [("layer3", 2, 2), ("layer4", 1, 1)]
    total = check(report, rules=[Rule("face", max_matches=2, max_total=2)])
    assert not total.passed and [(c.layer, c.count) for c in total.failures] == [("*", 3)]
    assert all(f.over_limit for f in total.findings)


def test_findings_within_the_limit_are_reported_but_pass():
    result = check(_report({"layer4": ["faces", "grass"]}), concepts="face", max_matches=1)
    assert result.passed and result.exit_code == 0
    assert [(f.ref, f.over_limit, f.exemplar_ids) for f in result.findings] == [("layer4:0", False, [1, 2])]


def test_layers_restrict_rules_and_unknown_layers_are_errors():
    report = _report({"layer3": ["faces"], "layer4.1.conv2": ["faces"]})
    result = check(report, concepts=["face"], layers=["layer4"])
    assert [f.ref for f in result.findings] == ["layer4.1.conv2:0"]
    assert [f.ref for f in check(report, rules=[Rule("face", layers=("layer*",))]).findings] == \
        ["layer3:0", "layer4.1.conv2:0"]
    with pytest.raises(InputError, match=r"layer 'layr4' matches no layer of the report.*Did you mean"):
        check(report, concepts=["face"], layers=["layr4"])


def test_allow_list_units_globs_and_phrases():
    report = _report({"layer4": ["faces", "clock face", "clock face next to a human face", "dial faces"]})
    rule = Rule("face", allow=("layer4:0", "clock face", "dial*"))
    result = check(report, rules=[rule])
    assert [f.ref for f in result.findings] == ["layer4:2"]
    assert [(f.ref, f.allowed_by) for f in result.allowed] == \
        [("layer4:0", "layer4:0"), ("layer4:1", "clock face"), ("layer4:3", "dial*")]
    assert not result.passed


def test_allow_list_warns_about_units_not_in_the_report():
    result = check(_report({"layer4": ["grass"]}), rules=[Rule("face", allow=("layer4:99",))])
    assert result.passed and result.warnings == ["rule 'face': allow-listed unit(s) layer4:99 are not in the report"]


def test_candidates_are_searched_only_when_asked():
    report = _report({"layer4": ["animals"]}, candidates={"layer4:0": ["dog faces", "fur"]})
    assert check(report, concepts=["face"]).findings == []
    found = check(report, concepts=["face"], candidates=True).findings
    assert [(f.ref, f.matched_in, f.text, f.term) for f in found] == [("layer4:0", "candidate 2", "dog faces", "faces")]


def test_rules_may_be_dicts_and_bad_values_are_named():
    result = check(_report({"l": ["eyes"]}), rules=[{"concept": "eye", "max_matches": 1}])
    assert result.passed and len(result.findings) == 1
    with pytest.raises(InputError, match=r"rule 'eye': max_matches must be a non-negative integer, got -1"):
        check(_report({"l": ["eyes"]}), rules=[{"concept": "eye", "max_matches": -1}])
    with pytest.raises(InputError, match=r"unknown rule field 'max_match'. Did you mean: 'max_matches'"):
        Rule.from_dict({"concept": "eye", "max_match": 1})
    with pytest.raises(InputError, match="nothing to check"):
        check(_report({"l": ["eyes"]}))
    with pytest.raises(InputError, match="the report has no units"):
        check(LabelReport([]), concepts=["face"])


def test_check_reads_a_report_path(tmp_path):
    path = _report({"layer4": ["text on signs"]}).to_json(tmp_path / "r.json")
    assert check(path, concepts=["text"]).exit_code == 1
    assert check(str(path), concepts=["face"]).exit_code == 0


def test_assert_no_concepts_lists_the_units():
    report = _report({"layer4": ["human faces", "grass", "words"]})
    assert_no_concepts(report, ["skin"])
    with pytest.raises(AssertionError) as info:
        assert_no_concepts(report, ["face", "text"])
    message = str(info.value)
    assert message.startswith("2 unit(s) match sensitive concepts over the limit:")
    assert "face: layer4:0 'human faces': matched 'faces'" in message
    assert "text: layer4:2 'words': matched 'words'" in message
    assert_no_concepts(report, ["face", "text"], max_matches=1)
