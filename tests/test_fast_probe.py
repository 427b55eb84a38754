"""The opt-in fast probe (channels-last) and the threads setting of the probe."""

import copy

import pytest
import torch
import torchvision

from neuronlabel import assert_no_hooks, probe
from neuronlabel.errors import InputError
from neuronlabel.threads import usable_cores


def brute_force(net, images, layer, batch_size):
    """Every activation of ``layer`` stored, from a channels-last copy of ``net``."""
    net = copy.deepcopy(net).to(memory_format=torch.channels_last)
    module = dict(net.named_modules())[layer]
    stored = []
    handle = module.register_forward_hook(lambda m, i, o: stored.append(o.detach().clone()))
    try:
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                net(images[i:i + batch_size].contiguous(memory_format=torch.channels_last))
    finally:
        handle.remove()
    return torch.cat(stored)


def test_fast_probe_equals_brute_force_of_the_channels_last_network():
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    images = torch.randn(21, 3, 48, 48)
    k = 4
    result = probe(net, images, ["layer1", "layer3"], k=k, batch_size=5, progress=False, fast=True)
    for layer in ("layer1", "layer3"):
        maps = brute_force(net, images, layer, 5)
        scores = maps.amax(dim=(2, 3))
        ex = result[layer]
        for u in range(0, maps.shape[1], 9):
            order = sorted(range(len(images)), key=lambda i: (-float(scores[i, u]), i))[:k]
            assert ex.ids[u].tolist() == order
            assert ex.scores[u].tolist() == [float(scores[i, u]) for i in order]
            assert torch.equal(ex.maps[u], maps[order, u])
        values = maps.transpose(0, 1).reshape(maps.shape[1], -1).double()
        exact = torch.quantile(values, 0.99, dim=1, interpolation="lower")
        assert bool(((ex.thresholds.double() - exact).abs() <= ex.threshold_error.double() * 1.0001 + 1e-6).all())
    assert_no_hooks(net)


def test_fast_probe_gives_the_network_back_as_it_was():
    torch.manual_seed(0)
    net = torchvision.models.resnet18()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    probe(net, torch.randn(6, 3, 32, 32), ["layer2"], k=2, progress=False, fast=True)
    for name, value in net.state_dict().items():
        assert torch.equal(before[name], value) and value.is_contiguous(), name
    net(torch.randn(2, 3, 32, 32)).sum().backward()
    assert net.conv1.weight.grad is not None


def test_fast_probe_keeps_weights_the_user_stored_channels_last():
    net = torchvision.models.resnet18().eval().to(memory_format=torch.channels_last)
    probe(net, torch.randn(4, 3, 32, 32), ["layer1"], k=2, progress=False, fast=True)
    assert net.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_threads_are_set_for_the_pass_and_restored():
    net = torchvision.models.resnet18().eval()
    seen = []
    net.layer1.register_forward_hook(lambda m, i, o: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    probe(net, torch.randn(4, 3, 32, 32), ["layer1"], k=2, progress=False, threads=1)
    assert seen == [1] and torch.get_num_threads() == before
    seen.clear()
    probe(net, torch.randn(4, 3, 32, 32), ["layer1"], k=2, progress=False)
    assert seen == [min(before, usable_cores())]


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_threads_fail_before_any_hook(threads):
    net = torchvision.models.resnet18().eval()
    with pytest.raises(InputError, match="threads must be a positive integer"):
        probe(net, torch.randn(4, 3, 32, 32), ["layer1"], k=2, progress=False, threads=threads)
    assert_no_hooks(net)


def _tiny_captioner():
    from neuronlabel.captioner import Captioner, CaptionerConfig

    torch.manual_seed(0)
    config = CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4)
    return Captioner(config, vocab=["red", "dog", "faces", "stripes"])


@pytest.mark.parametrize("fast", [False, True])
def test_label_model_takes_the_encoder_features_from_the_probe_pass(fast):
    from neuronlabel import label_model, models

    net, _ = models.load("efficientnet_lite0")
    cap = _tiny_captioner()
    calls = []
    encode = cap.encode
    cap.encode = lambda images, batch_size=None: calls.append(len(images)) or encode(images, batch_size)
    report = label_model(net, ["blocks.6"], None, captioner=cap, k=3, progress=False, fast=fast, evidence=False)
    result = report.probe_result
    assert calls == [] and all(u.label for u in report.units)
    ids = sorted(result.kept.rows)[:5]
    assert set(int(i) for i in result["blocks.6"].ids.flatten()) <= set(result.kept.rows)
    direct = encode(result.source.displays(ids))
    for depth, maps in enumerate(direct.maps):
        kept = torch.stack([result.kept.rows[i][depth] for i in ids])
        assert torch.allclose(kept, maps, rtol=1e-4, atol=1e-4)
    other = torchvision.models.resnet18().eval()                            # not the encoder's backbone
    plain = label_model(other, ["layer4"], None, captioner=cap, k=3, progress=False, evidence=False)
    assert plain.probe_result.kept is None and calls


def test_kept_outputs_follow_the_top_k_and_respect_the_memory_limit():
    from neuronlabel.probing.kept import KeptOutputs

    kept = KeptOutputs(["a"], limit_bytes=3 * 4 * 4)
    out = {"a": torch.arange(20.0).view(5, 4)}
    kept.update(torch.arange(5), out, wanted=torch.tensor([0, 2, 3, 4]))
    assert sorted(kept.rows) == [0, 2, 3] and kept.bytes == 48
    kept.update(torch.tensor([7]), {"a": torch.ones(1, 4)}, wanted=torch.tensor([2, 7]))
    assert sorted(kept.rows) == [2, 7] and torch.equal(kept.rows[2][0], out["a"][2])
