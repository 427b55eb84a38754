"""neuronlabel.ablate and the accuracy helpers: edited outputs, every layout, hooks always removed."""

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms as T

import neuronlabel
from neuronlabel.captioner import Captioner, CaptionerConfig
from neuronlabel.editing import ablation_accuracy, accuracy, labelled_images
from neuronlabel.errors import InputError, UnknownLayerError
from neuronlabel.hooks import capture

X = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


def _seen(net, layer, x):
    """The output of ``layer`` as the rest of the network sees it (hooks run in registration order)."""
    out = {}
    with capture(net, [layer], lambda name, o: out.setdefault(name, o)), torch.inference_mode():
        net(x)
    return out[layer]


def test_zero_ablation_gives_the_logits_of_the_edited_features(resnet):
    with torch.inference_mode():
        feats = _seen(resnet, "layer4", X).clone()
        feats[:, [3, 17]] = 0
        expected = resnet.fc(torch.flatten(resnet.avgpool(feats), 1))
        with neuronlabel.ablate(resnet, ["layer4:3", "layer4:17"]) as plan:
            edited = resnet(X)
        plain = resnet(X)
    assert plan.refs == ["layer4:3", "layer4:17"] and len(plan) == 2
    torch.testing.assert_close(edited, expected)
    assert not torch.allclose(edited, plain)
    neuronlabel.assert_no_hooks(resnet)


def test_probe_means_are_the_mean_activation_and_mean_ablation_writes_them(resnet):
    result = neuronlabel.probe(resnet, X, ["layer3"], k=2, progress=False)
    with torch.inference_mode():
        exact = _seen(resnet, "layer3", X).double().mean(dim=(0, 2, 3))
    ex = result["layer3"]
    assert torch.all((ex.means.double() - exact).abs() <= ex.threshold_error.double() + 1e-6)
    with neuronlabel.ablate(resnet, {"layer3": [0, 5]}, mode="mean", means=result):
        seen = _seen(resnet, "layer3", X)
    assert torch.all(seen[:, 0] == ex.means[0]) and torch.all(seen[:, 5] == ex.means[5])
    torch.testing.assert_close(seen[:, 1], _seen(resnet, "layer3", X)[:, 1])
    neuronlabel.assert_no_hooks(resnet)


def test_ablate_what_a_report_search_finds_with_its_probe_means(resnet):
    torch.manual_seed(0)
    captioner = Captioner(CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=3),
                          vocab=["red", "dog", "faces"])
    report = neuronlabel.label_model(resnet, units={"layer4": [1, 2, 8]}, images=X, k=2, progress=False,
                                     captioner=captioner)
    word = report["layer4:2"].label.split()[0]
    found = report.search(word)
    assert found and all(np.isfinite(u.stats["mean"]) for u in found)
    with neuronlabel.ablate(resnet, found, mode="mean"):
        seen = _seen(resnet, "layer4", X)
    for u in found:
        assert torch.all(seen[:, u.unit] == torch.tensor(u.stats["mean"], dtype=seen.dtype))
    again = neuronlabel.LabelReport.from_json(report.to_json())
    with neuronlabel.ablate(resnet, ["layer4:8"], mode="mean", means=again):
        assert torch.all(_seen(resnet, "layer4", X)[:, 8] == torch.tensor(report["layer4:8"].stats["mean"]))
    neuronlabel.assert_no_hooks(resnet)


class _NHWC(nn.Module):
    neuronlabel_layout = "nhwc"

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class _Pair(nn.Module):
    def forward(self, x):
        return x * 2, torch.ones(1)


def test_every_layout_edits_the_unit_channel():
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", img_size=64, pretrained=False).eval()
    with neuronlabel.ablate(vit, ["blocks.5:7"]):
        tokens = _seen(vit, "blocks.5", X)
    assert tokens.shape == (3, 1 + 16, 192) and torch.all(tokens[:, :, 7] == 0) and tokens[:, :, 6].abs().sum() > 0

    net = nn.Sequential(nn.Conv2d(3, 4, 1), _NHWC(), nn.Flatten(1, 2), nn.Flatten(), nn.Linear(4 * 64 * 64, 5))
    with neuronlabel.ablate(net, ["1:2", "4:0"]):
        nhwc, logits = _seen(net, "1", X), net(X)
    assert torch.all(nhwc[..., 2] == 0) and nhwc[..., 1].abs().sum() > 0
    assert torch.all(logits[:, 0] == 0) and logits[:, 1].abs().sum() > 0

    pair = nn.Sequential(nn.Conv2d(3, 4, 1), _Pair())
    with neuronlabel.ablate(pair, {"1": [1]}):
        out, extra = pair(X)
    assert torch.all(out[:, 1] == 0) and out[:, 0].abs().sum() > 0 and extra.tolist() == [1.0]


def test_hooks_leave_on_error_and_bad_input_fails_before_any_hook(resnet):
    with pytest.raises(RuntimeError, match="inside"):
        with neuronlabel.ablate(resnet, ["layer4:1"]):
            raise RuntimeError("inside the block")
    neuronlabel.assert_no_hooks(resnet)
    with pytest.raises(InputError, match=r"cannot ablate units \[600\] of layer 'layer4': it has units 0..511"):
        with neuronlabel.ablate(resnet, ["layer4:600"]):
            resnet(X)
    neuronlabel.assert_no_hooks(resnet)
    for args, kwargs, error, message in [
        (["layer4:1"], {"mode": "noise"}, InputError, "mode 'noise' is not one of"),
        (["layer9:1"], {}, UnknownLayerError, "no layer 'layer9'"),
        ([], {}, InputError, "no units to ablate"),
        (["layer4:1"], {"mode": "mean"}, InputError, "mode='mean' needs each unit's mean"),
        (["layer4:1"], {"mode": "mean", "means": 3}, InputError, "means must be a LabelReport"),
    ]:
        with pytest.raises(error, match=message):
            with neuronlabel.ablate(resnet, args, **kwargs):
                pass
        neuronlabel.assert_no_hooks(resnet)


@pytest.fixture
def colours(tmp_path):
    """A labelled folder: one subfolder per colour, four solid-colour photos in each."""
    for name, rgb in {"red": (230, 10, 10), "green": (10, 230, 10), "blue": (10, 10, 230)}.items():
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.new("RGB", (12, 10), tuple(max(0, c - 9 * i) for c in rgb)).save(tmp_path / name / f"{i}.png")
    return tmp_path


def _colour_net():
    linear = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(3))
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear).eval()


def test_accuracy_on_a_labelled_folder_with_and_without_the_ablation(colours):
    net, tf = _colour_net(), T.Compose([T.Resize(8), T.ToTensor()])
    by_name = {"red": 0, "green": 1, "blue": 2}
    base = accuracy(net, colours, targets=by_name, transform=tf)
    assert (base.total, base.top1, base.top5) == (12, 12, 12)
    with neuronlabel.ablate(net, ["1:2"]):
        assert accuracy(net, colours, targets=by_name, transform=tf).top1 == 8
    neuronlabel.assert_no_hooks(net)
    result = ablation_accuracy(net, ["1:2"], colours, targets=by_name, transform=tf, batch_size=5)
    assert (result.before.top1, result.after.top1, result.after.top5, result.changed) == (12, 8, 12, 4)
    assert result.per_class == {0: (4, 4, 4), 1: (4, 4, 4), 2: (4, 4, 0)}
    assert result.classes(lambda c: c == 2) == (4, 1.0, 0.0)
    assert "top-1 100.0% -> 66.7% (-33.3 points)" in str(result)
    neuronlabel.assert_no_hooks(net)


def test_folder_targets_by_subfolder_order_sequence_or_function(colours):
    tf = T.Compose([T.Resize(8), T.ToTensor()])
    by_folder = labelled_images(None, colours, transform=tf).targets
    assert by_folder == [0] * 4 + [1] * 4 + [2] * 4      # blue, green, red in sorted order
    assert labelled_images(None, colours, targets=range(12), transform=tf).targets == list(range(12))
    assert labelled_images(None, colours, targets=lambda p: len(p.parent.name), transform=tf).targets[-1] == 3
    with pytest.raises(InputError, match="targets has 2 classes but"):
        labelled_images(None, colours, targets=[0, 1], transform=tf)
    with pytest.raises(InputError, match="targets has no class for"):
        labelled_images(None, colours, targets={"red": 0}, transform=tf)
    with pytest.raises(InputError, match="a class index must be a non-negative integer"):
        labelled_images(None, colours, targets={"red": 0, "green": "g", "blue": 2}, transform=tf)
