"""Audit a network for face and person units: label a layer, gate on the concepts, list the flagged units.

    python examples/audit_for_faces.py                # 32 units of EfficientNet-Lite0 blocks.6
    python examples/audit_for_faces.py --units 0      # the whole layer (320 units)

The same check runs in CI as `neuronlabel check report.json --concepts face,person`
(exit code 1 when a concept is over its limit); here it prints what it found and exits 0.
"""

import argparse

import neuronlabel
from neuronlabel import models
from neuronlabel.demo import demo_photos


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=32, help="label units 0..N-1 of blocks.6 (0: every unit)")
    parser.add_argument("--concepts", default="face,person")
    args = parser.parse_args(argv)

    net, _ = models.load("efficientnet_lite0")
    photos = [image for _, image in demo_photos()]
    units = {"blocks.6": range(args.units)} if args.units else None
    report = neuronlabel.label_model(net, None if units else ["blocks.6"], images=photos, k=5, progress=False,
                                     units=units)
    result = neuronlabel.check(report, concepts=args.concepts.split(","), candidates=True)
    print(f"checked {result.units_checked} units of blocks.6 for {args.concepts}")
    for finding in result.findings:
        print(f"  {finding.ref:12s} {finding.concept:8s} matched {finding.term!r} in the {finding.matched_in}: "
              f"{finding.text!r}")
    if not result.findings:
        print("  no unit's label or beam candidates mention these concepts")
    print(f"`neuronlabel check` would exit {result.exit_code} ({'fail' if result.exit_code else 'pass'})")


if __name__ == "__main__":
    main()
