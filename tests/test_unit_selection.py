"""label_model(units=...) and `neuronlabel label --units`: one probe, only the chosen units captioned."""

import json

import pytest
import torch
import torchvision

import neuronlabel
from neuronlabel.captioner import Captioner, CaptionerConfig
from neuronlabel.cli import main
from neuronlabel.errors import InputError, UnknownLayerError
from neuronlabel.units import UnitRef, group_units

IMAGES = torch.rand(10, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


@pytest.fixture
def captioner():
    torch.manual_seed(0)
    config = CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4)
    return Captioner(config, vocab=["red", "dog", "faces", "stripes"])


class _CountingDescribe:
    """Wraps the real ``Captioner.describe`` and counts the units it is asked to describe."""

    def __init__(self, captioner):
        self.described = 0
        self.real = captioner.describe
        captioner.describe = self

    def __call__(self, pooled, **kwargs):
        self.described += pooled.shape[0]
        return self.real(pooled, **kwargs)


def test_only_the_chosen_units_are_described_and_reported(net, captioner, one_thread):
    counter = _CountingDescribe(captioner)
    report = neuronlabel.label_model(net, units={"layer4": [17, 3]}, images=IMAGES, k=3, progress=False,
                                     captioner=captioner)
    assert [u.ref for u in report] == ["layer4:3", "layer4:17"]
    assert counter.described == 2
    assert set(report.images) == {i for u in report for i in u.exemplar_ids}
    full = neuronlabel.probe(net, IMAGES, ["layer4"], k=3, progress=False)["layer4"]
    for u in report:
        assert u.exemplar_ids == full.ids[u.unit].tolist()
        assert u.threshold == pytest.approx(float(full.thresholds[u.unit]))
        assert u.label == u.candidates[0][0]
    neuronlabel.assert_no_hooks(net)


def test_unit_strings_layers_and_cli_give_the_same_units(net, captioner, tmp_path, one_thread):
    by_dict = neuronlabel.label_model(net, units={"layer4": [3], "layer3": [0]}, images=IMAGES, k=2,
                                      progress=False, captioner=captioner)
    by_str = neuronlabel.label_model(net, "layer*", images=IMAGES, k=2, progress=False, captioner=captioner,
                                     units=["layer4:3", UnitRef("layer3", 0)])
    assert [u.ref for u in by_dict] == [u.ref for u in by_str] == ["layer3:0", "layer4:3"]
    assert [u.label for u in by_dict] == [u.label for u in by_str]
    assert by_str.meta["layers"] == ["layer3", "layer4"]

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        torchvision.transforms.functional.to_pil_image(IMAGES[i]).save(folder / f"{i}.png")
    captioner_file = tmp_path / "cap.pt"
    captioner.save(captioner_file)
    out = tmp_path / "out"
    assert main(["label", "torchvision:resnet18", "--units", "layer4:3,layer4:17", "layer3:1", "--images",
                 str(folder), "--out", str(out), "-k", "2", "--captioner", str(captioner_file), "--quiet"]) == 0
    units = json.loads((out / "report.json").read_text())["units"]
    assert [(u["layer"], u["unit"]) for u in units] == [("layer3", 1), ("layer4", 3), ("layer4", 17)]


def test_units_from_a_search_or_a_check(captioner):
    report = neuronlabel.LabelReport([neuronlabel.report.UnitLabel("layer4", 5, "dog faces"),
                                      neuronlabel.report.UnitLabel("layer4", 2, "cats"),
                                      neuronlabel.report.UnitLabel("layer3", 9, "dogs")])
    assert group_units(report.search("dog")) == {"layer4": [5], "layer3": [9]}
    assert group_units(neuronlabel.check(report, concepts=["dog"])) == {"layer4": [5], "layer3": [9]}


@pytest.mark.parametrize("units, layers, error, message", [
    ({"layer4": [512]}, None, InputError, "layer 'layer4' has units 0..511; got [512]"),
    (["layer9:1"], None, UnknownLayerError, "no layer 'layer9'"),
    (["layer4:1"], ["layer3"], InputError, "units lie in layers ['layer4']"),
    ([], None, InputError, "units is empty"),
    (["layer4"], None, InputError, "not of the form '<layer path>:<channel>'"),
    ({"layer4": [-1]}, None, InputError, "non-negative integer"),
    ({"layer4": 3}, None, InputError, "must be a list of channels"),
])
def test_bad_units_fail_before_the_probe(net, captioner, units, layers, error, message):
    class Unreadable(torch.utils.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            raise AssertionError("the probe started")

    with pytest.raises(error) as caught:
        neuronlabel.label_model(net, layers, images=Unreadable(), k=2, progress=False, captioner=captioner,
                                units=units)
    assert message in str(caught.value)
    neuronlabel.assert_no_hooks(net)


def test_cli_needs_layers_or_units(capsys):
    assert main(["label", "torchvision:resnet18", "--out", "x"]) == 2
    assert "--layers (names or globs) or --units" in capsys.readouterr().err
