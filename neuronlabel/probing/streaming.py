"""One streaming pass over a probe set that keeps every unit's top-k exemplars and quantile.

>>> import torch, torchvision
>>> from neuronlabel import probe
>>> net = torchvision.models.resnet18().eval()
>>> result = probe(net, torch.rand(20, 3, 64, 64), layers=["layer3", "layer4"], k=5, progress=False)
>>> ex = result["layer4"]
>>> ex.ids.shape, ex.maps.shape, ex.masks(units=[0, 1]).shape
(torch.Size([512, 5]), torch.Size([512, 5, 2, 2]), torch.Size([2, 5, 64, 64]))
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ..adapters import Layout, detect_layout, select_tensor, to_unit_maps
from ..errors import CheckpointError, InputError, LayerOutputError, ProbeSourceError
from ..files import atomic_save, guard_checkpoint
from ..preflight import check_device, check_model
from ..hooks import StopForward, capture, forward_until
from ..sources import ProbeSource, as_source
from ..units import LayerSpec, resolve_layers
from ..threads import check_threads, torch_threads
from .exemplars import Exemplars
from .fast import channels_last
from .kept import KeptOutputs
from .quantile import QuantileSketch
from .topk import TopK

FORMAT = "neuronlabel.probe/1"


class _LayerStats:
    def __init__(self, layer: str, layout: Layout, units: int, map_size, k: int, bins: int, device):
        self.layer = layer
        self.layout = layout
        self.topk = TopK(units, k, map_size, device=device)
        self.sketch = QuantileSketch(units, bins=bins, device=device)

    def add(self, maps: torch.Tensor, ids: torch.Tensor) -> None:
        b, units = maps.shape[:2]
        if maps.dtype not in (torch.float32, torch.float64):
            peak, low = maps.amax(dim=(2, 3)), maps.amin(dim=(0, 2, 3))
        elif maps.is_contiguous():
            flat = maps.view(b, units, -1)
            peak, low = flat.amax(-1), flat.amin(-1).amin(0)      # 6x faster than torch.aminmax on CPU
        elif maps.is_contiguous(memory_format=torch.channels_last):
            flat = maps.permute(0, 2, 3, 1).reshape(b, -1, units)
            peak, low = flat.amax(1), flat.amin(1).amin(0)
        else:
            peak, low = maps.amax(dim=(2, 3)), maps.amin(dim=(0, 2, 3))
        self.topk.add(maps, ids, scores=peak)
        self.sketch.add(maps, lo=low, hi=peak.amax(0))

    def state_dict(self) -> dict:
        return {"layout": [self.layout.kind, self.layout.prefix, list(self.layout.grid or [])],
                "units": self.topk.units, "map_size": list(self.topk.maps.shape[2:]),
                "topk": self.topk.state_dict(), "sketch": self.sketch.state_dict()}

    @classmethod
    def from_state(cls, layer: str, state: dict, device) -> "_LayerStats":
        kind, prefix, grid = state["layout"]
        stats = cls(layer, Layout(kind, int(prefix), tuple(grid) or None), int(state["units"]),
                    tuple(state["map_size"]), int(state["topk"]["k"]), int(state["sketch"]["bins"]), device)
        stats.topk.load_state_dict(state["topk"])
        stats.sketch.load_state_dict(state["sketch"])
        return stats


class ProbeResult(Mapping):
    """The probe's result: a mapping layer name -> :class:`Exemplars`, mergeable and saveable.

    >>> import torch
    >>> r = ProbeResult.load  # ProbeResult.load(path) restores what result.save(path) wrote
    """

    def __init__(self, stats: dict, *, k: int, quantile: float, bins: int, image_size, source=None,
                 num_images: int = 0, meta: Optional[dict] = None):
        self._stats = stats
        self.k = k
        self.quantile = quantile
        self.bins = bins
        self.image_size = tuple(image_size) if image_size else None
        self.source: Optional[ProbeSource] = source
        self.num_images = num_images
        self.meta = dict(meta or {})
        self.kept: Optional[KeptOutputs] = None
        self._cache: dict[str, Exemplars] = {}

    def __getitem__(self, layer: str) -> Exemplars:
        if layer not in self._stats:
            raise KeyError(f"no layer {layer!r} in this probe result; it has {list(self._stats)}")
        if layer not in self._cache:
            s = self._stats[layer]
            thresholds = s.sketch.quantile(self.quantile).to(torch.float32)
            self._cache[layer] = Exemplars(layer, s.topk.ids, s.topk.scores, s.topk.maps, thresholds,
                                           s.sketch.error_bound().to(torch.float32), self.image_size,
                                           self.quantile, s.layout.kind, s.topk.nonfinite + s.sketch.nonfinite,
                                           s.sketch.mean().to(torch.float32))
        return self._cache[layer]

    def __iter__(self):
        return iter(self._stats)

    def __len__(self) -> int:
        return len(self._stats)

    def exemplar_images(self, layer: str, unit: int) -> torch.Tensor:
        """The unit's k exemplar images ``[k, 3, H, W]`` in [0, 1], fetched back by id from the source."""
        if self.source is None:
            raise InputError("this probe result has no image source attached (it was loaded from disk); "
                             "set result.source = neuronlabel.sources.as_source(images, net) first")
        ids = self[layer].ids[unit]
        return self.source.displays([int(i) for i in ids if int(i) >= 0])

    def merge(self, other: "ProbeResult") -> "ProbeResult":
        """Fold in another shard's result (other images, same layers and settings); returns self."""
        if set(other._stats) != set(self._stats) or other.k != self.k or other.bins != self.bins:
            raise InputError(f"cannot merge a probe of layers {list(other._stats)} (k={other.k}, bins={other.bins}) "
                             f"into one of layers {list(self._stats)} (k={self.k}, bins={self.bins})")
        if other.quantile != self.quantile or (other.image_size and self.image_size
                                               and tuple(other.image_size) != tuple(self.image_size)):
            raise InputError("cannot merge probes with different quantiles or image sizes")
        for layer, stats in self._stats.items():
            stats.topk.merge(other._stats[layer].topk)
            stats.sketch.merge(other._stats[layer].sketch)
        self.num_images += other.num_images
        if self.kept is not None and other.kept is not None and self.kept.layers == other.kept.layers:
            self.kept.rows.update(other.kept.rows)
        else:
            self.kept = None
        self._cache.clear()
        return self

    def state_dict(self) -> dict:
        return {"format": FORMAT, "k": self.k, "quantile": self.quantile, "bins": self.bins,
                "image_size": list(self.image_size or []), "num_images": self.num_images, "meta": self.meta,
                "layers": {name: s.state_dict() for name, s in self._stats.items()}}

    def save(self, path: "str | os.PathLike") -> None:
        """Write everything needed to resume, merge or mask later (not the images) to ``path``."""
        _atomic_save(self.state_dict(), path)

    @classmethod
    def from_state(cls, state: dict, device=None, source=None) -> "ProbeResult":
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"not a neuronlabel probe result of format {FORMAT!r} (found {found!r})")
        stats = {name: _LayerStats.from_state(name, s, device) for name, s in state["layers"].items()}
        return cls(stats, k=int(state["k"]), quantile=float(state["quantile"]), bins=int(state["bins"]),
                   image_size=tuple(state["image_size"]) or None, source=source,
                   num_images=int(state["num_images"]), meta=state.get("meta"))

    @classmethod
    def load(cls, path: "str | os.PathLike", device=None, source=None) -> "ProbeResult":
        """Read a result written by :meth:`save`."""
        return cls.from_state(_load(path), device=device, source=source)


def _atomic_save(obj, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(obj, path)


def _load(path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise CheckpointError(f"cannot read {str(path)!r}: it is corrupt or not a neuronlabel file ({err})") from err


class _Items(torch.utils.data.Dataset):
    def __init__(self, source: ProbeSource, indices: Sequence[int]):
        self.source = source
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int):
        i = int(self.indices[j])
        try:
            return i, self.source[i], None
        except ProbeSourceError as err:
            return i, None, str(err)


def _collate(items):
    good = [(i, x) for i, x, _ in items if x is not None]
    errors = [e for _, _, e in items if e is not None]
    if not good:
        return torch.empty(0, dtype=torch.long), None, errors
    shapes = {tuple(x.shape) for _, x in good}
    if len(shapes) > 1:
        raise ProbeSourceError(f"probe images in one batch have different shapes {sorted(shapes)}; give a transform "
                               "that resizes and crops every image to one size")
    return torch.tensor([i for i, _ in good]), torch.stack([x for _, x in good]), errors


def _fingerprint(layers, k, quantile, bins, indices, n_source) -> str:
    h = hashlib.sha256()
    h.update(repr((list(layers), k, quantile, bins, n_source)).encode())
    h.update(torch.as_tensor(list(indices), dtype=torch.long).numpy().tobytes())
    return h.hexdigest()[:16]


def _model_device(net: nn.Module) -> torch.device:
    for p in net.parameters():
        return p.device
    for b in net.buffers():
        return b.device
    return torch.device("cpu")


def _model_dtype(net: nn.Module) -> torch.dtype:
    for p in net.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


class _Interrupts:
    """Turn SIGTERM into KeyboardInterrupt while probing, so the run can save its state."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                raise KeyboardInterrupt(f"signal {signum}")
            self.previous = signal.signal(signal.SIGTERM, handler)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _forward(net, x, ids, names, stats, current, order) -> None:
    """One batch through the hooks; on any error the layer states roll back to before the batch."""
    snapshot = {name: (s.topk.state_dict(), s.sketch.state_dict()) for name, s in stats.items()}
    current.update(calls=set(), hw=tuple(x.shape[-2:]), batch=x.shape[0], ids=ids, first=not order)
    try:
        forward_until(net, x, names, current["calls"])
    except BaseException:
        for name in list(stats):
            if name in snapshot:
                stats[name].topk.load_state_dict(snapshot[name][0])
                stats[name].sketch.load_state_dict(snapshot[name][1])
            else:
                del stats[name]
        if current["first"]:
            order.clear()
        raise


@guard_checkpoint
def probe(net: nn.Module, images=None, layers: "LayerSpec | Iterable[LayerSpec]" = (), *, k: int = 15,
          quantile: float = 0.99, batch_size: int = 64, device=None, transform: Optional[Callable] = None,
          indices: Optional[Sequence[int]] = None, checkpoint: "str | os.PathLike | None" = None,
          checkpoint_seconds: float = 60.0, progress: bool = True, num_workers: int = 0,
          bins: int = 2048, early_exit: bool = True, fast: bool = False,
          threads: Optional[int] = None, keep: Sequence[str] = ()) -> ProbeResult:
    """Run the probe set through ``net`` once and keep, per unit, its top-k images, maps and quantile.

    >>> import torch, torchvision
    >>> net = torchvision.models.resnet18().eval()
    >>> r = probe(net, torch.rand(16, 3, 32, 32), layers="layer1.*", k=3, progress=False)
    >>> sorted(r), r["layer1.0"].thresholds.shape
    (['layer1.0', 'layer1.1'], torch.Size([64]))

    ``images`` is a folder, a torch Dataset, a ``[N,3,H,W]`` tensor of model inputs, or
    ``None`` for the built-in demo photos; folders and datasets of PIL images are
    preprocessed with the network's own data config unless ``transform`` is given.
    ``indices`` restricts the pass to those images of the source (ids stay source ids), so
    shards merge with :meth:`ProbeResult.merge`. With ``checkpoint``, the state is saved
    every ``checkpoint_seconds``, on error and on interrupt (Ctrl-C, SIGTERM); calling again
    with the same checkpoint resumes and gives exactly the uninterrupted result.
    ``early_exit`` stops each forward pass after the last probed layer has run.
    ``fast=True`` runs the network channels-last (its weights are put back afterwards),
    faster on CPU for convolutional networks than a plain eager loop; activations may then
    differ from the default pass in the last bits, so exemplars at exact ties can too.
    ``threads``: torch CPU threads for the pass (default: torch's own count, capped at the
    cores this process may really use, :func:`neuronlabel.threads.usable_cores`).
    ``keep`` names further modules whose outputs are kept for the images that end up as
    exemplars (``result.kept``, a :class:`~neuronlabel.probing.kept.KeptOutputs`; not saved in
    checkpoints): ``label_model(fast=True)`` uses it to reuse the pass as the captioner's encoder.
    """
    if not isinstance(net, nn.Module):
        raise InputError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    check_model(net)
    device = check_device(device)
    names = resolve_layers(net, layers)
    kept = KeptOutputs(resolve_layers(net, list(keep))) if keep else None
    hooked = names + [name for name in (kept.layers if kept else ()) if name not in names]
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    if not 0.0 < float(quantile) < 1.0:
        raise InputError(f"quantile must be strictly between 0 and 1 (MILAN uses 0.99), got {quantile!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    check_threads(threads)
    source = as_source(images, net, transform)
    n_source = len(source)
    if n_source < k:
        raise InputError(f"k={k} exemplars per unit were asked for but the probe set has only {n_source} images; "
                         f"pass k<={n_source} or more images")
    if indices is None:
        indices = range(n_source)
    indices = list(indices)
    if indices and (min(indices) < 0 or max(indices) >= n_source):
        raise InputError(f"indices must lie in 0..{n_source - 1}")

    run_device = torch.device(device) if device is not None else _model_device(net)
    fingerprint = _fingerprint(names, k, quantile, bins, indices, n_source)
    stats: dict[str, _LayerStats] = {}
    done_batches, num_images, image_size, skipped = 0, 0, None, []
    constant: list = []
    pending: list = []

    def constant_ids() -> list:
        while pending:
            batch_ids, same = pending.pop(0)
            constant.extend(batch_ids[same.cpu()].tolist())
        return constant

    if checkpoint is not None and Path(checkpoint).exists():
        state = _load(checkpoint)
        if state.get("fingerprint") != fingerprint:
            raise CheckpointError(f"checkpoint {str(checkpoint)!r} belongs to another run (other layers, k, quantile "
                                  "or images); delete it or pass another checkpoint path")
        if state["batch_size"] != batch_size:
            raise CheckpointError(f"checkpoint {str(checkpoint)!r} was written with batch_size={state['batch_size']};"
                                  f" resume with that batch size, not {batch_size}")
        result = ProbeResult.from_state(state["result"], device=run_device)
        stats, num_images, image_size = result._stats, result.num_images, result.image_size
        done_batches, skipped = int(state["done_batches"]), list(state.get("skipped", []))
        constant.extend(state.get("constant", []))

    def save_checkpoint():
        if checkpoint is None:
            return
        result = ProbeResult(stats, k=k, quantile=quantile, bins=bins, image_size=image_size, num_images=num_images)
        _atomic_save({"fingerprint": fingerprint, "batch_size": batch_size, "done_batches": done_batches,
                      "skipped": skipped, "constant": constant_ids(), "result": result.state_dict()}, checkpoint)

    modules = dict(net.named_modules())
    current: dict = {}
    order: list[str] = []

    def on_output(name: str, output) -> None:
        calls = current["calls"]
        if name in calls:
            raise LayerOutputError(f"layer {name!r} ran twice in one forward pass (a shared module); "
                                   "probe a layer that runs once per pass")
        calls.add(name)
        tensor = select_tensor(output, name)
        if kept is not None and name in kept.layers:
            current["kept"][name] = tensor
            if name not in names:
                if current["first"]:
                    order.append(name)
                elif name == order[-1] and early_exit:
                    raise StopForward
                return
        if name not in stats:
            layout = detect_layout(tensor, current["hw"], net, modules[name], name)
            maps = to_unit_maps(tensor, layout)
            stats[name] = _LayerStats(name, layout, maps.shape[1], tuple(maps.shape[2:]), k, bins, maps.device)
        else:
            maps = to_unit_maps(tensor, stats[name].layout)
        if maps.shape[0] != current["batch"]:
            raise LayerOutputError(f"layer {name!r} output has batch size {maps.shape[0]}, the input had "
                                   f"{current['batch']}; probe a layer whose first dim is the batch")
        stats[name].add(maps, current["ids"])
        if not current["first"]:
            if name == order[-1] and early_exit:
                raise StopForward
        else:
            order.append(name)

    remaining = indices[done_batches * batch_size:]
    loader = torch.utils.data.DataLoader(_Items(source, remaining), batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers, collate_fn=_collate)
    total = done_batches + len(loader)
    was_training = net.training
    dtype = _model_dtype(net)
    moved_from = None
    if device is not None and _model_device(net) != run_device:
        moved_from = _model_device(net)
        net.to(run_device)
    net.eval()
    bar = tqdm(total=total, initial=done_batches, desc="probe", unit="batch", disable=not progress)
    last_save = time.monotonic()
    try:
        with capture(net, hooked, on_output), _Interrupts(), channels_last(net, fast), torch_threads(threads), \
                torch.inference_mode():
            for ids, x, errors in loader:
                skipped.extend(errors)
                if x is not None:
                    x = x.to(run_device, dtype=dtype, non_blocking=True)
                    if fast and x.dim() == 4:
                        x = x.contiguous(memory_format=torch.channels_last)
                    image_size = image_size or tuple(x.shape[-2:])
                    current["kept"] = {}
                    _forward(net, x, ids.to(run_device), hooked, stats, current, order)
                    if kept is not None:
                        wanted = torch.unique(torch.cat([s.topk.ids.flatten() for s in stats.values()]))
                        kept.update(ids, current.pop("kept"), wanted.cpu())
                    flat = x.flatten(2)
                    pending.append((ids, (flat.amax(2) == flat.amin(2)).all(1)))
                    num_images += x.shape[0]
                done_batches += 1
                bar.update(1)
                if checkpoint is not None and time.monotonic() - last_save > checkpoint_seconds:
                    save_checkpoint()
                    last_save = time.monotonic()
    except BaseException:
        if done_batches:
            save_checkpoint()
        raise
    finally:
        bar.close()
        if was_training:
            net.train()
        if moved_from is not None:
            net.to(moved_from)
    save_checkpoint()
    if not stats:
        reason = f" (e.g. {skipped[0]})" if skipped else ""
        raise ProbeSourceError(f"no probe image could be read; nothing was probed{reason}")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} probe image(s) that could not be read, e.g. {skipped[0]}", stacklevel=3)
    if constant_ids():
        named = ", ".join(source.name(i) for i in constant[:5]) + (f" and {len(constant) - 5} more"
                                                                  if len(constant) > 5 else "")
        share = f"all {num_images}" if len(constant) == num_images else f"{len(constant)} of the {num_images}"
        warnings.warn(f"{share} probe images are constant (every pixel the same colour), so they show units nothing: "
                      f"{named}", stacklevel=3)
    meta = {"source": source.describe(), "model": type(net).__name__, "skipped": len(skipped)}
    result = ProbeResult({name: stats[name] for name in names}, k=k, quantile=quantile, bins=bins,
                         image_size=image_size, source=source, num_images=num_images, meta=meta)
    result.kept = kept
    return result
