"""Concept checks for CI: flag units whose labels mention sensitive concepts.

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> from neuronlabel.ci import check
>>> report = LabelReport([UnitLabel("layer4", 0, "Faces of people"), UnitLabel("layer4", 1, "surface")])
>>> result = check(report, concepts=["face"])
>>> result.exit_code, [(f.ref, f.term) for f in result.findings]
(1, [('layer4:0', 'faces')])

Concepts expand to singular/plural forms and built-in synonyms (face: facial, head, ...)
and match whole words only. Limits are per layer; allow-lists exempt units or phrases.
Exit codes: 0 pass, 1 a concept is over its limit, 2 usage or input error.
"""

from .assertions import assert_no_concepts
from .checking import EXIT_FINDINGS, EXIT_PASS, EXIT_USAGE, CheckResult, Finding, LayerCount, check
from .rules import Rule, RuleError
from .rules_file import RulesFileError, load_rules, parse_rules
from .synonyms import SYNONYMS, builtin_synonyms

__all__ = ["check", "CheckResult", "Finding", "LayerCount", "Rule", "RuleError", "RulesFileError",
           "load_rules", "parse_rules", "assert_no_concepts", "SYNONYMS", "builtin_synonyms",
           "EXIT_PASS", "EXIT_FINDINGS", "EXIT_USAGE"]
