"""Scorers of the known-answer benchmark: does a label name what a unit is known to detect?

>>> names_any("two crabs on the sand", ["crab"]), names_any("crabby", ["crab"])
(True, False)
>>> dominant([["dog", "animal"]] * 10 + [["cat", "animal"]] * 5, k=15)
'dog'

Every rule here is a small pure function with a hand-checkable doctest; the runner
(:mod:`.runner`) applies them to real units.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Optional, Sequence

import numpy as np

from ...ci.inflection import forms
from ...ci.matching import TermMatcher

# WordNet nodes too generic to count as "a close hypernym" of a class (CLIP-Dissect's protocol asks for
# the class or a close hypernym; naming "artifact" or "organism" says nothing about the unit).
GENERIC = frozenset({
    "entity", "physical entity", "abstraction", "abstract entity", "object", "physical object", "whole", "unit",
    "organism", "being", "living thing", "animate thing", "artifact", "artefact", "instrumentality",
    "instrumentation", "matter", "causal agent", "cause", "causal agency", "psychological feature", "group",
    "grouping", "part", "portion", "substance", "solid", "natural object", "thing", "commodity", "goods",
    "trade good", "consumer goods", "durables", "durable goods", "consumer durables", "covering", "structure",
    "construction", "device", "container", "conveyance", "transport", "equipment", "implement", "article",
    "creation", "product", "production", "system", "attribute", "relation", "location", "region", "point",
    "component", "constituent", "element", "furnishing", "chordate", "vertebrate", "craniate", "animal",
    "animate being", "beast", "brute", "creature", "fauna", "invertebrate", "plant", "flora", "plant life",
    "vascular plant", "tracheophyte", "food", "nutrient", "foodstuff", "food product", "way", "measure",
    "quantity", "amount", "shape", "form", "surface", "instrument", "protective covering", "covering",
    "placental", "placental mammal", "eutherian", "eutherian mammal", "mammal", "mammalian",
})

TEXTURE_WORDS = {
    "banded": ["banded", "bands", "stripes", "striped", "lines", "band"],
    "blotchy": ["blotchy", "blotches", "blotch", "spots", "spotted", "patches", "stains", "splotches"],
    "braided": ["braided", "braids", "braid", "plaits", "woven", "weave", "rope", "knots"],
    "bubbly": ["bubbly", "bubbles", "bubble", "foam", "froth"],
    "bumpy": ["bumpy", "bumps", "bump", "rough", "lumpy", "pebbles"],
    "chequered": ["chequered", "checkered", "checkerboard", "checks", "checked", "squares", "grid", "tiles"],
    "cobwebbed": ["cobwebbed", "cobwebs", "cobweb", "spider webs", "webs", "web"],
    "cracked": ["cracked", "cracks", "crack", "crackled", "fissures"],
    "crosshatched": ["crosshatched", "crosshatch", "cross hatched", "hatching", "hatched", "grid", "mesh",
                     "crossing lines"],
    "crystalline": ["crystalline", "crystals", "crystal", "gems", "facets", "quartz", "ice"],
    "argyle": ["argyle", "diamonds", "diamond pattern", "diamond"],
    "checkered": ["checkered", "chequered", "checks", "checked", "checkerboard", "squares", "plaid", "gingham"],
    "dotted": ["dotted", "dots", "dot", "polka dots", "spots", "spotted"],
    "floral": ["floral", "flowers", "flower", "flowery", "blossoms"],
    "herringbone": ["herringbone", "zigzag", "zigzags", "chevron", "chevrons", "tweed"],
    "houndstooth": ["houndstooth", "dogtooth", "checks", "checkered", "checked"],
    "leopard": ["leopard", "leopard print", "spots", "spotted", "animal print", "rosettes", "cheetah"],
    "paisley": ["paisley", "swirls", "teardrops"],
    "striped": ["striped", "stripes", "stripe", "stripey", "lines", "pinstripes"],
    "tartan": ["tartan", "plaid", "checked", "checkered", "checks"],
    "zebra": ["zebra", "zebra print", "stripes", "striped", "animal print"],
}

COLOUR_WORDS = {
    "red": ["red", "reddish", "crimson", "scarlet"], "orange": ["orange", "orangish"],
    "yellow": ["yellow", "yellowish", "golden", "gold"], "green": ["green", "greenish"],
    "blue": ["blue", "bluish", "navy", "turquoise"], "purple": ["purple", "violet", "magenta", "lilac"],
    "pink": ["pink", "pinkish"], "brown": ["brown", "brownish", "tan", "beige"],
    "white": ["white", "whitish"], "black": ["black", "dark", "blackish"], "gray": ["gray", "grey", "silver"],
}

FACE_WORDS = ["face", "head", "person", "people", "facial", "portrait"]

CONNECTIVES = ("and", "or", "as well as", "with", "next to", "above", "below", "near", "on", "of", "in")
DANGLING = frozenset({"and", "or", "of", "the", "a", "an", "with", "on", "in", "to", "at", "by", "for",
                      "from", "both", "as", "near", "above", "below", "next", "around", "well", "either",
                      "upper", "lower"})
PREPOSITIONS = frozenset({"on", "in", "at", "above", "below", "under", "over", "near", "next", "beside",
                          "behind", "between", "around", "inside", "across", "along", "left", "right", "of"})
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def terms_of(phrases: Iterable[str]) -> list[str]:
    """The whole-word terms for some phrases: lower case, last word singular and plural, ``_`` as space.

    >>> terms_of(["Tinca_tinca", "crab"])
    ['crab', 'crabs', 'tinca tinca', 'tinca tincas']
    """
    out = set()
    for p in phrases:
        p = " ".join(p.replace("_", " ").replace("-", " ").lower().split())
        if p:
            out |= forms(p)
    return sorted(out)


_MATCHERS: dict = {}


def names_any(label: str, phrases: Sequence[str]) -> bool:
    """True when ``label`` holds any of ``phrases`` as whole words, singular or plural.

    >>> names_any("Bell peppers", ["bell pepper"]), names_any("a busy road", ["bus"])
    (True, False)
    """
    key = tuple(phrases)
    if key not in _MATCHERS:
        _MATCHERS[key] = TermMatcher(terms_of(phrases))
    return bool(label) and _MATCHERS[key].first(label) is not None


def close_hypernyms(chain: Sequence[dict], levels: int = 3) -> list[str]:
    """Lemmas of the first ``levels`` ancestors in a WordNet hypernym ``chain`` (nearest first), skipping
    :data:`GENERIC` nodes (a generic node still counts as a level).

    >>> chain = [{"lemmas": ["crab"]}, {"lemmas": ["decapod crustacean", "decapod"]}, {"lemmas": ["crustacean"]},
    ...          {"lemmas": ["arthropod"]}, {"lemmas": ["invertebrate"]}]
    >>> close_hypernyms(chain)
    ['crab', 'decapod crustacean', 'decapod', 'crustacean']
    >>> close_hypernyms([{"lemmas": ["whole", "unit"]}, {"lemmas": ["object"]}])
    []
    """
    out = []
    for node in chain[:levels]:
        lemmas = [lem.replace("_", " ") for lem in node["lemmas"]]
        if lemmas and lemmas[0].lower() in GENERIC:
            continue
        out += [lem for lem in lemmas if lem.lower() not in GENERIC]
    return out


def dominant(concepts_per_exemplar: Sequence[Iterable[str]], k: int = 15, share: float = 2 / 3,
             order: Optional[dict] = None) -> Optional[str]:
    """The concept shared by at least ``share`` of ``k`` exemplars (most specific first), or None.

    ``concepts_per_exemplar[j]`` is every known concept of exemplar ``j``; ``order`` ranks concepts
    by specificity (larger = more specific, e.g. WordNet depth); ties, and everything without it, go
    to the concept held by fewer exemplars (of nested groups, the narrower one).

    >>> ex = [["terrier", "dog", "animal"]] * 10 + [["cat", "animal"]] * 5
    >>> dominant(ex, order={"terrier": 3, "dog": 2, "cat": 2, "animal": 1})
    'terrier'
    >>> dominant([["dog"]] * 9 + [["cat"]] * 6) is None                # 9 of 15 < 2/3
    True
    """
    need = int(np.ceil(share * k - 1e-9))
    counts = Counter(c for concepts in concepts_per_exemplar for c in set(concepts))
    held = [c for c, n in counts.items() if n >= need]
    if not held:
        return None
    order = order or {}
    rank = lambda c: (order.get(c, 0), -counts[c], c)
    return max(held, key=rank)


def colour_share(colours: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per named colour, the share of masked pixels it names, averaged over exemplars that have a mask.

    ``colours``: ``[k, C, H, W]`` bool (which named colour each pixel is); ``masks``: ``[k, H, W]`` bool.

    >>> col = np.zeros((2, 2, 2, 2), bool); col[:, 0] = True; col[1, 0, 0] = False; col[1, 1, 0] = True
    >>> m = np.ones((2, 2, 2), bool)
    >>> colour_share(col, m).round(2).tolist()                        # exemplar 2 is half colour 1
    [0.75, 0.25]
    """
    area = masks.reshape(masks.shape[0], -1).sum(1)
    hit = (colours & masks[:, None]).reshape(colours.shape[0], colours.shape[1], -1).sum(2)
    keep = area > 0
    if not keep.any():
        return np.zeros(colours.shape[1])
    return (hit[keep] / area[keep, None]).mean(0)


def dominant_colour(shares: np.ndarray, names: Sequence[str], threshold: float = 0.5) -> Optional[str]:
    """The colour naming at least ``threshold`` of a unit's masked pixels (:func:`colour_share`), or None.

    >>> dominant_colour(np.array([0.6, 0.3]), ["red", "blue"]), dominant_colour(np.array([0.4, 0.4]), ["red", "blue"])
    ('red', None)
    """
    j = int(np.argmax(shares))
    return names[j] if shares[j] >= threshold else None


def mask_share_on(region: np.ndarray, masks: np.ndarray) -> float:
    """The share of a unit's mask pixels (all exemplars together) inside ``region`` ``[k, H, W]`` bool.

    >>> m = np.zeros((1, 4, 4), bool); m[0, :2] = True; r = np.zeros((1, 4, 4), bool); r[0, 0] = True
    >>> mask_share_on(r, m)
    0.5
    """
    area = masks.sum()
    return float((region & masks).sum() / area) if area else 0.0


def words(label: str) -> list[str]:
    """Lower-case words of a label.

    >>> words("Dog faces, and the sky's edge")
    ['dog', 'faces', 'and', 'the', "sky's", 'edge']
    """
    return WORD.findall(label.lower())


def uncommon_words(label: str, known: "set[str]") -> list[str]:
    """Words of ``label`` that are not in ``known`` (a lower-case word set, plural forms included).

    >>> uncommon_words("reptilians near dogs", {"near", "dog", "dogs"})
    ['reptilians']
    """
    return [w for w in words(label) if w not in known and w.split("'")[0] not in known]


def degenerate(label: str) -> Optional[str]:
    """Why a label is degenerate (a repeated conjunct, a dangling word, a bare preposition phrase), or None.

    >>> degenerate("fish or fish"), degenerate("both animals and animals"), degenerate("orange parts of")
    ('repeated conjunct', 'repeated conjunct', 'dangling word')
    >>> degenerate("above the trees"), degenerate(""), degenerate("dog faces") is None
    ('only a preposition phrase', 'empty', True)
    >>> degenerate("accessory objects and white regions") is None, degenerate("both and birds colored brown")
    (True, 'dangling word')
    """
    w = words(label)
    if not w:
        return "empty"
    if w[-1] in DANGLING or w[0] in {"and", "or", "of", "as", "well"} or re.search(
            r"\b(both|either|and|or|of|the|with) (and|or|as|of)\b", " ".join(w)):
        return "dangling word"
    text = " ".join(w)
    for conj in ("and", "or", "as well as", "with", "next to", "near"):
        parts = [p.strip() for p in re.split(rf"\b{conj}\b", text) if p.strip()]
        parts = [re.sub(r"^(both|either) ", "", p) for p in parts]
        if len(parts) >= 2 and len(set(parts)) < len(parts):
            return "repeated conjunct"
    if w[0] in PREPOSITIONS and w[0] != "of":
        return "only a preposition phrase"
    if any(a == b for a, b in zip(w, w[1:])):
        return "repeated word"
    return None


def chance_cycle(n: int, seed: int = 0) -> list[int]:
    """For each of ``n`` units, another unit whose answer it is scored against (one seeded random cycle).

    >>> c = chance_cycle(5); sorted(c) == list(range(5)) and all(c[i] != i for i in range(5))
    True
    >>> chance_cycle(1)
    [0]
    """
    if n < 2:
        return list(range(n))
    order = np.random.default_rng(seed).permutation(n).tolist()
    out = [0] * n
    for i, u in enumerate(order):
        out[u] = order[(i + 1) % n]
    return out


def share(flags: Sequence[bool]) -> Optional[float]:
    """The share of True, None for no cases.

    >>> share([True, False, True, True]), share([])
    (0.75, None)
    """
    return float(np.mean(flags)) if len(flags) else None


def auroc(right: Sequence[bool], confidence: Sequence[float]) -> Optional[float]:
    """How well a confidence ranks right labels above wrong ones: the chance that a random right label's
    confidence beats a random wrong one's (ties count half; the area under the ROC curve), None
    without both kinds or with a NaN confidence.

    >>> auroc([True, True, False], [0.9, 0.5, 0.5]), auroc([True, False], [0.1, 0.9]), auroc([True], [1.0])
    (0.75, 0.0, None)
    """
    y = np.asarray(right, bool)
    c = np.asarray(confidence, float)
    if y.all() or not y.any() or not np.isfinite(c).all():
        return None
    wins = (c[y][:, None] > c[~y][None, :]).sum() + 0.5 * (c[y][:, None] == c[~y][None, :]).sum()
    return float(wins / (y.sum() * (~y).sum()))


def class_photo_shares(ids: Sequence[Sequence[int]], classes: Sequence[Optional[int]]) -> dict:
    """How often final-layer unit ``u``'s own class photo is its top exemplar, and among its exemplars:
    what any exemplar-based labeller can see (``ids`` [U, k], -1 = none; ``classes[i]``: photo i's class).

    >>> class_photo_shares([[0, 2], [0, 1], [2, -1]], [0, 1, None])
    {'units': 3, 'top': 0.3333333333333333, 'any': 0.6666666666666666}
    """
    top, anywhere = [], []
    for u, row in enumerate(ids):
        own = [i >= 0 and classes[i] == u for i in row]
        top.append(bool(own) and own[0])
        anywhere.append(any(own))
    return {"units": len(top), "top": share(top), "any": share(anywhere)}
