"""``neuronlabel report``: turn a report JSON into an HTML page and/or a MILAN CSV.

>>> import argparse
>>> from neuronlabel.report import command
>>> parser = argparse.ArgumentParser(prog="neuronlabel report")
>>> command.add_arguments(parser)
>>> parser.parse_args(["r.json", "--html", "r.html"]).html
'r.html'
"""

from __future__ import annotations

import argparse
import sys

from ..errors import NeuronLabelError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``report`` command's arguments to ``parser``.

    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> p.parse_args(["r.json", "--csv", "l.csv"]).csv
    'l.csv'
    """
    parser.add_argument("report", help="report JSON written by `neuronlabel label` or LabelReport.to_json()")
    parser.add_argument("--html", metavar="OUT.html", help="write the self-contained HTML page here")
    parser.add_argument("--csv", metavar="OUT.csv", help="write MILAN-style layer,unit,description CSV here")
    parser.add_argument("--title", help="page title (default: 'neuronlabel report — <model>')")
    parser.add_argument("--thumb-size", type=int, default=112, metavar="PX",
                        help="exemplar thumbnail size in the HTML page (default 112)")
    parser.add_argument("--attribution-sign", default="absolute_value",
                        choices=["absolute_value", "positive", "negative", "all"],
                        help="which attribution sign to draw, as captum's visualize_image_attr")


def run(args: argparse.Namespace) -> int:
    """Write the requested files; 0 on success, 2 on a usage or input error (message on stderr).

    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> run(p.parse_args(["missing.json"]))
    2
    """
    if not args.html and not args.csv:
        print("neuronlabel report: error: nothing to write; pass --html OUT.html and/or --csv OUT.csv",
              file=sys.stderr)
        return 2
    from .label_report import LabelReport

    try:
        report = LabelReport.from_json(args.report)
        written = []
        if args.html:
            written.append(report.to_html(args.html, title=args.title, thumb_size=args.thumb_size,
                                          attribution_sign=args.attribution_sign))
        if args.csv:
            written.append(report.to_csv(args.csv))
    except NeuronLabelError as e:
        print(f"neuronlabel report: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"neuronlabel report: error: cannot write {e.filename!r}: {e.strerror}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0
