"""`neuronlabel check` command: exit codes 0/1/2, output formats and files, rules files."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET

import pytest

from neuronlabel.ci import command
from neuronlabel.ci.rules_file import RulesFileError, load_rules
from neuronlabel.report import LabelReport, UnitLabel


def run(argv) -> int:
    parser = argparse.ArgumentParser(prog="neuronlabel check")
    command.add_arguments(parser)
    return command.run(parser.parse_args([str(a) for a in argv]))


@pytest.fixture
def report_path(tmp_path):
    units = [UnitLabel("layer3", 0, "surface of water"), UnitLabel("layer3", 1, "dog faces"),
             UnitLabel("layer4", 0, "text on signs"), UnitLabel("layer4", 1, "stripes"),
             UnitLabel("layer4", 2, "human eyes")]
    return LabelReport(units, meta={"model": "toy"}).to_json(tmp_path / "report.json")


def test_exit_0_when_nothing_matches(report_path, capsys):
    assert run([report_path, "--concepts", "skin,hands"]) == 0
    assert capsys.readouterr().out.startswith("neuronlabel check: passed")


def test_exit_1_when_over_the_limit(report_path, capsys):
    assert run([report_path, "--concepts", "face,eyes"]) == 1
    out = capsys.readouterr().out
    assert "layer3:1 'dog faces'" in out and "layer4:2 'human eyes'" in out


def test_max_matches_and_layers(report_path):
    assert run([report_path, "--concepts", "face", "--max-matches", "1"]) == 0
    assert run([report_path, "--concepts", "face", "--layers", "layer4"]) == 0
    assert run([report_path, "--concepts", "text", "--concepts", "face", "--layers", "layer4"]) == 1


@pytest.mark.parametrize("argv, message", [
    (["--concepts", "face", "--layers", "layer9"], "layer 'layer9' matches no layer of the report"),
    ([], "nothing to check: pass --concepts"),
    (["--concepts", "face", "--max-matches", "-1"], "--max-matches must be >= 0, got -1"),
    (["--rules", "missing.toml"], "rules file 'missing.toml' does not exist"),
    (["--rules", "missing.toml", "--layers", "layer4"], "--layers applies to --concepts"),
])
def test_usage_errors_exit_2(report_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(report_path.parent)
    assert run([report_path, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronlabel check: error: ") and message in err and "Traceback" not in err


def test_unreadable_report_exits_2(tmp_path, capsys):
    assert run([tmp_path / "none.json", "--concepts", "face"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2", encoding="utf-8")
    assert run([bad, "--concepts", "face"]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["text", "json", "github", "junit"])
def test_formats_go_to_stdout_or_output_file(report_path, tmp_path, capsys, fmt):
    assert run([report_path, "--concepts", "face", "--format", fmt]) == 1
    stdout = capsys.readouterr().out
    out_file = tmp_path / f"out.{fmt}"
    assert run([report_path, "--concepts", "face", "--format", fmt, "--output", out_file]) == 1
    summary = capsys.readouterr().out
    assert summary.startswith("neuronlabel check: FAILED") and str(out_file) in summary
    written = out_file.read_text(encoding="utf-8")
    assert written == stdout
    if fmt == "json":
        assert json.loads(written)["exit_code"] == 1
    elif fmt == "junit":
        assert ET.fromstring(written.encode()).find("testsuite").get("failures") == "1"
    elif fmt == "github":
        assert written.startswith("::error title=neuronlabel check%3A face in layer3::layer3:1")


def _write(tmp_path, text):
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_rules_file_drives_the_check(report_path, tmp_path, capsys):
    rules = _write(tmp_path, """
[defaults]
candidates = false

[[rule]]
concept = "face"
layers = ["layer3"]
allow = ["layer3:1"]

[[rule]]
concept = "text"
synonyms = ["signage"]
max_matches = 1
layer_max_matches = { layer4 = 0 }
""")
    assert run([report_path, "--rules", rules, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [f["ref"] for f in data["findings"]] == ["layer4:0"]
    assert [f["ref"] for f in data["allowed"]] == ["layer3:1"]
    assert "signage" in data["rules"][1]["terms"]


def test_cli_max_matches_is_the_default_for_rules_without_one(report_path, tmp_path):
    rules = _write(tmp_path, '[[rule]]\nconcept = "face"\n\n[[rule]]\nconcept = "eyes"\nmax_matches = 0\n')
    assert run([report_path, "--rules", rules, "--max-matches", "1"]) == 1
    assert [r.max_matches for r in load_rules(rules, {"max_matches": 1})] == [1, 0]
    rules = _write(tmp_path, '[defaults]\nmax_matches = 3\n[[rule]]\nconcept = "face"\n')
    assert [r.max_matches for r in load_rules(rules)] == [3]
    assert [r.max_matches for r in load_rules(rules, {"max_matches": 0})] == [0]


@pytest.mark.parametrize("text, message", [
    ('[[rule]]\nconcept = "face"\nmax_matches = \n',
     r"rules.toml is not valid TOML: .*\(at line 3, column \d+\)"),
    ('[[rule]]\nconcept = "face"\n\n[[rule]]\nconcept = "eyes"\nmax_matches = -2\n',
     r"rules.toml line 6: rule 'eyes': max_matches must be a non-negative integer, got -2"),
    ('[[rule]]\nconcept = "face"\nlayers = "layer4"\nallow = [1, 2]\n',
     r"rules.toml line 4: rule 'face': allow must be a list of non-empty strings, got \[1, 2\]"),
    ('[[rule]]\nconcept = "face"\nmax_match = 1\n',
     r"rules.toml line 3: \[\[rule\]\] #1 \('face'\): unknown rule field 'max_match'. Did you mean: 'max_matches'"),
    ('[[rule]]\nmax_matches = 1\n',
     r"rules.toml line 1: \[\[rule\]\] #1: rule has no 'concept' field"),
    ('[[rules]]\nconcept = "face"\n',
     r"rules.toml line 1: unknown top-level key 'rules'. Did you mean: 'rule'"),
    ('title = "x"\n', r"rules.toml line 1: unknown top-level key 'title'"),
    ('[defaults]\nmax_matches = 1\n', r"rules.toml has no rules: add at least one \[\[rule\]\]"),
    ('[defaults]\ncandidate = true\n[[rule]]\nconcept = "face"\n',
     r"rules.toml line 2: unknown field 'candidate' in \[defaults\]. Did you mean: 'candidates'"),
    ('[defaults]\nmax_matches = "x"\n[[rule]]\nconcept = "face"\n',
     r"rules.toml line 2: rule 'face': max_matches must be a non-negative integer, got 'x'"),
    ('[[rule]]\nconcept = "face"\ncandidates = "yes"\n',
     r"rules.toml line 3: rule 'face': candidates must be true or false, got 'yes'"),
])
def test_malformed_rules_file_exits_2_with_line_and_field(report_path, tmp_path, capsys, text, message):
    rules = _write(tmp_path, text)
    with pytest.raises(RulesFileError, match=message):
        load_rules(rules)
    assert run([report_path, "--rules", rules]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuronlabel check: error: ") and "Traceback" not in err
    assert __import__("re").search(message, err)


def test_usage_errors_are_annotated_in_github_format(tmp_path, capsys):
    assert run([tmp_path / "none.json", "--concepts", "face", "--format", "github"]) == 2
    captured = capsys.readouterr()
    assert "does not exist" in captured.err
    assert captured.out.startswith("::error title=neuronlabel check%3A usage or input error::report file")
