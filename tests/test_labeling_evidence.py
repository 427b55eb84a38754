"""label_model with the evidence stage: labels from evidence, confidence, the uncertain flag, the report."""

import math

import pytest
import torch

from neuronlabel import label_model
from neuronlabel.ci import check
from neuronlabel.report import LabelReport
from neuronlabel.sources import TensorSource
from test_evidence import _ColourNet, _colour_photos

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def reports():
    net = _ColourNet().eval()
    src = TensorSource(_colour_photos())
    with_evidence = label_model(net, ["conv"], images=src, k=10, progress=False)
    without = label_model(net, ["conv"], images=src, k=10, progress=False, evidence=False)
    return with_evidence, without


def test_evidence_names_colour_units_and_flags_the_dead_one(reports):
    report, _ = reports
    red, blue, dead = report["conv:0"], report["conv:1"], report["conv:2"]
    assert red.label == "red" and blue.label == "blue"
    assert red.evidence[0].name == "red" and red.confidence >= 0.2 and "uncertain" not in red.flags
    assert "uncertain" in dead.flags and dead.confidence == 0.0
    assert math.isnan(red.candidates[0][1])                      # an evidence phrase: no caption log-prob
    assert all(not c.startswith(("and ", "of ")) for c, _ in red.candidates)
    assert report.meta["seconds"]["evidence"] >= 0
    assert {"red", "blue", "stripes", "faces"} <= set(report.meta["vocabulary"])


def test_the_reported_confidence_is_the_labels_support(reports):
    from neuronlabel.evidence import UNCERTAIN, compute_evidence
    from neuronlabel.evidence.labels import label_confidence

    report, _ = reports
    evidence = compute_evidence(report.probe_result)
    for u in report.units:
        ev = evidence[(u.layer, u.unit)]
        assert u.confidence == pytest.approx(label_confidence(u.label, ev), abs=1e-6)
        assert ("uncertain" in u.flags) == (ev.uncertain or u.confidence < UNCERTAIN)


def test_without_evidence_the_captioner_labels_alone(reports):
    report, without = reports
    for u in without.units:
        assert math.isnan(u.confidence) and u.evidence == [] and "uncertain" not in u.flags
        assert all(math.isfinite(s) for _, s in u.candidates)
    assert without["conv:0"].label != "red" or without["conv:0"].candidates[0][0] == "red"


def test_report_carries_evidence_through_json_dataframe_html_and_check(reports):
    report, _ = reports
    back = LabelReport.from_json(report.to_json())
    assert [e.name for e in back["conv:0"].evidence] == [e.name for e in report["conv:0"].evidence]
    assert back["conv:0"].confidence == pytest.approx(report["conv:0"].confidence, abs=1e-4)
    df = report.to_dataframe()
    assert df.set_index("unit").loc[2, "uncertain"] and df.set_index("unit").loc[0, "evidence"][0][0] == "red"
    from neuronlabel.report.html_page import unit_records

    rec = unit_records(report, {})[0]
    assert rec["evid"][0][:2] == ["red", "colour"] and rec["conf"] == pytest.approx(report["conv:0"].confidence)
    assert 'concepts' in report.to_html()
    assert [f.ref for f in check(report, concepts="red", evidence=True).findings] == ["conv:0"]


def test_units_the_evidence_decides_are_not_captioned_and_keep_their_labels():
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()                 # random weights: most units are uncertain
    kw = dict(images=TensorSource(_colour_photos()), k=10, progress=False)
    quick = label_model(net, ["layer1"], **kw)
    full = label_model(net, ["layer1"], caption_uncertain=True, **kw)
    assert [u.label for u in quick.units] == [u.label for u in full.units]
    texts = lambda u: [t for t, _ in u.candidates]
    skipped = [u for u in quick.units if texts(u) != texts(full[f"{u.layer}:{u.unit}"])]
    assert skipped, "no unit was left to the evidence"
    for u in skipped:
        assert "uncertain" in u.flags and u.candidates and all(math.isnan(lp) for _, lp in u.candidates)
        assert any(math.isfinite(lp) for _, lp in full[f"{u.layer}:{u.unit}"].candidates)
    captioned = [u for u in quick.units if u not in skipped]
    assert captioned
    for u in captioned:                  # the same beams, pooled in other batches: log-probs agree to float noise
        other = dict(full[f"{u.layer}:{u.unit}"].candidates)
        assert all(math.isnan(lp) or abs(lp - other[t]) < 1e-4 for t, lp in u.candidates)


def test_only_the_networks_output_layer_is_named_by_joint_support():
    import torchvision

    from neuronlabel import probe
    from neuronlabel.evidence import compute_evidence
    from neuronlabel.labeling import output_layers

    torch.manual_seed(0)
    net = torchvision.models.resnet18().train()
    result = probe(net, TensorSource(_colour_photos()), ["avgpool", "fc", "layer4"], k=5, progress=False)
    assert output_layers(net, result) == ["fc"] and net.training          # the user's mode is left as it was
    units = {"fc": list(range(0, 1000, 50)), "avgpool": list(range(0, 512, 32))}
    mean = compute_evidence(result, units, scorers=["object"])
    both = compute_evidence(result, units, scorers=["object"], output_layers=["fc", "avgpool"])
    only = compute_evidence(result, units, scorers=["object"], output_layers=["fc"])
    for key in mean:
        expected = both[key] if key[0] == "fc" else mean[key]
        assert (only[key].best_object, [i.score for i in only[key].items]) == \
            (expected.best_object, [i.score for i in expected.items])
    for layer in units:                       # on both layers the joint names some unit otherwise than the mean
        assert any(both[key].best_object != mean[key].best_object for key in mean if key[0] == layer), layer


def test_a_network_that_refuses_one_image_has_no_output_layer_and_keeps_its_mode():
    from neuronlabel import probe
    from neuronlabel.labeling import output_layers

    class PairsOnly(torch.nn.Module):                # e.g. a network whose forward needs a batch of two
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 4)

        def forward(self, x):
            if x.shape[0] < 2:
                raise RuntimeError("expected a batch of at least 2")
            return self.fc(x.mean(dim=(2, 3)))

    net = PairsOnly().train()
    result = probe(net, torch.rand(6, 3, 8, 8), ["fc"], k=2, batch_size=3, progress=False)
    assert output_layers(net, result) == [] and net.training
