"""The evidence stage: probe -> **evidence** -> captioner -> report. Offline scorers over each unit's
masked exemplars, computed once per unit, every image scored once.

>>> from neuronlabel import models, probe
>>> from neuronlabel.evidence import compute_evidence
>>> net, _ = models.load("efficientnet_lite0")
>>> result = probe(net, None, ["blocks.6"], progress=False)            # doctest: +SKIP
>>> ev = compute_evidence(result)                                      # doctest: +SKIP
>>> ev["blocks.6", 17].items[0], ev["blocks.6", 17].uncertain          # doctest: +SKIP
(EvidenceItem(concept='n02121808', kind='object', name='cats', ...), False)

Scorers (:data:`SCORERS`):

* ``object``: EfficientNet-Lite0's ImageNet classifier over the exemplars (whole image and
  masked region, :data:`neuronlabel.evidence.imagenet.MODES`), summed up the WordNet tree;
* ``texture``: the bundled texture head on mask-pooled Lite0 features;
* ``colour``: named colours of the masked pixels;
* ``face``: the share of the masks on faces found by MTCNN (and of exemplars showing people).

Every score is *lifted* over a baseline: ``(unit mean - baseline) / (1 - baseline)``, the
baseline being the probe set's mean over the distinct exemplar images (each as a whole) or,
in layers of at least :data:`LAYER_PRIOR_UNITS` units, the layer's average unit when that is
higher, so a concept every photo shows, or every unit of the layer sees (the dark images a
random network's units all fire on), earns nothing. A unit's confidence is its best score,
reduced when its exemplar images are shared by more than :data:`HUB` x chance of the
layer's other units (:func:`hubness`: random networks' units all pick the same images);
below :data:`~neuronlabel.evidence.unit_evidence.UNCERTAIN` the unit is flagged uncertain.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import torch
from torch import Tensor

from ..concepts.vocabulary import TEXTURES
from ..datasets.compound_concepts import COLOURS
from ..errors import InputError
from . import faces as _faces
from .colour import colour_cover, colour_shares
from .features import GRID, ImageFeatures, image_features, pool
from .imagenet import ImageNetTree, exemplar_probs
from .texture import NONE, TextureHead, pooled
from .unit_evidence import EvidenceItem, UnitEvidence

SCORERS = ("object", "texture", "colour", "face")
MIN_SCORE = 0.05          # items below this are not listed
TOP = 8                   # at most this many items per unit
COLOUR_AGREE = 1 / 3      # an exemplar "is" a colour when a third of its mask is
FACE_AGREE = 0.2          # an exemplar's mask "is on a face" when a fifth of it is
PEOPLE = 0.5              # "people" (exemplar images showing a face) counts half: the unit may fire elsewhere
LAYER_PRIOR_UNITS = 32    # layers with at least this many units: a unit must also beat the layer's average unit
GENERIC = 1.0             # broad WordNet nodes ("animals", "equipment") count this much of their lift
LEAF_MASS = 0.25          # the ImageNet class holding the most mass is listed when it holds this much
EMPHASIS = 3.0           # exemplar weights: (activation above the mask threshold) ** EMPHASIS
JOINT = 3.0              # the named object: exemplars' class log-probabilities summed as this many independent views
HUB = 2.0                 # units whose exemplars are shared by more than HUB x chance of the layer lose confidence


def _check_scorers(scorers: Optional[Sequence[str]]) -> tuple:
    if scorers is None:
        return tuple(s for s in SCORERS if s != "face" or _faces.available())
    if isinstance(scorers, str):
        scorers = [scorers]
    scorers = tuple(scorers)
    bad = [s for s in scorers if s not in SCORERS]
    if bad:
        raise InputError(f"unknown evidence scorer(s) {bad}; scorers: {', '.join(SCORERS)}")
    if "face" in scorers:
        _faces.detector()                  # raises MissingDependencyError with the pip command
    return scorers


def _lift(x: Tensor, prior: Tensor) -> Tensor:
    return ((x - prior) / (1 - prior).clamp(min=1e-6)).clamp(0, 1)


class _Priors:
    """Probe-set means over the distinct exemplar images (each as a whole)."""

    def __init__(self, feats: ImageFeatures, tree, head, cover, faces, mode: str):
        n = len(feats)
        whole = torch.ones(n, GRID, GRID)
        rows = torch.arange(n)
        self.object = tree.mass(exemplar_probs(feats, rows, whole, mode)).mean(0, keepdim=True) if tree else None
        self.texture = head.probs(pooled(feats, rows, whole)).mean(0) if head else None
        self.colour = cover.mean(dim=(0, 2, 3)) if cover is not None else None
        if faces is not None:
            self.face = faces.mean()
            self.person = (faces.flatten(1).amax(1) > 0).float().mean()


def compute_evidence(result, units: Optional[dict] = None, *, scorers: Optional[Sequence[str]] = None,
                     mode: str = "mix", images: Optional[tuple] = None, encoded=None, device=None,
                     unit_chunk: int = 64, output_layers: Sequence[str] = ()) -> dict:
    """``{(layer, unit): UnitEvidence}`` for the units of a probe result (``units``: ``{layer: [unit, ...]}``,
    default all). ``images``: :func:`neuronlabel.labeling.exemplar_images` if fetched already;
    ``encoded``: the captioner's encoding of those images, reused when it holds Lite0's
    ``blocks.6`` and ``bn2``. ``scorers`` defaults to all that are installed.
    ``output_layers``: layers without a spatial map that are the network's output (class logits,
    :func:`neuronlabel.labeling.output_layers`; ``label_model`` finds them): their units are
    named by the object their exemplars support jointly (:func:`joint`), the others' by the mean.
    """
    from ..labeling import exemplar_images
    from .imagenet import MODES

    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    scorers = _check_scorers(scorers)
    if getattr(result, "source", None) is None:
        raise InputError("the probe result has no image source attached; set result.source first")
    units = units if units is not None else {layer: list(range(result[layer].units)) for layer in result}
    for layer, chosen in units.items():
        if layer not in result:
            raise InputError(f"layer {layer!r} is not in the probe result; its layers: {list(result)}")
        result[layer]._select(chosen)
    ids, shown = images if images is not None else exemplar_images(result, units)
    if not len(ids):
        return {}
    feats = image_features(shown, ids, encoded=encoded, device=device)
    tree = ImageNetTree.load() if "object" in scorers else None
    head = TextureHead.load() if "texture" in scorers else None
    cover = colour_cover(feats.pixels) if "colour" in scorers else None
    face = _faces.face_cover(shown, device) if "face" in scorers else None
    priors = _Priors(feats, tree, head, cover, face, mode)
    out = {}
    for layer, chosen in units.items():
        ex = result[layer]
        spatial = tuple(ex.maps.shape[-2:]) != (1, 1)
        together = not spatial and layer in output_layers
        raw = []
        for lo in range(0, len(chosen), unit_chunk):
            part = list(chosen[lo: lo + unit_chunk])
            scores, thresholds = ex.scores[part].cpu(), ex.thresholds[part].cpu()
            raw.append(_raw_chunk(feats, feats.rows(ex.ids[part].cpu()), ex.coverage(units=part, grid=(GRID, GRID)).cpu(),
                                  tree, head, cover, face, mode, excess(scores, thresholds),
                                  excess(scores, thresholds, 1.0) if together else None))
        raw = {key: torch.cat([r[key] for r in raw]) for key in raw[0]} if raw else {}
        hub = hubness(ex.ids, result.num_images or len(ids))[list(chosen)]
        for u, ev in zip(chosen, _items(raw, priors, tree, head, layer_prior=len(chosen) >= LAYER_PRIOR_UNITS,
                                        hub=hub)):
            ev.layer, ev.unit, ev.spatial = layer, u, spatial
            out[(layer, u)] = ev
    return out


def hubness(ids: Tensor, num_images: int) -> Tensor:
    """Per unit, how many *other* units of the layer share its exemplar images, over what chance gives:
    the mean over its exemplars of ``(count in the layer's top-k - 1) / ((units - 1) * k / num_images)``.

    >>> hubness(torch.tensor([[0, 1], [0, 1], [2, 3], [4, 5]]), 6).tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    ids = ids.cpu().long()
    valid = ids >= 0
    units = ids.shape[0]
    if units < 2 or not bool(valid.any()):
        return torch.zeros(units)
    counts = torch.bincount(ids[valid], minlength=int(ids.max()) + 1).float()
    expected = (units - 1) * ids.shape[1] / max(int(num_images), 1)
    per = torch.where(valid, counts[ids.clamp(min=0)] - 1, torch.zeros_like(ids, dtype=torch.float))
    return per.sum(1) / valid.sum(1).clamp(min=1) / max(expected, 1e-9)


def excess(scores: Tensor, thresholds: Tensor, power: Optional[float] = None) -> Tensor:
    """Exemplar weights ``[U, k]``: each exemplar's activation above the unit's mask threshold, raised to
    ``power`` (default :data:`EMPHASIS`), the exemplars of a unit summing to 1 (equal weights where none
    exceeds it, 0 for missing exemplars).

    An exemplar that barely clears the threshold shows the unit's concept less than the one
    that drives it hardest, so a class unit whose probe set holds one photo of its class is
    described by that photo more than by its 14 look-alikes.

    >>> excess(torch.tensor([[5.0, 3.0, 1.0], [1.0, 1.0, float("-inf")]]), torch.tensor([1.0, 2.0]), 1).mul(3).tolist()
    [[2.0, 1.0, 0.0], [1.5, 1.5, 0.0]]
    """
    power = EMPHASIS if power is None else power
    scores = scores.float()
    finite = torch.isfinite(scores)
    w = torch.where(finite, (scores - thresholds.float().view(-1, 1)).clamp(min=0), torch.zeros_like(scores))
    w = w / w.amax(1, keepdim=True).clamp(min=1e-12)
    w = w ** power
    none = w.sum(1, keepdim=True) <= 0
    w = torch.where(none, finite.float(), w)
    return w / w.sum(1, keepdim=True).clamp(min=1e-12)


def joint(probs: Tensor, weights: Tensor, views: float = JOINT) -> Tensor:
    """Class probabilities ``[U, C]`` that a unit's exemplars support together: their log-probabilities
    ``probs`` [U, k, C] averaged with ``weights`` [U, k] and counted as ``views`` independent looks
    (a product of experts): the class every exemplar finds likely beats the one a single exemplar is sure of.

    One exemplar is sure of class 0; the other two find class 1 likely and class 0 not:

    >>> p = torch.tensor([[[0.98, 0.02, 0.0], [0.02, 0.49, 0.49], [0.02, 0.49, 0.49]]])
    >>> _mean(p, torch.ones(1, 3)).argmax(1).tolist(), joint(p, torch.ones(1, 3)).argmax(1).tolist()
    ([0], [1])
    """
    w = weights.float() / weights.float().sum(1, keepdim=True).clamp(min=1e-12)
    logp = probs.float().clamp(min=1e-8).log()
    return (views * (logp * w.unsqueeze(-1)).sum(1)).softmax(-1)


def _mean(x: Tensor, weights: Tensor) -> Tensor:
    """Weighted mean over exemplars of ``x`` [U, k, ...] (``weights`` [U, k]; a bool tensor: equal weights)."""
    v = weights.float().view(*weights.shape, *([1] * (x.dim() - 2)))
    return (x * v).sum(1) / v.sum(1).clamp(min=1e-12)


def _raw_chunk(feats, rows, weights, tree, head, cover, face, mode, emphasis: Optional[Tensor] = None,
               views: Optional[Tensor] = None) -> dict:
    """Per unit of a chunk, the unit means of every scorer (before any lift), exemplars weighted by
    ``emphasis`` [U, k] (:func:`excess`; default equal), and with ``views`` [U, k] (exemplar weights)
    the WordNet mass of the classes the exemplars support jointly (:func:`joint`)."""
    U, k = rows.shape
    valid = rows >= 0
    weight = valid if emphasis is None else emphasis * valid
    flat_rows = rows.clamp(min=0).flatten()
    flat_w = weights.flatten(0, 1)
    out = {"dead": ((flat_w.flatten(1).sum(1).view(U, k) <= 0) & valid).float().sum(1)
           / valid.float().sum(1).clamp(min=1) if U else torch.zeros(0)}
    out["dead"] = torch.where(valid.any(1), out["dead"], torch.ones(U))
    if tree is not None:
        p = exemplar_probs(feats, flat_rows, flat_w, mode).view(U, k, -1)
        out["mass"] = tree.mass(_mean(p, weight))
        if views is not None:
            out["joint"] = tree.mass(joint(p, views * valid))
        out["mass_agree"] = tree.mass(_mean(torch.nn.functional.one_hot(p.argmax(-1), p.shape[-1]).float(), valid))
    if head is not None:
        probs = head.probs(pooled(feats, flat_rows, flat_w)).view(U, k, -1)
        out["texture"] = _mean(probs, weight)
        out["texture_agree"] = _mean(torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).float(), valid)
    if cover is not None:
        shares = colour_shares(cover, flat_rows, flat_w).view(U, k, -1)
        out["colour"] = _mean(shares, weight)
        out["colour_agree"] = _mean((shares >= COLOUR_AGREE).float(), valid)
    if face is not None:
        on_face = pool(face.unsqueeze(1), flat_rows, flat_w).view(U, k)
        has_face = (face.flatten(1).amax(1) > 0).float()[flat_rows].view(U, k)
        out["face"] = _mean(on_face, weight)
        out["face_agree"] = _mean((on_face >= FACE_AGREE).float(), valid)
        out["people"] = _mean(has_face, weight)
        out["people_agree"] = _mean(has_face, valid)
    return out


def _prior(image_prior: Tensor, unit_means: Tensor, layer_prior: bool) -> Tensor:
    """What a unit must beat: the probe set's mean, or the layer's average unit when that is higher."""
    if not layer_prior or not len(unit_means):
        return image_prior
    return torch.maximum(image_prior, unit_means.mean(0, keepdim=image_prior.dim() == 2))


def _items(raw: dict, priors, tree, head, layer_prior: bool, hub: Tensor) -> list:
    """Each unit's :class:`UnitEvidence`. The object named (``best_object``) is the most specific node
    holding :data:`~neuronlabel.evidence.imagenet.MASS` of the exemplars' mean mass or, where ``raw``
    holds their joint mass (the network's output layers without a spatial map: class units, whose
    exemplars are whole images), of the mass they support jointly (:func:`joint`), which then is also
    that item's score (not the confidence's)."""
    if not raw:
        return []
    U = raw["dead"].shape[0]
    lists = [[] for _ in range(U)]
    best_object = [None] * U
    plain = [0.0] * U       # the best object score before the named object's joint support
    if tree is not None:
        mass = raw["mass"]
        prior = _prior(priors.object, mass, layer_prior)
        lifted = tree.lifted(mass, prior)
        rank = tree.rank(lifted)
        together = raw.get("joint")
        support = None if together is None else tree.lifted(together, prior)
        specific = tree.most_specific(mass)
        named = specific if together is None else tree.most_specific(together)
        leaf = mass.masked_fill(~tree.leaf.view(1, -1), -1.0).argmax(1)
        for u in range(U):
            spec, name = int(tree.collapse[specific[u]]), int(tree.collapse[named[u]])
            best_object[u] = tree.nodes[name]
            picks = list(dict.fromkeys(tree.collapse[rank[u].topk(4).indices].tolist()))[:3]
            for r in (spec, name):
                if r not in picks and bool(tree.nameable[r]):
                    picks.append(r)
            top_class = int(leaf[u])
            if top_class not in picks and float(mass[u, top_class]) >= LEAF_MASS:
                picks.append(top_class)
            for r in picks:
                weight = GENERIC if bool(tree.generic[r]) else 1.0
                score, order = weight * float(lifted[u, r]), weight * float(rank[u, r])
                plain[u] = max(plain[u], score)
                if r == name and support is not None:
                    score = max(score, weight * float(support[u, r]))
                    order = max(order, score * float(tree.specificity[r]))
                lists[u].append(EvidenceItem(tree.nodes[r], "object", tree.name(r, plural=True), score,
                                             float(mass[u, r]), float(raw["mass_agree"][u, r]), order))
    if head is not None:
        mean = raw["texture"]
        lifted = _lift(mean, _prior(priors.texture, mean, layer_prior))
        for u in range(U):
            for c in lifted[u].topk(2).indices.tolist():
                key = head.classes[c]
                if key != NONE:
                    lists[u].append(EvidenceItem(f"texture:{key}", "texture", TEXTURES[key][1], float(lifted[u, c]),
                                                 float(mean[u, c]), float(raw["texture_agree"][u, c])))
    if "colour" in raw:
        mean = raw["colour"]
        lifted = _lift(mean, _prior(priors.colour, mean, layer_prior))
        for u in range(U):
            for c in lifted[u].topk(2).indices.tolist():
                lists[u].append(EvidenceItem(f"colour:{COLOURS[c]}", "colour", COLOURS[c], float(lifted[u, c]),
                                             float(mean[u, c]), float(raw["colour_agree"][u, c])))
    if "face" in raw:
        share, people = raw["face"], raw["people"]
        lifted = _lift(share, _prior(priors.face, share, layer_prior))
        lifted_people = _lift(people, _prior(priors.person, people, layer_prior))
        for u in range(U):
            lists[u].append(EvidenceItem("body:face", "body", "faces", float(lifted[u]), float(share[u]),
                                         float(raw["face_agree"][u])))
            lists[u].append(EvidenceItem("body:person", "body", "people", PEOPLE * float(lifted_people[u]),
                                         float(people[u]), float(raw["people_agree"][u])))
    out = []
    for u in range(U):
        items = _dedupe(sorted((i for i in lists[u] if i.score >= MIN_SCORE), key=lambda i: -i.rank))[:TOP]
        factor = min(1.0, HUB / float(hub[u])) if layer_prior and float(hub[u]) > 0 else 1.0
        best = max((i.score if i.kind != "object" else min(i.score, plain[u]) for i in items), default=0.0)
        scale = 0.0 if float(raw["dead"][u]) > 0.5 else factor
        out.append(UnitEvidence("", 0, items, best * scale, best_object=best_object[u], scale=scale))
    return out


def _dedupe(items: list) -> list:
    """Items in order, each concept and each name once (WordNet has several nodes named "cats")."""
    seen, out = set(), []
    for i in items:
        if i.concept not in seen and (i.kind, i.name) not in seen:
            seen |= {i.concept, (i.kind, i.name)}
            out.append(i)
    return out
