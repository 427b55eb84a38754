"""Compare two networks by their labels: which concepts one has that the other lacks.

    python examples/compare_two_models.py                # 24 units of each last stage
    python examples/compare_two_models.py --units 0      # all 320 units of each

EfficientNet-Lite0 blocks.6 and MobileNetV2 features.17 (both 320 units at 7x7), probed on
the same built-in photos and labelled by the same captioner; a concept is a word of the
labels (stop words dropped), counted once per unit.
"""

import argparse
import collections
import re

import neuronlabel
from neuronlabel import models
from neuronlabel.demo import demo_photos

NETWORKS = {"efficientnet_lite0": "blocks.6", "mobilenet_v2": "features.17"}


STOP = set("a an and the of on in at to with or as both well that are is its parts areas regions upper".split())


def words(report) -> collections.Counter:
    return collections.Counter(w for unit in report for w in set(re.findall(r"[a-z]+", unit.label.lower()))
                               if w not in STOP and len(w) > 2)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=24, help="label units 0..N-1 of each layer (0: every unit)")
    args = parser.parse_args(argv)

    photos = [image for _, image in demo_photos()]
    counts = {}
    for name, layer in NETWORKS.items():
        net, _ = models.load(name)
        units = {layer: range(args.units)} if args.units else None
        report = neuronlabel.label_model(net, None if units else [layer], images=photos, k=5, progress=False,
                                         units=units, model_name=name)
        counts[name] = words(report)
        print(f"{name} {layer}: {len(report)} units, {len({u.label for u in report})} distinct labels; most common "
              f"words: {', '.join(f'{w} ({n})' for w, n in counts[name].most_common(6))}")
    a, b = NETWORKS
    for mine, theirs in ((a, b), (b, a)):
        only = sorted((w for w in counts[mine] if w not in counts[theirs]), key=lambda w: (-counts[mine][w], w))
        print(f"only in {mine}: {', '.join(f'{w} ({counts[mine][w]})' for w in only[:12]) or 'nothing'}")
    shared = sorted(set(counts[a]) & set(counts[b]), key=lambda w: -(counts[a][w] + counts[b][w]))
    print(f"in both: {', '.join(shared[:12]) or 'nothing'}")


if __name__ == "__main__":
    main()
