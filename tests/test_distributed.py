"""Two CPU ranks started by torchrun give exactly what one process gives.

batch_size=1 makes every image's activations bitwise the same in both runs (oneDNN may pick
other kernels for other batch compositions), so the comparison tests the sharding and merging.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent("""
    import json, sys, torch, torchvision
    import torch.distributed as dist
    from neuronlabel.captioner import Captioner, CaptionerConfig
    from neuronlabel.distributed import label_model_distributed
    out = sys.argv[1]
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    images = torch.randn(21, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    cap = Captioner(CaptionerConfig(embedding_size=8, hidden_size=16, attention_hidden_size=16, max_length=4),
                    vocab=["red", "dog", "faces", "stripes", "sky"])
    report = label_model_distributed(net, ["layer2", "layer4"], images, k=4, batch_size=1, captioner=cap)
    if report is not None:
        report.to_json(out)
        torch.save({l: (r.ids, r.scores, r.thresholds, r.threshold_error) for l, r in report.probe_result.items()},
                   out + ".pt")
        if dist.get_world_size() == 1:
            from neuronlabel import label_model
            label_model(net, ["layer2", "layer4"], images, k=4, batch_size=1, captioner=cap,
                        progress=False).to_json(out + ".single.json")
    dist.destroy_process_group()
""")


def run(tmp_path, nproc):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    out = str(tmp_path / f"report{nproc}.json")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           str(29500 + nproc + os.getpid() % 1000), str(script), out]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(open(out).read()), torch.load(out + ".pt")


def test_two_ranks_equal_one_process(tmp_path):
    one, stats_one = run(tmp_path, 1)
    two, stats_two = run(tmp_path, 2)
    for layer in stats_one:
        ids1, scores1, thr1, err1 = stats_one[layer]
        ids2, scores2, thr2, err2 = stats_two[layer]
        assert torch.equal(ids1, ids2) and torch.equal(scores1, scores2)
        assert bool(((thr1 - thr2).abs() <= (err1 + err2) * 1.0001).all())
    labels1 = [(u["layer"], u["unit"], u["label"]) for u in one["units"]]
    labels2 = [(u["layer"], u["unit"], u["label"]) for u in two["units"]]
    assert len(labels1) == 128 + 512
    same = sum(a == b for a, b in zip(labels1, labels2))
    assert same >= 0.95 * len(labels1), f"only {same} of {len(labels1)} labels agree"
    assert two["meta"]["world_size"] == 2
    single = json.loads(open(tmp_path / "report1.json.single.json").read())
    assert [(u["layer"], u["unit"], u["label"]) for u in single["units"]] == labels1
    # the evidence stage ran: one rank gives label_model's confidences and flags exactly; two ranks'
    # merged thresholds differ within the sketch's bound, and so may a weak unit's confidence
    assert [u["confidence"] for u in one["units"]] == pytest.approx([u["confidence"] for u in single["units"]])
    assert [u["flags"] for u in one["units"]] == [u["flags"] for u in single["units"]]
    assert all(u["confidence"] >= 0 for u in two["units"]) and any(u["evidence"] for u in two["units"])
    assert any("uncertain" in u["flags"] for u in two["units"])
    same_flags = sum(a["flags"] == b["flags"] for a, b in zip(one["units"], two["units"]))
    assert same_flags >= 0.9 * len(labels1), f"only {same_flags} of {len(labels1)} units keep their flags"
