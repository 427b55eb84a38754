"""Label every unit of some layers of a network: probe -> masks -> captioner -> report.

>>> import torchvision
>>> from neuronlabel import label_model
>>> report = label_model(torchvision.models.resnet18(), ["layer4"])     # doctest: +SKIP
>>> report["layer4:37"].label                                           # doctest: +SKIP
'dog faces'
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .errors import InputError, NeuronLabelError
from .files import guard_checkpoint
from .captioner.encoder import count_grid
from .probing import ProbeResult, probe
from .report import LabelReport, UnitLabel
from .threads import with_threads
from .units import LayerSpec

THUMB = 128
POOL_CHUNKS = 16          # caption chunks whose exemplars are pooled together (each image's maps read once)


def _captioner(captioner, device):
    from .captioner import Captioner

    if captioner is None:
        captioner = Captioner.load()
    elif isinstance(captioner, (str, os.PathLike)):
        captioner = Captioner.load(captioner)
    if not isinstance(captioner, Captioner):
        raise InputError(f"captioner must be a neuronlabel Captioner, a path to a saved one, or None for the "
                         f"bundled one; got {type(captioner).__name__}")
    return captioner.to(device)


def _thumbnails(images: torch.Tensor, size: int) -> np.ndarray:
    small = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (small.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _attributions(net, result: ProbeResult, per_layer: int, method: str, device,
                  chosen: Optional[dict] = None) -> dict:
    from .attribution import unit_attributions

    out = {}
    for layer in result:
        ex = result[layer]
        for u in (chosen[layer] if chosen is not None else range(ex.units))[:per_layer]:
            ids = [int(i) for i in ex.ids[u] if int(i) >= 0]
            inputs = torch.stack([result.source[i] for i in ids]).to(device)
            attr = unit_attributions(net, layer, u, inputs, method=method)
            out[(layer, u)] = F.interpolate(attr[:, None].float(), size=(THUMB, THUMB), mode="bilinear",
                                            align_corners=False)[:, 0].cpu().numpy()
    return out


def exemplar_images(result: ProbeResult, units: Optional[dict] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct exemplar ids of ``units`` (``{layer: [unit, ...]}``, default all) and their display images."""
    units = units if units is not None else {layer: list(range(result[layer].units)) for layer in result}
    used = [result[layer].ids[chosen].flatten().cpu() for layer, chosen in units.items() if chosen]
    ids = torch.unique(torch.cat(used)) if used else torch.empty(0, dtype=torch.long)
    ids = ids[ids >= 0]
    return ids, result.source.displays(ids.tolist())


class _LazyFeatures:
    """Encoder features of the exemplar images, encoded on demand in fixed groups of ``batch`` images.

    The groups are the same whichever units are described first, so a resumed run encodes
    every image exactly as the uninterrupted one did.
    """

    def __init__(self, captioner, images: torch.Tensor, batch: int, kept: Optional[list] = None):
        self.captioner, self.images, self.batch, self.kept = captioner, images, int(batch), kept
        self.encoded = None
        self.ready = torch.zeros((len(images) + self.batch - 1) // self.batch, dtype=torch.bool)

    def rows(self, positions: torch.Tensor):
        for g in torch.unique(positions.cpu() // self.batch).tolist():
            if self.ready[g]:
                continue
            lo, hi = g * self.batch, min((g + 1) * self.batch, len(self.images))
            if self.kept is not None and all(row is not None for row in self.kept[lo:hi]):
                from .captioner import EncodedImages

                part = EncodedImages([torch.stack([row[d] for row in self.kept[lo:hi]]).to(self.captioner.device)
                                      for d in range(len(self.kept[lo]))], self.captioner.encoder.layers)
            else:
                part = self.captioner.encode(self.images[lo:hi].to(self.captioner.device), batch_size=self.batch)
            if self.encoded is None:
                from .captioner import EncodedImages

                self.encoded = EncodedImages([m.new_empty((len(self.images), *m.shape[1:])) for m in part.maps],
                                             part.layers)
            for whole, m in zip(self.encoded.maps, part.maps):
                whole[lo:hi] = m
            self.ready[g] = True
        return self.encoded


def describe_units(result: ProbeResult, captioner, *, beam_size: Optional[int] = None, unit_chunk: int = 64,
                   encode_batch_size: int = 32, shard: tuple[int, int] = (0, 1),
                   images: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
                   checkpoint: "str | os.PathLike | None" = None, progress: bool = False,
                   units: Optional[dict] = None, features: Optional[_LazyFeatures] = None) -> dict:
    """Captions ``{(layer, unit): [(text, logprob), ...]}`` for the units of a probe result.

    >>> described = describe_units(result, Captioner.load(), progress=False)     # doctest: +SKIP
    >>> described["layer4", 37][0]                                              # doctest: +SKIP
    ('dog faces', -2.31)

    Units are described ``unit_chunk`` at a time (a progress bar counts them); each exemplar
    image is fetched back by id and encoded once, however many units use it.
    ``units`` (``{layer: [unit, ...]}``) describes only those units, ``shard=(rank, world)``
    only units ``u`` with ``u % world == rank``.
    ``images`` is :func:`exemplar_images` of those units if the caller fetched them already.
    With ``checkpoint`` (the run's probe checkpoint), finished units' captions are kept in
    ``<checkpoint>.captions.json`` after every chunk; a rerun describes only the others and
    gives exactly the result of an uninterrupted run. ``features`` (a :class:`_LazyFeatures` of
    ``images``) keeps the encoding for the caller (label_model reuses it for the evidence stage).
    """
    from .caption_store import CaptionStore, caption_key, captions_path
    from .probing.streaming import _Interrupts

    if result.source is None:
        raise InputError("the probe result has no image source attached; set result.source first")
    if not isinstance(unit_chunk, int) or unit_chunk < 1:
        raise InputError(f"unit_chunk must be a positive integer, got {unit_chunk!r}")
    rank, world = shard
    mine = {layer: [u for u in (units.get(layer, []) if units is not None else range(result[layer].units))
                    if u % world == rank] for layer in result}
    ids, images = images if images is not None else exemplar_images(result, mine)
    if not len(ids):
        return {}
    store = None
    if checkpoint is not None:
        settings = {"beam_size": beam_size, "unit_chunk": unit_chunk, "encode_batch_size": encode_batch_size,
                    "shard": list(shard), "images": ids.tolist()}
        store = CaptionStore(captions_path(checkpoint), caption_key(result, mine, captioner, settings))
    out = dict(store.done) if store is not None else {}
    chunks = [(layer, of_layer[lo:lo + unit_chunk]) for layer, of_layer in mine.items()
              for lo in range(0, len(of_layer), unit_chunk)]
    blocks = {layer: [of_layer[lo:lo + unit_chunk * POOL_CHUNKS] for lo in range(0, len(of_layer),
                                                                                unit_chunk * POOL_CHUNKS)]
              for layer, of_layer in mine.items()}
    todo = [(layer, chunk) for layer, chunk in chunks if any((layer, u) not in out for u in chunk)]
    features = features if features is not None else _LazyFeatures(captioner, images, encode_batch_size,
                                                                   kept=_kept_rows(result, captioner, ids))
    ids = ids.to(captioner.device)
    total = sum(len(of_layer) for of_layer in mine.values())
    bar = tqdm(total=total, initial=total - sum(len(c) for _, c in todo), desc="caption", unit="unit",
               disable=not progress)
    pooled_block: dict = {}
    try:
        with _Interrupts():
            for layer, chunk in todo:
                ex = result[layer]
                exemplars = ex.ids[chunk].to(captioner.device)
                real = exemplars >= 0
                pooled = _pooled(captioner, ex, features, ids, layer, chunk, blocks[layer], pooled_block)
                mask = None if bool(real.all()) else real.repeat_interleave(pooled.shape[1] // real.shape[1], dim=1)
                described = captioner.describe(pooled, beam_size=beam_size, mask=mask)
                finished = {(layer, u): c for u, c in zip(chunk, described)}
                out.update(finished)
                if store is not None:
                    store.add(finished)
                bar.update(len(chunk))
    finally:
        bar.close()
    return out


def _pooled(captioner, ex, features, ids: torch.Tensor, layer: str, chunk: list, blocks: list, memo: dict):
    """The pooled exemplar features of ``chunk``'s units, pooled with the rest of its fixed block of
    units (:data:`POOL_CHUNKS` chunks: an image's exemplars are pooled together, in one product,
    and a resumed run pools the same blocks as an uninterrupted one)."""
    block = next(b for b in blocks if chunk[0] in b)
    key = (layer, block[0])
    if key not in memo:
        memo.clear()
        exemplars = ex.ids[block].to(captioner.device)
        positions = torch.searchsorted(ids, exemplars.clamp(min=0))
        encoded = features.rows(positions)
        grid = count_grid(encoded, ex.image_size) if ex.image_size and not captioner.config.spatial else None
        counts = ex.mask_counts(block, grid) if grid is not None else None
        memo[key] = (block, captioner.pool_maps(encoded, ex.maps[block], ex.thresholds[block], ex.image_size,
                                                positions, counts=counts))
    block, pooled = memo[key]
    at = {u: i for i, u in enumerate(block)}
    return pooled[[at[u] for u in chunk]]


def _kept_rows(result: ProbeResult, captioner, ids: torch.Tensor) -> Optional[list]:
    """The encoder features the probe pass kept for the exemplar images ``ids`` (None where not kept)."""
    kept = getattr(result, "kept", None)
    if kept is None or getattr(kept, "for_encoder", None) != captioner.config.encoder:
        return None
    return [kept.rows.get(int(i)) for i in ids.tolist()]


def _shared_backbone(net: nn.Module, captioner) -> tuple:
    """The captioner's encoder layers when ``net`` is its backbone (same class and weights), else ()."""
    encoder = captioner.encoder
    if not getattr(encoder, "_owned", False) or type(encoder.net) is not type(net):
        return ()
    mine, theirs = net.state_dict(), encoder.net.state_dict()
    if mine.keys() != theirs.keys() or not all(
            mine[key].shape == theirs[key].shape and torch.equal(mine[key].cpu(), theirs[key].cpu()) for key in mine):
        return ()
    return encoder.layers


def _share_encoder(result: ProbeResult, captioner) -> None:
    """Mark the kept outputs as the encoder's features when the probe saw what the encoder would see."""
    encoder, kept, norm = captioner.encoder, result.kept, getattr(result.source, "normalize", None)
    size = (encoder.input_size, encoder.input_size)
    if kept is not None and norm is not None and tuple(result.image_size or ()) == size and \
            tuple(map(float, norm.mean)) == tuple(map(float, encoder.mean)) and \
            tuple(map(float, norm.std)) == tuple(map(float, encoder.std)):
        kept.for_encoder = captioner.config.encoder


@guard_checkpoint
@with_threads
def label_model(net: nn.Module, layers: "LayerSpec | Iterable[LayerSpec] | None" = None, images=None, *,
                k: int = 15, quantile: float = 0.99, captioner=None, batch_size: int = 64, device=None,
                progress: bool = True, checkpoint: "str | os.PathLike | None" = None,
                transform: Optional[Callable] = None, beam_size: Optional[int] = None,
                model_name: Optional[str] = None, attributions: int = 0, attribution_method: str = "gradient",
                units=None, threads: Optional[int] = None, fast: bool = False, evidence: bool = True,
                rerank: bool = True, caption_uncertain: bool = False) -> LabelReport:
    """Probe ``net`` once, describe every unit of ``layers`` with the captioner, return a report.

    >>> from neuronlabel import label_model, models
    >>> net, _ = models.load("efficientnet_lite0")
    >>> report = label_model(net, ["blocks.5"])                         # doctest: +SKIP
    >>> report.to_html("report.html")                                   # doctest: +SKIP

    ``images``: a folder, a Dataset, a tensor of model inputs, or None for the built-in demo
    photos. ``captioner``: a :class:`~neuronlabel.captioner.Captioner`, a path to a saved
    one, or None for the bundled one. On CUDA, probe and captioning stay on the GPU.
    ``attributions``: for this many units per layer (the first ones), captum input
    attributions on their exemplars (``attribution_method``: see
    :func:`neuronlabel.attribution.unit_attributions`), drawn in the HTML report.
    ``units`` labels only those units (``{"layer4": [3, 17]}`` or ``["layer4:3", ...]``, see
    :func:`neuronlabel.units.group_units`): the layers they lie in are probed once as usual,
    and only they are captioned and reported, so captioning costs in proportion to them.
    ``layers`` may then be left out; if given, it must include the units' layers.
    ``threads``: torch CPU threads for the whole call (default: torch's own count capped at
    the cores this process may really use; on a machine shared with other jobs pass fewer,
    e.g. 1, see docs/benchmarks.md). ``fast=True`` probes channels-last (:func:`probe`). When
    ``net`` is the captioner's own backbone (EfficientNet-Lite0 for the bundled one) and the
    probe images are its input, the encoder's features of the exemplar images are kept from
    the probe pass instead of running the backbone over them again (same labels; the beam's
    log-probabilities agree to ~1e-4). With a ``checkpoint`` this happens only with ``fast``,
    so that a resumed run, whose probe comes from the checkpoint, re-encodes exactly as the
    uninterrupted run did.
    With ``checkpoint``, the probe state and then every finished unit's captions are saved
    (``checkpoint`` and ``<checkpoint>.captions.json``); a rerun after Ctrl-C, SIGTERM or
    ``kill -9`` resumes where it stopped and gives exactly the uninterrupted report. The
    checkpoint is checked for writability and locked against other runs before any work.
    ``evidence`` (default on) runs the evidence stage (:mod:`neuronlabel.evidence`) on every
    unit: its concepts, confidence and ``uncertain`` flag go into the report, its everyday
    phrases join the beam candidates, and with ``rerank`` the candidates are ordered by their
    agreement with the evidence (:func:`neuronlabel.evidence.labels.label_candidates`). An
    uncertain unit with an evidence phrase is labelled with that phrase whatever the captioner
    says, so the beam is not run for it (its candidates are the evidence phrases alone) unless
    ``caption_uncertain``; on a random-weight ResNet-50 that is 3 units in 4 (docs/benchmarks.md).
    """
    t0 = time.perf_counter()
    chosen = None if units is None else _chosen_units(net, layers, units)
    layers = list(chosen) if chosen is not None else layers
    if layers is None:
        raise InputError("label_model needs layers=[...] (names or globs) or units=[...] (e.g. ['layer4:3'])")
    cap = _captioner(captioner, "cpu")
    result = probe(net, images, layers, k=k, quantile=quantile, batch_size=batch_size, device=device,
                   transform=transform, checkpoint=checkpoint, progress=progress, threads=threads, fast=fast,
                   keep=_shared_backbone(net, cap) if (fast or checkpoint is None) else ())
    _share_encoder(result, cap)
    t_probe = time.perf_counter() - t0
    if chosen is not None:
        _check_channels(chosen, {layer: result[layer].units for layer in result})
    cap = cap.to(next(iter(result.values())).maps.device)
    images = exemplar_images(result, chosen)
    features = _LazyFeatures(cap, images[1], 32, kept=_kept_rows(result, cap, images[0]))
    evidenced, t_evidence = _evidence(net, result, chosen, images, features, evidence)
    described = describe_units(result, cap, beam_size=beam_size, images=images, checkpoint=checkpoint,
                               progress=progress, features=features,
                               units=_captioned(result, chosen, evidenced, rerank, caption_uncertain))
    t_caption = time.perf_counter() - t0 - t_probe - t_evidence
    if evidence:
        from .evidence.labels import apply_evidence

        t1 = time.perf_counter()
        described = apply_evidence(described, evidenced, rerank_candidates=rerank)
        t_evidence += time.perf_counter() - t1
    attributed = (_attributions(net, result, attributions, attribution_method, cap.device, chosen)
                  if attributions else {})
    report = build_report(result, described, cap, attributed, model_name or type(net).__name__,
                          {"probe": round(t_probe, 2), "caption": round(t_caption, 2),
                           "evidence": round(t_evidence, 2)}, images=images, units=chosen, evidence=evidenced)
    report.net = net
    return report


def _evidence(net: nn.Module, result: ProbeResult, chosen: Optional[dict], images: tuple, features: "_LazyFeatures",
              enabled: bool) -> tuple[dict, float]:
    """The evidence stage for the chosen units (``{}`` when not ``enabled``) and its seconds, the
    encoding of the exemplar images (which the captioner reuses) not counted."""
    if not enabled:
        return {}, 0.0
    from .evidence import compute_evidence

    encoded = features.rows(torch.arange(len(images[0]))) if len(images[0]) else None
    t = time.perf_counter()
    found = compute_evidence(result, chosen, images=images, encoded=encoded, output_layers=output_layers(net, result))
    return found, time.perf_counter() - t


def output_layers(net: nn.Module, result: ProbeResult) -> list:
    """The probed layers without a spatial map whose output is the network's output (its class logits),
    found by running one probe image through ``net`` with the layers hooked (none when that fails).

    >>> import torchvision
    >>> from neuronlabel import probe
    >>> net = torchvision.models.resnet18().eval()
    >>> output_layers(net, probe(net, torch.rand(4, 3, 32, 32), ["avgpool", "fc"], k=2, progress=False))
    ['fc']
    """
    from .hooks import capture

    flat = [layer for layer in result if tuple(result[layer].maps.shape[-2:]) == (1, 1)]
    if not flat or result.source is None or not len(result.source):
        return []
    param = next(net.parameters(), None)
    x = result.source[0].unsqueeze(0)
    if param is not None:
        x = x.to(param.device, param.dtype if x.is_floating_point() else x.dtype)
    seen: dict = {}
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode(), capture(net, flat, lambda name, out: seen.__setitem__(name, out)):
            y = net(x)
    except (RuntimeError, ValueError, TypeError):
        return []                      # a network that takes no single probe image: no layer is named jointly
    finally:
        net.train(was_training)
    same = lambda out: isinstance(out, torch.Tensor) and isinstance(y, torch.Tensor) and out.shape == y.shape \
        and bool(torch.equal(out, y))
    return [layer for layer in flat if same(seen.get(layer))]


def _captioned(result: ProbeResult, chosen: Optional[dict], evidenced: dict, rerank: bool,
               caption_uncertain: bool) -> Optional[dict]:
    """The units the captioner must describe: all chosen ones but those whose label the evidence
    decides (:func:`neuronlabel.evidence.labels.decided`), unless ``caption_uncertain``."""
    if caption_uncertain or not evidenced or not rerank:
        return chosen
    from .evidence.labels import decided

    units = chosen if chosen is not None else {layer: range(result[layer].units) for layer in result}
    return {layer: [u for u in of_layer if not decided(evidenced.get((layer, u)))] for layer, of_layer in units.items()}


def _chosen_units(net: nn.Module, layers, units) -> dict:
    """``units`` grouped by layer, checked against ``layers`` and the network before any work."""
    from .layers import layers as layer_infos
    from .units import group_units, resolve_layers

    chosen = group_units(units)
    if not chosen:
        raise InputError("units is empty; pass at least one unit such as 'layer4:3', or leave units out to "
                         "label every unit of the layers")
    resolve_layers(net, list(chosen))
    if layers is not None:
        allowed = resolve_layers(net, layers)
        outside = [layer for layer in chosen if layer not in allowed]
        if outside:
            raise InputError(f"units lie in layers {outside} that layers={layers!r} does not include; add them "
                             "to layers or leave layers out")
    try:
        infos = layer_infos(net, list(chosen))
    except NeuronLabelError:
        return chosen
    _check_channels(chosen, {info.name: info.units for info in infos if info.units is not None})
    return chosen


def _check_channels(chosen: dict, counts: dict) -> None:
    for layer, channels in chosen.items():
        too_big = [c for c in channels if layer in counts and c >= counts[layer]]
        if too_big:
            raise InputError(f"layer {layer!r} has units 0..{counts[layer] - 1}; got {too_big[:10]}")


def evidence_words() -> list:
    """Every word an evidence phrase can hold (see :mod:`neuronlabel.evidence.phrases`)."""
    from .evidence.phrases import vocabulary

    return vocabulary()


def _vocabulary(captioner) -> list[str]:
    """The words a label can hold: the captioner's, and the everyday words its rare ones become."""
    from .captioner.everyday import EVERYDAY

    words = {w for w in captioner.vocab.to_list() if not w.startswith("<")}
    words |= {w for phrase in EVERYDAY.values() for w in phrase.split()}
    return sorted(words)


def build_report(result: ProbeResult, described: dict, captioner, attributed: dict, model_name: str,
                 seconds: dict, images: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
                 units: Optional[dict] = None, evidence: Optional[dict] = None) -> LabelReport:
    """Assemble the :class:`LabelReport` from a probe result and its units' captions (``units``: only those;
    ``evidence``: ``{(layer, unit): UnitEvidence}`` of the evidence stage)."""
    from .evidence.labels import report_fields

    chosen = units
    ids, shown = images if images is not None else exemplar_images(result, chosen)
    thumbs = _thumbnails(shown, THUMB)
    units = []
    for layer in result:
        ex = result[layer]
        maps = ex.maps.to(torch.float16).cpu().numpy()
        scores, exemplar_ids = ex.scores.cpu(), ex.ids.cpu()
        thresholds, errors = ex.thresholds.cpu(), ex.threshold_error.cpu()
        nonfinite = ex.nonfinite.cpu() if ex.nonfinite is not None else torch.zeros(ex.units, dtype=torch.long)
        means = ex.means.cpu() if ex.means is not None else torch.full((ex.units,), float("nan"))
        for u in (chosen.get(layer, []) if chosen is not None else range(ex.units)):
            candidates = described.get((layer, u), [])
            flags = ["nonfinite"] if int(nonfinite[u]) else []
            finite = scores[u][torch.isfinite(scores[u])]
            if finite.numel() and float(finite.max()) <= float(thresholds[u]):
                flags.append("inactive")
            stats = {"max": float(finite.max()) if finite.numel() else float("nan"),
                     "mean_top_k": float(finite.mean()) if finite.numel() else float("nan"),
                     "threshold_error": float(errors[u]), "nonfinite_values": int(nonfinite[u]),
                     "mean": float(means[u])}
            found = report_fields((evidence or {}).get((layer, u)), label=candidates[0][0] if candidates else "")
            flags += found.pop("flags")
            units.append(UnitLabel(layer, u, candidates[0][0] if candidates else "", candidates=candidates,
                                   exemplar_ids=exemplar_ids[u].tolist(),
                                   exemplar_scores=[float(s) if np.isfinite(float(s)) else float("nan")
                                                    for s in scores[u]],
                                   threshold=float(thresholds[u]), maps=maps[u], stats=stats, flags=flags,
                                   attributions=attributed.get((layer, u)), **found))
    meta = {"model": model_name, "layers": list(result), "k": result.k, "quantile": result.quantile,
            "probe_set": result.meta.get("source"), "num_images": result.num_images,
            "image_size": list(result.image_size), "captioner": dict(captioner.config.to_dict()),
            "vocabulary": _vocabulary(captioner) if not evidence else sorted(set(_vocabulary(captioner))
                                                                             | set(evidence_words())),
            "seconds": seconds}
    report = LabelReport(units, images={int(i): thumbs[j] for j, i in enumerate(ids.tolist())}, meta=meta)
    report.probe_result = result
    return report
