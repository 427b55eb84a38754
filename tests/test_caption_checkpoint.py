"""The captioning stage keeps its finished units: an interrupted run resumes without recaptioning them."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
import torchvision

from neuronlabel import label_model
from neuronlabel.caption_store import captions_path
from neuronlabel.captioner import Captioner, CaptionerConfig

SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, time, torch, torchvision
    signal.signal(signal.SIGINT, signal.default_int_handler)   # Ctrl-C as in a terminal, also under nohup or &
    from neuronlabel import label_model
    from neuronlabel.captioner import Captioner, CaptionerConfig
    torch.set_num_threads(1)
    checkpoint, out = sys.argv[1] or None, sys.argv[2]
    torch.manual_seed(0)
    cap = Captioner(CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4),
                    vocab=["red", "dog", "faces", "stripes"])
    described = []
    describe = cap.describe
    def counted(x, **kw):
        if len(described) == int(os.environ.get("HOLD_AFTER", -1)):
            time.sleep(600)
        described.append(x.shape[0])
        return describe(x, **kw)
    cap.describe = counted
    torch.manual_seed(1)
    net = torchvision.models.resnet18().eval()
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    t0 = time.perf_counter()
    report = label_model(net, ["layer3", "layer4"], images=images, k=3, captioner=cap, progress=False,
                         checkpoint=checkpoint)
    data = json.loads(report.to_json())
    data["meta"].pop("created"), data["meta"].pop("seconds")
    with open(out, "w") as f:
        json.dump({"report": data, "described": sum(described), "seconds": time.perf_counter() - t0}, f)
""")
UNITS = 256 + 512


def _run(tmp_path, checkpoint, name, env=None):
    out = tmp_path / f"{name}.json"
    subprocess.run([sys.executable, "-c", SCRIPT, str(checkpoint or ""), str(out)], check=True,
                   env=dict(os.environ, **(env or {})), timeout=300)
    return json.loads(out.read_text())


def _done_units(path) -> int:
    try:
        return sum(len(units) for units in json.loads(path.read_text())["units"].values())
    except (OSError, ValueError):
        return 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_killed_during_captioning_resumes_without_recaptioning(tmp_path, sig):
    ckpt = tmp_path / "run.ckpt"
    captions = captions_path(ckpt)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(ckpt), str(tmp_path / "killed.json")],
                            env=dict(os.environ, HOLD_AFTER="2"), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _done_units(captions) < 128:
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.05)
    proc.send_signal(sig)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode != 0, "the run ended before the signal arrived"
    if sig != signal.SIGKILL:
        assert "KeyboardInterrupt" in err
    assert _done_units(captions) == 128
    assert not list(tmp_path.glob(".*.tmp"))
    resumed = _run(tmp_path, ckpt, "resumed")
    fresh = _run(tmp_path, None, "fresh")
    assert 128 < fresh["described"] <= UNITS           # units the evidence labels alone are not captioned
    assert resumed["described"] == fresh["described"] - 128
    assert resumed["report"] == fresh["report"]


def tiny(seed):
    torch.manual_seed(seed)
    return Captioner(CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4),
                     vocab=["red", "dog", "faces", "stripes"])


def _labels(report):
    return [(u.layer, u.unit, u.label, u.candidates) for u in report]


def test_captions_of_another_captioner_are_described_again(tmp_path, one_thread):
    net = torchvision.models.resnet18().eval()
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ckpt = tmp_path / "run.ckpt"
    first = label_model(net, ["layer4"], images=images, k=3, captioner=tiny(0), progress=False, checkpoint=ckpt,
                        caption_uncertain=True)
    assert _done_units(captions_path(ckpt)) == 512
    with pytest.warns(UserWarning, match="made for another probe result, captioner or decoding settings"):
        other = label_model(net, ["layer4"], images=images, k=3, captioner=tiny(1), progress=False, checkpoint=ckpt,
                            caption_uncertain=True)
    plain = label_model(net, ["layer4"], images=images, k=3, captioner=tiny(1), progress=False,
                        caption_uncertain=True)
    assert _labels(other) == _labels(plain) and _labels(other) != _labels(first)
    captions_path(ckpt).write_text("{not json")
    with pytest.warns(UserWarning, match="cannot read the captions checkpoint"):
        again = label_model(net, ["layer4"], images=images, k=3, captioner=tiny(1), progress=False, checkpoint=ckpt,
                            caption_uncertain=True)
    assert _labels(again) == _labels(plain)

