"""How reports and units show in a notebook: a compact paged table, and one unit's card.

>>> from neuronlabel.report import LabelReport, UnitLabel
>>> html = LabelReport([UnitLabel("layer4", 0, "dog faces")])._repr_html_()
>>> "dog faces" in html and "<script" not in html
True

No script: pages switch with radio buttons and CSS, which notebooks keep, and each
thumbnail is embedded once as a CSS class however many rows show it. The table shows the
first ``MAX_UNITS`` units, ``PAGE_SIZE`` to a page; ``report.search(...)`` narrows a large
report and ``report.to_html(path)`` shows every unit.
"""

from __future__ import annotations

import base64
import html
import itertools
import math

import numpy as np

PAGE_SIZE = 10
MAX_UNITS = 100
THUMBS_PER_ROW = 5
_ids = itertools.count()


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def confidence(u) -> "float | None":
    """A unit's label confidence when the report has one (an attribute or ``stats["confidence"]``).

    >>> from neuronlabel.report import UnitLabel
    >>> confidence(UnitLabel("fc", 0, "x", stats={"confidence": 0.8})), confidence(UnitLabel("fc", 1, "y"))
    (0.8, None)
    """
    value = getattr(u, "confidence", None)
    if value is None or not math.isfinite(float(value)):
        value = u.stats.get("confidence")
    return float(value) if value is not None and math.isfinite(float(value)) else None


def report_html(report) -> str:
    """The notebook table of a report: unit, label, confidence (when present), flags, exemplar thumbnails.

    >>> from neuronlabel.report import LabelReport, UnitLabel
    >>> page = report_html(LabelReport([UnitLabel("fc", i, f"label {i}") for i in range(25)]))
    >>> page.count('type="radio"'), "label 24" in page
    (3, True)
    """
    from .overlays import encode_jpeg, fit_image

    key = f"nlr{next(_ids)}"
    units = report.units[:MAX_UNITS]
    pages = [units[i:i + PAGE_SIZE] for i in range(0, len(units), PAGE_SIZE)] or [[]]
    shown = {i for u in units for i in u.exemplar_ids[:THUMBS_PER_ROW] if i in report.images}
    thumbs = {i: _uri(encode_jpeg(fit_image(report.images[i], 48)), "image/jpeg") for i in sorted(shown)}
    with_confidence = any(confidence(u) is not None for u in units)
    with_flags = any(u.flags for u in units)
    css = [f".{key} {{font: 13px/1.4 system-ui, sans-serif}}",
           f".{key} table {{border-collapse: collapse; margin: 4px 0}}",
           f".{key} th, .{key} td {{text-align: left; padding: 3px 8px; border-bottom: 1px solid #ddd;"
           " vertical-align: middle}",
           f".{key} .ref {{font-family: ui-monospace, monospace; color: #667085}}",
           f".{key} .t {{display: inline-block; width: 48px; height: 48px; margin-right: 2px; border-radius: 3px;"
           " background: #000 center/contain no-repeat}",
           f".{key} .pg {{display: none}} .{key} nav label {{cursor: pointer; padding: 0 5px}}",
           f".{key} .flag {{color: #fff; background: #c2410c; border-radius: 3px; padding: 0 5px; font-size: 11px}}"]
    css += [f".{key} .i{i} {{background-image: url({uri})}}" for i, uri in thumbs.items()]
    css += [f"#{key}-{p}:checked ~ .pg{p} {{display: table}} #{key}-{p}:checked ~ nav label[for={key}-{p}] "
            "{font-weight: 700; text-decoration: underline}" for p in range(len(pages))]
    out = [f"<div class=\"{key}\"><style>{' '.join(css)}</style>",
           f"<div><b>LabelReport</b>: {len(report.units)} units in {len(report.layer_names())} layers"
           + (f" · model {_e(report.meta['model'])}" if report.meta.get("model") else "") + "</div>"]
    out += [f"<input type=\"radio\" name=\"{key}\" id=\"{key}-{p}\" hidden{' checked' if p == 0 else ''}>"
            for p in range(len(pages))]
    if len(pages) > 1:
        out.append("<nav>page " + "".join(f"<label for=\"{key}-{p}\">{p + 1}</label>" for p in range(len(pages)))
                   + "</nav>")
    head = "<tr><th>unit</th><th>label</th>" + ("<th>confidence</th>" if with_confidence else "") \
        + ("<th>flags</th>" if with_flags else "") + "<th>top exemplars</th></tr>"
    for p, rows in enumerate(pages):
        body = []
        for u in rows:
            c = confidence(u)
            cells = [f"<td class=\"ref\">{_e(u.ref)}</td>", f"<td>{_e(u.label) or '<em>(no label)</em>'}</td>"]
            if with_confidence:
                cells.append(f"<td>{'' if c is None else f'{c:.2f}'}</td>")
            if with_flags:
                cells.append("<td>" + " ".join(f"<span class=\"flag\">{_e(f)}</span>" for f in u.flags) + "</td>")
            cells.append("<td>" + "".join(f"<span class=\"t i{i}\" title=\"probe image {i}\"></span>"
                                          for i in u.exemplar_ids[:THUMBS_PER_ROW] if i in thumbs) + "</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        out.append(f"<table class=\"pg pg{p}\"><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>")
    if len(report.units) > len(units):
        out.append(f"<div>showing the first {len(units)} of {len(report.units)} units; "
                   "<code>report.search(\"...\")</code> narrows them, <code>report.to_html(path)</code> shows all</div>")
    out.append("</div>")
    return "".join(out)


def unit_html(u, images: "dict | None" = None) -> str:
    """One unit's card for a notebook: label, candidates, stats, exemplars with MILAN's region masks.

    >>> from neuronlabel.report import UnitLabel
    >>> "dog faces" in unit_html(UnitLabel("fc", 0, "dog faces", candidates=[("dog faces", -1.0)]))
    True
    """
    from .overlays import encode_jpeg, fit_image, mask_overlay_png, region_mask

    c = confidence(u)
    out = [f"<div style=\"font: 13px/1.4 system-ui, sans-serif\"><div><b style=\"font-size: 15px\">"
           f"{_e(u.label) or '<em>(no label)</em>'}</b> <code>{_e(u.ref)}</code>"
           + (f" · confidence {c:.2f}" if c is not None else "")
           + "".join(f" <span style=\"color:#fff;background:#c2410c;border-radius:3px;padding:0 5px\">{_e(f)}</span>"
                     for f in u.flags) + "</div>"]
    if u.candidates:
        out.append("<table style=\"border-collapse:collapse;margin:4px 0\">"
                   + "".join(f"<tr><td style=\"padding:0 10px 0 0\">{_e(t)}</td><td>{s:.3g}</td></tr>"
                             for t, s in u.candidates) + "</table>")
    stats = {"threshold": u.threshold, **u.stats}
    out.append("<div style=\"color:#667085\">" + " · ".join(f"{_e(k)} {v:.3g}" for k, v in stats.items()) + "</div>")
    figures = []
    for j, (i, score) in enumerate(zip(u.exemplar_ids, u.exemplar_scores)):
        if images is None or i not in images:
            figures.append(f"<span style=\"display:inline-block;margin:2px;color:#667085\">#{i}</span>")
            continue
        thumb = fit_image(images[i], 96)
        mask = ""
        if u.maps is not None and math.isfinite(u.threshold):
            region = region_mask(np.asarray(u.maps[j], dtype=np.float32), u.threshold, thumb.shape[:2])
            mask = (f"<img src=\"{_uri(mask_overlay_png(region), 'image/png')}\" alt=\"\" "
                    "style=\"position:absolute;left:0;top:0;width:100%;height:100%\">")
        figures.append(f"<figure style=\"display:inline-block;margin:2px;text-align:center\">"
                       f"<div style=\"position:relative;line-height:0\"><img src=\""
                       f"{_uri(encode_jpeg(thumb), 'image/jpeg')}\" alt=\"probe image {i}\">{mask}</div>"
                       f"<figcaption style=\"font-size:11px;color:#667085\">#{i} · {score:.3g}</figcaption></figure>")
    if figures:
        out.append("<div>" + "".join(figures) + "</div>")
    out.append("</div>")
    return "".join(out)
