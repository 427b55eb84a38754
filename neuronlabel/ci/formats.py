"""Output formats of a check: text, JSON, GitHub Actions annotations, JUnit XML.

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> from neuronlabel.ci import check
>>> result = check(LabelReport([UnitLabel("layer4", 3, "human faces")]), concepts=["face"])
>>> to_github(result).splitlines()[0].startswith("::error title=neuronlabel check%3A face in layer4::")
True
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

CHECK_SCHEMA = "neuronlabel.check/1"
_MAX_EXEMPLARS_SHOWN = 6
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _model(result) -> str:
    model = result.meta.get("model")
    return f"model {model}, " if model else ""


def _headline(result) -> str:
    status = "passed" if result.passed else "FAILED"
    n_fail = len(result.failures)
    over = f"; {n_fail} limit(s) exceeded" if n_fail else ""
    return (f"neuronlabel check: {status} ({_model(result)}{result.units_checked} units, "
            f"{len(result.rules)} rule(s), {len(result.findings)} matching unit(s){over})")


def _exemplars(ids: list) -> str:
    shown = ", ".join(str(i) for i in ids[:_MAX_EXEMPLARS_SHOWN])
    return shown + (", ..." if len(ids) > _MAX_EXEMPLARS_SHOWN else "")


def _finding_line(f) -> str:
    where = "label" if f.matched_in == "label" else f"{f.matched_in} {f.text!r}"
    return f"{f.ref} {f.label!r}: matched {f.term!r} in {where}; exemplars {_exemplars(f.exemplar_ids)}"


def to_text(result) -> str:
    """A readable report of the check, one block per concept.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> from neuronlabel.ci import check
    >>> print(to_text(check(LabelReport([UnitLabel("fc", 0, "cats")]), concepts=["face"])))
    neuronlabel check: passed (1 units, 1 rule(s), 0 matching unit(s))
    <BLANKLINE>
    face: no matching units in 1 layer(s) (limit 0 per layer)
    """
    lines = [_headline(result), ""]
    for rule in result.rules:
        counts = [c for c in result.counts if c.concept == rule.concept]
        hits = [c for c in counts if c.count or c.over_limit]
        if not hits:
            lines.append(f"{rule.concept}: no matching units in {len(counts)} layer(s) "
                         f"(limit {rule.max_matches} per layer)")
            continue
        lines.append(f"{rule.concept} (terms: {', '.join(rule.terms[:10])}{', ...' if len(rule.terms) > 10 else ''})")
        for c in hits:
            scope = "all layers" if c.layer == "*" else c.layer
            lines.append(f"  {'FAIL' if c.over_limit else 'ok  '} {scope}: {c.count} matching unit(s), "
                         f"limit {c.limit}")
            if c.layer == "*":
                continue
            for f in result.findings:
                if f.concept == rule.concept and f.layer == c.layer:
                    lines.append(f"       {_finding_line(f)}")
        quiet = len(counts) - len(hits)
        if quiet:
            lines.append(f"  ok   {quiet} other layer(s): no matching units")
    if result.allowed:
        lines += ["", "allowed (not counted):"]
        lines += [f"  {f.concept}: {f.ref} {f.label!r} matched {f.term!r}, allowed by {f.allowed_by!r}"
                  for f in result.allowed]
    if result.warnings:
        lines += ["", "warnings:"] + [f"  {w}" for w in result.warnings]
    return "\n".join(lines)


def to_json(result) -> str:
    """JSON (schema ``neuronlabel.check/1``) with the rules, counts, findings and warnings.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> from neuronlabel.ci import check
    >>> json.loads(to_json(check(LabelReport([UnitLabel("fc", 0, "faces")]), concepts=["face"])))["exit_code"]
    1
    """
    data = {
        "schema": CHECK_SCHEMA,
        "passed": result.passed,
        "exit_code": result.exit_code,
        "summary": {"units_checked": result.units_checked, "rules": len(result.rules),
                    "findings": len(result.findings), "allowed": len(result.allowed),
                    "limits_exceeded": len(result.failures)},
        "meta": {k: result.meta[k] for k in ("model", "layers", "neuronlabel_version", "created")
                 if k in result.meta},
        "rules": [r.describe() for r in result.rules],
        "counts": [{"concept": c.concept, "layer": c.layer, "count": c.count, "limit": c.limit,
                    "over_limit": c.over_limit, "units": c.refs} for c in result.counts],
        "findings": [f.as_dict() for f in result.findings],
        "allowed": [f.as_dict() for f in result.allowed],
        "warnings": list(result.warnings),
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _gh_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(s: str) -> str:
    return _gh_data(s).replace(":", "%3A").replace(",", "%2C")


def to_github(result) -> str:
    """GitHub Actions workflow commands: an ``::error`` per unit over a limit, ``::warning``
    for matches within limits and for warnings, and a closing ``::notice`` summary.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> from neuronlabel.ci import check
    >>> to_github(check(LabelReport([UnitLabel("fc", 0, "cats")]), concepts=["face"])).splitlines()[-1][:9]
    '::notice '
    """
    lines = []
    for f in result.findings:
        count = next(c for c in result.counts if c.concept == f.concept and c.layer == f.layer)
        level = "error" if f.over_limit else "warning"
        title = f"neuronlabel check: {f.concept} in {f.layer}"
        limit = (f"{count.count} unit(s) of {f.layer} match {f.concept!r}, limit {count.limit}")
        lines.append(f"::{level} title={_gh_prop(title)}::{_gh_data(_finding_line(f) + '. ' + limit)}")
    for c in result.counts:
        if c.layer == "*" and c.over_limit:
            lines.append(f"::error title={_gh_prop(f'neuronlabel check: {c.concept} in all layers')}::"
                         + _gh_data(f"{c.count} units match {c.concept!r} over all layers, max_total {c.limit}"))
    for w in result.warnings:
        lines.append(f"::warning title={_gh_prop('neuronlabel check')}::{_gh_data(w)}")
    lines.append(f"::notice title={_gh_prop('neuronlabel check')}::{_gh_data(_headline(result))}")
    return "\n".join(lines)


def _xml_text(s: str) -> str:
    return _XML_INVALID.sub("\ufffd", s)


def to_junit(result) -> str:
    """JUnit XML: a test case per concept and layer, failed when over the limit.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> from neuronlabel.ci import check
    >>> xml = to_junit(check(LabelReport([UnitLabel("fc", 0, "faces")]), concepts=["face"]))
    >>> ET.fromstring(xml.split("\\n", 1)[1]).get("failures")
    '1'
    """
    n_tests, n_fail = len(result.counts), len(result.failures)
    root = ET.Element("testsuites", name="neuronlabel check", tests=str(n_tests), failures=str(n_fail),
                      errors="0")
    suite = ET.SubElement(root, "testsuite", name="neuronlabel.check", tests=str(n_tests),
                          failures=str(n_fail), errors="0", skipped="0", time="0")
    if result.meta.get("created"):
        suite.set("timestamp", _xml_text(str(result.meta["created"])))
    props = ET.SubElement(suite, "properties")
    for key in ("model", "neuronlabel_version"):
        if key in result.meta:
            ET.SubElement(props, "property", name=key, value=_xml_text(str(result.meta[key])))
    for c in result.counts:
        scope = "all layers (max_total)" if c.layer == "*" else c.layer
        case = ET.SubElement(suite, "testcase", classname=_xml_text(f"neuronlabel.check.{c.concept}"),
                             name=_xml_text(scope), time="0")
        matched = [f for f in result.findings if f.concept == c.concept and (c.layer == "*" or f.layer == c.layer)]
        body = "\n".join(_xml_text(_finding_line(f)) for f in matched)
        if c.over_limit:
            failure = ET.SubElement(case, "failure", type="ConceptLimitExceeded",
                                    message=_xml_text(f"{c.count} unit(s) in {scope} match {c.concept!r}, "
                                                      f"limit {c.limit}"))
            failure.text = body
        elif body:
            ET.SubElement(case, "system-out").text = body
    if result.warnings or result.allowed:
        notes = [f"warning: {w}" for w in result.warnings]
        notes += [f"allowed: {f.concept}: {f.ref} {f.label!r}, allowed by {f.allowed_by!r}" for f in result.allowed]
        ET.SubElement(suite, "system-err").text = _xml_text("\n".join(notes))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
