"""Time of probe() on resnet18 layer1..layer4 over a bare inference forward pass, and peak memory.

Run:  MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 python benchmarks/probe_overhead.py
(also run it without the two variables: glibc's default malloc returns large activations to
the OS after every forward pass and the page faults cost a third of the CPU time here.)

Timing: the same 512 random images (224 px), batch 64, CPU, random weights; bare pass and
probe alternate for ``--repeats`` rounds and the median of each is compared, in one run.
Memory: peak RSS of a child process that probes N = 256 and N = 1024 images.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torchvision

LAYERS = ["layer1", "layer2", "layer3", "layer4"]


def bare(net, images, batch_size):
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            net(images[i:i + batch_size])


def run_probe(net, images, batch_size, **kw):
    from neuronlabel import probe

    return probe(net, images, LAYERS, k=15, batch_size=batch_size, progress=False, **kw)


def timing(n: int, batch_size: int, repeats: int) -> dict:
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    images = torch.randn(n, 3, 224, 224)
    bare(net, images[:batch_size], batch_size)
    run_probe(net, images[:batch_size], batch_size)
    t_bare, t_probe, t_full = [], [], []
    for _ in range(repeats):
        t = time.perf_counter(); bare(net, images, batch_size); t_bare.append(time.perf_counter() - t)
        t = time.perf_counter(); run_probe(net, images, batch_size); t_probe.append(time.perf_counter() - t)
        t = time.perf_counter(); run_probe(net, images, batch_size, early_exit=False); t_full.append(time.perf_counter() - t)
    b, p, f = statistics.median(t_bare), statistics.median(t_probe), statistics.median(t_full)
    return {"images": n, "batch_size": batch_size, "threads": torch.get_num_threads(), "bare_s": round(b, 3),
            "probe_s": round(p, 3), "ratio": round(p / b, 3), "probe_no_early_exit_s": round(f, 3),
            "ratio_no_early_exit": round(f / b, 3)}


def peak_child(n: int, batch_size: int) -> float:
    code = (f"import torch, torchvision, resource, sys; sys.path.insert(0, '.');"
            f"from benchmarks.probe_overhead import run_probe;"
            f"torch.manual_seed(0); net = torchvision.models.resnet18().eval();"
            f"from torch.utils.data import Dataset\n"
            f"class R(Dataset):\n"
            f"    def __len__(self): return {n}\n"
            f"    def __getitem__(self, i): return torch.randn(3, 224, 224, generator=torch.Generator().manual_seed(i))\n"
            f"run_probe(net, R(), {batch_size}, early_exit=False);"
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    result = timing(args.images, args.batch_size, args.repeats)
    if not args.skip_memory:
        small, large = peak_child(256, args.batch_size), peak_child(1024, args.batch_size)
        result.update(peak_rss_mb_256=round(small, 1), peak_rss_mb_1024=round(large, 1),
                      memory_growth=round(large / small - 1, 4))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
