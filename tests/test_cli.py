import json

import numpy as np
import pytest
import torch
from PIL import Image

from neuronlabel.captioner import Captioner, CaptionerConfig
from neuronlabel.cli import main


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def captioner_file(tmp_path):
    config = CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4)
    path = tmp_path / "cap.pt"
    Captioner(config, vocab=["red", "dog", "faces", "stripes"]).save(path)
    return path


def test_layers_lists_shapes_and_units(capsys):
    assert main(["layers", "torchvision:resnet18", "--which", "layer4", "fc"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "layer4" and "512 units" in out[0] and "7x7" in out[0]
    assert out[1].split()[0] == "fc" and "1000 units" in out[1]


@pytest.mark.parametrize("argv, message", [
    (["layers", "resnet"], "unknown model 'resnet'"),
    (["layers", "timm:resnet_9000"], "timm has no model 'resnet_9000'"),
    (["layers", "torchvision:resnet19"], "Did you mean: 'resnet18'"),
    (["label", "torchvision:resnet18", "--layers", "layer9", "--out", "x"], "no layer 'layer9'. Did you mean"),
    (["label", "torchvision:resnet18", "--layers", "layer4", "--images", "/no/such/dir", "--out", "x"],
     "does not exist"),
    (["layers", "/no/such/model.pt"], "does not exist"),
    (["label", "torchvision:resnet18", "--layers", "layer4", "--threads", "0", "--out", "x"],
     "threads must be a positive integer"),
])
def test_clear_errors_exit_2_without_traceback(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_pickled_module_needs_trust_pickle(tmp_path, capsys):
    path = tmp_path / "net.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3)), path)
    assert main(["layers", str(path)]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert main(["layers", str(path), "--trust-pickle", "--input-size", "3", "8", "8"]) == 0


def test_export_archives_load_with_module_paths_and_torchscript_is_explained(tmp_path, capsys):
    import torchvision

    net = torchvision.models.resnet18().eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    archive = tmp_path / "r18.pt2"
    torch.export.save(torch.export.export(net, (torch.rand(2, 3, 32, 32),), dynamic_shapes=({0: batch},)), archive)
    assert main(["layers", str(archive), "--which", "layer4", "--input-size", "3", "32", "32"]) == 0
    assert "512 units" in capsys.readouterr().out
    scripted = tmp_path / "net.ts"
    torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3))).save(str(scripted))
    assert main(["layers", str(scripted)]) == 2
    assert "torch.export.save" in capsys.readouterr().err


def test_label_then_report_then_check(tmp_path, photos, captioner_file, capsys):
    out = tmp_path / "out"
    assert main(["label", "torchvision:resnet18", "--layers", "layer4", "--images", str(photos), "--out", str(out),
                 "-k", "3", "--captioner", str(captioner_file), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert len(report["units"]) == 512
    csv = (out / "labels.csv").read_text().splitlines()
    assert csv[0] == "layer,unit,description" and len(csv) == 513
    assert (out / "report.html").stat().st_size > 10_000
    assert main(["report", str(out / "report.json"), "--html", str(tmp_path / "again.html")]) == 0
    words = {u["label"].split()[0] for u in report["units"] if u["label"]}
    rc = main(["check", str(out / "report.json"), "--concepts", ",".join(words), "--format", "json"])
    assert rc == 1
    assert main(["check", str(out / "report.json"), "--concepts", "zebra"]) == 0
    assert main(["label", "torchvision:resnet18", "--layers", "layer4", "--images", str(photos), "--out",
                 str(tmp_path / "all"), "-k", "3", "--captioner", str(captioner_file), "--quiet",
                 "--caption-uncertain"]) == 0
    again = json.loads((tmp_path / "all" / "report.json").read_text())
    assert len(again["units"]) == 512
