"""The concept inventory: ImageNet classes and their WordNet ancestors, COCO objects, textures, colours,
scene regions, faces and people, text; each with the everyday words that name it.

>>> from neuronlabel.concepts import Inventory
>>> inv = Inventory.load()
>>> crab = inv.imagenet_wnid(118)                       # torchvision's class 118, "Dungeness crab"
>>> inv.name(crab), inv.name(inv.ancestors(crab)[0], plural=True)
('Dungeness crab', 'crabs')
>>> inv.name("n03051540", plural=True), "habiliments" in inv.terms("n03051540")
('clothes', True)
>>> inv.kind("texture:striped"), inv.name("texture:striped", plural=True)
('texture', 'stripes')

Concept ids: WordNet nouns by wnid (``"n01978287"``), and ``"coco:<name>"``,
``"texture:<key>"``, ``"colour:<name>"``, ``"scene:<key>"``, ``"body:<key>"``, ``"text"``.
The WordNet part ships as ``inventory.json.gz``, built by ``scripts/build_concepts.py`` from
Debian's WordNet 3.0; the other kinds come from :mod:`.vocabulary`.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from ..errors import InputError, NeuronLabelError, did_you_mean
from . import vocabulary as V

DATA = Path(__file__).with_name("inventory.json.gz")
KINDS = ("object", "texture", "colour", "scene", "body", "text")

# WordNet nodes too generic to name what a unit detects (by first lemma)
GENERIC = frozenset({
    "entity", "physical entity", "abstraction", "object", "whole", "organism", "living thing", "artifact",
    "instrumentality", "matter", "causal agent", "psychological feature", "group", "part", "substance", "solid",
    "natural object", "commodity", "consumer goods", "durables", "covering", "structure", "device", "container",
    "conveyance", "equipment", "implement", "article", "creation", "product", "system", "attribute", "relation",
    "location", "region", "point", "component", "constituent", "element", "furnishing", "chordate", "vertebrate",
    "animal", "invertebrate", "plant", "vascular plant", "food", "foodstuff", "nutriment", "way", "measure",
    "shape", "surface", "instrument", "protective covering", "placental", "mammal", "agent", "fluid", "liquid",
    "piece", "support", "communication", "abstraction", "reproductive structure", "plant part", "plant organ",
    "spermatophyte", "angiosperm", "mechanism", "establishment", "place of business", "obstruction", "restraint",
    "ware", "material",
})
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PLURALIA = frozenset("clothes goods jeans binoculars sunglasses scissors trousers pants shorts pajamas".split())


class UnknownConceptError(NeuronLabelError, KeyError):
    """A concept id that the inventory does not hold.

    >>> issubclass(UnknownConceptError, KeyError)
    True
    """


@dataclass(frozen=True)
class Concept:
    """One concept: id, kind, everyday name (singular and plural), the words that name it, WordNet parents.

    >>> Concept("colour:red", "colour", "red", "red", ("red",)).kind
    'colour'
    """

    id: str
    kind: str
    name: str
    plural: str
    terms: tuple
    parents: tuple = ()
    gloss: str = ""
    everyday: bool = True


def _forms(phrase: str) -> set:
    from ..ci.inflection import forms

    phrase = " ".join(phrase.replace("_", " ").lower().split())
    if not phrase:
        return set()
    out = {phrase} if phrase.rpartition(" ")[2] in _PLURALIA else set(forms(phrase))
    for part in re.split(r" (?:or|and) ", phrase):
        if part != phrase:
            out |= forms(part)
    return out


def _terms(*phrases: Iterable[str]) -> tuple:
    out = set()
    for group in phrases:
        for p in ([group] if isinstance(group, str) else group):
            out |= _forms(p)
    return tuple(sorted(out))


class Inventory:
    """All concepts, by id; built once per process by :meth:`load`.

    >>> inv = Inventory.load()
    >>> len(inv.imagenet_classes), inv.imagenet_index(inv.imagenet_wnid(7))
    (1000, 7)
    """

    def __init__(self, data: dict):
        self.imagenet_classes: list = list(data["imagenet"])
        self._index = {w: i for i, w in enumerate(self.imagenet_classes)}
        self.concepts: dict = {}
        self._synset_lemmas = {w: v[2] for w, v in data["nodes"].items()}
        for wnid, (name, plural, _, parents, gloss, everyday, naming) in data["nodes"].items():
            self.concepts[wnid] = Concept(wnid, "object", name, plural, _terms(name, plural, naming), tuple(parents),
                                          gloss, bool(everyday))
        from ..ci.inflection import plural as _plural
        from ..datasets.compound_concepts import COCO_SYNONYMS

        for name, supercategory, wnid in data["coco"]:
            plural = name if name in ("skis", "sheep") else _plural(name)
            extra = set(self.concepts[wnid].terms if wnid in self.concepts else ()) | \
                set(_terms(COCO_SYNONYMS.get(name, ())))
            self.concepts[f"coco:{name}"] = Concept(f"coco:{name}", "object", name, plural,
                                                    tuple(sorted(set(_terms(name, plural)) | set(extra))),
                                                    (wnid,) if wnid else (), f"COCO category ({supercategory})")
        for key, (noun, phrase, adjective, synonyms) in V.TEXTURES.items():
            self.concepts[f"texture:{key}"] = Concept(f"texture:{key}", "texture", noun, phrase,
                                                      _terms(key, noun, phrase, adjective, synonyms), (),
                                                      f"{adjective} texture or pattern")
        for key, words in V.COLOURS.items():
            self.concepts[f"colour:{key}"] = Concept(f"colour:{key}", "colour", key, key, tuple(sorted(set(words))),
                                                     (), f"the colour {key}")
        for kind, table in (("scene", V.SCENES), ("body", V.BODY)):
            for key, (name, plural, synonyms) in table.items():
                parents = ("n00007846",) if (kind, key) == ("body", "person") else ()
                self.concepts[f"{kind}:{key}"] = Concept(f"{kind}:{key}", kind, name, plural,
                                                         _terms(name, plural, synonyms), parents)
        name, plural, synonyms = V.TEXT
        self.concepts["text"] = Concept("text", "text", name, plural, _terms(name, plural, synonyms), (),
                                        "written or printed letters and words")
        self._term_index: Optional[dict] = None

    @classmethod
    @functools.lru_cache(maxsize=None)
    def load(cls, path: "str | Path | None" = None) -> "Inventory":
        """The bundled inventory (or one at ``path``), read once per process.

        >>> Inventory.load() is Inventory.load()
        True
        """
        path = Path(path) if path is not None else DATA
        if not path.is_file():
            raise InputError(f"no concept inventory at {path}; rebuild it with scripts/build_concepts.py")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return cls(json.load(f))

    def __len__(self) -> int:
        return len(self.concepts)

    def __contains__(self, cid) -> bool:
        return cid in self.concepts

    def concept(self, cid: str) -> Concept:
        """The :class:`Concept` of an id; an unknown id raises :class:`UnknownConceptError`.

        >>> Inventory.load().concept("colour:red").name
        'red'
        """
        try:
            return self.concepts[cid]
        except (KeyError, TypeError):
            raise UnknownConceptError(f"unknown concept id {cid!r}; ids are WordNet wnids ('n01978287') or "
                                      "'coco:dog', 'texture:striped', 'colour:red', 'scene:sky', 'body:face', "
                                      "'text'." + did_you_mean(str(cid), self.concepts)) from None

    def kind(self, cid: str) -> str:
        """``object``, ``texture``, ``colour``, ``scene``, ``body`` or ``text``.

        >>> Inventory.load().kind("body:face")
        'body'
        """
        return self.concept(cid).kind

    def name(self, cid: str, plural: bool = False) -> str:
        """The everyday name, singular or plural.

        >>> inv = Inventory.load()
        >>> inv.name("n07705711", plural=True), inv.name("n01976146", plural=True)
        ('fruits and vegetables', 'crabs and lobsters')
        """
        c = self.concept(cid)
        return c.plural if plural else c.name

    def terms(self, cid: str) -> tuple:
        """The lower-case words and phrases that name a concept in a label (singular and plural forms).

        >>> "stripes" in Inventory.load().terms("texture:striped")
        True
        """
        return self.concept(cid).terms

    def parents(self, cid: str) -> tuple:
        """Direct WordNet hypernyms (a COCO object's parent is its WordNet synset).

        >>> Inventory.load().parents("coco:dog")
        ('n02084071',)
        """
        return self.concept(cid).parents

    def ancestors(self, cid: str) -> list:
        """Every hypernym of a concept, nearest first (breadth-first over WordNet's parents).

        >>> inv = Inventory.load()
        >>> [inv.name(a) for a in inv.ancestors(inv.imagenet_wnid(118))[:3]]
        ['crab', 'crab or lobster', 'crustacean']
        """
        out, frontier, seen = [], list(self.parents(cid)), {cid}
        while frontier:
            nxt = []
            for p in frontier:
                if p not in seen and p in self.concepts:
                    seen.add(p)
                    out.append(p)
                    nxt += self.concepts[p].parents
            frontier = nxt
        return out

    def imagenet_wnid(self, class_index: int) -> str:
        """The wnid of ImageNet class ``class_index`` (torchvision's order).

        >>> Inventory.load().imagenet_wnid(0)
        'n01440764'
        """
        if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
                or not 0 <= int(class_index) < len(self.imagenet_classes):
            raise InputError(f"ImageNet class index must be an integer in 0..999, got {class_index!r}")
        return self.imagenet_classes[int(class_index)]

    def imagenet_index(self, wnid: str) -> Optional[int]:
        """The class index of an ImageNet wnid, or None for other concepts.

        >>> Inventory.load().imagenet_index("n01440764"), Inventory.load().imagenet_index("n01503061")
        (0, None)
        """
        return self._index.get(wnid)

    def is_generic(self, cid: str) -> bool:
        """True for WordNet nodes too broad to say what a unit detects ("objects", "animals", "equipment").

        >>> inv = Inventory.load()
        >>> inv.is_generic("n00015388"), inv.is_generic("n01503061")
        (True, False)
        """
        c = self.concept(cid)
        if c.kind != "object" or ":" in cid:
            return False
        return self.synset_lemmas(cid)[0].lower() in GENERIC or len(self.classes_under(cid)) > 300

    def synset_lemmas(self, cid: str) -> list:
        """WordNet's own lemmas of a node, in WordNet's order (empty for concepts outside WordNet).

        >>> Inventory.load().synset_lemmas("n03051540")[:2]
        ['clothing', 'article of clothing']
        """
        return list(self._synset_lemmas.get(cid, []))

    def ids(self, kind: Optional[str] = None) -> list:
        """Every concept id, or those of one kind.

        >>> len(Inventory.load().ids("colour"))
        11
        """
        if kind is not None and kind not in KINDS:
            raise InputError(f"unknown concept kind {kind!r}; kinds: {', '.join(KINDS)}")
        return [cid for cid, c in self.concepts.items() if kind is None or c.kind == kind]

    def classes_under(self, cid: str) -> list:
        """The ImageNet class indices at or below a WordNet node.

        >>> inv = Inventory.load()
        >>> len(inv.classes_under("n02084071")), inv.classes_under(inv.imagenet_wnid(5))
        (118, [5])
        """
        self.concept(cid)
        nodes, member = self.imagenet_tree()
        row = self._tree_row.get(cid)
        return [] if row is None else np.flatnonzero(member[row]).tolist()

    def imagenet_tree(self) -> tuple:
        """``(node ids, member)``: every WordNet node above an ImageNet class and a bool matrix
        ``[nodes, 1000]`` saying which classes lie at or below each node.

        >>> nodes, member = Inventory.load().imagenet_tree()
        >>> member.shape == (len(nodes), 1000), int(member.sum(1).max())
        (True, 1000)
        """
        if getattr(self, "_tree", None) is None:
            nodes = sorted({a for w in self.imagenet_classes for a in [w] + self.ancestors(w)})
            row = {w: i for i, w in enumerate(nodes)}
            member = np.zeros((len(nodes), len(self.imagenet_classes)), dtype=bool)
            for c, w in enumerate(self.imagenet_classes):
                for a in [w] + self.ancestors(w):
                    member[row[a], c] = True
            self._tree, self._tree_row = (nodes, member), row
        return self._tree

    def find(self, text: str) -> list:
        """Concept ids named in a text, by whole-word match of their terms (longest phrase first).

        >>> inv = Inventory.load()
        >>> found = inv.find("striped dog faces")
        >>> "texture:striped" in found, "n02084071" in found, "body:face" in found, "n03438257" in found
        (True, True, True, False)
        """
        found = []
        for _, ids in self.find_groups(text):
            found += [c for c in ids if c not in found]
        return found

    def find_groups(self, text: str) -> list:
        """``[(phrase, [concept ids it names]), ...]`` in text order, one entry per matched phrase.

        >>> [p for p, _ in Inventory.load().find_groups("red and white stripes")]
        ['red', 'white', 'stripes']
        """
        index = self._terms_index()
        words = _WORD.findall(" ".join(re.split(r"[\s_-]+", text.lower())))
        out, i = [], 0
        while i < len(words):
            for n in (4, 3, 2, 1):
                phrase = " ".join(words[i:i + n])
                if len(words[i:i + n]) == n and phrase in index:
                    out.append((phrase, list(index[phrase])))
                    i += n
                    break
            else:
                i += 1
        return out

    def _terms_index(self) -> dict:
        if self._term_index is None:
            index: dict = {}
            for cid, c in self.concepts.items():
                for t in c.terms:
                    key = " ".join(_WORD.findall(" ".join(re.split(r"[\s_-]+", t))))
                    index.setdefault(key, []).append(cid)
            self._term_index = index
        return self._term_index

    def __repr__(self) -> str:
        counts = {k: len(self.ids(k)) for k in KINDS}
        return f"Inventory({len(self)} concepts: " + ", ".join(f"{v} {k}" for k, v in counts.items()) + ")"
