"""Check output formats: text, JSON, GitHub Actions annotations, JUnit XML."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from neuronlabel.ci import Rule, check
from neuronlabel.errors import InputError
from neuronlabel.report import LabelReport, UnitLabel


@pytest.fixture(scope="module")
def result():
    units = [UnitLabel("layer3", 0, "dog faces", exemplar_ids=[5, 9, 11], exemplar_scores=[3.0, 2.0, 1.0]),
             UnitLabel("layer3", 1, "grass"),
             UnitLabel("layer4", 0, "letters, words: 100% \"text\"\x07", exemplar_ids=[1], exemplar_scores=[1.0]),
             UnitLabel("layer4", 1, "clock face")]
    report = LabelReport(units, meta={"model": "resnet18"})
    rules = [Rule("face", allow=("clock face",)), Rule("text", max_matches=1), Rule("skin")]
    return check(report, rules=rules)


def test_text(result):
    text = result.to_text()
    lines = text.splitlines()
    assert lines[0] == ("neuronlabel check: FAILED (model resnet18, 4 units, 3 rule(s), 2 matching unit(s); "
                        "1 limit(s) exceeded)")
    assert "  FAIL layer3: 1 matching unit(s), limit 0" in lines
    assert "       layer3:0 'dog faces': matched 'faces' in label; exemplars 5, 9, 11" in lines
    assert "  ok   layer4: 1 matching unit(s), limit 1" in lines
    assert "skin: no matching units in 2 layer(s) (limit 0 per layer)" in lines
    assert "  face: layer4:1 'clock face' matched 'face', allowed by 'clock face'" in lines


def test_json(result):
    data = json.loads(result.to_json())
    assert data["schema"] == "neuronlabel.check/1"
    assert (data["passed"], data["exit_code"]) == (False, 1)
    assert data["summary"] == {"units_checked": 4, "rules": 3, "findings": 2, "allowed": 1, "limits_exceeded": 1}
    assert [(f["ref"], f["concept"], f["term"], f["over_limit"]) for f in data["findings"]] == \
        [("layer3:0", "face", "faces", True), ("layer4:0", "text", "letters", False)]
    assert data["findings"][0]["exemplar_ids"] == [5, 9, 11]
    assert {(c["concept"], c["layer"], c["count"], c["limit"]) for c in data["counts"]} == {
        ("face", "layer3", 1, 0), ("face", "layer4", 0, 0), ("text", "layer3", 0, 1),
        ("text", "layer4", 1, 1), ("skin", "layer3", 0, 0), ("skin", "layer4", 0, 0)}
    assert data["rules"][0]["allow"] == ["clock face"] and "facial" in data["rules"][0]["terms"]
    assert data["meta"]["model"] == "resnet18"


def test_github_annotations(result):
    lines = result.to_github().splitlines()
    command = re.compile(r"^::(error|warning|notice) title=([^:]*)::(.*)$")
    parsed = [command.match(line) for line in lines]
    assert all(parsed), lines
    levels = [m.group(1) for m in parsed]
    assert levels == ["error", "warning", "notice"]
    assert parsed[0].group(2) == "neuronlabel check%3A face in layer3"
    assert parsed[0].group(3).startswith("layer3:0 'dog faces': matched 'faces'")
    assert "limit 0" in parsed[0].group(3)
    assert "100%25" in parsed[1].group(3) and "%0A" not in parsed[1].group(3)
    assert parsed[2].group(3).startswith("neuronlabel check: FAILED")


def test_github_newlines_are_escaped():
    report = LabelReport([UnitLabel("fc", 0, "faces\nand more")])
    out = check(report, concepts=["face"]).to_github()
    assert out.splitlines()[0].startswith("::error ") and "faces\\nand more" in out


def test_junit_is_valid_and_counts_failures(result):
    xml = result.to_junit()
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert (suite.get("tests"), suite.get("failures")) == ("6", "1") and len(cases) == 6
    failed = [c for c in cases if c.find("failure") is not None]
    assert [(c.get("classname"), c.get("name")) for c in failed] == [("neuronlabel.check.face", "layer3")]
    failure = failed[0].find("failure")
    assert failure.get("message") == "1 unit(s) in layer3 match 'face', limit 0"
    assert "layer3:0 'dog faces'" in failure.text
    text_case = next(c for c in cases if c.get("classname") == "neuronlabel.check.text" and c.get("name") == "layer4")
    assert "letters" in text_case.find("system-out").text
    assert "allowed: face: layer4:1 'clock face'" in suite.find("system-err").text
    assert suite.find("properties/property").attrib == {"name": "model", "value": "resnet18"}


def test_passing_result_in_every_format():
    ok = check(LabelReport([UnitLabel("fc", 0, "grass")]), concepts=["face", "text"])
    assert ok.to_text().startswith("neuronlabel check: passed")
    assert json.loads(ok.to_json())["findings"] == []
    assert ok.to_github().splitlines()[0].startswith("::notice ")
    suite = ET.fromstring(ok.to_junit()).find("testsuite")
    assert suite.get("failures") == "0" and len(suite.findall("testcase")) == 2
    with pytest.raises(InputError, match="unknown output format 'yaml'"):
        ok.format("yaml")
