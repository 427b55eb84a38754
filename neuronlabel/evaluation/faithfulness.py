"""Faithfulness of unit labels: does the concept a label names predict when and where the unit fires?

>>> import torch
>>> from neuronlabel.datasets.compound_concepts import Concept
>>> vocab = Vocabulary({"bowl": Concept("bowl", "object", ["bowls"]), "red": Concept("red", "colour", ["red"])})
>>> vocab.subject("red parts of bowls"), vocab.named("red parts of a bowl")
('bowl', ['red', 'bowl'])

In the spirit of Network Dissection (Bau et al., 2017). For every unit of some layers,
one streaming pass over probe images with known concept maps ``[N, C, g, g]``
(:func:`overlap`) keeps the unit's per-image maximum and, with the unit's binary mask
(activation map upsampled bilinearly to ``g x g`` and cut at the unit's probe threshold,
its 0.99 activation quantile), the pixel counts of mask AND concept and mask OR concept
summed over images: IoU = sum of intersections / sum of unions. Over images, AUPRC is
``sklearn.metrics.average_precision_score(concept present, unit's per-image max)``.
:func:`score_units` scores each label's *subject* concept (:meth:`Vocabulary.subject`),
the Network-Dissection baseline (the unit's single best-IoU concept) and a chance
baseline (the subject of another unit's label, a seeded random cycle); :func:`summarize`
gives the distributions. The ND baseline picks its concept on the images it is scored
on; ``nd_heldout_iou`` picks it on the even-numbered images and scores it on the odd ones
(compare ``heldout_iou``, the label's IoU on the same odd images).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..adapters import detect_layout, select_tensor, to_unit_maps
from ..ci.inflection import forms
from ..ci.matching import TermMatcher
from ..ci.synonyms import builtin_synonyms
from ..errors import InputError, LayerOutputError
from ..hooks import StopForward, capture, forward_until
from ..sources import ProbeSource, as_source
from ..units import resolve_layers

DETECTOR_IOU = 0.04
THINGS = ("object", "category", "region")


# ----------------------------------------------------------------------------- label parsing

def terms(name: str, concept) -> list[str]:
    """The words that name a concept in a label (lower case; nouns singular and plural).

    >>> from neuronlabel.datasets.compound_concepts import Concept
    >>> terms("gray", Concept("gray", "colour", ["gray"]))
    ['gray', 'grey']
    >>> "man" in terms("person", Concept("person", "object", ["people"]))
    True
    """
    from ..datasets.compound_units import COLOUR_WORDS, REGION_WORDS

    kind = getattr(concept, "kind", None)
    if kind not in THINGS + ("colour",):
        raise InputError(f"concept {name!r} has kind {kind!r}; expected one of {THINGS + ('colour',)}")
    phrases = [name, *concept.lemmas, *builtin_synonyms(name)]
    phrases += COLOUR_WORDS.get(name, []) if kind == "colour" else []
    phrases += REGION_WORDS.get(name, []) if kind == "region" else []
    if kind == "colour":                          # adjectives: no plural ("oranges" are fruit)
        return sorted({_key(p) for p in phrases})
    return sorted({_key(t) for phrase in phrases for t in forms(phrase)})


def _key(term: str) -> str:
    """A term as :class:`~neuronlabel.ci.matching.TermMatcher` reports it: lower case, words split at
    spaces, hyphens and underscores ("self-propelled" is "self propelled")."""
    return " ".join(w for w in re.split(r"[\s_-]+", term.lower()) if w)


class Vocabulary:
    """Checkable concepts by name (``{name: Concept}``) and the words that name them in labels.

    >>> from neuronlabel.datasets.compound_concepts import Concept
    >>> v = Vocabulary({"person": Concept("person", "object", ["people"]), "sky": Concept("sky", "region", ["sky"]),
    ...                 "gray": Concept("gray", "colour", ["gray"])})
    >>> v.named("grey clouds in the blue sky above a man"), v.subject("patches of grey")
    (['gray', 'sky', 'person'], 'gray')

    A concept is named by its name or a lemma, singular or plural (:func:`neuronlabel.ci.inflection.forms`),
    the project's built-in synonyms (:mod:`neuronlabel.ci.synonyms`: "man" names person)
    and the captioner's training words for colours and regions ("grey", "blue sky", "lawn");
    whole words only, longest first (:class:`neuronlabel.ci.matching.TermMatcher`).
    """

    def __init__(self, concepts: Mapping):
        self.concepts = dict(concepts)
        self.owner: dict[str, str] = {}
        for name, c in self.concepts.items():
            for term in terms(name, c):
                other = self.owner.setdefault(term, name)
                if other != name:
                    raise InputError(f"the word {term!r} names both concept {other!r} and concept {name!r}; "
                                     "merge them first (merge_shared_terms)")
        self.matcher = TermMatcher(self.owner)

    def named(self, label: str) -> list[str]:
        """The concepts a label names, in the order they first appear.

        >>> from neuronlabel.datasets.compound_concepts import Concept
        >>> Vocabulary({"dogs": Concept("dogs", "category", ["dogs"])}).named("a dog and dogs; hotdogs")
        ['dogs']
        """
        if not isinstance(label, str):
            raise InputError(f"a label must be a string, got {type(label).__name__} {label!r}")
        out = []
        for hit in self.matcher.find(label):
            name = self.owner[hit.term]
            if name not in out:
                out.append(name)
        return out

    def subject(self, label: str) -> Optional[str]:
        """What the label is about: its first object, category or region, else its first colour, else None.

        >>> from neuronlabel.datasets.compound_concepts import Concept
        >>> v = Vocabulary({"dogs": Concept("dogs", "category", ["dogs"]), "sky": Concept("sky", "region", ["sky"])})
        >>> v.subject("sky above dogs"), v.subject("the edges of dogs"), v.subject("stripes")
        ('sky', 'dogs', None)
        """
        named = self.named(label)
        for name in named:
            if self.concepts[name].kind in THINGS:
                return name
        return named[0] if named else None


def merge_shared_terms(names: Sequence[str], concepts: Mapping, maps: torch.Tensor
                       ) -> tuple[list[str], dict, torch.Tensor]:
    """Unite concepts that share a word (COCO's "vehicle" and WordNet's "vehicles"): maps OR-ed.

    >>> from neuronlabel.datasets.compound_concepts import Concept
    >>> c = {"vehicle": Concept("vehicle", "object", ["vehicles"]), "vehicles": Concept("vehicles", "category", ["vehicles"]),
    ...      "red": Concept("red", "colour", ["red"])}
    >>> m = torch.zeros(2, 3, 1, 1, dtype=torch.bool); m[0, 0] = True; m[1, 1] = True
    >>> names, merged, maps = merge_shared_terms(["vehicle", "vehicles", "red"], c, m)
    >>> names, merged["vehicle"].lemmas, maps[:, 0].flatten().tolist()
    (['vehicle', 'red'], ['vehicles'], [True, True])

    A united concept takes the name and kind of its first member in ``names`` and all members' lemmas.
    """
    from ..datasets.compound_concepts import Concept

    names = list(names)
    if maps.dim() != 4 or maps.shape[1] != len(names):
        raise InputError(f"maps must be [N, {len(names)}, g, g] for {len(names)} names, got {tuple(maps.shape)}")
    parent = list(range(len(names)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for j, name in enumerate(names):
        for term in terms(name, concepts[name]):
            if term in seen:
                a, b = root(seen[term]), root(j)
                parent[max(a, b)] = min(a, b)
            else:
                seen[term] = j
    groups: dict[int, list[int]] = {}
    for j in range(len(names)):
        groups.setdefault(root(j), []).append(j)
    out_names, out_concepts, columns = [], {}, []
    for first, members in sorted(groups.items()):
        name = names[first]
        lemmas = list(dict.fromkeys(lem for j in members for lem in concepts[names[j]].lemmas))
        out_names.append(name)
        out_concepts[name] = Concept(name, concepts[name].kind, lemmas)
        columns.append(maps[:, members].any(1))
    return out_names, out_concepts, torch.stack(columns, 1)


# ----------------------------------------------------------------------------- probe images

class PhotoSource(ProbeSource):
    """uint8 photos ``[N, 3, H, W]`` as a probe source, normalised on the fly for a network.

    >>> src = PhotoSource(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), mean=(0.5,) * 3, std=(0.5,) * 3)
    >>> float(src[0].max()), float(src.display(1).min()), len(src)
    (1.0, 1.0, 2)
    """

    def __init__(self, photos: torch.Tensor, mean: Sequence[float], std: Sequence[float]):
        if photos.dim() != 4 or photos.shape[1] != 3 or photos.dtype != torch.uint8:
            raise InputError(f"photos must be a uint8 tensor [N, 3, H, W]; got {photos.dtype} {tuple(photos.shape)}")
        self.photos = photos
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return self.photos.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return (self.display(i) - self.mean) / self.std

    def display(self, i: int) -> torch.Tensor:
        return self.photos[int(i)].float() / 255.0

    def describe(self) -> str:
        return f"{len(self)} photos normalised with mean {self.mean.flatten().tolist()}"


# ----------------------------------------------------------------------------- the streaming pass

@dataclass
class Overlap:
    """One layer's counts: ``maxima`` ``[N, U]`` (per-image peak activation), and per fold
    (even / odd image positions) ``intersection`` ``[2, U, C]``, ``mask_area`` ``[2, U]``,
    ``concept_area`` ``[2, C]`` in grid cells; ``thresholds`` ``[U]``; ``cells`` ``[N, U]``, the
    mask's cells in each image (for image-level concepts, :func:`image_level_iou`).

    >>> o = Overlap("l", torch.zeros(2, 1), torch.tensor([[[1]], [[0]]]), torch.tensor([[2], [0]]),
    ...             torch.tensor([[3], [1]]), torch.zeros(1))
    >>> o.union().tolist(), o.iou().tolist(), o.iou(fold=1).tolist()
    ([[5]], [[0.2]], [[0.0]])
    """

    layer: str
    maxima: torch.Tensor
    intersection: torch.Tensor
    mask_area: torch.Tensor
    concept_area: torch.Tensor
    thresholds: torch.Tensor
    cells: Optional[torch.Tensor] = None

    def _pick(self, x: torch.Tensor, fold: Optional[int]) -> torch.Tensor:
        if fold is None:
            return x.sum(0)
        if fold not in (0, 1):
            raise InputError(f"fold must be 0 (even images), 1 (odd images) or None (all), got {fold!r}")
        return x[fold]

    def union(self, fold: Optional[int] = None) -> torch.Tensor:
        """``[U, C]``: cells in the unit's mask or the concept, summed over images."""
        inter = self._pick(self.intersection, fold)
        return self._pick(self.mask_area, fold)[:, None] + self._pick(self.concept_area, fold)[None, :] - inter

    def iou(self, fold: Optional[int] = None) -> torch.Tensor:
        """``[U, C]`` float64 Network-Dissection IoU (0 where the union is empty)."""
        inter, union = self._pick(self.intersection, fold).double(), self.union(fold).double()
        return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))


def _thresholds(thresholds, layer: str) -> torch.Tensor:
    if layer not in thresholds:
        raise InputError(f"no threshold for layer {layer!r}; thresholds are given for {list(thresholds)}")
    t = thresholds[layer]
    t = getattr(t, "thresholds", t)                       # an Exemplars (a ProbeResult's value) or a tensor
    return torch.as_tensor(t, dtype=torch.float32).flatten()


def overlap(net: nn.Module, images, layers, concept_maps: torch.Tensor, thresholds: Mapping, *,
            batch_size: int = 32, device=None, progress: Optional[Callable[[int, int], None]] = None
            ) -> dict[str, Overlap]:
    """One pass over ``images``: per unit of ``layers``, per-image maxima and mask/concept overlaps.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1))
    >>> maps = torch.rand(6, 2, 8, 8) > 0.5
    >>> out = overlap(net, torch.rand(6, 3, 16, 16), ["0"], maps, {"0": torch.zeros(4)})
    >>> out["0"].maxima.shape, out["0"].intersection.shape, out["0"].iou().shape
    (torch.Size([6, 4]), torch.Size([2, 4, 2]), torch.Size([4, 2]))

    ``images``: a :class:`~neuronlabel.sources.ProbeSource` or anything :func:`~neuronlabel.sources.as_source`
    takes; row ``i`` of ``concept_maps`` (``[N, C, g, g]`` bool) is where each concept is in
    image ``i``. ``thresholds``: ``{layer: [U] tensor}`` or a :class:`~neuronlabel.probing.ProbeResult`.
    Hooks are removed when the pass ends, error or not; ``progress(done, total)`` is called per batch.
    """
    if not isinstance(net, nn.Module):
        raise InputError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    names = resolve_layers(net, layers)
    source = as_source(images, net)
    if not isinstance(concept_maps, torch.Tensor) or concept_maps.dim() != 4:
        raise InputError("concept_maps must be a [N, C, g, g] tensor, got "
                         f"{tuple(concept_maps.shape) if isinstance(concept_maps, torch.Tensor) else type(concept_maps).__name__}")
    if concept_maps.shape[0] != len(source):
        raise InputError(f"concept_maps has {concept_maps.shape[0]} rows but there are {len(source)} images")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    thr = {name: _thresholds(thresholds, name) for name in names}
    run_device = torch.device(device) if device is not None else next(
        (p.device for p in net.parameters()), torch.device("cpu"))
    n, c = concept_maps.shape[:2]
    grid = tuple(concept_maps.shape[2:])
    state: dict = {}
    modules = dict(net.named_modules())
    current: dict = {}

    def on_output(name: str, output) -> None:
        tensor = select_tensor(output, name)
        if name not in state:
            layout = detect_layout(tensor, current["hw"], net, modules[name], name)
            units = to_unit_maps(tensor, layout).shape[1]
            if thr[name].numel() != units:
                raise InputError(f"layer {name!r} has {units} units but {thr[name].numel()} thresholds were given")
            state[name] = {"layout": layout, "maxima": torch.zeros(n, units),
                           "inter": torch.zeros(2, units, c, dtype=torch.long),
                           "area": torch.zeros(2, units, dtype=torch.long),
                           "cells": torch.zeros(n, units, dtype=torch.int32)}
        s = state[name]
        maps = to_unit_maps(tensor, s["layout"]).float()
        if maps.shape[0] != current["batch"]:
            raise LayerOutputError(f"layer {name!r} output has batch size {maps.shape[0]}, the input had "
                                   f"{current['batch']}; choose a layer whose first dim is the batch")
        s["maxima"][current["ids"]] = maps.amax(dim=(2, 3)).cpu()
        up = F.interpolate(maps, size=grid, mode="bilinear", align_corners=False)
        mask = (up > thr[name].to(up.device).view(1, -1, 1, 1)).flatten(2).float()            # [B, U, P]
        s["cells"][current["ids"]] = mask.sum(2).round().to(torch.int32).cpu()
        concept = current["concept"]                                                          # [B, C, P]
        for fold in (0, 1):
            rows = current["fold"] == fold
            if bool(rows.any()):
                inter = torch.einsum("bup,bcp->uc", mask[rows], concept[rows])
                s["inter"][fold] += inter.round().long().cpu()
                s["area"][fold] += mask[rows].sum(dim=(0, 2)).round().long().cpu()
        current["seen"].add(name)
        if current["seen"] >= set(names):
            raise StopForward

    concept_area = torch.zeros(2, c, dtype=torch.long)
    was_training = net.training
    net.eval()
    try:
        with capture(net, names, on_output), torch.inference_mode():
            for lo in range(0, n, batch_size):
                ids = torch.arange(lo, min(lo + batch_size, n))
                x = torch.stack([source[int(i)] for i in ids]).to(run_device)
                cmap = concept_maps[ids].to(run_device).flatten(2).float()
                fold = (ids % 2).to(run_device)
                for f in (0, 1):
                    concept_area[f] += cmap[fold == f].sum(dim=(0, 2)).round().long().cpu()
                current.update(hw=tuple(x.shape[-2:]), batch=x.shape[0], ids=ids, concept=cmap, fold=fold,
                               seen=set())
                forward_until(net, x, names, current["seen"])
                if progress is not None:
                    progress(int(ids[-1]) + 1, n)
    finally:
        if was_training:
            net.train()
    # clones made outside inference mode are ordinary tensors that callers may update in place
    return {name: Overlap(name, state[name]["maxima"].clone(), state[name]["inter"].clone(),
                          state[name]["area"].clone(), concept_area.clone(), thr[name].clone(),
                          state[name]["cells"].clone()) for name in names}


def image_level_iou(cells: torch.Tensor, members: torch.Tensor, grid_cells: int) -> torch.Tensor:
    """``[U, C]`` IoU of units' masks with image-level concepts (a concept covers every cell of its images).

    ``cells`` ``[N, U]``: mask cells per image (:attr:`Overlap.cells`); ``members`` ``[N, C]`` bool: which
    images show each concept; ``grid_cells``: cells per image.

    >>> cells = torch.tensor([[4], [1], [0]]); members = torch.tensor([[True], [False], [True]])
    >>> image_level_iou(cells, members, 4).tolist()                     # 4 / (4 + 4 + 1)
    [[0.4444444444444444]]
    """
    a, m = cells.double(), members.double()
    inter = a.T @ m
    union = grid_cells * m.sum(0, keepdim=True) + a.sum(0)[:, None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))


# ----------------------------------------------------------------------------- scores

def auprc(scores, present) -> float:
    """Average precision of ``scores`` ``[N]`` at predicting ``present`` ``[N]`` (NaN with no positive).

    >>> auprc([0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0]), auprc([1.0, 2.0], [0, 0])
    (1.0, nan)
    """
    from sklearn.metrics import average_precision_score

    y = np.asarray(present).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise InputError(f"scores and present must have the same length, got {s.shape[0]} and {y.shape[0]}")
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, s))


@dataclass
class UnitScore:
    """One unit's scores: its label's subject concept (None: nothing checkable), the ND baseline's
    best-IoU concept and a chance concept (another unit's subject), each with IoU and AUPRC.

    >>> s = UnitScore("blocks.6", 7, "red dogs", ["red", "dogs"], "dogs", 0.05, 0.4, "dogs", 0.05, 0.4,
    ...               "sky", 0.01, 0.1, 0.04, "birds", 0.02)
    >>> s.as_dict()["subject"], s.nd_concept == s.subject
    ('dogs', True)

    ``heldout_iou`` / ``nd_heldout_iou``: the label's IoU and that of the concept ND picks on the
    even images, both on the odd images.
    """

    layer: str
    unit: int
    label: str
    named: list
    subject: Optional[str]
    iou: Optional[float]
    auprc: Optional[float]
    nd_concept: str
    nd_iou: float
    nd_auprc: float
    chance_concept: Optional[str]
    chance_iou: Optional[float]
    chance_auprc: Optional[float]
    heldout_iou: Optional[float]
    nd_heldout_concept: str
    nd_heldout_iou: float

    def as_dict(self) -> dict:
        return asdict(self)


def score_units(labels: Sequence[str], result: Overlap, names: Sequence[str], present: torch.Tensor,
                vocabulary: Vocabulary, *, seed: int = 0) -> list[UnitScore]:
    """Score every unit of one layer: ``labels[u]`` is unit ``u``'s label, ``names`` the concept
    columns, ``present`` ``[N, C]`` whether each concept is in each image.

    >>> from neuronlabel.datasets.compound_concepts import Concept
    >>> vocab = Vocabulary({"sky": Concept("sky", "region", ["sky"]), "red": Concept("red", "colour", ["red"])})
    >>> o = Overlap("l", torch.tensor([[1.0], [0.0]]), torch.tensor([[[2, 0]], [[0, 0]]]),
    ...             torch.tensor([[2], [0]]), torch.tensor([[4, 1], [0, 1]]), torch.zeros(1))
    >>> s = score_units(["blue sky"], o, ["sky", "red"], torch.tensor([[True, True], [False, True]]), vocab)[0]
    >>> s.subject, s.iou, s.auprc, s.nd_concept
    ('sky', 0.5, 1.0, 'sky')
    """
    names = list(names)
    iou, units = result.iou(), result.maxima.shape[1]
    if len(labels) != units:
        raise InputError(f"layer {result.layer!r} has {units} units but {len(labels)} labels were given")
    if iou.shape[1] != len(names) or tuple(present.shape) != (result.maxima.shape[0], len(names)):
        raise InputError(f"{len(names)} concept names, IoU over {iou.shape[1]} concepts and presence "
                         f"{tuple(present.shape)} for {result.maxima.shape[0]} images do not fit together")
    unknown = sorted(set(vocabulary.concepts) - set(names))
    if unknown:
        raise InputError(f"the vocabulary names concepts with no column: {unknown[:5]}")
    column = {n: j for j, n in enumerate(names)}
    maxima, pres = result.maxima.numpy(), present.numpy()
    ap = {}

    def ap_of(u: int, j: int) -> float:
        if (u, j) not in ap:
            ap[(u, j)] = auprc(maxima[:, u], pres[:, j])
        return ap[(u, j)]

    subjects = [vocabulary.subject(label) for label in labels]
    checkable = [u for u, s in enumerate(subjects) if s is not None]
    order = np.random.default_rng(seed).permutation(checkable).tolist()
    chance = {u: subjects[order[(i + 1) % len(order)]] for i, u in enumerate(order)}   # one random cycle
    best = iou.argmax(1).tolist()
    chosen = result.iou(fold=0).argmax(1).tolist()
    heldout = result.iou(fold=1)
    out = []
    for u, label in enumerate(labels):
        subject, other = subjects[u], chance.get(u)
        j, jc = column.get(subject), column.get(other)
        out.append(UnitScore(
            result.layer, u, label, vocabulary.named(label), subject,
            float(iou[u, j]) if subject else None, ap_of(u, j) if subject else None,
            names[best[u]], float(iou[u, best[u]]), ap_of(u, best[u]),
            other, float(iou[u, jc]) if other else None, ap_of(u, jc) if other else None,
            float(heldout[u, j]) if subject else None, names[chosen[u]], float(heldout[u, chosen[u]])))
    return out


def _stats(values) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(v):
        return {"n": 0, "median": None, "q1": None, "q3": None, "mean": None}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(len(v)), "median": float(med), "q1": float(q1), "q3": float(q3), "mean": float(v.mean())}


def summarize(scores: Sequence[UnitScore]) -> dict:
    """Distributions for one layer: label vs ND baseline vs chance, over the units with a checkable label.

    >>> s = UnitScore("l", 0, "sky", ["sky"], "sky", 0.5, 1.0, "sky", 0.5, 1.0, "sky", 0.5, 1.0, 0.4, "sky", 0.4)
    >>> t = summarize([s, UnitScore("l", 1, "stripes", [], None, None, None, "red", 0.01, 0.3, None, None, None,
    ...                             None, "red", 0.0)])
    >>> t["checkable"], t["label"]["iou"]["median"], t["nd_all"]["detectors"], t["agreement"]
    (0.5, 0.5, 0.5, 1.0)

    ``detectors``: the fraction of units with IoU > 0.04, Network Dissection's cut-off.
    ``agreement``: how often the label's subject is the ND baseline's concept.
    """
    scores = list(scores)
    if not scores:
        raise InputError("no unit scores to summarise")
    ok = [s for s in scores if s.subject is not None]

    def block(iou, ap):
        iou = list(iou)
        out = {"iou": _stats(iou), "auprc": _stats(ap)}
        out["detectors"] = float(np.mean([x > DETECTOR_IOU for x in iou])) if iou else None
        return out

    return {
        "units": len(scores), "checkable": len(ok) / len(scores), "checkable_units": len(ok),
        "label": block([s.iou for s in ok], [s.auprc for s in ok]),
        "nd": block([s.nd_iou for s in ok], [s.nd_auprc for s in ok]),
        "chance": block([s.chance_iou for s in ok], [s.chance_auprc for s in ok]),
        "nd_all": block([s.nd_iou for s in scores], [s.nd_auprc for s in scores]),
        "heldout": {"label_iou": _stats([s.heldout_iou for s in ok]),
                    "nd_iou": _stats([s.nd_heldout_iou for s in ok])},
        "agreement": float(np.mean([s.subject == s.nd_concept for s in ok])) if ok else None,
    }
