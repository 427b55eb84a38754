"""Whole-job throughput of label_model: bare forward, probe, captioning, total, in one run.

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 \\
        python benchmarks/label_throughput.py                            # both rows, 1000 photos
    python benchmarks/label_throughput.py --baseline ../nl-before        # before/after, labels compared
    python benchmarks/label_throughput.py --fast                         # also label_model(fast=True)
    python benchmarks/label_throughput.py --fast-compare                 # opt-in fast probe vs eager loop

Rows: EfficientNet-Lite0 (bundled ImageNet weights) blocks.5 + blocks.6 (512 units) and
ResNet-50 (random weights, seed 0) layer1..layer4 (3840 units). The probe set is the first
``--images`` photos of ``--data`` (default ../shared/data/imagenet-sample-256), decoded and
preprocessed once with the network's own data config before any timing, so every figure
below is model and labelling work only, never JPEG decoding. "bare forward" is the same
images through the same network, batch 64, under ``torch.inference_mode()``, no hooks, timed
just before and just after the ``label_model`` call and averaged (on a shared machine one bare
pass can differ from the next by 20 %; both are in the JSON).
"probe", "captioning" and "evidence + report" are the stages of one ``label_model`` call
(the bundled captioner, loaded and warmed before timing; the evidence stage is on, as by
default); "total" is that call's wall time.

``--baseline DIR`` runs each row twice, alternating, in child processes: once with the
neuronlabel found in DIR (an older checkout, e.g. ``git worktree add ../nl-before <commit>``)
and once with this checkout, and says whether every label is identical. Each child times
its own bare forward pass, so the ratios stay comparable when the machine is shared.

``--fast-compare`` times, per row, a plain eager ``for x in loader: net(x)`` loop against
``probe(..., fast=True)`` over the same images, alternating ``--repeats`` times.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "imagenet-sample-256"
ROWS = {
    "lite0": ("EfficientNet-Lite0 blocks.5, blocks.6", ["blocks.5", "blocks.6"]),
    "resnet50": ("ResNet-50 (random weights) layer1-4", ["layer1", "layer2", "layer3", "layer4"]),
}


def _net(row: str):
    import torch
    import torchvision

    from neuronlabel import models

    if row == "lite0":
        net, _ = models.load("efficientnet_lite0")
    else:
        torch.manual_seed(0)
        net = torchvision.models.resnet50()
    return net.eval()


def _images(net, data: Path, n: int):
    """Model inputs ``[n, 3, H, W]`` and a source that displays them, decoded once."""
    import torch

    from neuronlabel.sources import TensorSource, as_source

    folder = as_source(str(data), net)
    x = torch.stack([folder[i] for i in range(min(n, len(folder)))])
    return x, TensorSource(x, folder.normalize)


def _bare(net, x, batch_size: int) -> float:
    import torch

    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            net(x[i:i + batch_size])
    return time.perf_counter() - t


def _eager_loop(net, x, batch_size: int) -> float:
    import torch

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=batch_size)
    t = time.perf_counter()
    with torch.no_grad():
        for (batch,) in loader:
            net(batch)
    return time.perf_counter() - t


def measure_row(row: str, n: int, data: Path, batch_size: int, threads: int | None, fast: bool = False) -> dict:
    """One row in this process: bare forward, then one label_model call; labels included."""
    import torch

    from neuronlabel import label_model
    from neuronlabel.captioner import Captioner

    if threads:
        torch.set_num_threads(threads)
    net = _net(row)
    x, source = _images(net, data, n)
    cap = Captioner.load()
    cap.encode(torch.rand(2, 3, 224, 224))
    _bare(net, x[:batch_size], batch_size)
    cpu = time.process_time()
    bare_before = _bare(net, x, batch_size)
    bare_cpu = time.process_time() - cpu
    kwargs = {"threads": threads} if threads and "threads" in inspect.signature(label_model).parameters else {}
    if fast:
        kwargs["fast"] = True
    t, cpu = time.perf_counter(), time.process_time()
    report = label_model(net, ROWS[row][1], source, captioner=cap, batch_size=batch_size, progress=False, **kwargs)
    total, total_cpu = time.perf_counter() - t, time.process_time() - cpu
    bare_after = _bare(net, x, batch_size)
    bare = (bare_before + bare_after) / 2
    seconds = report.meta["seconds"]
    probe_s, caption_s, evidence_s = seconds["probe"], seconds["caption"], seconds.get("evidence", 0.0)
    labels = {f"{u.layer}:{u.unit}": u.label for u in report.units}
    return {"row": row, "units": len(labels), "images": len(x), "threads": torch.get_num_threads(),
            "bare_s": round(bare, 2), "bare_before_s": round(bare_before, 2), "bare_after_s": round(bare_after, 2),
            "probe_s": probe_s, "caption_report_s": round(total - probe_s, 2),
            "caption_s": caption_s, "evidence_s": evidence_s,
            "report_s": round(total - probe_s - caption_s - evidence_s, 2), "total_s": round(total, 2),
            "caption_only_over_probe": round(caption_s / probe_s, 3), "probe_over_bare": round(probe_s / bare, 3),
            "caption_over_probe": round((total - probe_s) / probe_s, 3), "total_over_bare": round(total / bare, 3),
            "bare_cpu_s": round(bare_cpu, 2), "total_cpu_s": round(total_cpu, 2),
            "total_over_bare_cpu": round(total_cpu / bare_cpu, 3), "load_average": round(os.getloadavg()[0], 1),
            "labels": labels}


def fast_compare(row: str, n: int, data: Path, batch_size: int, repeats: int, threads: int | None) -> dict:
    """Eager user loop against the opt-in fast probe on the same images, alternating."""
    import torch

    from neuronlabel import probe

    if threads:
        torch.set_num_threads(threads)
    net = _net(row)
    x, source = _images(net, data, n)
    layers = ROWS[row][1]
    t = time.perf_counter()
    probe(net, source, layers, batch_size=batch_size, progress=False, fast=True, indices=range(batch_size))
    warm = time.perf_counter() - t
    _eager_loop(net, x[:batch_size], batch_size)
    eager, fast, plain = [], [], []
    for _ in range(repeats):
        eager.append(_eager_loop(net, x, batch_size))
        t = time.perf_counter()
        probe(net, source, layers, batch_size=batch_size, progress=False, fast=True)
        fast.append(time.perf_counter() - t)
        t = time.perf_counter()
        probe(net, source, layers, batch_size=batch_size, progress=False)
        plain.append(time.perf_counter() - t)
    e, f, p = statistics.median(eager), statistics.median(fast), statistics.median(plain)
    return {"row": row, "images": len(x), "threads": torch.get_num_threads(), "eager_loop_s": round(e, 2),
            "fast_probe_s": round(f, 2), "probe_s": round(p, 2), "fast_over_eager": round(f / e, 3),
            "probe_over_eager": round(p / e, 3), "fast_warmup_s": round(warm, 2)}


def _child(code_root: Path, args: argparse.Namespace, row: str, fast: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code_root))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", row, "--images", str(args.images),
           "--data", str(args.data), "--batch-size", str(args.batch_size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if fast:
        cmd.append("--fast")
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=str(code_root))
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report_labels(row: str, runs: list[dict]) -> None:
    first = runs[0]
    for other in runs[1:]:
        same = sum(first["labels"][u] == other["labels"].get(u) for u in first["labels"])
        print(f"{row}: {other.get('code', 'this')} labels equal {first.get('code', 'this')}'s for {same} of "
              f"{len(first['labels'])} units", flush=True)
    for r in runs:
        print(json.dumps({k: v for k, v in r.items() if k != "labels"}), flush=True)


def _table(results: list[dict]) -> str:
    lines = ["| code | network, layers | units | bare forward | probe | captioning | evidence + report | total "
             "| probe / bare | captioning / probe | total / bare |", "|---" * 11 + "|"]
    for r in results:
        rest = r["caption_report_s"] - r["caption_s"]
        lines.append(f"| {r.get('code', 'this')} | {ROWS[r['row']][0]} | {r['units']} | {r['bare_s']:.1f} s "
                     f"| {r['probe_s']:.1f} s | {r['caption_s']:.1f} s | {rest:.1f} s | {r['total_s']:.1f} s "
                     f"| {r['probe_over_bare']:.2f} | {r['caption_s'] / r['probe_s']:.2f} "
                     f"| {r['total_over_bare']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, help="torch threads (default: neuronlabel's default)")
    ap.add_argument("--baseline", type=Path, help="an older checkout to compare against (labels and times)")
    ap.add_argument("--fast-compare", action="store_true", help="fast probe vs a plain eager loop instead")
    ap.add_argument("--fast", action="store_true", help="also label each row with label_model(fast=True)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds for --fast-compare")
    ap.add_argument("--json", type=Path, help="also write every figure (and the labels) here")
    ap.add_argument("--child", choices=list(ROWS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no probe photos at {args.data}; pass --data FOLDER")
    if args.child:
        print(json.dumps(measure_row(args.child, args.images, args.data, args.batch_size, args.threads, args.fast)))
        return
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, MALLOC_MMAP_MAX_="
          f"{os.environ.get('MALLOC_MMAP_MAX_', 'unset')}", flush=True)
    results = []
    if args.fast_compare:
        for row in args.rows:
            r = fast_compare(row, args.images, args.data, args.batch_size, args.repeats, args.threads)
            print(json.dumps(r), flush=True)
            results.append(r)
    elif args.baseline:
        for row in args.rows:
            runs = [dict(_child(args.baseline.resolve(), args, row), code="before"),
                    dict(_child(ROOT, args, row), code="after")]
            if args.fast:
                runs.append(dict(_child(ROOT, args, row, fast=True), code="after, fast=True"))
            _report_labels(row, runs)
            results += runs
        print(_table(results))
    else:
        for row in args.rows:
            runs = [_child(ROOT, args, row)]
            if args.fast:
                runs.append(dict(_child(ROOT, args, row, fast=True), code="fast=True"))
            _report_labels(row, runs)
            results += runs
        print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
