"""The captioning stage's checkpoint: the captions of units already described, next to the probe state.

>>> import tempfile, pathlib
>>> path = captions_path(pathlib.Path(tempfile.mkdtemp()) / "run.ckpt")
>>> store = CaptionStore(path, key="abc")
>>> store.add({("layer4", 3): [("dog faces", -1.5)]})
>>> CaptionStore(path, key="abc").done
{('layer4', 3): [('dog faces', -1.5)]}

The file (``<checkpoint>.captions.json``) is rewritten atomically after every chunk of
units, so Ctrl-C, SIGTERM or ``kill -9`` lose at most the chunk being described. ``key``
identifies what the captions depend on (the probe result, the captioner, the decoding
settings); captions stored under another key are ignored with a warning and described anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Optional

import torch

from .files import atomic_write

FORMAT = "neuronlabel.captions/1"


def captions_path(checkpoint: "str | os.PathLike") -> Path:
    """Where the captions of a run with probe checkpoint ``checkpoint`` are kept.

    >>> captions_path("runs/r18.ckpt").name
    'r18.ckpt.captions.json'
    """
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".captions.json")


def caption_key(result, units: dict, captioner, settings: dict) -> str:
    """A fingerprint of everything the captions of ``units`` (``{layer: [unit, ...]}``) depend on.

    >>> import torch
    >>> from neuronlabel import probe
    >>> from neuronlabel.captioner import Captioner, CaptionerConfig
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1))
    >>> r = probe(net, torch.rand(4, 3, 8, 8), ["0"], k=2, progress=False)
    >>> cap = Captioner(CaptionerConfig(feature_size=4, hidden_size=8, attention_hidden_size=8), ["a"])
    >>> len(caption_key(r, {"0": [0, 1]}, cap, {"beam_size": 5}))
    16
    """
    from .captioner.model import digest

    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(digest(captioner.state_dict()).encode())
    h.update(repr((result.k, result.quantile, result.num_images, tuple(result.image_size or ()),
                   result.meta.get("source"))).encode())
    for layer, chosen in units.items():
        ex = result[layer]
        idx = torch.as_tensor(chosen, dtype=torch.long)
        h.update(f"{layer}|{list(chosen)}".encode())
        for t in (ex.ids, ex.thresholds, ex.maps):
            h.update(t.index_select(0, idx.to(t.device)).detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class CaptionStore:
    """Finished units' captions ``{(layer, unit): [(text, logprob), ...]}`` kept in one JSON file."""

    def __init__(self, path: "str | os.PathLike", key: str):
        self.path = Path(path)
        self.key = key
        self.done: dict = {}
        if self.path.exists():
            self.done = self._read()

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
            if data.get("key") != self.key:
                warnings.warn(f"the captions in {str(self.path)!r} were made for another probe result, captioner or "
                              "decoding settings; describing every unit again", stacklevel=4)
                return {}
            return {(layer, int(u)): [(str(t), float(lp)) for t, lp in candidates]
                    for layer, units in data["units"].items() for u, candidates in units.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            warnings.warn(f"cannot read the captions checkpoint {str(self.path)!r} ({err}); describing every unit "
                          "again", stacklevel=4)
            return {}

    def add(self, captions: dict) -> None:
        """Record more finished units and rewrite the file atomically."""
        self.done.update(captions)
        units: dict = {}
        for (layer, u), candidates in self.done.items():
            units.setdefault(layer, {})[str(u)] = [[t, lp] for t, lp in candidates]
        atomic_write(self.path, json.dumps({"format": FORMAT, "key": self.key, "units": units}))

