import os
import signal
import subprocess
import sys
import textwrap

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision

from neuronlabel import assert_no_hooks, probe
from neuronlabel.errors import CheckpointError, InputError, UnknownLayerError
from neuronlabel.probing import ProbeResult

torch.manual_seed(0)


def reference(net, images, layer, batch_size, to_maps):
    """Brute force: store every activation of the layer, then sort."""
    module = dict(net.named_modules())[layer]
    stored = []
    handle = module.register_forward_hook(lambda m, i, o: stored.append(to_maps(o).detach().clone()))
    try:
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                net(images[i:i + batch_size])
    finally:
        handle.remove()
    return torch.cat(stored)


def brute_topk(maps, k):
    scores = maps.amax(dim=(2, 3))
    n = maps.shape[0]
    ids, top = [], []
    for u in range(maps.shape[1]):
        order = sorted(range(n), key=lambda i: (-float(scores[i, u]), i))[:k]
        ids.append(order)
        top.append([float(scores[i, u]) for i in order])
    return ids, top


def check_layer(net, images, layer, to_maps, k=4, batch_size=5):
    result = probe(net, images, [layer], k=k, batch_size=batch_size, progress=False)
    ex = result[layer]
    maps = reference(net, images, layer, batch_size, to_maps)
    ids, scores = brute_topk(maps, k)
    assert ex.ids.tolist() == ids
    assert ex.scores.tolist() == scores
    for u in range(0, maps.shape[1], max(1, maps.shape[1] // 7)):
        assert torch.equal(ex.maps[u], maps[ids[u], u])
    values = maps.transpose(0, 1).reshape(maps.shape[1], -1).double()
    exact = torch.quantile(values, 0.99, dim=1, interpolation="lower")
    assert bool(((ex.thresholds.double() - exact).abs() <= ex.threshold_error.double() * 1.0001 + 1e-6).all())
    assert_no_hooks(net)
    return result


def test_conv_layer_equals_brute_force():
    net = torchvision.models.resnet18().eval()
    check_layer(net, torch.randn(23, 3, 48, 48), "layer2", lambda o: o)


def test_linear_layer_equals_brute_force():
    net = torchvision.models.resnet18().eval()
    result = check_layer(net, torch.randn(17, 3, 32, 32), "fc", lambda o: o[:, :, None, None])
    assert result["fc"].maps.shape == (1000, 4, 1, 1)


def test_token_layer_equals_brute_force():
    net = timm.create_model("vit_tiny_patch16_224", img_size=64).eval()
    result = check_layer(net, torch.randn(13, 3, 64, 64), "blocks.3",
                         lambda o: o[:, 1:, :].reshape(o.shape[0], 4, 4, -1).permute(0, 3, 1, 2))
    assert result["blocks.3"].layout == "tokens"


def test_channels_last_layer_equals_brute_force():
    net = timm.create_model("swin_tiny_patch4_window7_224", img_size=64, window_size=4).eval()
    result = check_layer(net, torch.randn(11, 3, 64, 64), "layers.1", lambda o: o.permute(0, 3, 1, 2))
    assert result["layers.1"].layout == "nhwc" and result["layers.1"].maps.shape[2:] == (8, 8)


def test_masks_are_upsampled_maps_above_threshold():
    net = torchvision.models.resnet18().eval()
    images = torch.randn(20, 3, 64, 64)
    ex = probe(net, images, ["layer3"], k=3, progress=False)["layer3"]
    masks = ex.masks(units=[5, 9])
    maps = ex.maps[[5, 9]]
    up = F.interpolate(maps.reshape(6, 1, 4, 4), size=(64, 64), mode="bilinear", align_corners=False)
    expected = up.reshape(2, 3, 64, 64) > ex.thresholds[[5, 9]].view(2, 1, 1, 1)
    assert masks.dtype == torch.bool and torch.equal(masks, expected)
    assert 0 < masks.float().mean() < 1


def test_exemplar_images_come_back_by_id():
    net = torchvision.models.resnet18().eval()
    images = torch.rand(12, 3, 32, 32)
    result = probe(net, images, ["layer4"], k=3, progress=False)
    got = result.exemplar_images("layer4", 7)
    assert torch.equal(got, images[result["layer4"].ids[7]])


def test_merged_shards_equal_one_run(tmp_path):
    net = torchvision.models.resnet18().eval()
    images = torch.randn(30, 3, 32, 32)
    kw = dict(layers=["layer1", "layer4"], k=5, batch_size=4, progress=False)
    whole = probe(net, images, **kw)
    first = probe(net, images, indices=range(0, 30, 2), **kw)
    second = probe(net, images, indices=range(1, 30, 2), **kw)
    first.save(tmp_path / "a.pt")
    merged = ProbeResult.load(tmp_path / "a.pt").merge(second)
    for layer in ("layer1", "layer4"):
        assert torch.equal(merged[layer].ids, whole[layer].ids)
        assert torch.equal(merged[layer].scores, whole[layer].scores)
        assert torch.allclose(merged[layer].maps, whole[layer].maps, atol=1e-5)
        bound = merged[layer].threshold_error + whole[layer].threshold_error
        assert bool(((merged[layer].thresholds - whole[layer].thresholds).abs() <= bound * 1.0001).all())
    assert merged.num_images == 30


def test_early_exit_gives_the_same_result():
    net = torchvision.models.resnet18().eval()
    images = torch.randn(10, 3, 32, 32)
    a = probe(net, images, ["layer1", "layer2"], k=3, progress=False)
    b = probe(net, images, ["layer1", "layer2"], k=3, progress=False, early_exit=False)
    for layer in a:
        assert torch.equal(a[layer].ids, b[layer].ids) and torch.equal(a[layer].thresholds, b[layer].thresholds)


class FlakyImages(torch.utils.data.Dataset):
    """Real images, but reading item ``fail_at`` raises once (as a crashed worker would)."""

    def __init__(self, images, fail_at):
        self.images, self.fail_at, self.failed = images, fail_at, False

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if i == self.fail_at and not self.failed:
            self.failed = True
            raise RuntimeError("disk went away")
        return self.images[i]


def test_resume_after_error_equals_uninterrupted(tmp_path):
    net = torchvision.models.resnet18().eval()
    images = torch.randn(26, 3, 32, 32)
    kw = dict(layers=["layer2", "layer4"], k=4, batch_size=4, progress=False)
    whole = probe(net, images, **kw)
    data = FlakyImages(images, fail_at=17)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(RuntimeError, match="disk went away"):
        probe(net, data, checkpoint=ckpt, checkpoint_seconds=1e9, **kw)
    assert ckpt.exists()
    assert_no_hooks(net)
    resumed = probe(net, data, checkpoint=ckpt, **kw)
    for layer in whole:
        for field in ("ids", "scores", "maps", "thresholds"):
            assert torch.equal(getattr(resumed[layer], field), getattr(whole[layer], field)), (layer, field)


def test_resume_after_sigkill_equals_uninterrupted(tmp_path):
    ckpt = tmp_path / "killed.ckpt"
    script = textwrap.dedent(f"""
        import os, signal, torch, torchvision
        from neuronlabel import probe
        torch.manual_seed(0)
        net = torchvision.models.resnet18().eval()
        images = torch.randn(24, 3, 32, 32)
        class Dying(torch.utils.data.Dataset):
            def __len__(self): return 24
            def __getitem__(self, i):
                if i == 18 and os.environ.get("DIE"):
                    os.kill(os.getpid(), signal.SIGKILL)
                return images[i]
        r = probe(net, Dying(), ["layer3"], k=4, batch_size=4, progress=False,
                  checkpoint={str(ckpt)!r}, checkpoint_seconds=0)
        torch.save({{"ids": r["layer3"].ids, "thr": r["layer3"].thresholds, "n": r.num_images}}, {str(tmp_path / 'out.pt')!r})
    """)
    env = dict(os.environ, DIE="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert ckpt.exists()
    env.pop("DIE")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
    resumed = torch.load(tmp_path / "out.pt")
    ckpt.unlink()
    subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
    fresh = torch.load(tmp_path / "out.pt")
    assert torch.equal(resumed["ids"], fresh["ids"]) and torch.equal(resumed["thr"], fresh["thr"])
    assert resumed["n"] == fresh["n"] == 24


def test_checkpoint_of_another_run_is_refused(tmp_path):
    net = torchvision.models.resnet18().eval()
    images = torch.randn(8, 3, 32, 32)
    ckpt = tmp_path / "c.ckpt"
    probe(net, images, ["layer1"], k=2, checkpoint=ckpt, progress=False)
    with pytest.raises(CheckpointError, match="another run"):
        probe(net, images, ["layer2"], k=2, checkpoint=ckpt, progress=False)
    ckpt.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        probe(net, images, ["layer1"], k=2, checkpoint=ckpt, progress=False)


def test_train_mode_and_weights_are_restored():
    net = torchvision.models.resnet18()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    probe(net, torch.randn(6, 3, 32, 32), ["layer1"], k=2, progress=False)
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_bad_arguments_fail_clearly_before_any_hook():
    net = torchvision.models.resnet18().eval()
    images = torch.randn(5, 3, 32, 32)
    with pytest.raises(UnknownLayerError, match="layer4"):
        probe(net, images, ["layer5"], progress=False)
    with pytest.raises(InputError, match="only 5 images"):
        probe(net, images, ["layer1"], k=15, progress=False)
    with pytest.raises(InputError, match="quantile"):
        probe(net, images, ["layer1"], k=2, quantile=99, progress=False)
    assert_no_hooks(net)


def test_memory_does_not_grow_with_images():
    net = torchvision.models.resnet18().eval()
    small = probe(net, torch.randn(8, 3, 32, 32), ["layer1"], k=3, batch_size=4, progress=False)
    large = probe(net, torch.randn(40, 3, 32, 32), ["layer1"], k=3, batch_size=4, progress=False)
    size = lambda r: sum(t.numel() for t in r.state_dict()["layers"]["layer1"]["topk"].values()
                         if isinstance(t, torch.Tensor))
    assert size(small) == size(large)
