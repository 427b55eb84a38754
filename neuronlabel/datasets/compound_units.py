"""Compound units: trees over base concepts, their activation maps and their descriptions.

>>> import torch, random
>>> from neuronlabel.datasets.compound_concepts import Concept
>>> concepts = {"dogs": Concept("dogs", "category", ["dogs"]), "grass": Concept("grass", "region", ["grass"])}
>>> tree = ("above", ("c", "dogs"), ("c", "grass"))
>>> det = ConceptDetector(["dogs", "grass"], [tree])
>>> x = torch.zeros(1, 2, 8, 8); x[0, 0, 1:3] = 1; x[0, 1, 5:] = 1
>>> det(x).shape, float(det(x)[0, 0].amax())
(torch.Size([1, 1, 8, 8]), 1.0)
>>> describe(tree, concepts, random.Random(0)).split()[0]
'dogs'

A tree is a tuple: ``("c", name)`` a base concept; ``("with", colour, t)`` the parts of
``t`` that have that colour (product of maps); ``("and", a, b)`` either (max of maps);
``("tops" | "edges", t)`` the upper third / the boundary of ``t``'s region;
``("left" | "above" | "below", a, b)`` ``a`` where it lies left of / above / below ``b``
in the same image. :class:`ConceptDetector` is an ``nn.Module`` whose layer ``units``
outputs one channel per tree, so :func:`neuronlabel.probe` finds each unit's top-k images,
maps and 0.99-quantile masks exactly as for a real network.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

BINARY = ("and", "left", "above", "below")
UNARY = ("tops", "edges")


def leaves(tree: tuple) -> list[str]:
    """Base concept names in a tree, left to right.

    >>> leaves(("and", ("c", "dogs"), ("with", "red", ("c", "cars"))))
    ['dogs', 'red', 'cars']
    """
    op = tree[0]
    if op == "c":
        return [tree[1]]
    if op == "with":
        return [tree[1], *leaves(tree[2])]
    if op in UNARY:
        return leaves(tree[1])
    return leaves(tree[1]) + leaves(tree[2])


def evaluate(tree: tuple, maps: dict[str, torch.Tensor]) -> torch.Tensor:
    """The tree's activation ``[B, g, g]`` from base maps by name.

    >>> m = torch.zeros(1, 4, 4); m[0, :2] = 1
    >>> evaluate(("tops", ("c", "x")), {"x": m})[0].sum().item()
    4.0
    """
    op = tree[0]
    if op == "c":
        return maps[tree[1]]
    if op == "with":
        return maps[tree[1]] * evaluate(tree[2], maps)
    if op == "and":
        return torch.maximum(evaluate(tree[1], maps), evaluate(tree[2], maps))
    if op in UNARY:
        m = evaluate(tree[1], maps)
        support = m > 0
        if op == "edges":
            eroded = -F.max_pool2d(-support.float().unsqueeze(1), 3, 1, 1)[:, 0]
            return m * (support & (eroded < 0.5))
        g = m.shape[-2]
        rows = support.any(-1)                                   # [B, g]
        first = rows.float().argmax(-1)
        last = g - 1 - rows.flip(-1).float().argmax(-1)
        cut = first + ((last - first + 1) / 3).clamp(min=1)
        r = torch.arange(g, device=m.device).view(1, g, 1)
        return m * (r < cut.view(-1, 1, 1))
    if op in ("left", "above", "below"):
        a, b = evaluate(tree[1], maps), evaluate(tree[2], maps)
        g = a.shape[-1]
        margin = 0.1 * g
        ca, cb = _centroid(a), _centroid(b)
        present = (a.flatten(1).amax(1) > 0) & (b.flatten(1).amax(1) > 0)
        if op == "left":
            ok = ca[:, 1] < cb[:, 1] - margin
        elif op == "above":
            ok = ca[:, 0] < cb[:, 0] - margin
        else:
            ok = ca[:, 0] > cb[:, 0] + margin
        return a * (ok & present).view(-1, 1, 1)
    raise InputError(f"unknown compound operation {op!r}")


def _centroid(m: torch.Tensor) -> torch.Tensor:
    g_h, g_w = m.shape[-2:]
    w = m.flatten(1).sum(1).clamp(min=1e-6)
    ys = torch.arange(g_h, dtype=m.dtype, device=m.device).view(1, g_h, 1)
    xs = torch.arange(g_w, dtype=m.dtype, device=m.device).view(1, 1, g_w)
    return torch.stack([(m * ys).flatten(1).sum(1) / w, (m * xs).flatten(1).sum(1) / w], 1)


class _Units(nn.Module):
    def __init__(self, names: Sequence[str], trees: Sequence[tuple]):
        super().__init__()
        self.names, self.trees = list(names), list(trees)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != len(self.names):
            raise InputError(f"the concept detector takes base maps [B, {len(self.names)}, g, g]; got {tuple(x.shape)}")
        maps = {n: x[:, i] for i, n in enumerate(self.names)}
        return torch.stack([evaluate(t, maps) for t in self.trees], 1)


class ConceptDetector(nn.Module):
    """A network whose layer ``units`` has one channel per compound unit (see the module docs)."""

    def __init__(self, names: Sequence[str], trees: Sequence[tuple]):
        super().__init__()
        self.units = _Units(names, trees)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(x)


COLOUR_WORDS = {"gray": ["gray", "grey"]}
TEMPLATES = {
    "with": ["{c} {a}", "{a} that are {c}", "{c} parts of {a}", "{a} colored {c}", "the {c} areas of {a}"],
    "and": ["{a} and {b}", "both {a} and {b}", "{a} as well as {b}", "{a} or {b}"],
    "tops": ["the tops of {a}", "the upper parts of {a}", "top halves of {a}", "the upper portion of {a}"],
    "edges": ["the edges of {a}", "outlines of {a}", "the boundaries of {a}", "borders around {a}"],
    "left": ["{a} on the left of {b}", "{a} to the left of {b}", "{a} left of {b}", "{a} on the left side of {b}"],
    "above": ["{a} above {b}", "{a} over {b}", "{a} located above {b}", "{a} higher up than {b}"],
    "below": ["{a} below {b}", "{a} under {b}", "{a} beneath {b}", "{a} lower down than {b}"],
}
SINGLE = {
    "colour": ["{c}", "{c} regions", "{c} colored areas", "patches of {c}", "the color {c}"],
    "region": ["{n}", "the {n}", "{n} in the background", "areas of {n}"],
}
REGION_WORDS = {"sky": ["sky", "blue sky", "open sky"], "grass": ["grass", "green grass", "grassy ground", "lawn"]}


def _noun(name: str, concepts: dict, rng: random.Random) -> str:
    c = concepts[name]
    if c.kind == "colour":
        return rng.choice(COLOUR_WORDS.get(name, [name]))
    if c.kind == "region":
        return rng.choice(REGION_WORDS.get(name, c.lemmas or [name]))
    return rng.choice(c.lemmas or [name])


def describe(tree: tuple, concepts: dict, rng: random.Random, top: bool = True) -> str:
    """One paraphrase of a tree's meaning, built from varied templates and WordNet lemmas."""
    op = tree[0]
    if op == "c":
        c = concepts[tree[1]]
        word = _noun(tree[1], concepts, rng)
        if c.kind == "colour":
            return rng.choice(SINGLE["colour"]).format(c=word) if top else f"{word} regions"
        if c.kind == "region":
            return rng.choice(SINGLE["region"]).format(n=word) if top else f"the {word}"
        return word
    if op == "with":
        return rng.choice(TEMPLATES["with"]).format(c=_noun(tree[1], concepts, rng),
                                                    a=describe(tree[2], concepts, rng, False))
    if op in UNARY:
        return rng.choice(TEMPLATES[op]).format(a=describe(tree[1], concepts, rng, False))
    return rng.choice(TEMPLATES[op]).format(a=describe(tree[1], concepts, rng, False),
                                            b=describe(tree[2], concepts, rng, False))


def paraphrases(tree: tuple, concepts: dict, rng: random.Random, n: int = 3, tries: int = 30) -> list[str]:
    """Up to ``n`` distinct paraphrases (like MILAN's three annotators)."""
    out: list[str] = []
    for _ in range(tries):
        d = describe(tree, concepts, rng)
        if d not in out:
            out.append(d)
        if len(out) == n:
            break
    return out


def propose(concepts: dict, rng: random.Random, count: int) -> list[tuple]:
    """Random candidate trees of one, two and three concepts (the caller keeps those that fire on >= k images)."""
    by_kind: dict[str, list[str]] = {}
    for name, c in sorted(concepts.items()):
        by_kind.setdefault(c.kind, []).append(name)
    things = by_kind.get("object", []) + by_kind.get("category", [])
    colours, regions = by_kind.get("colour", []), by_kind.get("region", [])
    if not things:
        return [("c", n) for n in sorted(concepts)]

    def thing():
        t = ("c", rng.choice(things))
        return ("with", rng.choice(colours), t) if colours and rng.random() < 0.5 else t

    def area():
        pool = regions + colours + things
        return ("c", rng.choice(pool))

    out = [("c", n) for n in sorted(concepts)]
    # long (three-concept) shapes are weighted up: long descriptions are where MILAN is weak
    shapes = ["with", "mod", "and", "rel", "rel", "mod_rel", "mod_rel", "and_mod", "and_mod", "rel_and",
              "rel_and", "mod_with_rel", "mod_with_rel"]
    while len(out) < count:
        s = rng.choice(shapes)
        if s == "with" and colours:
            t = ("with", rng.choice(colours), ("c", rng.choice(things)))
        elif s == "mod":
            t = (rng.choice(UNARY), thing())
        elif s == "and":
            t = ("and", thing(), rng.choice([thing, area])())
        elif s == "rel":
            t = (rng.choice(("left", "above", "below")), thing(), area())
        elif s == "mod_rel":
            t = (rng.choice(UNARY), (rng.choice(("left", "above", "below")), thing(), area()))
        elif s == "and_mod":
            t = ("and", (rng.choice(UNARY), thing()), thing())
        elif s == "rel_and":
            t = (rng.choice(("left", "above", "below")), ("and", thing(), thing()), area())
        else:
            t = (rng.choice(UNARY), (rng.choice(("left", "above", "below")),
                                     ("with", rng.choice(colours), ("c", rng.choice(things))) if colours else thing(),
                                     area()))
        out.append(t)
    return out


def branches(tree: tuple) -> list[tuple]:
    """The alternatives of every ``and`` node in a tree (each must be visible in the exemplars).

    >>> branches(("left", ("and", ("c", "dogs"), ("c", "cats")), ("c", "grass")))
    [('c', 'dogs'), ('c', 'cats')]
    """
    op = tree[0]
    if op == "c":
        return []
    if op == "with":
        return branches(tree[2])
    if op in UNARY:
        return branches(tree[1])
    own = [tree[1], tree[2]] if op == "and" else []
    return own + branches(tree[1]) + branches(tree[2])


def visible_share(tree: tuple, maps: dict[str, torch.Tensor]) -> float:
    """The smallest share of exemplars in which each ``and`` alternative reaches half the unit's peak.

    ``maps`` are base maps over one unit's exemplar images ``[k, g, g]``. A description
    "dogs and cats" is only learnable from the exemplars when both dogs and cats are among
    them; MILAN's annotators likewise described what the exemplars show. 1.0 for trees
    without ``and``.

    >>> m = {"a": torch.ones(4, 2, 2), "b": torch.zeros(4, 2, 2)}
    >>> m["b"][0] = 1
    >>> visible_share(("and", ("c", "a"), ("c", "b")), m)
    0.25
    """
    alts = branches(tree)
    if not alts:
        return 1.0
    peak = evaluate(tree, maps).flatten(1).amax(1)
    shares = []
    for b in alts:
        hit = (evaluate(b, maps).flatten(1).amax(1) >= 0.5 * peak) & (peak > 0)
        shares.append(float(hit.float().mean()))
    return min(shares)
