"""Concept rules: which terms to look for, in which layers, how many matches are tolerated.

>>> from neuronlabel.ci.rules import Rule
>>> rule = Rule("face", synonyms=("mug",), layers=("layer4",), allow=("layer4:12", "clock face"))
>>> "facial" in rule.terms and "mugs" in rule.terms
True
>>> rule.applies_to("layer4.1.conv2"), rule.applies_to("layer3")
(True, False)
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from ..errors import InputError
from .inflection import forms
from .matching import TermMatcher
from .synonyms import builtin_synonyms

RULE_FIELDS = ("concept", "synonyms", "max_matches", "max_total", "layers", "layer_max_matches",
               "allow", "candidates", "builtin_synonyms", "inflect")
_UNIT_RE = re.compile(r"^(\S+):(\d+)$")
_GLOB_CHARS = set("*?[")


class RuleError(InputError):
    """A rule field has a bad value; ``field`` names it (None for the rule as a whole).

    >>> RuleError("bad", field="max_matches").field
    'max_matches'
    """

    def __init__(self, message: str, field: "str | None" = None):
        super().__init__(message)
        self.field = field


_WORDS = re.compile(r"[\w][\w\s'-]*")


@dataclass(frozen=True)
class Rule:
    """Flag units whose label mentions ``concept`` (or a synonym) more often than allowed.

    >>> Rule("text", max_matches=2, layer_max_matches={"layer1": 0}).limit_for("layer1")
    0

    ``max_matches`` is the number of matching units tolerated **per layer**;
    ``layer_max_matches`` overrides it for layers (names, globs or parents of the layer);
    ``max_total`` optionally caps the matches over all layers. ``layers`` (names, ``*`` globs
    or parent modules) restricts the rule; empty means every layer. ``allow`` holds units
    (``"layer4:12"``), label globs (``"*clock*"``) or phrases (``"clock face"``: a term found
    only inside an allowed phrase is not a finding). ``candidates`` also searches the beam
    candidates; ``builtin_synonyms`` and ``inflect`` control the term expansion.
    """

    concept: str
    synonyms: tuple = ()
    max_matches: int = 0
    max_total: "int | None" = None
    layers: tuple = ()
    layer_max_matches: tuple = ()
    allow: tuple = ()
    candidates: bool = False
    builtin_synonyms: bool = True
    inflect: bool = True
    terms: tuple = field(init=False, repr=False, compare=False)
    matcher: TermMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"rule {self.concept!r}"
        if not isinstance(self.concept, str) or not self.concept.strip():
            raise RuleError(f"a rule's concept must be a non-empty string, got {self.concept!r}", "concept")
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("concept", " ".join(self.concept.split()))
        if not _WORDS.fullmatch(self.concept):
            bad = sorted(set(re.sub(r"[\w\s'-]", "", self.concept)))
            raise RuleError(f"{where} can never match a whole word of a label: concepts are words "
                            f"(letters, digits, spaces, hyphens), not {', '.join(repr(b) for b in bad) or 'symbols'}; separate "
                            "several concepts with commas (--concepts humans,cups or concepts=['humans', 'cups']); "
                            "there are no wildcards", "concept")
        set_("synonyms", _strings(self.synonyms, where, "synonyms"))
        set_("layers", _strings(self.layers, where, "layers"))
        set_("allow", _strings(self.allow, where, "allow"))
        set_("max_matches", _count(self.max_matches, where, "max_matches"))
        if self.max_total is not None:
            set_("max_total", _count(self.max_total, where, "max_total"))
        overrides = self.layer_max_matches
        if isinstance(overrides, dict):
            overrides = tuple(overrides.items())
        try:
            overrides = tuple((str(k), v) for k, v in overrides)
        except (TypeError, ValueError):
            raise RuleError(f"{where}: layer_max_matches must map layer names to counts, "
                            f"e.g. {{'layer3': 2}}, got {self.layer_max_matches!r}", "layer_max_matches") from None
        overrides = tuple((k, _count(v, where, f"layer_max_matches[{k!r}]", "layer_max_matches"))
                          for k, v in overrides)
        set_("layer_max_matches", overrides)
        for name in ("candidates", "builtin_synonyms", "inflect"):
            if not isinstance(getattr(self, name), bool):
                raise RuleError(f"{where}: {name} must be true or false, got {getattr(self, name)!r}", name)
        base = [self.concept, *self.synonyms]
        if self.builtin_synonyms:
            base += list(builtin_synonyms(self.concept))
        terms = set()
        for t in base:
            terms |= forms(t) if self.inflect else {" ".join(t.lower().split())}
        set_("terms", tuple(sorted(terms)))
        set_("matcher", TermMatcher(self.terms))

    @property
    def allowed_units(self) -> frozenset:
        """Allow-list entries that name units, normalised to ``"layer:unit"``.

        >>> sorted(Rule("face", allow=("layer4:012", "clock face")).allowed_units)
        ['layer4:12']
        """
        return frozenset(f"{m.group(1)}:{int(m.group(2))}" for m in map(_UNIT_RE.match, self.allow) if m)

    @property
    def allowed_label_globs(self) -> tuple:
        """Allow-list entries with ``*``, ``?`` or ``[`` : whole-label patterns.

        >>> Rule("face", allow=("*clock*",)).allowed_label_globs
        ('*clock*',)
        """
        return tuple(a for a in self.allow if not _UNIT_RE.match(a) and _GLOB_CHARS & set(a))

    @property
    def allowed_phrases(self) -> TermMatcher:
        """Allow-list phrases: a term found inside one of them is not a finding.

        >>> Rule("face", allow=("clock face",)).allowed_phrases.terms
        ['clock face']
        """
        return TermMatcher(a for a in self.allow if not _UNIT_RE.match(a) and not _GLOB_CHARS & set(a))

    def label_allowed(self, label: str) -> "str | None":
        """The allow-list glob that matches the whole label, or None.

        >>> Rule("face", allow=("*clock*",)).label_allowed("Clock faces")
        '*clock*'
        """
        low = label.lower()
        return next((g for g in self.allowed_label_globs if fnmatch.fnmatchcase(low, g.lower())), None)

    def applies_to(self, layer: str) -> bool:
        """Whether the rule checks ``layer`` (no ``layers`` means every layer).

        >>> Rule("face", layers=("blocks.*",)).applies_to("blocks.6")
        True
        """
        return not self.layers or any(selector_matches(s, layer) for s in self.layers)

    def limit_for(self, layer: str) -> int:
        """The number of matching units tolerated in ``layer``.

        >>> Rule("face", max_matches=1, layer_max_matches={"layer4": 3}).limit_for("layer4.0")
        3
        """
        best = None
        for selector, limit in self.layer_max_matches:
            if selector_matches(selector, layer) and (best is None or len(selector) > len(best[0])):
                best = (selector, limit)
        return self.max_matches if best is None else best[1]

    def describe(self) -> dict:
        """The rule as plain data, for JSON output.

        >>> Rule("face", builtin_synonyms=False).describe()["terms"]
        ['face', 'faces']
        """
        return {"concept": self.concept, "terms": list(self.terms), "max_matches": self.max_matches,
                "max_total": self.max_total, "layers": list(self.layers),
                "layer_max_matches": dict(self.layer_max_matches), "allow": list(self.allow),
                "candidates": self.candidates}

    @classmethod
    def from_dict(cls, d: dict, defaults: "dict | None" = None) -> "Rule":
        """A rule from a dict of :data:`RULE_FIELDS` (unknown keys are an error).

        >>> Rule.from_dict({"concept": "eyes", "max_matches": 1}).max_matches
        1
        """
        from ..errors import did_you_mean

        if not isinstance(d, dict):
            raise RuleError(f"a rule must be a table/dict of fields {', '.join(RULE_FIELDS)}; got {d!r}")
        unknown = [k for k in d if k not in RULE_FIELDS]
        if unknown:
            raise RuleError(f"unknown rule field {unknown[0]!r}." + did_you_mean(unknown[0], RULE_FIELDS)
                            + f" Known fields: {', '.join(RULE_FIELDS)}", unknown[0])
        if "concept" not in d:
            raise RuleError("rule has no 'concept' field, e.g. concept = \"face\"", "concept")
        merged = {**(defaults or {}), **d}
        return cls(**merged)


def selector_matches(selector: str, layer: str) -> bool:
    """A layer selector matches the layer itself, its submodules, or by ``*``/``?`` glob.

    >>> selector_matches("layer4", "layer4.1.conv2"), selector_matches("layer4", "layer40")
    (True, False)
    """
    if selector == layer or layer.startswith(selector + "."):
        return True
    if _GLOB_CHARS & set(selector):
        return fnmatch.fnmatchcase(layer, selector) or any(
            fnmatch.fnmatchcase(".".join(layer.split(".")[:n]), selector) for n in range(1, layer.count(".") + 1))
    return False


def _strings(value, where: str, name: str) -> tuple:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RuleError(f"{where}: {name} must be a list of non-empty strings, got {value!r}", name)
    return tuple(v.strip() for v in value)


def _count(value, where: str, name: str, field_name: "str | None" = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleError(f"{where}: {name} must be a non-negative integer, got {value!r}", field_name or name)
    return value
