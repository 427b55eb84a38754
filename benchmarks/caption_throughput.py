"""Captioner throughput: units described per second and exemplar images encoded per second.

    /work/venv/bin/python benchmarks/caption_throughput.py                 # defaults below
    /work/venv/bin/python benchmarks/caption_throughput.py --captioner runs/best.pt --device cuda

Describing: ``--units`` units × ``--k`` exemplars of already-pooled features, beam search
(``--beam``), ``--batch-size`` units per batch, with wPMI reranking when the captioner has
an LM prior. Without ``--captioner`` the weights are random (the architecture and the
decoding work are the real ones; the generated lengths are printed so the figure can be
judged). Encoding: ``--images`` distinct 224×224 images through the frozen encoder,
each with a mask, pooled into one vector per exemplar.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from neuronlabel.captioner import Captioner, CaptionerConfig, Vocabulary, tokenize


def _vocab(size: int) -> Vocabulary:
    return Vocabulary([f"w{i}" for i in range(size)])


def bench_describe(cap: Captioner, units: int, k: int, beam: int, batch_size: int, max_length: int,
                   device: str, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(units, k, cap.config.feature_size, generator=gen).abs()
    cap.describe(x[: min(units, batch_size)], beam_size=beam, max_length=max_length, batch_size=batch_size)
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = cap.describe(x, beam_size=beam, max_length=max_length, batch_size=batch_size)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    words = [len(tokenize(u[0][0])) for u in out]
    return {"seconds": min(times), "units_per_s": units / min(times), "mean_words": statistics.mean(words),
            "max_words": max(words)}


def bench_encode(cap: Captioner, n: int, batch: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(n, 3, 224, 224, generator=gen)
    masks = torch.rand(n, 1, 224, 224, generator=gen) > 0.9
    index = torch.arange(n).view(n, 1)
    enc = cap.encoder
    enc.encode_pool(images[:batch], masks[:batch], index[:batch], batch_size=batch)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        enc.encode_pool(images, masks, index, batch_size=batch)
        if str(cap.device).startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return {"seconds": min(times), "images_per_s": n / min(times)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--captioner", help="a saved captioner (default: random weights, config below)")
    p.add_argument("--attention", nargs="+", default=["additive", "multiplicative", "dot_product"])
    p.add_argument("--fusion", default="sum")
    p.add_argument("--vocab-size", type=int, default=4000)
    p.add_argument("--units", type=int, default=1000)
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--max-length", type=int, nargs="+", default=[30, 6],
                   help="one run per value; random weights rarely choose <end>, so 30 is the worst case "
                        "(every unit decodes 30 words) and 6 the cost of typical 2-6 word descriptions")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--encode-batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--skip-encode", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.captioner:
        cap = Captioner.load(args.captioner, map_location=args.device)
    else:
        cfg = CaptionerConfig(attention=tuple(args.attention), fusion=args.fusion)
        cap = Captioner(cfg, _vocab(args.vocab_size), lm=True).to(args.device)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"captioner: attention {cap.config.attention}, fusion {cap.config.fusion}, D={cap.config.feature_size}, "
          f"vocab {len(cap.vocab)}, LM prior {'yes' if cap.lm is not None else 'no'}, "
          f"weights {'trained: ' + args.captioner if args.captioner else 'random'}")
    for max_length in args.max_length:
        d = bench_describe(cap, args.units, args.k, args.beam, args.batch_size, max_length, args.device,
                           args.repeats)
        print(f"describe: {args.units} units x {args.k} exemplars, beam {args.beam}, batch {args.batch_size}, "
              f"max_length {max_length}: {d['seconds']:.2f} s = {d['units_per_s']:.1f} units/s "
              f"(mean {d['mean_words']:.1f} words, longest {d['max_words']})")
    if not args.skip_encode:
        e = bench_encode(cap, args.images, args.encode_batch, args.repeats)
        print(f"encode: {args.images} images 224x224 with {cap.config.encoder} ({len(cap.encoder.layers)} depths, "
              f"mask-pooled): {e['seconds']:.2f} s = {e['images_per_s']:.1f} images/s")


if __name__ == "__main__":
    main()
