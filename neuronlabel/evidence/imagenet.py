"""Object evidence: EfficientNet-Lite0's ImageNet classifier over a unit's exemplars, summed up WordNet.

>>> import torch
>>> probs = torch.zeros(1, 1000); probs[0, [205, 207, 208]] = torch.tensor([0.2, 0.4, 0.4])  # three retrievers
>>> tree = ImageNetTree.load()
>>> mass = tree.mass(probs)
>>> tree.name(tree.most_specific(mass)[0])                       # no breed holds 45 %, both are retrievers
'retriever'

Each exemplar gets the classifier's probabilities (of the whole image, of the masked region,
or their mean: :data:`MODES`); a unit's probabilities are their mean over its exemplars; the
*mass* of a WordNet node is the probability summed over the ImageNet classes beneath it. The
named concept is the most specific node that holds at least :data:`MASS` of the mass (the
rule that named 72 % of final-layer units exactly in the issue's held-out measurement).
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import torch
from torch import Tensor

from ..concepts import Inventory
from ..errors import InputError
from .features import ImageFeatures, pool

MASS = 0.45
MODES = ("whole", "region", "mix")
SPECIFICITY = 0.8     # listing order of nodes: lifted mass * (1 - SPECIFICITY * log(classes below) / log(1000))
BROADEST = 500        # nodes above more classes than this ("objects", "living things") are no evidence


class ImageNetTree:
    """The WordNet nodes above the 1000 ImageNet classes as a membership matrix, with names and sizes.

    >>> tree = ImageNetTree.load()
    >>> tree.member.shape[1], int(tree.size[tree.row["n02084071"]])
    (1000, 118)
    """

    def __init__(self, inventory: Inventory):
        nodes, member = inventory.imagenet_tree()
        self.inventory = inventory
        self.nodes = list(nodes)
        self.row = {w: i for i, w in enumerate(self.nodes)}
        self.member = torch.as_tensor(member, dtype=torch.float32)
        self.size = self.member.sum(1)
        self.generic = torch.tensor([inventory.is_generic(w) for w in self.nodes])
        self.everyday = torch.tensor([inventory.concept(w).everyday for w in self.nodes])
        self.specificity = (1 - SPECIFICITY * self.size.log() / math.log(member.shape[1])).clamp(min=0)
        self.nameable = self.size <= BROADEST
        classes = set(inventory.imagenet_classes)
        self.leaf = torch.tensor([w in classes for w in self.nodes])
        # a node with one class beneath it stands for that class
        class_rows = torch.tensor([self.row[w] for w in inventory.imagenet_classes])
        self.collapse = torch.where(self.size == 1, class_rows[self.member.argmax(1)], torch.arange(len(self.nodes)))
        self.depth = torch.tensor([len(inventory.ancestors(w)) for w in self.nodes], dtype=torch.float32)

    @classmethod
    @functools.lru_cache(maxsize=None)
    def load(cls) -> "ImageNetTree":
        """The tree of the bundled inventory, built once per process."""
        return cls(Inventory.load())

    def name(self, row: int, plural: bool = False) -> str:
        return self.inventory.name(self.nodes[int(row)], plural=plural)

    def mass(self, probs: Tensor) -> Tensor:
        """Mass ``[U, nodes]`` of class probabilities ``[U, 1000]``.

        >>> p = torch.full((1, 1000), 1e-3)
        >>> round(float(ImageNetTree.load().mass(p).max()), 4)
        1.0
        """
        if probs.dim() != 2 or probs.shape[1] != self.member.shape[1]:
            raise InputError(f"probabilities must be [units, {self.member.shape[1]}], got {tuple(probs.shape)}")
        return probs.float() @ self.member.T

    def most_specific(self, mass: Tensor, threshold: float = MASS) -> Tensor:
        """Per unit, the row of the node with the fewest classes among those holding >= ``threshold``
        of the mass (ties: more mass, then the deeper node); the root always qualifies.

        >>> tree = ImageNetTree.load(); p = torch.zeros(1, 1000); p[0, 3] = 1.0
        >>> tree.nodes[int(tree.most_specific(tree.mass(p))[0])] == tree.inventory.imagenet_wnid(3)
        True
        """
        ok = mass >= threshold
        key = torch.where(ok, self.size.view(1, -1) - 1e-3 * mass - 1e-5 * self.depth.view(1, -1),
                          torch.full_like(mass, float("inf")))
        return key.argmin(dim=1)

    def lifted(self, mass: Tensor, prior: Optional[Tensor] = None) -> Tensor:
        """Mass lifted over the probe set's ``prior`` mass, ``(m - p) / (1 - p)`` clipped to [0, 1]
        (0 where the unit holds no more than the probe set does); nodes too broad to name anything
        (:attr:`nameable` false: "objects", "things", more than :data:`BROADEST` classes) score 0.

        >>> tree = ImageNetTree.load(); p = torch.zeros(1, 1000); p[0, 3] = 0.9; p[0, 4] = 0.1
        >>> prior = torch.full((1, len(tree.nodes)), 0.5)
        >>> round(float(tree.lifted(tree.mass(p), prior)[0, tree.row[tree.inventory.imagenet_wnid(3)]]), 3)
        0.8
        """
        out = mass if prior is None else ((mass - prior) / (1 - prior).clamp(min=1e-6))
        return out.clamp(0, 1).masked_fill(~self.nameable.view(1, -1), 0.0)

    def rank(self, lifted: Tensor) -> Tensor:
        """Which nodes to list first: lifted mass times specificity (a class beats its genus at equal mass).

        >>> tree = ImageNetTree.load(); x = torch.ones(1, len(tree.nodes))
        >>> r = tree.rank(x)[0]; bool(r[tree.row["n02084071"]] < r[tree.row[tree.inventory.imagenet_wnid(207)]])
        True
        """
        return lifted * self.specificity.view(1, -1)


def exemplar_probs(features: ImageFeatures, rows: Tensor, weights: Tensor, mode: str = "mix") -> Tensor:
    """ImageNet probabilities ``[E, 1000]`` of exemplars (``rows`` [E] of ``features``, ``weights``
    [E, g, g] mask coverage): of the whole image, the masked region, or the mean of both.

    >>> from neuronlabel.evidence.features import ImageFeatures
    >>> logits = torch.zeros(1, 1000, 2, 2); logits[0, 7, 0, 0] = 50.0; logits[0, 9, 1, 1] = 50.0
    >>> f = ImageFeatures(torch.tensor([0]), logits, [], torch.zeros(1, 3, 2, 2))
    >>> w = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    >>> exemplar_probs(f, torch.tensor([0]), w, "region").argmax(1).tolist()
    [7]
    """
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, got {mode!r}")
    out = 0
    if mode in ("whole", "mix"):
        out = features.whole_logits.index_select(0, rows).float().softmax(-1)
    if mode in ("region", "mix"):
        flat, grid = features.layout("logits")
        region = pool(flat, rows, weights, grid).float().softmax(-1)
        out = region if mode == "region" else (out + region) / 2
    return out
