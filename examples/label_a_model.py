"""Label units of EfficientNet-Lite0 on the built-in photos and write the report (the README quickstart).

    python examples/label_a_model.py                  # 8 units of blocks.6, a few seconds
    python examples/label_a_model.py --units 0        # every unit of blocks.5 and blocks.6, as `neuronlabel demo`

Runs offline: the network's weights and the photos come from installed packages.
"""

import argparse
import tempfile
from pathlib import Path

import neuronlabel
from neuronlabel import models
from neuronlabel.demo import demo_photos


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=8, help="label units 0..N-1 of blocks.6 (0: every unit)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "neuronlabel-example")
    args = parser.parse_args(argv)

    net, _ = models.load("efficientnet_lite0")
    for info in neuronlabel.layers(net, ["blocks.5", "blocks.6"]):
        print(info)
    photos = [image for _, image in demo_photos()]
    if args.units:
        report = neuronlabel.label_model(net, images=photos, k=5, progress=False,
                                         units={"blocks.6": range(args.units)})
    else:
        report = neuronlabel.label_model(net, ["blocks.5", "blocks.6"], images=photos, k=5, progress=False)
    for unit in report:
        print(f"{unit.ref:12s} {unit.label}")
    args.out.mkdir(parents=True, exist_ok=True)
    report.to_html(args.out / "report.html")
    report.to_json(args.out / "report.json")
    report.to_csv(args.out / "labels.csv")
    print(f"labelled {len(report)} units in {sum(report.meta['seconds'].values()):.1f} s; "
          f"open {args.out / 'report.html'}")


if __name__ == "__main__":
    main()
