"""Render a LabelReport as one self-contained HTML page (inline CSS/JS, images as data URIs).

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> from neuronlabel.report.html_page import render
>>> page = render(LabelReport([UnitLabel("layer4", 0, "dog faces")]))
>>> page.count('class="unit-card"'), 'data-label="dog faces"' in page
(1, True)

Each exemplar is drawn as MILAN shows it: the unit's map is upsampled bilinearly to the
thumbnail, thresholded at the unit's quantile, and everything outside is darkened (an
overlay PNG on top of the thumbnail; hovering shows the whole image). Attributions are
blended over the greyscale thumbnail as captum's ``"blended_heat_map"``. Each thumbnail is
embedded once and referenced by id, so pages with many units sharing images stay small.
"""

from __future__ import annotations

import base64
import html
import json
import math

import numpy as np

from ..errors import InputError
from .html_assets import CSS, SCRIPT
from .overlays import SIGNS, blended_heat_map, encode_jpeg, fit_image, mask_overlay_png, region_mask

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
    store = {str(i): _data_uri(encode_jpeg(t), "image/jpeg") for i, t in thumbs.items()}

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
        "<div id=\"cards\">\n",
        *(_card(u, thumbs, attribution_sign) for u in report.units),
        "</div>\n<div id=\"no-match\" hidden>No unit matches the search.</div>\n",
        _explanations(report.explanations, thumbs, refs),
        "</main>\n",
        f"<footer>Made with neuronlabel {_e(report.meta.get('neuronlabel_version', ''))}"
        f"{' · ' + _e(report.meta.get('created')) if report.meta.get('created') else ''}</footer>\n",
        "<script type=\"application/json\" id=\"nl-images\">",
        json.dumps(store).replace("</", "<\\/"),
        "</script>\n<script>", SCRIPT, "</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


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
            f"<span id=\"visible-count\">{len(report.units)} units</span></div>\n")


def _card(u, thumbs: dict, sign: str) -> str:
    from .label_report import search_text

    top = u.exemplar_scores[0] if u.exemplar_scores else math.nan
    head = (f"<article class=\"unit-card\" id=\"unit-{_e(_anchor(u.ref))}\" data-layer=\"{_e(u.layer)}\" "
            f"data-unit=\"{u.unit}\" data-label=\"{_e(u.label)}\" data-search=\"{_e(search_text(u, True))}\" "
            f"data-activation=\"{top}\" data-score=\"{u.score if u.score is not None else 'nan'}\">")
    flags = "".join(f"<span class=\"flag\">{_e(f)}</span>" for f in u.flags)
    candidates = "".join(f"<li><span>{_e(c)}</span><span class=\"num\">{_fmt(s)}</span></li>"
                         for c, s in u.candidates)
    stats = {"threshold": u.threshold, **u.stats}
    stat_html = "".join(f"<dt>{_e(k)}</dt><dd class=\"num\">{_fmt(v)}</dd>" for k, v in stats.items())
    info = (f"<div class=\"info\"><h3 class=\"label\">{_e(u.label) or '<em>(no label)</em>'}</h3>"
            f"<div class=\"ref\"><a href=\"#unit-{_e(_anchor(u.ref))}\">{_e(u.ref)}</a></div>{flags}"
            + (f"<ol class=\"candidates\" title=\"beam candidates, log-probability\">{candidates}</ol>"
               if candidates else "")
            + f"<dl class=\"stats\">{stat_html}</dl></div>")
    draw_masks = u.maps is not None and math.isfinite(u.threshold)
    figures = []
    for j, (image_id, score) in enumerate(zip(u.exemplar_ids, u.exemplar_scores)):
        caption = f"<figcaption>#{image_id} · {_fmt(score)}</figcaption>"
        if image_id not in thumbs:
            figures.append(f"<figure class=\"ex\"><div class=\"missing\">image {image_id} not in "
                           f"report</div>{caption}</figure>")
            continue
        mask = ""
        if draw_masks:
            region = region_mask(np.asarray(u.maps[j], dtype=np.float32), u.threshold, thumbs[image_id].shape[:2])
            mask = f"<img class=\"mask\" alt=\"\" src=\"{_data_uri(mask_overlay_png(region), 'image/png')}\">"
        figures.append(f"<figure class=\"ex\"><div class=\"frame\"><img class=\"exemplar\" "
                       f"data-image=\"{image_id}\" alt=\"probe image {image_id}\">{mask}</div>{caption}</figure>")
    exemplars = f"<div class=\"exemplars\">{''.join(figures)}</div>" if figures else \
        "<div class=\"hint\">no exemplars</div>"
    return (head + info + "<div class=\"evidence\">" + exemplars + _attributions(u, thumbs, sign)
            + "</div></article>\n")


def _attributions(u, thumbs: dict, sign: str) -> str:
    if u.attributions is None:
        return ""
    figures = []
    for j, image_id in enumerate(u.exemplar_ids):
        if image_id not in thumbs:
            continue
        blended = blended_heat_map(thumbs[image_id], u.attributions[j], sign=sign)
        figures.append(f"<figure class=\"ex\"><div class=\"frame\"><img class=\"attribution\" "
                       f"alt=\"attribution on image {image_id}\" src=\"{_data_uri(encode_jpeg(blended), 'image/jpeg')}\">"
                       f"</div><figcaption>#{image_id}</figcaption></figure>")
    if not figures:
        return ""
    return (f"<details class=\"attr\"><summary>Input attributions ({_e(sign.replace('_', ' '))}, "
            f"blended heat map)</summary><div class=\"exemplars\">{''.join(figures)}</div></details>")


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
