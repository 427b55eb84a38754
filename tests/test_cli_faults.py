"""Bad command lines end in one line on stderr and exit 2, within seconds, before any probing (docs/faults.md)."""

import json

import pytest
import torch
import torchvision

from clirun import assert_clear_failure, run_cli
from neuronlabel.report import LabelReport, UnitLabel


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "photos").mkdir()
    LabelReport([UnitLabel("layer4", 0, "dog faces"), UnitLabel("layer4", 1, "cups")]).to_json(root / "report.json")
    torch.manual_seed(0)
    sd = torchvision.models.resnet18().state_dict()
    torch.save({"model": sd, "epoch": 7}, root / "wrapped.pt")
    torch.save(torchvision.models.resnet34().state_dict(), root / "r34.pt")
    return root


def label(files, *extra):
    return ["label", "torchvision:resnet18", "--layers", "layer4", "--out", files / "out", *extra]


@pytest.mark.parametrize("argv, message", [
    (["--device", "gpu0"], "unknown device 'gpu0'; use 'cpu', 'cuda', 'cuda:1' or 'mps'"),
    (["--device", "cuda"], "device 'cuda' asked for, but"),
    (["--captioner", "no-such-captioner.pt"], "--captioner 'no-such-captioner.pt' is not a file"),
])
def test_bad_label_options_fail_before_the_model_loads(files, argv, message):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    assert_clear_failure(run_cli(*label(files, *argv)), message)


def test_unknown_layer_names_the_cli_command_to_list_layers(files):
    r = run_cli("label", "torchvision:resnet18", "--layers", "layer9", "--out", files / "out2")
    assert_clear_failure(r, "ResNet has no layer 'layer9'. Did you mean: 'layer4'")
    assert "List layers with `neuronlabel layers torchvision:resnet18`." in r.err and "layers(net)" not in r.err


def test_a_report_given_as_the_model_is_named_without_torch_logs(files):
    r = run_cli("label", files / "report.json", "--layers", "layer4", "--out", files / "out3")
    assert_clear_failure(r, "is a JSON file (a neuronlabel report?), not a model; render a report with "
                            f"`neuronlabel report {files / 'report.json'}")
    r = run_cli("layers", files / "photos")
    assert_clear_failure(r, "is a folder; pass a model file")


def test_weights_are_unwrapped_or_their_mismatch_is_itemised(files):
    ok = run_cli("layers", "torchvision:resnet18", "--weights", files / "wrapped.pt", "--which", "fc")
    assert ok.rc == 0 and "1000 units" in ok.out, ok.err
    r = run_cli("layers", "torchvision:resnet18", "--weights", files / "r34.pt")
    assert_clear_failure(r, "do not fit torchvision:resnet18 (122 tensors): 96 unexpected (layer1.2.conv1.weight")


def test_rules_file_with_a_utf8_bom_is_read(files, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_bytes(b"\xef\xbb\xbf[[rule]]\nconcept = \"face\"\nmax_matches = 0\n")
    r = run_cli("check", files / "report.json", "--rules", rules, "--format", "json")
    assert r.rc == 1 and "Traceback" not in r.err, r.err
    result = json.loads(r.out)
    assert result["passed"] is False and [rule["concept"] for rule in result["rules"]] == ["face"]
