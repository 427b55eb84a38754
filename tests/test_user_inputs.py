"""What users really pass (docs/faults.md): odd tensors, odd photos, odd models; each handled or refused clearly."""

import math

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from neuronlabel import label_model, probe
from neuronlabel.captioner import Captioner, CaptionerConfig
from neuronlabel.ci import check
from neuronlabel.ci.rules_file import load_rules
from neuronlabel.errors import CheckpointError, InputError, ProbeSourceError
from neuronlabel.model_spec import load_model
from neuronlabel.report import LabelReport, UnitLabel
from neuronlabel.sources import as_source, load_rgb

pytestmark = pytest.mark.usefixtures("one_thread")


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, padding=1)).eval()


def same(a, b, layer="2"):
    return torch.equal(a[layer].ids, b[layer].ids) and torch.allclose(a[layer].thresholds, b[layer].thresholds)


def tiny_captioner():
    torch.manual_seed(0)
    config = CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4)
    return Captioner(config, vocab=["red", "dog", "faces", "stripes"])


def test_meta_device_and_multi_input_models_are_refused_before_any_hook():
    with torch.device("meta"):
        meta = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(InputError, match="weights on the 'meta' device .* net.to_empty"):
        probe(meta, torch.rand(4, 3, 8, 8), ["0"], k=2, progress=False)

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x, mask):
            return self.conv(x * mask)

    net = Masked()
    with pytest.raises(InputError, match=r"Masked.forward needs 2 inputs \(x, mask\).*return net\(x, mask\)"):
        probe(net, torch.rand(4, 3, 8, 8), ["conv"], k=2, progress=False)
    assert not net.conv._forward_hooks


@pytest.mark.parametrize("device, message", [
    ("gpu0", "unknown device 'gpu0'; use 'cpu', 'cuda'"),
    ("cuda", "device 'cuda' asked for, but"),
])
def test_unknown_or_absent_devices_are_refused(device, message):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(InputError, match=message):
        probe(small_net(), torch.rand(4, 3, 8, 8), ["2"], k=2, device=device, progress=False)


def test_channels_last_grayscale_and_uint8_tensors_are_read_with_a_warning():
    net = small_net()
    x = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    ref = probe(net, x, ["2"], k=2, progress=False)
    with pytest.warns(UserWarning, match=r"looks channels-last \[N, H, W, C\]"):
        nhwc = probe(net, x.permute(0, 2, 3, 1).contiguous(), ["2"], k=2, progress=False)
    assert same(nhwc, ref)

    gray = x[:, :1]
    with pytest.warns(UserWarning, match="1 channel .* repeated 3 times"):
        one = probe(net, gray, ["2"], k=2, progress=False)
    assert same(one, probe(net, gray.expand(-1, 3, -1, -1).contiguous(), ["2"], k=2, progress=False))

    pixels = (x * 255).round().to(torch.uint8)
    with pytest.warns(UserWarning, match=r"uint8 pixels \(0-255\); they are scaled to \[0, 1\] and normalised"):
        from_pixels = probe(net, pixels, ["2"], k=2, progress=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert same(from_pixels, probe(net, (pixels.float() / 255 - mean) / std, ["2"], k=2, progress=False))
    assert torch.allclose(from_pixels.source.display(0), pixels[0].float() / 255, atol=1e-6)
    with pytest.raises(ProbeSourceError, match="dtype torch.int64; pass float model inputs"):
        as_source(pixels.long())
    with pytest.raises(ProbeSourceError, match="has 5 channels .* the network takes 3"):
        as_source(torch.rand(2, 5, 8, 9), net)
    assert as_source(torch.rand(2, 12, 8, 8), nn.Sequential(nn.Flatten())).images.shape[1] == 12


def test_non_finite_images_are_skipped_by_name_and_an_all_nan_tensor_is_refused():
    net = small_net()
    x = torch.rand(8, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    bad = x.clone()
    bad[2] = math.nan
    bad[5, 0, 0, 0] = math.inf
    with pytest.warns(UserWarning, match=r"2 image\(s\) of the tensor hold NaN or infinite values and are skipped: "
                                         r"image 2, image 5"):
        result = probe(net, bad, ["2"], k=2, progress=False)
    assert result.num_images == 6 and result.meta["skipped"] == 2
    assert not set(result["2"].ids.flatten().tolist()) & {2, 5}
    assert torch.isfinite(result["2"].thresholds).all()
    with pytest.raises(ProbeSourceError, match="all 8 images of the tensor hold NaN or infinite values"):
        probe(net, torch.full_like(x, math.nan), ["2"], k=2, progress=False)


def test_units_left_with_fewer_than_k_exemplars_are_labelled_from_the_real_ones():
    x = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    x[1:4] = math.nan
    with pytest.warns(UserWarning, match="hold NaN or infinite values"):
        report = label_model(small_net(), ["2"], images=x, k=4, captioner=tiny_captioner(), progress=False)
    assert all(u.exemplar_ids[-1] == -1 and -1 not in u.exemplar_ids[:3] and u.label for u in report)
    assert "<html" in report.to_html()


def test_constant_and_tiny_images_are_named_in_a_warning(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(tmp_path / f"photo{i}.png")
    Image.new("RGB", (30, 30), (9, 9, 9)).save(tmp_path / "blank.png")
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    with pytest.warns(UserWarning) as caught:
        probe(small_net(), tmp_path, ["2"], k=2, progress=False, transform=torchvision.transforms.Compose(
            [torchvision.transforms.Resize((16, 16)), torchvision.transforms.ToTensor()]))
    messages = [str(w.message) for w in caught]
    assert any("1 of the 5 probe images under" in m and "are tiny" in m and "dot.png (1x1)" in m for m in messages)
    assert any(m.startswith("2 of the 5 probe images are constant") and "blank.png" in m and "dot.png" in m
               for m in messages), messages
    constant = torch.full((4, 3, 12, 12), 0.5)
    with pytest.warns(UserWarning, match="all 4 probe images are constant .*: image 0, image 1, image 2, image 3"):
        probe(small_net(), constant, ["2"], k=2, progress=False)


def test_exif_orientation_is_applied(tmp_path):
    rows, cols = np.mgrid[0:40, 0:24]
    upright = Image.fromarray(np.stack([rows * 6, cols * 10, 255 - rows * 6], axis=-1).astype(np.uint8))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    stored.save(tmp_path / "plain.jpg", quality=100)
    assert load_rgb(tmp_path / "phone.jpg").size == upright.size == (24, 40)
    assert load_rgb(tmp_path / "plain.jpg").size == (40, 24)
    shown = np.asarray(load_rgb(tmp_path / "phone.jpg"), dtype=float)
    assert np.abs(shown - np.asarray(upright, dtype=float)).mean() < 8


def test_decompression_bombs_are_skipped_and_counted_like_corrupt_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    Image.fromarray(rng.integers(0, 255, (400, 600, 3), dtype=np.uint8)).save(tmp_path / "huge.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable, corrupt or oversized image file\(s\) .*1 of them over "
                                         r"Pillow's decompression-bomb limit, e.g. huge.png .*MAX_IMAGE_PIXELS"):
        result = probe(small_net(), tmp_path, ["2"], k=2, progress=False)
    assert result.num_images == 3


def test_explain_takes_an_image_path_and_attributions_work_inside_inference_mode(tmp_path):
    net = torchvision.models.resnet18().eval()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)).save(tmp_path / "p.jpg")
    with torch.inference_mode():
        images = torch.rand(6, 3, 32, 32)
        report = label_model(net, ["layer4"], images=images, k=2, captioner=tiny_captioner(), progress=False,
                             attributions=2)
        entry = report.explain(str(tmp_path / "p.jpg"), top=3)
    assert report["layer4:1"].attributions.shape == (2, 128, 128)
    assert len(entry["contributions"]) == 3 and entry["contributions"][0][0].startswith("layer4:")
    with pytest.raises(InputError, match="no image file"):
        report.explain(str(tmp_path / "missing.jpg"))
    with pytest.raises(InputError, match="explain takes one image"):
        report.explain(42)


def test_wrapped_and_foreign_state_dicts(tmp_path):
    sd = torchvision.models.resnet18().state_dict()
    torch.save({"model": sd, "epoch": 3}, tmp_path / "wrapped.pt")
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "parallel.pt")
    for name in ("wrapped.pt", "parallel.pt"):
        net = load_model("torchvision:resnet18", weights=tmp_path / name)
        assert torch.equal(net.fc.weight, sd["fc.weight"])
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pt")
    with pytest.raises(CheckpointError, match=r"do not fit torchvision:resnet18 \(122 tensors\): 96 unexpected "
                                         r"\(layer1.2.conv1.weight, .* and 93 more\); are they for another"):
        load_model("torchvision:resnet18", weights=tmp_path / "r34.pt")
    torch.save({"optimizer": {}, "epoch": 3}, tmp_path / "opt.pt")
    with pytest.raises(CheckpointError, match=r"hold a dict with keys 'optimizer', 'epoch', not a state dict"):
        load_model("torchvision:resnet18", weights=tmp_path / "opt.pt")


def test_rules_file_with_a_bom_is_read_and_other_encodings_are_named(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[[rule]]\nconcept = "face"\nmax_matches = 0\n')
    assert [r.concept for r in load_rules(path)] == ["face"]
    report = LabelReport([UnitLabel("fc", 0, "dog faces"), UnitLabel("fc", 1, "cups")])
    assert not check(report, rules=path).passed
    path.write_bytes(b"\xff\xfe[\x00[\x00")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        load_rules(path)
