"""Attributions with captum: which input pixels drive a unit, and which units drive a prediction.

>>> import torch, torchvision
>>> from neuronlabel.attribution import unit_attributions
>>> net = torchvision.models.resnet18().eval()
>>> unit_attributions(net, "layer3", 5, torch.rand(2, 3, 64, 64)).shape
torch.Size([2, 64, 64])
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .adapters import detect_layout, select_tensor, to_unit_maps
from .errors import InputError, UnknownLayerError, did_you_mean

METHODS = ("gradient", "integrated_gradients", "gradient_shap")


def _module(net: nn.Module, layer: str) -> nn.Module:
    modules = dict(net.named_modules())
    if layer not in modules or not layer:
        raise UnknownLayerError(f"{type(net).__name__} has no layer {layer!r}." + did_you_mean(layer, modules))
    return modules[layer]


def _unit_maps(net, layer, output, hw):
    tensor = select_tensor(output, layer)
    return to_unit_maps(tensor, detect_layout(tensor, hw, net, _module(net, layer), layer))


def unit_attributions(net: nn.Module, layer: str, unit: int, inputs: torch.Tensor, method: str = "gradient",
                      steps: int = 16) -> torch.Tensor:
    """Input attributions ``[n, H, W]`` (summed over colour channels, as captum draws them) for one unit.

    The unit's scalar per image is the spatial maximum of its map, the statistic its exemplars
    are ranked by. ``method``: captum ``NeuronGradient`` ("gradient"), ``NeuronIntegratedGradients``
    ("integrated_gradients", ``steps`` steps from a black image) or ``NeuronGradientShap``.
    """
    if method not in METHODS:
        raise InputError(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}")
    if inputs.dim() != 4:
        raise InputError(f"inputs must be model inputs [n, 3, H, W], got shape {tuple(inputs.shape)}")
    module = _module(net, layer)
    hw = tuple(inputs.shape[-2:])

    def selector(output):
        maps = _unit_maps(net, layer, output, hw)
        if not 0 <= unit < maps.shape[1]:
            raise InputError(f"layer {layer!r} has units 0..{maps.shape[1] - 1}, not {unit}")
        return maps[:, unit].amax(dim=(1, 2))

    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            return _neuron_attribution(net, module, selector, inputs, method, steps)
    finally:
        net.train(was_training)


def _neuron_attribution(net, module, selector, inputs, method: str, steps: int) -> torch.Tensor:
    from captum.attr import NeuronGradient, NeuronGradientShap, NeuronIntegratedGradients

    x = inputs.detach().clone().requires_grad_(True)
    if method == "gradient":
        attr = NeuronGradient(net, module).attribute(x, neuron_selector=selector)
    elif method == "integrated_gradients":
        attr = NeuronIntegratedGradients(net, module).attribute(x, neuron_selector=selector, n_steps=steps,
                                                                internal_batch_size=max(1, len(x)))
    else:
        attr = NeuronGradientShap(net, module).attribute(x, neuron_selector=selector,
                                                         baselines=torch.zeros_like(x[:1]), n_samples=steps)
    return attr.detach().sum(dim=1)


def unit_contributions(net: nn.Module, layer: str, inputs: torch.Tensor, target: Optional[int] = None):
    """Per-unit gradient x activation for the prediction on ``inputs`` [1, 3, H, W]: ``(scores [U], target)``.

    captum ``LayerGradientXActivation`` on the target logit (default: the predicted class),
    summed over each unit's map.
    """
    from captum.attr import LayerGradientXActivation

    if inputs.dim() == 3:
        inputs = inputs.unsqueeze(0)
    if inputs.dim() != 4 or inputs.shape[0] != 1:
        raise InputError(f"explain one image at a time: inputs must be [3, H, W] or [1, 3, H, W], "
                         f"got {tuple(inputs.shape)}")
    module = _module(net, layer)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            inputs = inputs.detach().clone()
            if target is None:
                with torch.no_grad():
                    target = int(net(inputs).argmax(1))
            attr = LayerGradientXActivation(net, module).attribute(inputs, target=target)
    finally:
        net.train(was_training)
    maps = _unit_maps(net, layer, attr, tuple(inputs.shape[-2:]))
    return maps.detach().sum(dim=(2, 3))[0], target


def explain(report, image: torch.Tensor, layer: Optional[str] = None, target: Optional[int] = None,
            top: int = 10, net: Optional[nn.Module] = None, image_id: Optional[int] = None,
            class_names: Optional[Sequence[str]] = None) -> dict:
    """The labelled units of ``layer`` that contribute most to the prediction for one image.

    >>> explanation = explain(report, image)                           # doctest: +SKIP
    >>> explanation["contributions"][0]                                # doctest: +SKIP
    ('blocks.6:17', 'dog faces', 0.83)

    ``image`` is one model input ``[3, H, W]``, or an image file path or PIL image, which is
    preprocessed with the network's own data config. The result is also appended to
    ``report.explanations`` so the HTML report shows it.
    """
    net = net if net is not None else getattr(report, "net", None)
    if net is None:
        raise InputError("explain needs the network: pass net=..., or use a report made by label_model in "
                         "this session")
    layers = report.layer_names()
    layer = layer or layers[-1]
    if layer not in layers:
        raise UnknownLayerError(f"the report has no layer {layer!r}; it has {layers}" + did_you_mean(layer, layers))
    scores, target = unit_contributions(net, layer, _model_input(image, net), target)
    order = torch.argsort(scores, descending=True)[:top].tolist()
    contributions = []
    for u in order:
        ref = f"{layer}:{u}"
        label = report[ref].label if ref in report else ""
        contributions.append((ref, label, float(scores[u])))
    names = class_names or getattr(report, "class_names", None)
    entry = {"image_id": -1 if image_id is None else int(image_id), "target": int(target),
             "target_name": names[target] if names is not None and target < len(names) else str(target),
             "contributions": contributions}
    report.explanations.append(entry)
    return entry


def _model_input(image, net: nn.Module) -> torch.Tensor:
    """A model input tensor from a tensor, an image file path or a PIL image (preprocessed for ``net``)."""
    import os

    from PIL import Image

    from .errors import ProbeSourceError
    from .sources import data_config, load_rgb, transform_from_config

    if isinstance(image, torch.Tensor):
        return image
    if isinstance(image, (str, os.PathLike)):
        try:
            image = load_rgb(image)
        except FileNotFoundError:
            raise InputError(f"explain: no image file {str(image)!r}") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise ProbeSourceError(f"explain: cannot read image {str(image)!r}: {err}") from err
    if isinstance(image, Image.Image):
        return transform_from_config(data_config(net))(image.convert("RGB"))
    raise InputError(f"explain takes one image: a model input tensor [3, H, W], an image file path or a PIL image; "
                     f"got {type(image).__name__}")
