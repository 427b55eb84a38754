"""label_model end to end on CUDA against the CPU run: same labels, and the GPU's times and memory.

    bash benchmarks/gpu_check.sh                      # both rows, 1000 photos
    python benchmarks/gpu_check.py --images 200 --rows lite0

Rows as in ``benchmarks/label_throughput.py``: EfficientNet-Lite0 blocks.5 + blocks.6 and
ResNet-50 (random weights, seed 0) layer1..layer4, over the first ``--images`` photos of
../shared/data/imagenet-sample-256, decoded once before timing. Each row runs
``label_model`` on the CPU, then on the GPU (probe and captioning both there; TF32 off so
the GPU does float32 arithmetic), and prints probe / captioning / total seconds, the peak
GPU memory and how many labels equal the CPU's. Exit status 0 when every label is equal
(or when there is no CUDA device, which it reports), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from label_throughput import DATA, ROWS, _images, _net  # noqa: E402


def run(row: str, device: str, n: int, data: Path, batch_size: int) -> dict:
    import torch

    from neuronlabel import label_model
    from neuronlabel.captioner import Captioner

    net = _net(row)
    _, source = _images(net, data, n)
    net.to(device)
    cap = Captioner.load(map_location=device)
    cap.encode(torch.rand(2, 3, 224, 224))
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    report = label_model(net, ROWS[row][1], source, captioner=cap, batch_size=batch_size, device=device,
                         progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - t
    out = {"row": row, "device": device, "units": len(report.units), "probe_s": report.meta["seconds"]["probe"],
           "caption_report_s": round(total - report.meta["seconds"]["probe"], 2), "total_s": round(total, 2),
           "labels": {f"{u.layer}:{u.unit}": u.label for u in report.units}}
    if device == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(f"CUDA is not available here (torch {torch.__version__}, built for CUDA {torch.version.cuda}, "
              f"{torch.cuda.device_count()} devices): nothing to check on a GPU")
        return 0
    if not args.data.is_dir():
        print(f"no probe photos at {args.data}; pass --data FOLDER")
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    results, ok = [], True
    for row in args.rows:
        cpu = run(row, "cpu", args.images, args.data, args.batch_size)
        gpu = run(row, "cuda", args.images, args.data, args.batch_size)
        same = sum(cpu["labels"][u] == gpu["labels"].get(u) for u in cpu["labels"])
        ok &= same == len(cpu["labels"])
        for r in (cpu, gpu):
            print(json.dumps({k: v for k, v in r.items() if k != "labels"}), flush=True)
        print(f"{ROWS[row][0]}: {same} of {len(cpu['labels'])} GPU labels equal the CPU's", flush=True)
        results.append({"cpu": cpu, "gpu": gpu, "same_labels": same})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
