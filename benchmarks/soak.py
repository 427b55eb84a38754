"""Soak: probe 4 layers of a randomly initialised resnet50 over 20,000 generated 128 px images.

Run:  MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 python benchmarks/soak.py [--images 20000]

Prints the peak resident memory of this process after 5k, 10k and 20k images (it must stay
flat: the probe keeps O(units x k x map), never O(images)) and the images per second.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
import torchvision

from neuronlabel import probe


class Generated(torch.utils.data.Dataset):
    """Deterministic pseudo-images; records peak RSS when given marks are reached."""

    def __init__(self, n: int, size: int, marks: list[int]):
        self.n, self.size, self.marks, self.peaks = n, size, set(marks), {}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        if i + 1 in self.marks:
            self.peaks[i + 1] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        g = torch.Generator().manual_seed(i)
        smooth = torch.nn.functional.interpolate(torch.randn(1, 3, 8, 8, generator=g), size=self.size,
                                                 mode="bilinear", align_corners=False)[0]
        return smooth + 0.3 * torch.randn(3, self.size, self.size, generator=g)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    marks = [m for m in (args.images // 4, args.images // 2, args.images) if m]
    torch.manual_seed(0)
    net = torchvision.models.resnet50().eval()
    data = Generated(args.images, args.size, marks)
    t0 = time.perf_counter()
    result = probe(net, data, ["layer1", "layer2", "layer3", "layer4"], k=15, batch_size=args.batch_size,
                   progress=False)
    seconds = time.perf_counter() - t0
    peaks = {f"peak_rss_mb_after_{m}": round(v, 1) for m, v in sorted(data.peaks.items())}
    print(json.dumps({"images": result.num_images, "size": args.size, "seconds": round(seconds, 1),
                      "images_per_s": round(result.num_images / seconds, 1), **peaks,
                      "final_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)},
                     indent=2))


if __name__ == "__main__":
    main()
