"""``neuronlabel check``: concept checks on a report for CI, with exit codes 0/1/2.

>>> import argparse
>>> from neuronlabel.ci import command
>>> parser = argparse.ArgumentParser(prog="neuronlabel check")
>>> command.add_arguments(parser)
>>> args = parser.parse_args(["report.json", "--concepts", "face,eyes", "--format", "junit"])
>>> args.concepts, args.format
(['face,eyes'], 'junit')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import NeuronLabelError
from .checking import EXIT_USAGE

FORMATS = ("text", "json", "github", "junit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` command's arguments to ``parser``.

    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> p.parse_args(["r.json", "--rules", "rules.toml", "--max-matches", "2"]).max_matches
    2
    """
    parser.add_argument("report", help="report JSON written by `neuronlabel label` or LabelReport.to_json()")
    parser.add_argument("--concepts", action="append", metavar="LIST",
                        help="comma-separated concepts to flag, e.g. face,text,eyes (repeatable); "
                             "synonyms and plurals are added")
    parser.add_argument("--rules", metavar="FILE.toml", help="TOML rules file ([[rule]] tables)")
    parser.add_argument("--max-matches", type=int, default=None, metavar="N",
                        help="matching units tolerated per layer for --concepts, and the default "
                             "for rules-file rules that do not set max_matches (default 0)")
    parser.add_argument("--layers", metavar="LIST", help="comma-separated layers (names, parents or globs) "
                                                         "that --concepts apply to (default all)")
    parser.add_argument("--candidates", action="store_true",
                        help="also match the beam candidates, not only the chosen label (for --concepts)")
    parser.add_argument("--no-synonyms", action="store_true",
                        help="match --concepts literally (plus plurals), without the built-in synonyms")
    parser.add_argument("--evidence", action="store_true",
                        help="also match the concepts the evidence stage found in each unit's exemplars "
                             "(faces, objects, textures, colours), not only the label's words")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default text)")
    parser.add_argument("--output", metavar="FILE", help="write the output here instead of stdout "
                                                          "(a one-line summary still goes to stdout)")


def run(args: argparse.Namespace) -> int:
    """Run the check; 0 pass, 1 a concept over its limit, 2 usage or input error (stderr).

    >>> p = argparse.ArgumentParser(); add_arguments(p)
    >>> run(p.parse_args(["no-such-report.json", "--concepts", "face"]))
    2
    """
    from .checking import check
    from .formats import _headline

    concepts = ",".join(args.concepts) if args.concepts else None
    if not concepts and not args.rules:
        return _usage("nothing to check: pass --concepts face,text and/or --rules rules.toml", args.format)
    if args.max_matches is not None and args.max_matches < 0:
        return _usage(f"--max-matches must be >= 0, got {args.max_matches}", args.format)
    concept_only = [flag for flag, on in (("--layers", args.layers), ("--candidates", args.candidates),
                                          ("--no-synonyms", args.no_synonyms)) if on]
    if concept_only and not concepts:
        return _usage(f"{concept_only[0]} applies to --concepts; in a rules file set layers, candidates "
                      "or builtin_synonyms per rule", args.format)
    try:
        result = check(args.report, concepts=concepts, rules=args.rules, max_matches=args.max_matches,
                       candidates=args.candidates, layers=args.layers,
                       builtin_synonyms=not args.no_synonyms, evidence=args.evidence)
        text = result.format(args.format)
    except NeuronLabelError as e:
        return _usage(str(e), args.format)
    if args.output:
        from ..files import atomic_write

        try:
            atomic_write(Path(args.output), text + "\n")
        except NeuronLabelError as e:
            return _usage(f"--output: {e}", args.format)
        print(_headline(result) + f"; {args.format} output written to {args.output}")
    else:
        print(text)
    return result.exit_code


def _usage(message: str, fmt: str = "text") -> int:
    print(f"neuronlabel check: error: {message}", file=sys.stderr)
    if fmt == "github":
        from .formats import _gh_data

        print(f"::error title=neuronlabel check%3A usage or input error::{_gh_data(message)}")
    return EXIT_USAGE
