"""The MILANNOTATIONS reader on a tiny fixture written in MILAN's on-disk layout, featurize, train command."""

import argparse
import csv

import numpy as np
import pytest
import torch
from torch import nn

from neuronlabel.captioner import Captioner
from neuronlabel.captioner.encoder import PyramidEncoder
from neuronlabel.datasets.milan_format import load_milannotations
from neuronlabel.errors import InputError
from neuronlabel.training import CaptionData, featurize, fit
from neuronlabel.training import command


pytestmark = pytest.mark.usefixtures("one_thread")


ROWS = [
    ("conv1", 0, "vertical dark edges"), ("conv1", 0, "Dark lines."), ("conv1", 2, "red and white stripes"),
    ("conv1", 3, ""), ("conv1", 3, "grass"), ("layer1", 1, "dog faces"), ("layer1", 0, "wheels of cars"),
    ("layer1", 0, "round wheels"), ("layer1", 0, "car tires"),
]


def write_fixture(root, network="tinynet/imagenet", units=4, k=3, size=16, rows=ROWS):
    rng = np.random.default_rng(0)
    net = root / network
    conv1 = net / "conv1"
    conv1.mkdir(parents=True)
    images = rng.random((units, k, 3, size, size), dtype=np.float32)
    images[2, 1] = images[0, 0]
    np.save(conv1 / "images.npy", images)
    np.save(conv1 / "masks.npy", rng.random((units, k, 1, size, size)) > 0.5)
    layer1 = net / "layer1"
    layer1.mkdir()
    np.save(layer1 / "images.npy", rng.integers(0, 256, (units, k, size, size, 3), dtype=np.uint8))
    np.save(layer1 / "masks.npy", (rng.random((units, k, size // 2, size // 2)) > 0.5).astype(np.uint8))
    with open(net / "annotations.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["layer", "unit", "summary"])
        writer.writerows(rows)
    return images


def test_reads_milan_layout(tmp_path):
    images = write_fixture(tmp_path)
    data = load_milannotations(tmp_path)
    assert data.ids == ["tinynet/imagenet/conv1:0", "tinynet/imagenet/conv1:2", "tinynet/imagenet/conv1:3",
                        "tinynet/imagenet/layer1:0", "tinynet/imagenet/layer1:1"]
    assert data.descriptions[0] == ["vertical dark edges", "Dark lines."]
    assert data.descriptions[2] == ["grass"] and data.descriptions[3] == ["wheels of cars", "round wheels", "car tires"]
    imgs, masks = data.exemplars(1)
    assert imgs.shape == (3, 3, 16, 16) and masks.shape == (3, 16, 16)
    assert torch.allclose(imgs, torch.from_numpy(images[2]))
    imgs, masks = data.exemplars(4)
    raw = np.load(tmp_path / "tinynet/imagenet/layer1/images.npy")[1]
    assert torch.allclose(imgs, torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255)
    assert masks.shape == (3, 8, 8) and set(masks.unique().tolist()) <= {0.0, 1.0}
    assert len(load_milannotations(tmp_path, layers=["layer1"])) == 2
    assert len(load_milannotations(tmp_path, networks=["tinynet/imagenet"])) == 5


@pytest.mark.parametrize("rows,message", [
    ([("conv1", 9, "x")], r"line 2: unit 9 of layer 'conv1' is out of range"),
    ([("conv1", 0, "x"), ("layer2", 0, "y")], r"line 3: layer 'layer2' has no folder.*Did you mean"),
    ([("conv1", "zero", "x")], r"line 2: unit 'zero' is not an integer"),
])
def test_annotation_errors_name_the_line(tmp_path, rows, message):
    write_fixture(tmp_path, rows=rows)
    with pytest.raises(InputError, match=message):
        load_milannotations(tmp_path)


def test_layout_errors(tmp_path):
    with pytest.raises(InputError, match="is not a folder"):
        load_milannotations(tmp_path / "absent")
    with pytest.raises(InputError, match="no annotations.csv"):
        load_milannotations(tmp_path)
    write_fixture(tmp_path)
    with pytest.raises(InputError, match="no network 'tinynet'.*found"):
        load_milannotations(tmp_path, networks=["tinynet"])
    (tmp_path / "tinynet/imagenet/annotations.csv").write_text("layer,neuron,text\nconv1,0,x\n")
    with pytest.raises(InputError, match="must have columns layer, unit \\(or neuron\\), summary"):
        load_milannotations(tmp_path)
    (tmp_path / "tinynet/imagenet/annotations.csv").write_text("layer,neuron,summary\nconv1,0,dark\n")
    assert load_milannotations(tmp_path).descriptions == [["dark"]]
    np.save(tmp_path / "tinynet/imagenet/conv1/masks.npy", np.zeros((4, 2, 1, 16, 16), bool))
    with pytest.raises(InputError, match="masks.npy must be"):
        load_milannotations(tmp_path)
    np.save(tmp_path / "tinynet/imagenet/conv1/images.npy", np.zeros((4, 3, 16, 16), np.float32))
    with pytest.raises(InputError, match="images.npy must be"):
        load_milannotations(tmp_path)


class Counting(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return self.conv(x)


def test_featurize_encodes_each_distinct_image_once_and_matches_per_unit_pooling(tmp_path):
    write_fixture(tmp_path)
    data = load_milannotations(tmp_path)
    torch.manual_seed(0)
    net = Counting()
    enc = PyramidEncoder(net, layers=["conv"], input_size=16)
    net.seen = 0
    feats = featurize(data, enc, progress=False)
    assert net.seen == 3 * 3 - 1 + 2 * 3
    assert feats.ids == data.ids and feats.features.shape == (5, 3, 5)
    for i in range(len(data)):
        imgs, masks = data.exemplars(i)
        direct = enc.pool(enc.encode(imgs), masks.unsqueeze(0), torch.arange(3).unsqueeze(0))[0]
        assert torch.allclose(feats.features[i], direct, atol=1e-5)
    result = fit(data, epochs=1, lm_epochs=1, val_fraction=0.0, progress=False, encoder=enc)
    assert result.captioner.config.encoder == "custom:Counting"
    assert len(result.captioner.describe(feats.features, beam_size=2, max_length=4)) == 5


def _parse(argv):
    parser = argparse.ArgumentParser(prog="neuronlabel train")
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_train_command_end_to_end(tmp_path, capsys):
    write_fixture(tmp_path / "milan")
    out, cache = tmp_path / "cap.pt", tmp_path / "feats.pt"
    argv = ["--data", str(tmp_path / "milan"), "--out", str(out), "--features-cache", str(cache), "--epochs", "2",
            "--lm-epochs", "1", "--val-fraction", "0.2", "--attention", "additive", "dot_product",
            "--fusion", "gate", "--checkpoint-dir", str(tmp_path / "run"), "--no-progress", "--device", "cpu"]
    assert command.run(_parse(argv)) == 0
    assert "saved" in capsys.readouterr().out
    cap = Captioner.load(out)
    assert cap.config.attention == ("additive", "dot_product") and cap.config.feature_size == 1752
    assert cap.lm is not None and (tmp_path / "run" / "checkpoint.pt").is_file()
    feats = CaptionData.load(cache)
    assert len(cap.describe(feats.features, beam_size=3)) == 5
    resumed = ["--features", str(cache), "--out", str(tmp_path / "cap2.pt"), "--epochs", "3", "--lm-epochs", "1",
               "--val-fraction", "0.2", "--attention", "additive", "dot_product", "--fusion", "gate",
               "--checkpoint-dir", str(tmp_path / "run"), "--resume", "--no-progress", "--device", "cpu"]
    assert command.run(_parse(resumed)) == 0
    assert command.run(_parse(["--out", str(out)])) == 2
    assert "pass --data" in capsys.readouterr().err


@pytest.mark.shared_data
def test_real_milannotations_text_feeds_the_vocabulary(shared_data):
    path = shared_data / "milannotations" / "resnet152_imagenet.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    texts = command._read_texts([path])
    assert len(texts) > 10000
    from neuronlabel.captioner import Vocabulary

    vocab = Vocabulary.build(texts, min_count=2)
    assert len(vocab) > 500 and vocab.decode(vocab.encode(texts[0].lower())) != ""
