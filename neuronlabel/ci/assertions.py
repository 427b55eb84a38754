"""A pytest-friendly assertion for users' own test suites.

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> from neuronlabel.ci import assert_no_concepts
>>> assert_no_concepts(LabelReport([UnitLabel("layer4", 0, "striped fur")]), ["face", "text"])
"""

from __future__ import annotations

from .checking import check


def assert_no_concepts(report, concepts=None, *, rules=None, max_matches: int = 0, **options) -> None:
    """Raise AssertionError listing every unit whose label matches a concept over the limit.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> report = LabelReport([UnitLabel("layer4", 7, "human faces", exemplar_ids=[3, 9], exemplar_scores=[2.0, 1.5])])
    >>> assert_no_concepts(report, ["face"])
    Traceback (most recent call last):
    ...
    AssertionError: 1 unit(s) match sensitive concepts over the limit:
      face: layer4:7 'human faces': matched 'faces' in label; exemplars 3, 9
    <BLANKLINE>
    neuronlabel check: FAILED (1 units, 1 rule(s), 1 matching unit(s); 1 limit(s) exceeded)

    ``options`` go to :func:`neuronlabel.ci.check` (``candidates``, ``layers``, ...).
    """
    from .formats import _finding_line, _headline

    result = check(report, concepts=concepts, rules=rules, max_matches=max_matches, **options)
    if result.passed:
        return
    over = [f for f in result.findings if f.over_limit]
    lines = [f"{len(over)} unit(s) match sensitive concepts over the limit:"]
    lines += [f"  {f.concept}: {_finding_line(f)}" for f in over]
    totals = [c for c in result.failures if c.layer == "*"]
    lines += [f"  {c.concept}: {c.count} units over all layers, max_total {c.limit}" for c in totals]
    raise AssertionError("\n".join(lines + ["", _headline(result)]))
