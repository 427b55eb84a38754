"""The ``neuronlabel`` command: layers, label, report, check, train, evaluate, demo.

>>> from neuronlabel.cli import main
>>> main(["layers", "torchvision:resnet18", "--which", "layer4"])      # doctest: +SKIP

Exit codes: 0 success (``check``: no finding over its limit), 1 ``check`` findings over the
limit, 2 usage or input errors (with a one-line message, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .errors import InputError, NeuronLabelError, UnknownLayerError


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="efficientnet_lite0 | mobilenet_v2 | timm:<name> | torchvision:<name> | FILE "
                                 "(torch.export .pt2 archive)")
    p.add_argument("--weights", help="a state-dict file to load into a timm:/torchvision: model")
    p.add_argument("--trust-pickle", action="store_true", help="allow FILE to be a pickled nn.Module")


def _model(args):
    from .model_spec import load_model

    return load_model(args.model, weights=args.weights, trust_pickle=args.trust_pickle)


def cmd_layers(args) -> int:
    from .layers import layers

    net = _model(args)
    size = tuple(args.input_size) if args.input_size else None
    for info in layers(net, args.which, input_size=size):
        print(info)
    return 0


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


REPORT_FILES = ("report.json", "report.html", "labels.csv")


@contextlib.contextmanager
def _outputs(out: str, checkpoint: Optional[str] = None):
    """Check that ``--out`` (and ``--checkpoint``) can be written and lock them, before any work."""
    from .files import check_output_folder, check_writable_file, run_lock

    folder = check_output_folder(out, REPORT_FILES, "--out")
    if checkpoint is not None:
        check_writable_file(checkpoint, "--checkpoint")
    with contextlib.ExitStack() as stack:
        stack.enter_context(run_lock(folder, "--out", folder=True))
        if checkpoint is not None:
            stack.enter_context(run_lock(checkpoint, "--checkpoint"))
        yield folder


def _checked_captioner(path: Optional[str]) -> Optional[str]:
    if path is not None and not Path(path).is_file():
        raise InputError(f"--captioner {path!r} is not a file; pass a captioner saved by `neuronlabel train` "
                         "or leave it out for the bundled one")
    return path


def cmd_label(args) -> int:
    from .preflight import check_device
    from .labeling import label_model
    from .threads import check_threads

    if not args.layers and not args.units:
        raise InputError("label needs --layers (names or globs) or --units (e.g. layer4:3,layer4:17)")
    check_device(args.device)
    check_threads(args.threads)
    captioner = _checked_captioner(args.captioner)
    with _outputs(args.out, args.checkpoint) as out:
        net = _model(args)
        try:
            report = label_model(net, _split(args.layers) if args.layers else None, images=args.images, k=args.k,
                                 captioner=captioner, batch_size=args.batch_size, device=args.device,
                                 progress=not args.quiet, checkpoint=args.checkpoint, model_name=args.model,
                                 units=_split(args.units) if args.units else None, threads=args.threads,
                                 fast=args.fast, evidence=not args.no_evidence,
                                 caption_uncertain=args.caption_uncertain)
        except UnknownLayerError as err:
            raise UnknownLayerError(str(err).replace("neuronlabel.layers(net)", f"`neuronlabel layers {args.model}`"))
        _write(report, out)
    return 0


def _write(report, out: Path) -> None:
    from .files import atomic_write_many

    atomic_write_many({out / "report.json": report.to_json(), out / "report.html": report.to_html(),
                       out / "labels.csv": report.to_csv()})
    print(f"labelled {len(report)} units; wrote {out / 'report.html'}, {out / 'report.json'}, {out / 'labels.csv'}")


DEMO_LAYERS = ["blocks.5", "blocks.6"]


def cmd_demo(args) -> int:
    from . import models
    from .labeling import label_model

    t0 = time.perf_counter()
    captioner = _checked_captioner(args.captioner)
    with _outputs(args.out) as out:
        net, _ = models.load("efficientnet_lite0")
        report = label_model(net, DEMO_LAYERS, images=None, captioner=captioner, progress=not args.quiet,
                             model_name="efficientnet_lite0", evidence=not args.no_evidence)
        _write(report, out)
    print(f"demo finished in {time.perf_counter() - t0:.0f} s: open {Path(args.out).resolve() / 'report.html'}")
    return 0


def _delegate(module: str):
    mod = importlib.import_module(f"neuronlabel.{module}")
    return mod.add_arguments, mod.run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuronlabel", description="Give every neuron of a vision network a "
                                     "natural-language label.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("layers", help="list a model's layers with output shape and unit count")
    _add_model(p)
    p.add_argument("--which", nargs="*", help="names or globs to list (default: all)")
    p.add_argument("--input-size", nargs=3, type=int, metavar=("C", "H", "W"))
    p.set_defaults(func=cmd_layers)

    p = sub.add_parser("label", help="label every unit of some layers; writes report.json/html and labels.csv")
    _add_model(p)
    p.add_argument("--layers", nargs="+", help="layer names or globs (comma or space separated)")
    p.add_argument("--units", nargs="+", help="label only these units, e.g. layer4:3 layer4:17 (their layers are "
                                             "probed once; only they are captioned)")
    p.add_argument("--images", help="folder of probe images (default: the built-in demo photos)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("-k", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device")
    p.add_argument("--captioner", help="a saved captioner file (default: the bundled one)")
    p.add_argument("--checkpoint", help="save progress here and resume from it")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the cores this process may use; "
                   "on a machine shared with other jobs, 1)")
    p.add_argument("--fast", action="store_true", help="probe channels-last (faster on CPU for conv nets)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-evidence", action="store_true", help="label with the captioner alone (no evidence stage: "
                                                               "no concepts, confidence or uncertain flag)")
    p.add_argument("--caption-uncertain", action="store_true",
                   help="also run the captioner on uncertain units that the evidence labels (their label stays the "
                        "evidence's phrase; the captioner's guesses join their candidates)")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("demo", help="label two layers of EfficientNet-Lite0 on the built-in photos")
    p.add_argument("--out", default="neuronlabel-demo")
    p.add_argument("--captioner", help="a saved captioner file (default: the bundled one)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-evidence", action="store_true", help="label with the captioner alone")
    p.set_defaults(func=cmd_demo)

    for name, module, text in [("report", "report.command", "render a report.json as HTML / CSV"),
                               ("check", "ci.command", "fail when units' labels match concepts (for CI)"),
                               ("train", "training.command", "train a captioner"),
                               ("evaluate", "evaluation.command",
                                "score a captioner on the compound data set (BLEU-4, BERTScore)")]:
        try:
            add, run = _delegate(module)
        except ImportError:
            continue
        p = sub.add_parser(name, help=text)
        add(p)
        p.set_defaults(func=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (NeuronLabelError, FileNotFoundError) as err:
        print(f"neuronlabel {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        saved = getattr(args, "checkpoint", None)
        hint = f"; progress is saved in {saved}: run the same command again to resume" if saved else ""
        print(f"neuronlabel {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
