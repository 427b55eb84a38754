"""Render a LabelReport as one self-contained HTML page (inline CSS/JS, images as data URIs).

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> from neuronlabel.report.html_page import render, unit_records
>>> page = render(LabelReport([UnitLabel("layer4", 0, "dog faces")]))
>>> 'id="nl-units"' in page, unit_records(LabelReport([UnitLabel("layer4", 0, "dog faces")]), {})[0]["label"]
(True, 'dog faces')

The page holds every unit as data (label, candidates, stats, exemplar ids, the activation
maps as float16/float32 bytes) and its script draws the cards of one page at a time, so a
report of thousands of units opens as fast as one of fifty. Each exemplar is drawn as MILAN
shows it: the unit's map upsampled bilinearly to the thumbnail, thresholded at the unit's
quantile, everything outside darkened (a canvas over the thumbnail; hovering shows the
whole image); the script repeats :func:`~neuronlabel.report.overlays.region_mask` in
float32 arithmetic, pixel for pixel. Attributions are blended over the greyscale thumbnail
as captum's ``"blended_heat_map"``. Each thumbnail is embedded once and referenced by id.
"""

from __future__ import annotations

import base64
import html
import json
import math

import numpy as np

from ..errors import InputError
from .html_assets import CSS, DEFAULT_PAGE_SIZE, PAGE_SIZES, SCRIPT
from .overlays import SIGNS, blended_heat_map, encode_jpeg, fit_image

_META_ORDER = ("model", "layers", "k", "quantile", "probe", "probe_set", "captioner",
               "neuronlabel_version", "created")


def render(report, *, title: "str | None" = None, thumb_size: int = 112,
           attribution_sign: str = "absolute_value") -> str:
    """The HTML page of ``report`` as a string.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> "<title>my audit</title>" in render(LabelReport([]), title="my audit")
    True
    """
    if isinstance(thumb_size, bool) or not isinstance(thumb_size, int) or not 16 <= thumb_size <= 1024:
        raise InputError(f"thumb_size must be an integer number of pixels in 16..1024, got {thumb_size!r}")
    if attribution_sign not in SIGNS:
        raise InputError(f"attribution_sign {attribution_sign!r} is not one of {SIGNS}")
    used = {i for u in report.units for i in u.exemplar_ids}
    used |= {e["image_id"] for e in report.explanations if e.get("image_id") is not None}
    thumbs = {i: fit_image(report.images[i], thumb_size) for i in sorted(used) if i in report.images}
    store = {str(i): [_data_uri(encode_jpeg(t), "image/jpeg"), t.shape[0], t.shape[1]] for i, t in thumbs.items()}

    model = report.meta.get("model")
    title = title or ("neuronlabel report" + (f" — {model}" if model else ""))
    refs = {u.ref for u in report.units}
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        f"<meta name=\"generator\" content=\"neuronlabel {_e(report.meta.get('neuronlabel_version', ''))}\">\n",
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        f"<header class=\"page\"><h1>{_e(title)}</h1>",
        f"<div class=\"hint\">{len(report.units)} units in {len(report.layer_names())} layers · "
        f"{len(thumbs)} probe images shown · the highlighted region is where the unit fires; "
        "hover an exemplar to see the whole image</div>",
        _meta(report.meta), "</header>\n<main>\n",
        _overview(report),
        _controls(report),
        "<noscript><p class=\"hint\">The unit cards are drawn by the page's script; enable JavaScript, or read "
        "the same labels in the report's JSON or CSV file.</p></noscript>\n",
        "<div id=\"cards\"></div>\n<div id=\"no-match\" hidden>No unit matches the search.</div>\n",
        "<nav class=\"pager bottom\"><button type=\"button\" class=\"prev\">‹ Previous</button>"
        "<button type=\"button\" class=\"next\">Next ›</button></nav>\n",
        _explanations(report.explanations, thumbs, refs),
        "</main>\n",
        f"<footer>Made with neuronlabel {_e(report.meta.get('neuronlabel_version', ''))}"
        f"{' · ' + _e(report.meta.get('created')) if report.meta.get('created') else ''}</footer>\n",
        "<script type=\"application/json\" id=\"nl-images\">", _json(store), "</script>\n",
        "<script type=\"application/json\" id=\"nl-units\">",
        _json(unit_records(report, thumbs, attribution_sign)), "</script>\n",
        "<script>", SCRIPT, "</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


def unit_records(report, thumbs: dict, sign: str = "absolute_value") -> list:
    """One plain-data record per unit: what the page's script draws a card from.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> rec = unit_records(LabelReport([UnitLabel("fc", 3, "cats", exemplar_ids=[7], exemplar_scores=[2.5])]), {})[0]
    >>> rec["ref"], rec["ex"], rec["top"], "maps" in rec
    ('fc:3', [[7, '2.5']], 2.5, False)
    """
    from .label_report import search_text

    records = []
    for u in report.units:
        top = u.exemplar_scores[0] if u.exemplar_scores else math.nan
        rec = {"ref": u.ref, "anchor": "unit-" + _anchor(u.ref), "layer": u.layer, "unit": u.unit, "label": u.label,
               "search": search_text(u, True), "cand": [[c, _fmt(s)] for c, s in u.candidates],
               "stats": [[k, _fmt(v)] for k, v in {"threshold": u.threshold, **u.stats}.items()],
               "flags": list(u.flags), "ex": [[i, _fmt(s)] for i, s in zip(u.exemplar_ids, u.exemplar_scores)],
               "top": _number(top), "score": _number(u.score), "conf": _number(u.confidence),
               "evid": [[e.name, e.kind, _fmt(e.score)] for e in u.evidence[:6]]}
        if u.maps is not None and math.isfinite(u.threshold) and len(u.exemplar_ids):
            maps = np.ascontiguousarray(u.maps)
            kind = "f2" if maps.dtype == np.float16 else "f4"
            maps = maps.astype("<f2" if kind == "f2" else "<f4")
            rec["maps"] = {"h": int(maps.shape[1]), "w": int(maps.shape[2]), "dtype": kind,
                           "data": base64.b64encode(maps.tobytes()).decode("ascii")}
            rec["th"] = float(u.threshold)
        if u.attributions is not None:
            rec["attr"] = [_data_uri(encode_jpeg(blended_heat_map(thumbs[i], u.attributions[j], sign=sign)),
                                     "image/jpeg") if i in thumbs else None
                           for j, i in enumerate(u.exemplar_ids)]
            rec["attr_title"] = f"Input attributions ({sign.replace('_', ' ')}, blended heat map)"
        records.append(rec)
    return records


def _json(data) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _number(x) -> "float | None":
    return float(x) if x is not None and math.isfinite(x) else None


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _meta_value(v) -> str:
    if isinstance(v, (list, tuple)):
        text = ", ".join(str(x) for x in v)
    elif isinstance(v, dict):
        text = json.dumps(v, default=str)
    else:
        text = str(v)
    return text if len(text) <= 140 else text[:137] + "…"


def _meta(meta: dict) -> str:
    keys = [k for k in _META_ORDER if k in meta] + [k for k in meta if k not in _META_ORDER]
    items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(_meta_value(meta[k]))}</dd></div>" for k in keys)
    return f"<dl class=\"meta\">{items}</dl>"


def _overview(report) -> str:
    rows = []
    for s in report.layers():
        words = "".join(f"<span class=\"word\">{_e(w)} <span class=\"num\">{n}</span></span>"
                        for w, n in s.top_words)
        rows.append(f"<tr data-layer=\"{_e(s.layer)}\"><td class=\"ref\">{_e(s.layer)}</td>"
                    f"<td class=\"num\">{s.n_units}</td><td class=\"num\">{s.n_unique_labels}</td>"
                    f"<td>{words}</td><td class=\"num\">{s.n_flagged}</td>"
                    f"<td class=\"num\">{_fmt(s.mean_max_activation)}</td></tr>")
    return ("<h2>Layers</h2><table class=\"summary\" id=\"layer-table\"><thead><tr><th>layer</th>"
            "<th>units</th><th>distinct labels</th><th>common words</th><th>flagged</th>"
            "<th>mean top activation</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>\n")


def _controls(report) -> str:
    options = "".join(f"<option value=\"{_e(l)}\">{_e(l)}</option>" for l in report.layer_names())
    return ("<h2>Units</h2><div class=\"controls\">"
            "<input type=\"search\" id=\"search\" placeholder=\"Search labels, e.g. dog face\" "
            "aria-label=\"Search labels\" autocomplete=\"off\">"
            f"<select id=\"layer-filter\" aria-label=\"Layer\"><option value=\"\">All layers</option>{options}</select>"
            "<label><input type=\"checkbox\" id=\"search-candidates\"> also search candidates</label>"
            "<select id=\"sort\" aria-label=\"Sort\"><option value=\"unit\">Sort: layer, unit</option>"
            "<option value=\"label\">Sort: label</option><option value=\"activation\">Sort: top activation</option>"
            "<option value=\"score\">Sort: caption score</option></select>"
            f"<span id=\"visible-count\">{len(report.units)} units</span>"
            "<nav class=\"pager top\" aria-label=\"Pages\"><button type=\"button\" class=\"prev\" "
            "aria-label=\"Previous page\">‹</button><span id=\"page-info\"></span><button type=\"button\" "
            "class=\"next\" aria-label=\"Next page\">›</button><select id=\"page-size\" aria-label=\"Units per page\">"
            + "".join(f"<option value=\"{n}\"{' selected' if n == DEFAULT_PAGE_SIZE else ''}>{n} per page</option>"
                      for n in PAGE_SIZES)
            + "</select></nav></div>\n")


def _explanations(explanations: list, thumbs: dict, refs: set) -> str:
    if not explanations:
        return ""
    out = ["<h2 id=\"explanations\">Prediction explanations</h2>\n"]
    for e in explanations:
        image_id = e.get("image_id")
        if image_id in thumbs:
            picture = (f"<div class=\"frame\"><img class=\"exemplar\" data-image=\"{image_id}\" "
                       f"alt=\"probe image {image_id}\"></div>")
        else:
            picture = f"<div class=\"missing\">image {_e(image_id)}</div>"
        target = e.get("target_name") or e.get("target")
        heading = _e(target) + (f" <span class=\"ref\">(class {_e(e['target'])})</span>"
                                if e.get("target_name") and e.get("target") is not None else "")
        biggest = max((abs(s) for _, _, s in e["contributions"] if math.isfinite(s)), default=0.0) or 1.0
        rows = []
        for ref, label, score in e["contributions"]:
            unit = (f"<a href=\"#unit-{_e(_anchor(ref))}\">{_e(ref)}</a>" if ref in refs else _e(ref))
            width = 100 * abs(score) / biggest if math.isfinite(score) else 0
            rows.append(f"<tr><td class=\"ref\">{unit}</td><td>{_e(label)}</td>"
                        f"<td style=\"width:35%\"><div class=\"bar{' neg' if score < 0 else ''}\" "
                        f"style=\"width:{width:.1f}%\"></div></td><td class=\"num\">{_fmt(score)}</td></tr>")
        out.append(f"<article class=\"explanation\">{picture}<div><h3>{heading}</h3>"
                   f"<table>{''.join(rows)}</table></div></article>\n")
    return "".join(out)


def _anchor(ref: str) -> str:
    return "_".join(str(ref).split())
