"""Explain one prediction in labelled units: which units of blocks.6 drove EfficientNet-Lite0's answer.

    python examples/explain_a_prediction.py                   # the coffee photo
    python examples/explain_a_prediction.py --photo chelsea   # any built-in photo name

The units that contribute most (gradient x activation, summed over each unit's map) are found
first; only those are labelled, so this costs a few units' captions, not a layer's.
"""

import argparse

import torchvision

import neuronlabel
from neuronlabel import models
from neuronlabel.attribution import unit_contributions
from neuronlabel.demo import demo_photos

CLASSES = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default="coffee")
    parser.add_argument("--top", type=int, default=4)
    args = parser.parse_args(argv)

    net, preprocess = models.load("efficientnet_lite0")
    photos = dict(demo_photos())
    if args.photo not in photos:
        raise SystemExit(f"no built-in photo {args.photo!r}; choose from {', '.join(photos)}")
    image = preprocess(photos[args.photo])
    scores, target = unit_contributions(net, "blocks.6", image)
    top = scores.argsort(descending=True)[:args.top].tolist()
    report = neuronlabel.label_model(net, images=list(photos.values()), k=5, progress=False,
                                     units={"blocks.6": top})
    explanation = report.explain(image, layer="blocks.6", top=args.top, class_names=CLASSES)
    print(f"EfficientNet-Lite0 says {explanation['target_name']!r} (class {target}) for the {args.photo} photo; "
          "the units of blocks.6 that drove it:")
    for ref, label, score in explanation["contributions"]:
        print(f"  {ref:12s} {score:+8.3f}  {label}")


if __name__ == "__main__":
    main()
