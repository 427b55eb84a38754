"""Edit a network by its labels: ablate units, and measure what that does to accuracy.

>>> import torch, torchvision
>>> import neuronlabel
>>> net = torchvision.models.resnet18().eval()
>>> x = torch.rand(2, 3, 64, 64)
>>> with neuronlabel.ablate(net, ["layer4:3", "layer4:17"]):
...     edited = net(x)
>>> neuronlabel.assert_no_hooks(net)

Units come from anywhere: ``report.search("text")``, the findings of
``neuronlabel.check(report, concepts=[...])``, ``"layer:unit"`` strings or a
``{layer: [unit, ...]}`` dict. ``mode="zero"`` sets each unit's channel to 0 at every
position; ``mode="mean"`` sets it to the unit's mean activation over the probe set (kept in
the report as ``stats["mean"]``). MILAN (section 7) zeroes the units it finds.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import torch
from torch import nn

from .adapters import Layout, detect_layout, select_tensor
from .errors import InputError, LayerOutputError
from .units import group_units, resolve_layers

MODES = ("zero", "mean")
_CHANNEL_DIM = {"nchw": 1, "flat": 1, "ctokens": 1, "nhwc": 3, "tokens": 2}


@dataclass(frozen=True)
class Ablation:
    """What :func:`ablate` does: ``units`` ``{layer: [unit, ...]}``, ``mode`` and the value per unit.

    >>> Ablation({"fc": [1]}, "zero", {"fc": [0.0]}).refs
    ['fc:1']
    """

    units: dict
    mode: str
    values: dict

    @property
    def refs(self) -> list:
        """The ablated units as ``"layer:unit"`` strings.

        >>> Ablation({"fc": [1, 4]}, "zero", {"fc": [0.0, 0.0]}).refs
        ['fc:1', 'fc:4']
        """
        return [f"{layer}:{u}" for layer, units in self.units.items() for u in units]

    def __len__(self) -> int:
        return sum(len(units) for units in self.units.values())


@contextmanager
def ablate(net: nn.Module, units, mode: str = "zero", *, means=None) -> Iterator[Ablation]:
    """Inside the ``with`` block, ``net``'s chosen units output a constant; the hooks leave on exit, error or not.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    >>> with ablate(net, {"0": [1]}) as ablation:
    ...     net(torch.ones(1, 2))[0, 1].item()
    0.0
    >>> ablation.refs
    ['0:1']

    ``units``: anything :func:`neuronlabel.units.group_units` reads (``report.search(...)``,
    a ``check`` result, ``["layer4:3"]``, ``{"layer4": [3]}``). ``mode="zero"`` writes 0,
    ``mode="mean"`` the unit's mean activation over the probe set, taken from ``means`` (a
    ``LabelReport``, a ``ProbeResult`` or a ``{"layer:unit": value}`` dict) or, when
    ``means`` is None, from the units themselves (report units carry ``stats["mean"]``).
    The unit's channel is replaced at every position of the layer's output (in token layers,
    the class and other prefix tokens included), in whatever layout the layer has.
    """
    if mode not in MODES:
        raise InputError(f"ablation mode {mode!r} is not one of {MODES}; 'zero' writes 0, 'mean' the unit's "
                         "mean activation over the probe set")
    if not isinstance(net, nn.Module):
        raise InputError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    chosen = group_units(units)
    if not chosen:
        raise InputError("no units to ablate (the search or check found none?); pass at least one unit")
    resolve_layers(net, list(chosen))
    values = {layer: [0.0] * len(us) for layer, us in chosen.items()} if mode == "zero" \
        else _means(chosen, units, means)
    ablation = Ablation(chosen, mode, values)
    modules = dict(net.named_modules())
    state = {"hw": None}
    handles = [net.register_forward_pre_hook(_remember_input(state))]
    try:
        for layer, us in chosen.items():
            handles.append(modules[layer].register_forward_hook(_Edit(net, modules[layer], layer, us,
                                                                      values[layer], state)))
        yield ablation
    finally:
        for handle in handles:
            handle.remove()


def _remember_input(state: dict):
    def hook(module, args):
        x = args[0] if args else None
        state["hw"] = tuple(x.shape[-2:]) if isinstance(x, torch.Tensor) and x.dim() >= 3 else None

    return hook


class _Edit:
    """The forward hook: replace the chosen channels of the layer's output with their values."""

    def __init__(self, net, module, layer: str, units: list, values: list, state: dict):
        self.net, self.module, self.layer, self.state = net, module, layer, state
        self.units = torch.tensor(units, dtype=torch.long)
        self.values = torch.tensor(values, dtype=torch.float64)
        self.layouts: dict = {}
        self.cache: dict = {}

    def _layout(self, tensor: torch.Tensor) -> Layout:
        key = (tuple(tensor.shape[1:]), self.state["hw"])
        if key not in self.layouts:
            if self.state["hw"] is None and tensor.dim() in (3, 4):
                self.layouts[key] = Layout("nchw" if tensor.dim() == 4 else "tokens")
            else:
                self.layouts[key] = detect_layout(tensor, self.state["hw"] or (1, 1), self.net, self.module,
                                                  self.layer)
        return self.layouts[key]

    def _fill(self, tensor: torch.Tensor, dim: int):
        channels = tensor.shape[dim]
        key = (channels, dim, tensor.dim(), tensor.device, tensor.dtype)
        if key not in self.cache:
            if int(self.units.max()) >= channels:
                too_big = [int(u) for u in self.units if int(u) >= channels]
                raise InputError(f"cannot ablate units {too_big[:10]} of layer {self.layer!r}: it has units "
                                 f"0..{channels - 1}")
            shape = [1] * tensor.dim()
            shape[dim] = channels
            with torch.inference_mode(False):
                mask = torch.zeros(channels, dtype=torch.bool)
                mask[self.units] = True
                fill = torch.zeros(channels, dtype=torch.float64)
                fill[self.units] = self.values
                self.cache[key] = (mask.view(shape).to(tensor.device),
                                   fill.view(shape).to(tensor.device, tensor.dtype))
        return self.cache[key]

    def __call__(self, module, inputs, output):
        tensor = select_tensor(output, self.layer)
        layout = self._layout(tensor)
        mask, fill = self._fill(tensor, _CHANNEL_DIM[layout.kind])
        edited = torch.where(mask, fill, tensor)
        return _replace(output, tensor, edited, self.layer)


def _replace(output, old: torch.Tensor, new: torch.Tensor, layer: str):
    if output is old:
        return new
    if isinstance(output, (tuple, list)):
        items = [new if item is old else item for item in output]
        return type(output)(items) if isinstance(output, list) or type(output) is tuple else type(output)(*items)
    if isinstance(output, dict):
        out = dict(output)
        for key, value in output.items():
            if value is old:
                out[key] = new
        return type(output)(out) if type(output) is not dict else out
    raise LayerOutputError(f"cannot write the ablated units back into the {type(output).__name__} output of "
                           f"layer {layer!r}; ablate a layer that outputs a tensor")


def _means(chosen: dict, units, means) -> dict:
    from .probing import ProbeResult
    from .report import LabelReport

    if means is None:
        items = getattr(units, "findings", units)
        if isinstance(items, dict) or isinstance(items, str):
            items = []
        table = {f"{u.layer}:{u.unit}": u.stats.get("mean") for u in items if hasattr(u, "stats")}
        source = "the units' stats['mean']"
    elif isinstance(means, LabelReport):
        table = {u.ref: u.stats.get("mean") for u in means}
        source = "the report"
    elif isinstance(means, ProbeResult):
        table = {}
        for layer in chosen:
            if layer in means:
                ex = means[layer]
                if ex.means is not None:
                    table.update({f"{layer}:{u}": float(ex.means[u]) for u in chosen[layer] if u < ex.units})
        source = "the probe result"
    elif isinstance(means, dict):
        table = {str(k): v for k, v in means.items()}
        source = "means"
    else:
        raise InputError(f"means must be a LabelReport, a ProbeResult or a {{'layer:unit': value}} dict, got "
                         f"{type(means).__name__}")
    values, missing = {}, []
    for layer, us in chosen.items():
        row = []
        for u in us:
            v = table.get(f"{layer}:{u}")
            if v is None or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                missing.append(f"{layer}:{u}")
                v = math.nan
            row.append(float(v))
        values[layer] = row
    if missing:
        raise InputError(f"mode='mean' needs each unit's mean activation over the probe set; {source} has none "
                         f"for {missing[:5]}{' ...' if len(missing) > 5 else ''}. Pass means=report (a report made "
                         "by label_model), means=probe_result, or {'layer:unit': value}")
    return values


@dataclass(frozen=True)
class Accuracy:
    """Top-1 and top-5 hits over ``total`` labelled images.

    >>> Accuracy(total=4, top1=3, top5=4).top1_rate
    0.75
    """

    total: int
    top1: int
    top5: int

    @property
    def top1_rate(self) -> float:
        """Top-1 accuracy in [0, 1].

        >>> Accuracy(total=0, top1=0, top5=0).top1_rate
        nan
        """
        return self.top1 / self.total if self.total else math.nan

    @property
    def top5_rate(self) -> float:
        """Top-5 accuracy in [0, 1].

        >>> Accuracy(total=2, top1=0, top5=1).top5_rate
        0.5
        """
        return self.top5 / self.total if self.total else math.nan

    def __str__(self) -> str:
        return f"top-1 {100 * self.top1_rate:.1f}%, top-5 {100 * self.top5_rate:.1f}% of {self.total} images"


@dataclass(frozen=True)
class AblationResult:
    """Accuracy on the same images without (``before``) and with (``after``) an ablation.

    >>> r = AblationResult(Accuracy(10, 8, 10), Accuracy(10, 6, 9), changed=3, ablated=["fc:1"], mode="zero")
    >>> round(r.top1_change, 3)
    -0.2

    ``changed`` counts images whose top-1 prediction changed; ``per_class`` maps a target
    class to ``(images, top-1 hits before, top-1 hits after)``.
    """

    before: Accuracy
    after: Accuracy
    changed: int
    ablated: list
    mode: str
    per_class: dict = field(default_factory=dict)

    @property
    def top1_change(self) -> float:
        """Top-1 accuracy after minus before (negative: the ablation hurt)."""
        return self.after.top1_rate - self.before.top1_rate

    def classes(self, which: Callable[[int], bool]) -> tuple[int, float, float]:
        """``(images, top-1 accuracy before, after)`` over the target classes ``which(class)`` accepts.

        >>> r = AblationResult(Accuracy(2, 2, 2), Accuracy(2, 1, 2), 1, [], "zero", {0: (1, 1, 0), 1: (1, 1, 1)})
        >>> r.classes(lambda c: c == 0)
        (1, 1.0, 0.0)
        """
        rows = [v for c, v in self.per_class.items() if which(c)]
        n, hit0, hit1 = (sum(r[i] for r in rows) for i in range(3))
        return n, (hit0 / n if n else math.nan), (hit1 / n if n else math.nan)

    def __str__(self) -> str:
        return (f"ablating {len(self.ablated)} units ({self.mode}): top-1 {100 * self.before.top1_rate:.1f}% -> "
                f"{100 * self.after.top1_rate:.1f}% ({100 * self.top1_change:+.1f} points), top-5 "
                f"{100 * self.before.top5_rate:.1f}% -> {100 * self.after.top5_rate:.1f}%, over {self.before.total} "
                f"images; {self.changed} top-1 predictions changed")


class _Labelled(torch.utils.data.Dataset):
    def __init__(self, source, targets: list):
        self.source, self.targets = source, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return self.source[i], self.targets[i]


def labelled_images(net: nn.Module, images, targets=None, transform: Optional[Callable] = None):
    """A Dataset of ``(model input, class index)`` from a labelled image folder or dataset.

    >>> ds = labelled_images(None, torch.rand(3, 3, 8, 8), targets=[0, 2, 1])
    >>> len(ds), ds[1][1]
    (3, 2)

    ``images``: a folder, a ``[N, 3, H, W]`` tensor of model inputs, or a Dataset of
    ``(image, target)`` pairs (``targets`` None). For a folder, ``targets`` is None (one
    subfolder per class, classes numbered in sorted subfolder order, as torchvision's
    ``ImageFolder``), a dict from subfolder name or file stem to class index, a function
    ``path -> class index``, or a sequence with one class index per image file in sorted
    path order (``range(1000)`` for ../shared/data/imagenet-sample-256).
    """
    from .sources import FolderSource, as_source, data_config, transform_from_config

    if isinstance(images, (str, os.PathLike)):
        source = FolderSource(images, transform or transform_from_config(data_config(net)))
        files = source.files
        if targets is None:
            classes = sorted({p.parent.relative_to(source.root).parts[0] for p in files
                              if p.parent != source.root})
            if not classes or any(p.parent == source.root for p in files):
                raise InputError(f"{str(images)!r} is not one subfolder per class; pass targets= (a dict, a "
                                 "function of the path, or one class index per image in sorted order)")
            index = {c: i for i, c in enumerate(classes)}
            labels = [index[p.relative_to(source.root).parts[0]] for p in files]
        elif isinstance(targets, dict):
            labels = []
            for p in files:
                key = next((k for k in (p.relative_to(source.root).parts[0], p.stem, p.name) if k in targets), None)
                if key is None:
                    raise InputError(f"targets has no class for {str(p)!r}; give its subfolder name, file stem or "
                                     "file name as a key")
                labels.append(targets[key])
        elif callable(targets):
            labels = [targets(Path(p)) for p in files]
        else:
            labels = list(targets)
            if len(labels) != len(files):
                raise InputError(f"targets has {len(labels)} classes but {str(images)!r} holds {len(files)} "
                                 "readable images; give one class index per image file in sorted path order")
        return _Labelled(source, [_class_index(t, f"targets for {p}") for t, p in zip(labels, files)])
    if isinstance(images, torch.Tensor):
        if targets is None or len(targets) != len(images):
            raise InputError(f"a tensor of {len(images)} images needs targets= with one class index per image")
        return _Labelled(as_source(images), [_class_index(t, f"targets[{i}]") for i, t in enumerate(targets)])
    if targets is not None:
        source = as_source(images, net, transform)
        if len(targets) != len(source):
            raise InputError(f"targets has {len(targets)} classes for {len(source)} images")
        return _Labelled(source, [_class_index(t, f"targets[{i}]") for i, t in enumerate(targets)])
    if not hasattr(images, "__getitem__") or not hasattr(images, "__len__"):
        raise InputError(f"images must be a folder, a tensor or a Dataset of (image, target) pairs, got "
                         f"{type(images).__name__}")
    return images


def _class_index(t, where: str) -> int:
    if hasattr(t, "item") and getattr(t, "ndim", 1) == 0:
        t = t.item()
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise InputError(f"{where}: a class index must be a non-negative integer, got {t!r}")
    return t


def _batches(net, images, targets, transform, batch_size: int):
    data = labelled_images(net, images, targets, transform)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=_collate)


def _collate(items):
    xs, ys = [], []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise InputError("each item of a labelled dataset must be (image, class index)")
        x, y = item[0], item[1]
        if not isinstance(x, torch.Tensor):
            raise InputError(f"labelled dataset items must hold model input tensors, got {type(x).__name__}; "
                             "give the dataset a transform")
        xs.append(x)
        ys.append(_class_index(y, "dataset target"))
    return torch.stack(xs), torch.tensor(ys)


def _hits(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if logits.dim() != 2:
        raise LayerOutputError(f"the network returned shape {tuple(logits.shape)}; accuracy needs class scores "
                               "[batch, classes]")
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    return top[:, 0], top[:, 0] == y, (top == y[:, None]).any(1)


def _device(net):
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def accuracy(net: nn.Module, images, targets=None, *, transform: Optional[Callable] = None, batch_size: int = 32,
             device=None) -> Accuracy:
    """Top-1 and top-5 accuracy of ``net`` on labelled images (see :func:`labelled_images`).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> accuracy(net, torch.rand(4, 3, 2, 2), targets=[0, 1, 2, 0]).total
    4

    Wrap it in :func:`ablate` to measure an edited network, or use :func:`ablation_accuracy`.
    """
    device = torch.device(device) if device is not None else _device(net)
    was_training = net.training
    net.eval()
    n = hit1 = hit5 = 0
    try:
        with torch.inference_mode():
            for x, y in _batches(net, images, targets, transform, batch_size):
                _, h1, h5 = _hits(net(x.to(device)), y.to(device))
                n, hit1, hit5 = n + len(y), hit1 + int(h1.sum()), hit5 + int(h5.sum())
    finally:
        net.train(was_training)
    return Accuracy(n, hit1, hit5)


def ablation_accuracy(net: nn.Module, units, images, targets=None, *, mode: str = "zero", means=None,
                      transform: Optional[Callable] = None, batch_size: int = 32, device=None) -> AblationResult:
    """Accuracy on labelled images without and with the ablation of ``units``, in one pass over the images.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> r = ablation_accuracy(net, {"1": [0, 1, 2]}, torch.rand(4, 3, 2, 2), targets=[0, 1, 2, 0])
    >>> r.before.total, r.after.top1 + r.changed >= 0
    (4, True)

    Each batch runs twice, plain and inside :func:`ablate` (``mode``, ``means`` as there);
    ``images``/``targets`` as :func:`labelled_images`.
    """
    device = torch.device(device) if device is not None else _device(net)
    with ablate(net, units, mode, means=means) as plan:
        pass
    was_training = net.training
    net.eval()
    counts = torch.zeros(6, dtype=torch.long)
    per_class: dict = {}
    try:
        with torch.inference_mode():
            for x, y in _batches(net, images, targets, transform, batch_size):
                x, y = x.to(device), y.to(device)
                p0, a1, a5 = _hits(net(x), y)
                with ablate(net, plan.units, mode, means=_value_table(plan)):
                    p1, b1, b5 = _hits(net(x), y)
                counts += torch.tensor([len(y), int(a1.sum()), int(a5.sum()), int(b1.sum()), int(b5.sum()),
                                        int((p0 != p1).sum())])
                for c, h0, h1 in zip(y.tolist(), a1.tolist(), b1.tolist()):
                    n, s0, s1 = per_class.get(c, (0, 0, 0))
                    per_class[c] = (n + 1, s0 + int(h0), s1 + int(h1))
    finally:
        net.train(was_training)
    n, a1, a5, b1, b5, changed = counts.tolist()
    return AblationResult(Accuracy(n, a1, a5), Accuracy(n, b1, b5), changed, plan.refs, mode, per_class)


def _value_table(plan: Ablation) -> dict:
    return {f"{layer}:{u}": v for layer, us in plan.units.items() for u, v in zip(us, plan.values[layer])}
