"""Run the known-answer benchmark: label real units of real networks and score the labels.

>>> from neuronlabel.evaluation.known_answer.runner import NETWORKS
>>> NETWORKS["efficientnet_lite0"]["final"]
'classifier'

``known_answer(captioner, data)`` labels, per network of :data:`NETWORKS`, the final layer, two
hidden layers and one earlier ("mid") layer over set A (ImageNet sample + COCO-mini photos) and
the hidden and mid layers over set B (the held-out texture photos) with :func:`neuronlabel.label_model`, exactly as a user
would, then scores six sections (:mod:`.sections`) against three baselines: chance (each unit
scored against another unit's answer), a constant label (the layer's most frequent label) and
a Network-Dissection-style label (the unit's best-IoU known concept on the same annotations).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from . import data as known
from .sections import Context, score_network

NETWORKS = {      # "mid": one earlier layer, where texture, colour and face units are more common
    "efficientnet_lite0": {"final": "classifier", "hidden": ["blocks.5", "blocks.6"], "mid": ["blocks.4"]},
    "mobilenet_v2": {"final": "classifier.1", "hidden": ["features.14", "features.17"], "mid": ["features.10"]},
}


def _source(pixels: torch.Tensor, net):
    from ...sources import data_config
    from ..faithfulness import PhotoSource

    cfg = data_config(net)
    return PhotoSource(pixels, cfg["mean"], cfg["std"])


def known_answer(captioner=None, data: "str | Path" = "../shared/data", *, cache: Optional[Path] = None,
                 networks: Sequence[str] = tuple(NETWORKS), limit: Optional[int] = None, progress: bool = True,
                 seed: int = 0, batch_size: int = 64, evidence: Optional[bool] = None, log=print) -> dict:
    """Label and score; returns ``{"networks": {name: {"sections": ..., "units": ...}}, "sizes": ..., "seconds": ...}``.

    >>> known_answer(data="/nonexistent")                               # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    neuronlabel.errors.InputError: --data /nonexistent lacks imagenet-sample-256, ...
    """
    from ... import label_model, models
    from ...captioner import Captioner
    from ..experiment import DEFAULT_CACHE

    data = known.require(Path(data))
    unknown = [n for n in networks if n not in NETWORKS]
    if unknown:
        from ...errors import InputError

        raise InputError(f"unknown network(s) {unknown}; the benchmark knows {list(NETWORKS)}")
    cap = captioner if isinstance(captioner, Captioner) else Captioner.load(captioner)
    extra = {} if evidence is None else {"evidence": bool(evidence)}
    cache = Path(cache or DEFAULT_CACHE)
    t0 = time.perf_counter()
    photos = known.photos(data, cache, progress=progress, limit=limit)
    textures = known.textures(data, limit=limit)
    ctx = Context.build(data, photos, textures)
    log(f"probe sets: A = {len(photos)} photos ({sum(c is not None for c in photos.classes)} ImageNet, "
        f"{sum(c is None for c in photos.classes)} COCO; {sum(bool(f.any()) for f in photos.faces)} with faces), "
        f"B = {len(textures)} held-out texture photos ({len(set(textures.textures))} classes) "
        f"[{time.perf_counter() - t0:.0f} s]")
    out = {"networks": {}, "sizes": {"photos": len(photos), "imagenet": sum(c is not None for c in photos.classes),
                                     "coco": sum(c is None for c in photos.classes),
                                     "photos_with_faces": int(sum(bool(f.any()) for f in photos.faces)),
                                     "textures": len(textures), "texture_classes": len(set(textures.textures))},
           "captioner": str(captioner) if captioner is not None else "bundled", "evidence": evidence,
           "seconds": {}}
    for name in networks:
        spec = NETWORKS[name]
        net, _ = models.load(name)
        t1 = time.perf_counter()
        rep_a = label_model(net, spec["mid"] + spec["hidden"] + [spec["final"]], images=_source(photos.pixels, net),
                            captioner=cap, progress=progress, batch_size=batch_size, model_name=name, **extra)
        rep_b = label_model(net, spec["mid"] + spec["hidden"], images=_source(textures.pixels, net), captioner=cap,
                            progress=progress, batch_size=batch_size, model_name=name, **extra)
        t2 = time.perf_counter()
        result = score_network(ctx, net, name, spec, rep_a, rep_b, photos, textures, seed=seed, log=log)
        out["networks"][name] = result
        out["seconds"][name] = {"label": round(t2 - t1, 1), "score": round(time.perf_counter() - t2, 1)}
        log(f"{name}: labelled in {t2 - t1:.0f} s, scored in {time.perf_counter() - t2:.0f} s")
    out["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    return out
