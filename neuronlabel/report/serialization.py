"""The report's JSON schema ``neuronlabel.report/2``: writing, reading and validating it.

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> from neuronlabel.report.serialization import dumps, loads
>>> loads(dumps(LabelReport([UnitLabel("fc", 0, "cats")])))["fc:0"].label
'cats'

Layout: ``{"schema", "meta", "images": [{"id", "png"}], "units": [...], "explanations": [...]}``;
each unit holds its fields with ``maps``/``attributions`` as :func:`codec.encode_array` dicts.
Version 2 adds per unit ``confidence`` (a number, or "NaN") and ``evidence`` (rows
``[concept, kind, name, score, share, agree]``); version-1 files still load (no evidence).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .codec import (ReportSchemaError, decode_array, decode_png, encode_array, encode_png,
                    float_in, float_out)

SCHEMA = "neuronlabel.report/2"
READS = ("neuronlabel.report/1", SCHEMA)
_V1_FIELDS = ("layer", "unit", "label", "candidates", "exemplar_ids", "exemplar_scores",
              "threshold", "maps", "stats", "flags", "attributions")
_UNIT_FIELDS = _V1_FIELDS + ("confidence", "evidence")


def to_dict(report) -> dict:
    """The report as JSON-ready Python data.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> to_dict(LabelReport([UnitLabel("fc", 0, "x")]))["schema"]
    'neuronlabel.report/2'
    """
    return {
        "schema": SCHEMA,
        "meta": _jsonable(report.meta, "meta"),
        "images": [{"id": i, "png": encode_png(img)} for i, img in sorted(report.images.items())],
        "units": [_unit_out(u) for u in report.units],
        "explanations": [_explanation_out(e, i) for i, e in enumerate(report.explanations)],
    }


def dumps(report, indent: "int | None" = 1) -> str:
    """JSON text of the report (strict JSON: no NaN literals).

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> '"threshold": "NaN"' in dumps(LabelReport([UnitLabel("fc", 0, "x")]))
    True
    """
    return json.dumps(to_dict(report), indent=indent, allow_nan=False, ensure_ascii=False)


def loads(source):
    """A :class:`LabelReport` from a path, JSON text, bytes or a parsed dict.

    >>> loads('{"schema": "neuronlabel.report/1", "units": []}').units      # version 1 still loads
    []
    """
    from .label_report import LabelReport

    data, origin = _read(source)
    if not isinstance(data, dict) or "schema" not in data:
        raise ReportSchemaError(f"{origin} is not a neuronlabel report: it has no 'schema' field "
                                f"(expected {SCHEMA!r}); write reports with LabelReport.to_json()")
    schema = data["schema"]
    if schema not in READS:
        raise ReportSchemaError(_version_message(schema, origin))
    fields = _UNIT_FIELDS if schema == SCHEMA else _V1_FIELDS
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise ReportSchemaError(f"{origin}: 'meta' must be an object, got {type(meta).__name__}")
    images = {}
    for i, entry in enumerate(_list(data, "images", origin)):
        where = f"{origin}: images[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or "png" not in entry:
            raise ReportSchemaError(f"{where}: expected {{'id': <int>, 'png': <base64>}}")
        images[entry["id"]] = decode_png(entry["png"], where)
    units = [_unit_in(u, f"{origin}: units[{i}]", fields) for i, u in enumerate(_list(data, "units", origin))]
    explanations = [_explanation_in(e, f"{origin}: explanations[{i}]")
                    for i, e in enumerate(_list(data, "explanations", origin))]
    try:
        return LabelReport(units, images=images, meta=meta, explanations=explanations)
    except InputError as e:
        raise ReportSchemaError(f"{origin}: {e}") from None


def _read(source):
    if isinstance(source, dict):
        return source, "report dict"
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    if isinstance(source, str) and source.lstrip().startswith("{"):
        origin, text = "report JSON text", source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        origin = str(path)
        if not path.is_file():
            raise InputError(f"report file {origin!r} does not exist"
                             + (" (it is a directory)" if path.is_dir() else "")
                             + "; write one with LabelReport.to_json(path) or `neuronlabel label`")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ReportSchemaError(f"{origin} is not UTF-8 JSON; is it a report written by "
                                    "LabelReport.to_json()?") from None
    else:
        raise InputError(f"cannot read a report from {type(source).__name__}; "
                         "pass a path, JSON text or a dict")
    try:
        return json.loads(text), origin
    except json.JSONDecodeError as e:
        raise ReportSchemaError(f"{origin} is not valid JSON: {e.msg} at line {e.lineno}, "
                                f"column {e.colno}") from None


def _version_message(schema, origin: str) -> str:
    m = re.fullmatch(r"neuronlabel\.report/(\d+)", str(schema))
    if m is None:
        return (f"{origin} has schema {schema!r}, not a neuronlabel report schema "
                f"(expected {SCHEMA!r})")
    if int(m.group(1)) > int(SCHEMA.rsplit("/", 1)[1]):
        return (f"{origin} uses report schema {schema!r}, newer than this neuronlabel reads "
                f"({SCHEMA!r}); upgrade: pip install -U neuronlabel")
    return (f"{origin} uses the old report schema {schema!r}; this neuronlabel reads {SCHEMA!r}. "
            "Re-create the report with this version")


def _list(data: dict, key: str, origin: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ReportSchemaError(f"{origin}: {key!r} must be a list, got {type(value).__name__}")
    return value


def _unit_out(u) -> dict:
    return {
        "layer": u.layer, "unit": u.unit, "label": u.label,
        "candidates": [[c, float_out(s)] for c, s in u.candidates],
        "exemplar_ids": list(u.exemplar_ids),
        "exemplar_scores": [float_out(s) for s in u.exemplar_scores],
        "threshold": float_out(u.threshold),
        "maps": None if u.maps is None else encode_array(u.maps),
        "stats": {k: float_out(v) for k, v in u.stats.items()},
        "flags": list(u.flags),
        "attributions": None if u.attributions is None else encode_array(u.attributions),
        "confidence": float_out(u.confidence),
        "evidence": [e.to_list() for e in u.evidence],
    }


def _unit_in(d, where: str, fields: tuple = _UNIT_FIELDS):
    from .unit_label import UnitLabel

    if not isinstance(d, dict):
        raise ReportSchemaError(f"{where}: expected an object, got {type(d).__name__}")
    missing = [k for k in ("layer", "unit", "label") if k not in d]
    if missing:
        raise ReportSchemaError(f"{where}: missing field(s) {missing}")
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ReportSchemaError(f"{where}: unknown field(s) {unknown}; known: {list(fields)}")
    where = f"{where} ({d.get('layer')}:{d.get('unit')})"
    candidates = []
    for j, c in enumerate(d.get("candidates", [])):
        if not isinstance(c, list) or len(c) != 2:
            raise ReportSchemaError(f"{where}: candidates[{j}] must be [text, score], got {c!r}")
        candidates.append((c[0], float_in(c[1], f"{where}: candidates[{j}]")))
    try:
        return UnitLabel(
            d["layer"], d["unit"], d["label"], candidates=candidates,
            exemplar_ids=d.get("exemplar_ids", []),
            exemplar_scores=[float_in(s, f"{where}: exemplar_scores") for s in d.get("exemplar_scores", [])],
            threshold=float_in(d.get("threshold", "NaN"), f"{where}: threshold"),
            maps=None if d.get("maps") is None else decode_array(d["maps"], f"{where}: maps"),
            stats={k: float_in(v, f"{where}: stats[{k!r}]") for k, v in d.get("stats", {}).items()},
            flags=d.get("flags", []),
            attributions=(None if d.get("attributions") is None
                          else decode_array(d["attributions"], f"{where}: attributions")),
            confidence=float_in(d.get("confidence", "NaN"), f"{where}: confidence"),
            evidence=d.get("evidence", []),
        )
    except (InputError, TypeError, AttributeError) as e:
        raise ReportSchemaError(f"{where}: {e}") from None


def _explanation_out(e: dict, i: int) -> dict:
    out = _jsonable({k: v for k, v in e.items() if k != "contributions"}, f"explanations[{i}]")
    out["contributions"] = [[ref, label, float_out(score)] for ref, label, score in e["contributions"]]
    return out


def _explanation_in(e, where: str) -> dict:
    if not isinstance(e, dict):
        raise ReportSchemaError(f"{where}: expected an object, got {type(e).__name__}")
    out = dict(e)
    contributions = []
    for j, c in enumerate(e.get("contributions", [])):
        if not isinstance(c, list) or len(c) != 3:
            raise ReportSchemaError(f"{where}: contributions[{j}] must be [unit ref, label, score]")
        contributions.append((c[0], c[1], float_in(c[2], f"{where}: contributions[{j}]")))
    out["contributions"] = contributions
    return out


def _jsonable(value, where: str):
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return float_out(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    raise InputError(f"{where} is a {type(value).__name__}, which JSON cannot hold; "
                     "store strings, numbers, lists or dicts in report meta/explanations")
