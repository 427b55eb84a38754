"""Read concept rules from a TOML file, with errors that name the file, line and field.

>>> import tempfile, pathlib
>>> from neuronlabel.ci.rules_file import load_rules
>>> path = pathlib.Path(tempfile.mkdtemp()) / "rules.toml"
>>> _ = path.write_text('[[rule]]\\nconcept = "face"\\nmax_matches = 0\\nlayers = ["layer4"]\\n')
>>> [(r.concept, r.layers) for r in load_rules(path)]
[('face', ('layer4',))]

Format::

    [defaults]             # optional: fields every rule gets unless it sets them
    max_matches = 0

    [[rule]]
    concept = "face"
    synonyms = ["mug"]     # added to the built-in synonyms
    max_matches = 0        # matching units tolerated per layer
    layers = ["layer4"]    # names, parents or globs; default every layer
    allow = ["layer4:12", "clock face"]
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError, MissingDependencyError, did_you_mean
from .rules import RULE_FIELDS, Rule, RuleError

TOP_LEVEL = ("rule", "defaults")


class RulesFileError(InputError):
    """A rules file is missing, is not valid TOML, or has a bad field (message has the line).

    >>> issubclass(RulesFileError, ValueError)
    True
    """


def _toml():
    try:
        import tomllib
        return tomllib
    except ImportError:
        try:
            import tomli
            return tomli
        except ImportError:
            raise MissingDependencyError("reading a rules file on Python < 3.11 needs tomli: "
                                         "pip install tomli") from None


def load_rules(path, defaults: "dict | None" = None) -> list:
    """The rules of a TOML file; ``defaults`` fill fields that a rule does not set.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rules.toml"
    >>> _ = path.write_text('[defaults]\\nmax_matches = 3\\n[[rule]]\\nconcept = "text"\\n')
    >>> [r.max_matches for r in load_rules(path)], [r.max_matches for r in load_rules(path, {"max_matches": 1})]
    ([3], [1])

    The file's ``[defaults]`` table comes after ``defaults`` (the caller's) in precedence
    order: rule field > ``defaults`` argument > file ``[defaults]``.
    """
    path = Path(path)
    if not path.is_file():
        raise RulesFileError(f"rules file {str(path)!r} does not exist; see docs/ci-checks.md for the format")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise RulesFileError(f"rules file {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start}); "
                             "save it as UTF-8") from None
    return parse_rules(text, str(path), defaults)


def parse_rules(text: str, origin: str = "<rules>", defaults: "dict | None" = None) -> list:
    """The rules in TOML ``text``; ``origin`` names it in errors.

    >>> parse_rules('[[rule]]\\nconcept = "eyes"\\nmax_matches = "two"\\n')
    Traceback (most recent call last):
    ...
    neuronlabel.ci.rules_file.RulesFileError: <rules> line 3: rule 'eyes': max_matches must be a non-negative integer, got 'two'
    """
    toml = _toml()
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as e:
        raise RulesFileError(f"{origin} is not valid TOML: {e}") from None
    for key in data:
        if key not in TOP_LEVEL:
            raise RulesFileError(f"{origin} line {_key_line(text, key) or '?'}: unknown top-level key {key!r}."
                                 + did_you_mean(key, TOP_LEVEL)
                                 + " Rules go in [[rule]] tables, shared settings in [defaults]")
    file_defaults = data.get("defaults", {})
    if not isinstance(file_defaults, dict):
        raise RulesFileError(f"{origin}: 'defaults' must be a table ([defaults]), got {file_defaults!r}")
    for key in file_defaults:
        if key not in RULE_FIELDS or key == "concept":
            raise RulesFileError(f"{origin} line {_key_line(text, key, 'defaults') or '?'}: unknown field "
                                 f"{key!r} in [defaults]." + did_you_mean(key, RULE_FIELDS))
    rules_data = data.get("rule", [])
    if not isinstance(rules_data, list) or not rules_data:
        raise RulesFileError(f"{origin} has no rules: add at least one [[rule]] table with a concept, e.g.\n"
                             "[[rule]]\nconcept = \"face\"\nmax_matches = 0")
    merged_defaults = {**file_defaults, **(defaults or {})}
    rules = []
    for i, entry in enumerate(rules_data):
        try:
            rule = Rule.from_dict(entry, merged_defaults)
        except RuleError as e:
            field = e.field
            in_rule = isinstance(entry, dict) and field in entry
            if not in_rule and field in file_defaults:
                line = _key_line(text, field, "defaults")
            else:
                line = _rule_line(text, i, field if in_rule else None)
            name = entry.get("concept") if isinstance(entry, dict) else None
            label = f"[[rule]] #{i + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
            message = str(e)
            if not message.startswith("rule '"):
                message = f"{label}: {message}"
            raise RulesFileError(f"{origin} line {line or '?'}: {message}") from None
        rules.append(rule)
    return rules


def _rule_line(text: str, index: int, key: "str | None") -> "int | None":
    lines = text.splitlines()
    headers = [n for n, line in enumerate(lines) if re.match(r"\s*\[\[\s*rule\s*\]\]", line)]
    if index >= len(headers):
        return None
    start = headers[index]
    if key is None:
        return start + 1
    for n in range(start + 1, len(lines)):
        if re.match(r"\s*\[", lines[n]):
            break
        if re.match(rf"""\s*["']?{re.escape(key)}["']?\s*=""", lines[n]):
            return n + 1
    return start + 1


def _key_line(text: str, key: str, table: "str | None" = None) -> "int | None":
    lines = text.splitlines()
    in_table = table is None
    for n, line in enumerate(lines):
        header = re.match(r"\s*\[+\s*([^\]]+?)\s*\]+", line)
        if header:
            name = header.group(1)
            if table is None and name == key:
                return n + 1
            in_table = (name == table) if table else False
            continue
        if in_table and re.match(rf"""\s*["']?{re.escape(key)}["']?\s*=""", line):
            return n + 1
    return None
