"""The known-answer table in markdown: one block per network, the labels beside three baselines.

>>> s = {"final_exact": {"units": 2, "label": 0.5, "chance": 0.0, "constant": 0.0, "nd": 1.0}}
>>> print(markdown({"networks": {"net": {"sections": s}}}).splitlines()[4])
| final layer: names the class exactly | 2 | 50.0 % | 0.0 % | 0.0 % | 100.0 % |
"""

from __future__ import annotations

ROWS = [
    ("final_exact", "final layer: names the class exactly"),
    ("final_hypernym", "final layer: names the class or a close hypernym"),
    ("final_cosine", "final layer: mean MiniLM cosine, label vs class name"),
    ("class_selective", "class-selective hidden units named"),
    ("texture", "texture-selective units named (held-out textures)"),
    ("colour", "colour units named"),
    ("face", "face units named (face/head/person/people)"),
]


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def markdown(result: dict) -> str:
    """The table of :func:`.runner.known_answer`'s result."""
    lines = []
    for name, net in result["networks"].items():
        s = net["sections"]
        lines += [f"**{name}**", "", "| section | units | label | chance | constant label | Network Dissection |",
                  "|---|---|---|---|---|---|"]
        for key, text in ROWS:
            if key not in s:
                continue
            r = s[key]
            fmt = (lambda x: "-" if x is None else f"{x:.3f}") if key == "final_cosine" else _pct
            lines.append(f"| {text} | {r['units']} | " + " | ".join(fmt(r.get(k)) for k in ("label", "chance", "constant", "nd"))
                         + " |")
            seen = s.get("final_class_photo") if key == "final_cosine" else None
            if seen:
                lines.append(f"| final layer: its class photo is the top exemplar; among the exemplars (what the "
                             f"exemplars can show) | {seen['units']} | {_pct(seen['top'])}; {_pct(seen['any'])} | - | - | - |")
            conf = s.get("final_confidence") if key == "final_cosine" else None
            if conf:
                num = lambda x: "-" if x is None else f"{x:.3f}"
                lines.append(f"| final layer: AUROC of the confidence for a right label (class or close hypernym; "
                             f"exact class); units flagged uncertain | {conf['units']} | {num(conf['hypernym'])}; "
                             f"{num(conf['exact'])}; {_pct(conf['uncertain'])} | - | - | - |")
        lang = s.get("language")
        if lang:
            lines.append(f"| labels with an uncommon word | {lang['units']} | {_pct(lang['uncommon'])} | - | - | "
                         f"{_pct(lang['uncommon_nd'])} |")
            lines.append(f"| degenerate labels (repeated conjunct, dangling word) | {lang['units']} | "
                         f"{_pct(lang['degenerate'])} | - | - | 0.0 % |")
            for layer, d in lang["layers"].items():
                lines.append(f"| {layer}: distinct labels; most common label's share | {d['units']} | {d['distinct']}; "
                             f"{_pct(d['most_common_share'])} (\"{d['most_common']}\") | - | - | - |")
        lines.append("")
    return "\n".join(lines)
