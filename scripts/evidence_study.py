"""Measure the evidence stage: how often it flags random and real units uncertain, and how well evidence
alone names final-layer (logit) units.

    python scripts/evidence_study.py --data ../shared/data [--cache /tmp/evidence-study] [--only uncertain]

* ``uncertain``: share of units flagged uncertain for a random-weight torchvision ResNet-18's
  layer4 (seed 0) and EfficientNet-Lite0's blocks.6, over the ImageNet sample (1000 photos) and
  over the built-in demo photos.
* ``final``: the logit units of EfficientNet-Lite0 and of MobileNetV2 (a network the scorer is
  not) over the ImageNet sample: the share whose evidence (most specific WordNet node holding
  45 % of the mass) is the unit's class exactly, and the class or a close hypernym (<= 3
  levels up, generic nodes excepted), for each classifier mode (whole image, masked region, mix).

Probe results are cached in ``--cache`` (they take most of the time on a CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neuronlabel import models, probe  # noqa: E402
from neuronlabel.concepts import Inventory  # noqa: E402
from neuronlabel.evidence import compute_evidence  # noqa: E402
from neuronlabel.probing import ProbeResult  # noqa: E402
from neuronlabel.sources import FolderSource, as_source, data_config, transform_from_config  # noqa: E402


def _net(name: str):
    if name == "random_resnet18":
        import torchvision

        torch.manual_seed(0)
        net = torchvision.models.resnet18().eval()
        return net, transform_from_config(data_config(net))
    return models.load(name)


def _probe(name: str, layer: str, photos: str, data: Path, cache: Path):
    net, pre = _net(name)
    src = as_source(None, net) if photos == "demo" else FolderSource(data / "imagenet-sample-256", pre)
    path = cache / f"{name}-{layer}-{photos}.pt"
    if path.is_file():
        return ProbeResult.load(path, source=src)
    t = time.perf_counter()
    result = probe(net, src, [layer], progress=False)
    result.save(path)
    print(f"  probed {name} {layer} over {photos} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    return result


def uncertain(data: Path, cache: Path) -> dict:
    out = {}
    for name, layer in (("random_resnet18", "layer4"), ("efficientnet_lite0", "blocks.6")):
        for photos in ("imagenet", "demo"):
            result = _probe(name, layer, photos, data, cache)
            t, c = time.perf_counter(), time.process_time()
            ev = compute_evidence(result, {layer: list(range(result[layer].units))})
            flagged = sum(e.uncertain for e in ev.values())
            out[f"{name} {layer} / {photos}"] = {
                "units": len(ev), "uncertain": flagged, "share": round(flagged / len(ev), 3),
                "evidence_wall_s": round(time.perf_counter() - t, 1), "evidence_cpu_s": round(time.process_time() - c, 1)}
            print(json.dumps({f"{name} {layer} / {photos}": out[f"{name} {layer} / {photos}"]}), flush=True)
    return out


def _close(inv: Inventory, wnid: str, levels: int = 3) -> set:
    """The class and its ancestors up to ``levels`` WordNet steps, generic ones left out."""
    frontier, out = [wnid], {wnid}
    for _ in range(levels):
        frontier = [p for w in frontier for p in inv.parents(w)]
        out |= {p for p in frontier if not inv.is_generic(p)}
    return out


def final(data: Path, cache: Path) -> dict:
    inv = Inventory.load()
    out = {}
    for name, layer in (("efficientnet_lite0", "classifier"), ("mobilenet_v2", "classifier.1")):
        result = _probe(name, layer, "imagenet", data, cache)
        for mode in ("whole", "region", "mix"):
            ev = compute_evidence(result, {layer: list(range(result[layer].units))}, scorers=["object"], mode=mode)
            exact = close = 0
            for (_, unit), e in ev.items():
                wnid = inv.imagenet_wnid(unit)
                exact += e.best_object == wnid
                close += e.best_object in _close(inv, wnid)
            n = len(ev)
            out[f"{name} {layer} / {mode}"] = {"units": n, "exact": round(exact / n, 3), "close": round(close / n, 3)}
            print(json.dumps({f"{name} {layer} / {mode}": out[f"{name} {layer} / {mode}"]}), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/evidence-study"))
    ap.add_argument("--only", choices=("uncertain", "final"))
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.only in (None, "uncertain"):
        results["uncertain"] = uncertain(args.data, args.cache)
    if args.only in (None, "final"):
        results["final"] = final(args.data, args.cache)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
