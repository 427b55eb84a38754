"""Run concept rules over a report: findings, per-layer counts against limits, an exit code.

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> from neuronlabel.ci import check
>>> report = LabelReport([UnitLabel("layer4", 0, "dog faces"), UnitLabel("layer4", 1, "surface texture")])
>>> result = check(report, concepts=["face"])
>>> result.passed, result.exit_code, [f.ref for f in result.findings]
(False, 1, ['layer4:0'])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError, did_you_mean
from .rules import Rule, selector_matches

EXIT_PASS, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EVIDENCE_MIN = 0.2        # evidence items scoring at least this can match a concept (check(evidence=True))


@dataclass
class Finding:
    """A unit whose label (or a beam candidate) mentions a rule's concept.

    >>> Finding("face", "layer4", 3, "dog faces", "faces", "label", "dog faces", [1, 2]).ref
    'layer4:3'
    """

    concept: str
    layer: str
    unit: int
    label: str
    term: str
    matched_in: str
    text: str
    exemplar_ids: list
    allowed_by: "str | None" = None
    over_limit: bool = False

    @property
    def ref(self) -> str:
        """``"layer:unit"``.

        >>> Finding("text", "fc", 0, "", "", "label", "", []).ref
        'fc:0'
        """
        return f"{self.layer}:{self.unit}"

    def as_dict(self) -> dict:
        """Plain data for JSON output.

        >>> Finding("text", "fc", 0, "words", "words", "label", "words", [4]).as_dict()["unit"]
        0
        """
        return {"ref": self.ref, **asdict(self)}


@dataclass
class LayerCount:
    """How many units of ``layer`` match ``concept`` against the tolerated ``limit``.

    ``layer`` is ``"*"`` for a rule's ``max_total`` over all layers.

    >>> LayerCount("face", "layer4", 2, 1).over_limit
    True
    """

    concept: str
    layer: str
    count: int
    limit: int
    refs: list = field(default_factory=list)

    @property
    def over_limit(self) -> bool:
        """``count > limit``.

        >>> LayerCount("face", "fc", 0, 0).over_limit
        False
        """
        return self.count > self.limit


@dataclass
class CheckResult:
    """What :func:`check` found: findings, allowed matches, per-layer counts, warnings.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> r = check(LabelReport([UnitLabel("fc", 0, "cats")]), concepts=["face"])
    >>> r.passed, r.exit_code, r.units_checked
    (True, 0, 1)
    """

    rules: list
    findings: list
    allowed: list
    counts: list
    warnings: list
    units_checked: int
    meta: dict = field(default_factory=dict)

    @property
    def failures(self) -> list:
        """The :class:`LayerCount` entries over their limit.

        >>> from neuronlabel.report import LabelReport, UnitLabel
        >>> check(LabelReport([UnitLabel("fc", 0, "faces")]), concepts=["face"]).failures[0].layer
        'fc'
        """
        return [c for c in self.counts if c.over_limit]

    @property
    def passed(self) -> bool:
        """True when no concept exceeds its limit in any layer (or in total).

        >>> from neuronlabel.report import LabelReport, UnitLabel
        >>> check(LabelReport([UnitLabel("fc", 0, "faces")]), concepts=["face"], max_matches=1).passed
        True
        """
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0 when passed, 1 when some concept exceeds its limit.

        >>> from neuronlabel.report import LabelReport, UnitLabel
        >>> check(LabelReport([UnitLabel("fc", 0, "faces")]), concepts=["face"]).exit_code
        1
        """
        return EXIT_PASS if self.passed else EXIT_FINDINGS

    def to_text(self) -> str:
        """A human-readable summary (what the CLI prints by default).

        >>> from neuronlabel.report import LabelReport, UnitLabel
        >>> check(LabelReport([UnitLabel("fc", 0, "x")]), concepts=["face"]).to_text().splitlines()[0][:25]
        'neuronlabel check: passed'
        """
        from .formats import to_text
        return to_text(self)

    def to_json(self) -> str:
        """JSON with schema ``neuronlabel.check/1``.

        >>> import json; from neuronlabel.report import LabelReport, UnitLabel
        >>> json.loads(check(LabelReport([UnitLabel("fc", 0, "x")]), concepts=["face"]).to_json())["passed"]
        True
        """
        from .formats import to_json
        return to_json(self)

    def to_github(self) -> str:
        """GitHub Actions workflow commands (``::error title=...::...``), one per line.

        >>> from neuronlabel.report import LabelReport, UnitLabel
        >>> check(LabelReport([UnitLabel("fc", 0, "faces")]), concepts=["face"]).to_github()[:8]
        '::error '
        """
        from .formats import to_github
        return to_github(self)

    def to_junit(self) -> str:
        """JUnit XML: one test case per concept and layer.

        >>> from neuronlabel.report import LabelReport, UnitLabel
        >>> check(LabelReport([UnitLabel("fc", 0, "x")]), concepts=["face"]).to_junit().count("<testcase ")
        1
        """
        from .formats import to_junit
        return to_junit(self)

    def format(self, name: str) -> str:
        """Output in ``name``: text, json, github or junit.

        >>> from neuronlabel.report import LabelReport, UnitLabel
        >>> check(LabelReport([UnitLabel("fc", 0, "cats")]), concepts=["face"]).format("text").split(":")[0]
        'neuronlabel check'
        """
        formats = {"text": self.to_text, "json": self.to_json, "github": self.to_github, "junit": self.to_junit}
        if name not in formats:
            raise InputError(f"unknown output format {name!r}; use one of {', '.join(formats)}")
        return formats[name]()


def check(report, concepts=None, rules=None, max_matches: "int | None" = None, *,
          candidates: bool = False, layers=None, builtin_synonyms: bool = True, evidence: bool = False) -> CheckResult:
    """Flag units whose labels match concept keywords; compare the counts with the limits.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> report = LabelReport([UnitLabel("layer4", 0, "human faces"), UnitLabel("layer3", 1, "letters")])
    >>> check(report, concepts="face,text", max_matches=1).passed
    True

    ``report`` is a :class:`LabelReport` or a path to its JSON. ``concepts`` (a list or a
    comma-separated string) become rules with ``max_matches`` (default 0) per layer,
    restricted to ``layers`` and searching beam ``candidates`` when asked. ``rules`` is a
    list of :class:`Rule` or dicts, or a TOML rules file path; for file rules
    ``max_matches`` is the default where a rule does not set it. With ``evidence``, a unit also
    matches when its evidence (the concepts the evidence stage found in its exemplars, scoring at
    least :data:`EVIDENCE_MIN`) names the concept, whatever its label says:

    >>> u = UnitLabel("blocks.6", 2, "helmets", evidence=[["body:face", "body", "faces", 0.6, 0.5, 0.8]])
    >>> [f.matched_in for f in check(LabelReport([u]), concepts="face", evidence=True).findings]
    ['evidence']
    """
    from ..report import LabelReport

    if not isinstance(report, LabelReport):
        if isinstance(report, (str, Path)):
            report = LabelReport.from_json(report)
        else:
            raise InputError(f"check() needs a LabelReport or a path to a report JSON, got {type(report).__name__}")
    all_rules = _concept_rules(concepts, max_matches, candidates, layers, builtin_synonyms)
    all_rules += _given_rules(rules, max_matches)
    if not all_rules:
        raise InputError("nothing to check: pass concepts (e.g. --concepts face,text) or a rules file")
    if not report.units:
        raise InputError("the report has no units, so there is nothing to check; was the labelling "
                         "run given the right layers?")
    layer_names = report.layer_names()
    for rule in all_rules:
        for selector in (*rule.layers, *(s for s, _ in rule.layer_max_matches)):
            if not any(selector_matches(selector, layer) for layer in layer_names):
                raise InputError(f"rule {rule.concept!r}: layer {selector!r} matches no layer of the report "
                                 f"(its layers: {', '.join(layer_names)})." + did_you_mean(selector, layer_names))
    findings, allowed, counts, warnings = [], [], [], []
    vocabulary = report.meta.get("vocabulary")
    if evidence and vocabulary:
        from ..evidence.phrases import vocabulary as evidence_vocabulary

        vocabulary = sorted(set(vocabulary) | set(evidence_vocabulary()))
    warnings += unsayable(all_rules, vocabulary)
    for rule in all_rules:
        missing = sorted(u for u in rule.allowed_units if u not in report)
        if missing:
            warnings.append(f"rule {rule.concept!r}: allow-listed unit(s) {', '.join(missing)} are not in the report")
        rule_findings = []
        for unit in report.units:
            if not rule.applies_to(unit.layer):
                continue
            finding = _match_unit(rule, unit, evidence)
            if finding is None:
                continue
            (allowed if finding.allowed_by else rule_findings).append(finding)
        in_scope = [layer for layer in layer_names if rule.applies_to(layer)]
        rule_counts = []
        for layer in in_scope:
            refs = [f.ref for f in rule_findings if f.layer == layer]
            rule_counts.append(LayerCount(rule.concept, layer, len(refs), rule.limit_for(layer), refs))
        if rule.max_total is not None:
            rule_counts.append(LayerCount(rule.concept, "*", len(rule_findings), rule.max_total,
                                          [f.ref for f in rule_findings]))
        over = {ref for c in rule_counts if c.over_limit for ref in c.refs}
        for f in rule_findings:
            f.over_limit = f.ref in over
        findings += rule_findings
        counts += rule_counts
    return CheckResult(all_rules, findings, allowed, counts, warnings, len(report.units), dict(report.meta))


def unsayable(rules, vocabulary) -> list[str]:
    """Warnings for rules no label can ever match: none of their terms is made of words in ``vocabulary``
    (the words the labeller that wrote the report can use; reports record it as ``meta["vocabulary"]``).

    >>> unsayable([Rule("face"), Rule("dog")], ["dogs", "of", "red"])[0][:46]
    "concept 'face' can never match: the labeller t"
    >>> unsayable([Rule("face")], None)
    []
    """
    if not vocabulary:
        return []
    words = {w.lower() for w in vocabulary}
    out = []
    for rule in rules:
        if not any(all(w in words for w in t.split()) for t in rule.terms):
            shown = ", ".join(rule.terms[:6]) + (", ..." if len(rule.terms) > 6 else "")
            out.append(f"concept {rule.concept!r} can never match: the labeller that wrote this report has no "
                       f"word for it or its synonyms ({shown}), so a pass says nothing about it; label with a "
                       "captioner that knows the concept, or give synonyms it uses")
    return out


def _match_unit(rule: Rule, unit, evidence: bool = False) -> "Finding | None":
    texts = [("label", unit.label)]
    if rule.candidates:
        texts += [(f"candidate {i + 1}", c) for i, (c, _) in enumerate(unit.candidates) if c != unit.label]
    if evidence:
        texts += [("evidence", e.name) for e in unit.evidence if e.score >= EVIDENCE_MIN]
    phrases = rule.allowed_phrases
    exempt = None
    for where, text in texts:
        hits = rule.matcher.find(text)
        if not hits:
            continue
        spans = phrases.find(text)
        free = [h for h in hits if not any(s.start <= h.start and h.end <= s.end for s in spans)]
        make = lambda hit, by: Finding(rule.concept, unit.layer, unit.unit, unit.label, hit.term,  # noqa: E731
                                       where, text, list(unit.exemplar_ids), by)
        if free:
            by = unit.ref if unit.ref in rule.allowed_units else rule.label_allowed(unit.label)
            return make(free[0], by)
        if exempt is None:
            h = hits[0]
            exempt = make(h, next(s.term for s in spans if s.start <= h.start and h.end <= s.end))
    return exempt


def _concept_rules(concepts, max_matches, candidates, layers, builtin_synonyms) -> list:
    if concepts is None:
        return []
    if isinstance(concepts, str):
        concepts = concepts.split(",")
    if not isinstance(concepts, (list, tuple)) or not all(isinstance(c, str) for c in concepts):
        raise InputError(f"concepts must be a list of strings or a comma-separated string, got {concepts!r}")
    names = [" ".join(c.split()) for c in concepts if c.strip()]
    if concepts and not names:
        raise InputError(f"concepts {concepts!r} names no concept; e.g. concepts=['face', 'text']")
    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    return [Rule(c, max_matches=0 if max_matches is None else max_matches, candidates=candidates,
                 layers=tuple(layers or ()), builtin_synonyms=builtin_synonyms) for c in names]


def _given_rules(rules, max_matches) -> list:
    if rules is None:
        return []
    if isinstance(rules, (str, Path)):
        from .rules_file import load_rules
        return load_rules(rules, None if max_matches is None else {"max_matches": max_matches})
    if isinstance(rules, (Rule, dict)):
        rules = [rules]
    out = []
    for r in rules:
        if isinstance(r, Rule):
            out.append(r)
        elif isinstance(r, dict):
            out.append(Rule.from_dict(r, None if max_matches is None else {"max_matches": max_matches}))
        else:
            raise InputError(f"rules must be Rule objects, dicts or a rules file path, got {r!r}")
    return out
