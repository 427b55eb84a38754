"""LabelReport: every labelled unit of a network, its exemplar thumbnails and the run's metadata.

>>> import numpy as np
>>> from neuronlabel.report import LabelReport, UnitLabel
>>> report = LabelReport([UnitLabel("layer4", 0, "dog faces", exemplar_ids=[3], exemplar_scores=[2.0]),
...                       UnitLabel("layer4", 1, "stripes")],
...                      images={3: np.zeros((8, 8, 3), np.uint8)}, meta={"model": "resnet18"})
>>> report["layer4:0"].label
'dog faces'
>>> [u.ref for u in report.search("dog")]
['layer4:0']
"""

from __future__ import annotations

import collections
import csv
import datetime as _dt
import io
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDependencyError, UnknownLayerError, did_you_mean
from .unit_label import UnitLabel

_STOPWORDS = frozenset("""a an and the of on in at to with without or for from by as is are its it
that this these those near over under above below into onto up down left right top bottom side
sides part parts kind some other""".split())


@dataclass(frozen=True)
class LayerSummary:
    """One row of :meth:`LabelReport.layers`.

    >>> LayerSummary("layer4", 2, 2, (("dog", 1),), 0, 1.5).n_units
    2
    """

    layer: str
    n_units: int
    n_unique_labels: int
    top_words: tuple
    n_flagged: int
    mean_max_activation: float

    def as_dict(self) -> dict:
        """The summary as a plain dict.

        >>> LayerSummary("fc", 1, 1, (), 0, 0.0).as_dict()["layer"]
        'fc'
        """
        return asdict(self)


class LabelReport:
    """The result of labelling a network: units, exemplar thumbnails, metadata, explanations.

    >>> LabelReport([UnitLabel("fc", 0, "cats")]).layers()[0].n_units
    1

    ``images`` maps probe ids to uint8 ``HxWx3`` thumbnails (each image once, however many
    units use it). ``explanations`` are optional dicts ``{image_id, target, target_name,
    contributions: [(unit ref, label, score), ...]}``.
    """

    def __init__(self, units, images=None, meta=None, explanations=None):
        self.units = list(units)
        for i, u in enumerate(self.units):
            if not isinstance(u, UnitLabel):
                raise InputError(f"units[{i}] is a {type(u).__name__}, not a UnitLabel")
        self.images = {_image_id(k): _as_rgb(v, k) for k, v in dict(images or {}).items()}
        self.meta = dict(meta or {})
        self.meta.setdefault("neuronlabel_version", _version())
        self.meta.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        self.explanations = [_explanation(e, i) for i, e in enumerate(explanations or [])]
        self._index_cache: "dict[str, UnitLabel] | None" = None
        self._index()
        for u in self.units:
            u._images = self.images

    def _index(self) -> "dict[str, UnitLabel]":
        cache = self._index_cache
        if cache is None or len(cache) != len(self.units):
            cache = {}
            for u in self.units:
                if u.ref in cache:
                    raise InputError(f"unit {u.ref} appears twice in the report; give each unit once")
                cache[u.ref] = u
            self._index_cache = cache
        return cache

    def __len__(self) -> int:
        return len(self.units)

    def __iter__(self):
        return iter(self.units)

    def __contains__(self, key) -> bool:
        try:
            return _key(key) in self._index()
        except InputError:
            return False

    def __getitem__(self, key) -> UnitLabel:
        """``report["layer4:37"]``, ``report[UnitRef("layer4", 37)]`` or ``report["layer4", 37]``.

        >>> LabelReport([UnitLabel("fc", 2, "x")])["fc", 2].unit
        2
        """
        ref = _key(key)
        index = self._index()
        if ref in index:
            return index[ref]
        layer = ref.rpartition(":")[0]
        units = sorted(u.unit for u in self.units if u.layer == layer)
        if units:
            raise UnknownLayerError(f"unit {ref!r} is not in this report; layer {layer!r} has "
                                    f"{len(units)} units ({_ranges(units)})")
        raise UnknownLayerError(f"layer {layer!r} of unit {ref!r} is not in this report; its layers "
                                f"are {self.layer_names()}." + did_you_mean(layer, self.layer_names()))

    def layer_names(self) -> list:
        """Layer names in the order their units appear.

        >>> LabelReport([UnitLabel("b", 0, ""), UnitLabel("a", 0, "")]).layer_names()
        ['b', 'a']
        """
        return list(dict.fromkeys(u.layer for u in self.units))

    def layers(self) -> list:
        """Per-layer :class:`LayerSummary`: units, distinct labels, common words, flagged units.

        >>> LabelReport([UnitLabel("fc", 0, "dog faces"), UnitLabel("fc", 1, "dogs")]).layers()[0].top_words
        (('dog', 1), ('dogs', 1), ('faces', 1))
        """
        by_layer = collections.defaultdict(list)
        for u in self.units:
            by_layer[u.layer].append(u)
        out = []
        for layer, units in by_layer.items():
            words = collections.Counter(w for u in units for w in set(_words(u.label)))
            top = tuple(sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:6])
            maxes = [u.exemplar_scores[0] for u in units
                     if u.exemplar_scores and math.isfinite(u.exemplar_scores[0])]
            out.append(LayerSummary(layer, len(units), len({u.label for u in units}), top,
                                    sum(1 for u in units if u.flags),
                                    float(np.mean(maxes)) if maxes else math.nan))
        return out

    def search(self, query: str, *, layer: "str | None" = None, candidates: bool = False) -> list:
        """Units whose label contains every whitespace-separated term of ``query`` (any case).

        >>> r = LabelReport([UnitLabel("fc", 0, "Dog faces"), UnitLabel("fc", 1, "hotdogs")])
        >>> [u.unit for u in r.search("dog")], [u.unit for u in r.search("dog FACE")]
        ([0, 1], [0])

        ``candidates=True`` searches the beam candidates too. The HTML page's search box
        filters cards with the same rule.
        """
        if not isinstance(query, str):
            raise InputError(f"search query must be a string, got {query!r}")
        if layer is not None and layer not in self.layer_names():
            raise UnknownLayerError(f"layer {layer!r} is not in this report; its layers are "
                                    f"{self.layer_names()}." + did_you_mean(layer, self.layer_names()))
        terms = query.lower().split()
        return [u for u in self.units
                if (layer is None or u.layer == layer)
                and all(t in search_text(u, candidates) for t in terms)]

    def to_json(self, path=None, *, indent: "int | None" = 1):
        """Write the report as versioned JSON (``"schema": "neuronlabel.report/2"``).

        >>> text = LabelReport([UnitLabel("fc", 0, "x")]).to_json()
        >>> LabelReport.from_json(text)["fc:0"].label
        'x'

        Returns the JSON text when ``path`` is None, else writes it (atomically) and returns the Path.
        """
        from .serialization import dumps

        text = dumps(self, indent=indent)
        if path is None:
            return text
        from ..files import atomic_write

        return atomic_write(path, text)

    @classmethod
    def from_json(cls, source) -> "LabelReport":
        """Read a report from a path, JSON text, bytes or an already-parsed dict.

        >>> LabelReport.from_json(LabelReport([UnitLabel("fc", 1, "y")]).to_json()).units[0].unit
        1
        """
        from .serialization import loads

        return loads(source)

    def to_csv(self, path=None):
        """MILAN-compatible CSV with columns ``layer,unit,description``.

        >>> print(LabelReport([UnitLabel("fc", 0, "cats, dogs")]).to_csv(), end="")
        layer,unit,description
        fc,0,"cats, dogs"
        """
        buf = io.StringIO(newline="")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["layer", "unit", "description"])
        for u in self.units:
            writer.writerow([u.layer, u.unit, u.label])
        text = buf.getvalue()
        if path is None:
            return text
        from ..files import atomic_write

        return atomic_write(path, text)

    def to_dataframe(self):
        """A pandas DataFrame, one row per unit (stats become ``stats.<name>`` columns).

        >>> LabelReport([UnitLabel("fc", 0, "x", stats={"max": 2.0})]).to_dataframe()["stats.max"].tolist()
        [2.0]

        ``confidence``, ``uncertain`` and ``evidence`` (``[(name, score), ...]`` best first) come
        from the evidence stage:

        >>> u = UnitLabel("fc", 1, "red", evidence=[["colour:red", "colour", "red", 0.6, 0.7, 0.9]], confidence=0.6)
        >>> LabelReport([u]).to_dataframe()[["confidence", "uncertain", "evidence"]].values.tolist()
        [[0.6, False, [('red', 0.6)]]]
        """
        try:
            import pandas as pd
        except ImportError:
            raise MissingDependencyError("LabelReport.to_dataframe() needs pandas: pip install pandas "
                                         "(or use to_csv() / to_json(), which need nothing)") from None
        stat_keys = list(dict.fromkeys(k for u in self.units for k in u.stats))
        rows = []
        for u in self.units:
            row = {"layer": u.layer, "unit": u.unit, "label": u.label, "score": u.score,
                   "candidates": [c for c, _ in u.candidates], "exemplar_ids": list(u.exemplar_ids),
                   "exemplar_scores": list(u.exemplar_scores), "threshold": u.threshold,
                   "flags": list(u.flags), "confidence": u.confidence, "uncertain": "uncertain" in u.flags,
                   "evidence": [(e.name, e.score) for e in u.evidence]}
            row.update({f"stats.{k}": u.stats.get(k, math.nan) for k in stat_keys})
            rows.append(row)
        columns = ["layer", "unit", "label", "score", "candidates", "exemplar_ids", "exemplar_scores",
                   "threshold", "flags", "confidence", "uncertain", "evidence"] + [f"stats.{k}" for k in stat_keys]
        return pd.DataFrame(rows, columns=columns)

    def to_html(self, path=None, *, title: "str | None" = None, thumb_size: int = 112,
                attribution_sign: str = "absolute_value"):
        """One self-contained HTML page: layer overview, search, a card per unit, drawn a page at a time.

        >>> html = LabelReport([UnitLabel("fc", 0, "cats")]).to_html()
        >>> 'id="nl-units"' in html and "http" not in html.split("<body", 1)[0]
        True

        Returns the HTML when ``path`` is None, else writes it (atomically) and returns the Path.
        """
        from .html_page import render

        text = render(self, title=title, thumb_size=thumb_size, attribution_sign=attribution_sign)
        if path is None:
            return text
        from ..files import atomic_write

        return atomic_write(path, text)

    def explain(self, image, target=None, layer=None, top: int = 10, **kwargs) -> dict:
        """The labelled units of ``layer`` that contribute most to the prediction on one image.

        >>> report.explain(image_tensor, layer="blocks.6")              # doctest: +SKIP

        Needs the network (kept by :func:`neuronlabel.label_model`, or pass ``net=``); see
        :func:`neuronlabel.attribution.explain`. The result is added to ``explanations``.
        """
        from ..attribution import explain

        return explain(self, image, layer=layer, target=target, top=top, **kwargs)

    def _repr_html_(self) -> str:
        """The notebook view: a compact paged table of units with label, confidence and thumbnails.

        >>> "<table" in LabelReport([UnitLabel("fc", 0, "cats")])._repr_html_()
        True
        """
        from .notebook import report_html

        return report_html(self)

    def __repr__(self) -> str:
        return (f"LabelReport({len(self.units)} units in {len(self.layer_names())} layers, "
                f"{len(self.images)} images, model={self.meta.get('model')!r})")


def search_text(u: UnitLabel, candidates: bool = False) -> str:
    """The lower-cased text :meth:`LabelReport.search` and the HTML search box look in.

    >>> search_text(UnitLabel("fc", 0, "Dogs", candidates=[("Dogs", -1.0), ("cats", -2.0)]), True)
    'dogs | dogs | cats'
    """
    parts = [u.label] + ([c for c, _ in u.candidates] if candidates else [])
    return " | ".join(parts).lower()


def _words(label: str) -> list:
    return [w for w in re.findall(r"[a-z][a-z'-]*", label.lower()) if w not in _STOPWORDS and len(w) > 1]


def _key(key) -> str:
    from ..units import UnitRef

    if isinstance(key, tuple) and len(key) == 2:
        if isinstance(key[1], bool) or not isinstance(key[1], (int, np.integer)):
            raise InputError(f"report key {key!r}: the unit must be an integer, e.g. report['layer4', 37]")
        key = UnitRef(str(key[0]), int(key[1]))
    if isinstance(key, UnitRef):
        return str(key)
    if isinstance(key, str):
        return str(UnitRef.parse(key))
    raise InputError(f"report keys are unit refs like 'layer4:37', got {key!r}")


def _ranges(nums: list) -> str:
    spans, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        spans.append(f"{start}..{prev}" if prev != start else f"{start}")
        if n is not None:
            start = prev = n
    return ", ".join(spans)


def _image_id(k) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        if isinstance(k, str) and k.strip().lstrip("-").isdigit():
            return int(k)
        raise InputError(f"image keys are integer probe ids, got {k!r}")
    return int(k)


def _as_rgb(image, key) -> np.ndarray:
    if hasattr(image, "convert") and hasattr(image, "size"):
        image = np.asarray(image.convert("RGB"))
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise InputError(f"image {key}: thumbnails must be uint8 HxWx3, got dtype {a.dtype}; "
                         "convert with (x * 255).round().clip(0, 255).astype(np.uint8)")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise InputError(f"image {key}: expected an HxWx3 uint8 array, got shape {a.shape}"
                         " (channels-last; for a CxHxW tensor use .permute(1, 2, 0))")
    return np.ascontiguousarray(a)


def _explanation(e, i: int) -> dict:
    where = f"explanations[{i}]"
    if not isinstance(e, dict):
        raise InputError(f"{where}: expected a dict with image_id, target, target_name, contributions")
    contributions = []
    for j, c in enumerate(e.get("contributions", [])):
        if not isinstance(c, (list, tuple)) or len(c) != 3:
            raise InputError(f"{where}.contributions[{j}]: expected (unit ref, label, score), got {c!r}")
        ref, label, score = c
        if isinstance(score, bool) or not isinstance(score, (int, float, np.floating, np.integer)):
            raise InputError(f"{where}.contributions[{j}]: score must be a number, got {score!r}")
        contributions.append((str(ref), str(label), float(score)))
    out = dict(e)
    out["contributions"] = contributions
    if out.get("image_id") is not None:
        out["image_id"] = _image_id(out["image_id"])
    return out


def _version() -> str:
    try:
        from .. import __version__
        return __version__
    except ImportError:
        return "unknown"
