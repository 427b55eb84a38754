"""Whether torch.compile would make the probe's forward pass faster: eager, channels-last and compiled.

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 python benchmarks/compile_forward.py resnet50

Times ``--images`` random 224 px images, batch 64, under ``torch.inference_mode()``, through the
network eager, channels-last and ``torch.compile``-d (inductor), after one warm-up batch each;
the compile figure is the time of the first compiled batch (compiling included).
"""

from __future__ import annotations

import argparse
import copy
import time

import torch


def _net(name: str):
    import torchvision

    from neuronlabel import models

    torch.manual_seed(0)
    if name == "resnet50":
        return torchvision.models.resnet50().eval()
    net, _ = models.load(name)
    return net.eval()


def _time(net, x, batch_size: int = 64) -> float:
    with torch.inference_mode():
        t = time.perf_counter()
        for i in range(0, len(x), batch_size):
            net(x[i:i + batch_size])
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", nargs="?", default="resnet50", help="resnet50 or a neuronlabel.models name")
    ap.add_argument("--images", type=int, default=256)
    args = ap.parse_args()
    net = _net(args.network)
    x = torch.randn(args.images, 3, 224, 224)
    _time(net, x[:64])
    eager = _time(net, x)
    last = copy.deepcopy(net).to(memory_format=torch.channels_last)
    xl = x.contiguous(memory_format=torch.channels_last)
    _time(last, xl[:64])
    channels_last = _time(last, xl)
    compiled = torch.compile(copy.deepcopy(net))
    compile_s = _time(compiled, x[:64])
    print(f"{args.network}, {args.images} images: eager {eager:.1f} s, channels-last {channels_last:.1f} s, "
          f"compiled {_time(compiled, x):.1f} s after a {compile_s:.0f} s first batch (compiling)")


if __name__ == "__main__":
    main()
