"""Probe an early, a late and the last layer of many real timm and torchvision networks.

Besides those three layers, one layer of each layout other than NCHW that the network has
(tokens, channels-last, channels-first tokens) is probed too.

Every network is randomly initialised and run at a small input. The expected unit maps
come from an oracle that does not use neuronlabel's layout rules: the network is run a
second time on a wider (or larger) input, and the dims of each layer's output that grow
with the input are its spatial dims; for tokens, the number of tokens that do not grow is
the prefix count. The raw outputs of the probe pass itself, rearranged by hand following
that oracle, must equal the exemplar maps the probe kept, with the right top-k ids and
scores, finite thresholds, and no hook left behind.

Run with ``OMP_NUM_THREADS=1 pytest -m slow tests/test_compat_sweep.py``: about 2 minutes on two
shared CPU cores. With the default two OpenMP threads on cores that other processes also
use, OpenMP's spinning barriers make each forward pass up to 100x slower (about 20 minutes).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import pytest
import timm
import torch
import torchvision
from torch import nn

import neuronlabel

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

K = 2
N_IMAGES = 4
BATCH = 2


@dataclass(frozen=True)
class Arch:
    """One network to sweep: built at ``size`` x ``size``; ``wide`` is the oracle's second input size
    as a multiple of it, ``rebuild`` when the network is fixed to one input size at construction."""

    lib: str
    name: str
    size: int
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)
    wide: tuple[int, int] = (1, 2)
    rebuild: str = ""

    @property
    def id(self) -> str:
        return "-".join([self.lib, self.name] + [f"{k}={v}" for k, v in self.kwargs.items()])

    def build(self, size: tuple[int, int] | None = None) -> nn.Module:
        kwargs = dict(self.kwargs)
        if size is not None and self.rebuild:
            kwargs[self.rebuild] = size if self.rebuild != "image_size" else size[0]
        elif self.rebuild:
            kwargs[self.rebuild] = self.size if self.rebuild == "image_size" else (self.size, self.size)
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.lib == "timm":
                return timm.create_model(self.name, pretrained=False, **kwargs).eval()
            return torchvision.models.get_model(self.name, weights=None, **kwargs).eval()


def _t(name: str, size: int = 32, wide=(1, 2), fixed: bool = False, **kwargs) -> Arch:
    return Arch("timm", name, size, kwargs, wide, "img_size" if fixed else "")


TIMM = [
    _t("resnet18"), _t("resnet50d"), _t("efficientnet_b0"), _t("tf_efficientnetv2_b0"), _t("mobilenetv2_050"),
    _t("mobilenetv3_small_050"), _t("mobilenetv4_conv_small"), _t("regnetx_002"), _t("regnety_002"),
    _t("regnetz_005"), _t("convnext_atto"), _t("convnext_atto", conv_mlp=False),
    _t("vit_tiny_patch16_224", fixed=True), _t("deit_tiny_distilled_patch16_224", fixed=True),
    _t("deit3_small_patch16_224", fixed=True), _t("vit_small_patch14_reg4_dinov2", 42, fixed=True),
    _t("vit_pwee_patch16_reg1_gap_256", fixed=True), _t("beit_base_patch16_224", fixed=True),
    _t("eva02_tiny_patch14_224", 42, fixed=True), _t("swin_tiny_patch4_window7_224", fixed=True),
    _t("mixer_s16_224", fixed=True), _t("gmlp_ti16_224", fixed=True), _t("resmlp_12_224", fixed=True),
    _t("levit_128s", 64, fixed=True), _t("densenet121"), _t("inception_v3", 75), _t("xception41"),
    _t("ghostnet_050"), _t("rexnet_100"), _t("cait_xxs24_224", fixed=True), _t("coat_lite_tiny", fixed=True),
    _t("pit_ti_224", 64, fixed=True), _t("poolformer_s12"), _t("efficientformerv2_s0", 64, fixed=True),
    _t("edgenext_xx_small", 64), _t("fastvit_t8", 64), _t("maxvit_pico_rw_256", 64, fixed=True),
    _t("coatnet_nano_rw_224", 64, fixed=True), _t("twins_pcpvt_small", 64), _t("twins_svt_small", 64),
    _t("pvt_v2_b0"), _t("nf_resnet26"), _t("dla34"), _t("hrnet_w18_small", 64), _t("mobilevit_xxs", 64),
    _t("tnt_s_patch16_224", fixed=True), _t("xcit_nano_12_p16_224", fixed=True), _t("convit_tiny", wide=(2, 2), fixed=True),
    _t("crossvit_tiny_240", 120, wide=(2, 2), fixed=True), _t("volo_d1_224", 64, fixed=True),
    _t("mambaout_femto"), _t("sequencer2d_s"), _t("gcvit_xxtiny", 64, fixed=True), _t("davit_tiny", 64),
    _t("focalnet_tiny_srf", 64), _t("efficientvit_b0", 64), _t("efficientvit_m0", 64, fixed=True),
    _t("samvit_base_patch16_224", 64, fixed=True), _t("inception_next_atto"), _t("repvit_m1"), _t("starnet_s1"),
    _t("ese_vovnet19b_dw"), _t("cspresnet50"), _t("resnest14d"), _t("res2net50_14w_8s"), _t("dpn48b"),
    _t("vgg11"), _t("hgnetv2_b0"), _t("lcnet_050"), _t("selecsls42b"), _t("caformer_s18"), _t("mobileone_s0"),
]

_TV_SIZES = {"inception_v3": 75, "alexnet": 64, "squeezenet1_0": 64, "squeezenet1_1": 64, "maxvit_t": 224}


def _tv(name: str) -> Arch:
    if name.startswith("vit_"):
        patch = int(name.rsplit("_", 1)[1])
        return Arch("torchvision", name, 2 * patch, {}, (2, 2), "image_size")
    if name == "maxvit_t":
        return Arch("torchvision", name, 224, {}, (2, 2), "input_size")
    return Arch("torchvision", name, _TV_SIZES.get(name, 32))


TORCHVISION = [_tv(name) for name in torchvision.models.list_models(module=torchvision.models)]
ARCHS = TIMM + TORCHVISION


def _capture(net: nn.Module, names: list[str], fn):
    modules = dict(net.named_modules())

    def hook(name):
        def call(module, inputs, output):
            fn(name, neuronlabel.adapters.select_tensor(output, name))
        return call

    return [modules[name].register_forward_hook(hook(name)) for name in names]


def _wide_shapes(arch: Arch, net: nn.Module, names: list[str]) -> tuple[dict, tuple[int, int]]:
    """Output shapes of ``names`` for one image of the wider (or larger) input."""
    rh, rw = arch.wide
    hw = (arch.size * rh, arch.size * rw)
    wide_net = arch.build(hw) if arch.rebuild else net
    shapes: dict = {}
    handles = _capture(wide_net, names, lambda name, t: shapes.setdefault(name, tuple(t.shape)))
    try:
        with torch.inference_mode():
            wide_net(torch.rand(1, 3, *hw))
    finally:
        for h in handles:
            h.remove()
    return shapes, (rh, rw)


def _oracle(shape: tuple, wide: tuple, ratio: tuple[int, int]) -> tuple:
    """('flat',) | ('nchw',) | ('nhwc',) | ('tokens', prefix, g) | ('ctokens', g), from how dims grow."""
    changed = [d for d in range(1, len(shape)) if shape[d] != wide[d]]
    if len(shape) == 2:
        assert not changed, (shape, wide)
        return ("flat",)
    if len(shape) == 3:
        if not changed:
            assert shape[1] == 1, f"a 3-d output {shape} that does not grow with the input"
            return ("tokens", 0, 1)
        assert len(changed) == 1, (shape, wide)
        dim = changed[0]
        patches = (wide[dim] - shape[dim]) / (ratio[0] * ratio[1] - 1)
        prefix = shape[dim] - patches
        g = math.isqrt(int(patches))
        assert patches == int(patches) and g * g == patches, (shape, wide)
        if dim == 1:
            return ("tokens", int(prefix), g)
        assert prefix == 0, (shape, wide)
        return ("ctokens", g)
    assert len(shape) == 4, shape
    if changed in ([], [3], [2, 3]):
        return ("nchw",)
    assert changed in ([2], [1, 2]), (shape, wide)
    return ("nhwc",)


def _by_hand(raw: torch.Tensor, kind: tuple) -> torch.Tensor:
    if kind[0] == "flat":
        return raw[:, :, None, None]
    if kind[0] == "nchw":
        return raw
    if kind[0] == "nhwc":
        b, h, w, c = raw.shape
        maps = raw.new_zeros(b, c, h, w)
        for i in range(h):
            for j in range(w):
                maps[:, :, i, j] = raw[:, i, j, :]
        return maps
    if kind[0] == "tokens":
        _, prefix, g = kind
        maps = raw.new_zeros(raw.shape[0], raw.shape[2], g, g)
        for i in range(g):
            for j in range(g):
                maps[:, :, i, j] = raw[:, prefix + i * g + j, :]
        return maps
    g = kind[1]
    maps = raw.new_zeros(raw.shape[0], raw.shape[1], g, g)
    for i in range(g):
        for j in range(g):
            maps[:, :, i, j] = raw[:, :, i * g + j]
    return maps


def _choose(infos, wide: dict) -> list:
    """An early and a late layer with a spatial grid, the last layer, and one layer of each other layout.

    Layers that fold windows into the batch on the wider input (one window per image here,
    as in EfficientViT-M or DaViT at small sizes) are left out: the oracle cannot see their grid.
    """
    usable = [i for i in infos if i.units is not None and wide.get(i.name, (None,))[0] == 1]
    spatial = [i for i in usable if i.map_size[0] * i.map_size[1] > 1]
    assert spatial, "no layer with a spatial grid: " + ", ".join(str(i) for i in infos[:20])
    chosen = {spatial[len(spatial) // 4].name, spatial[-1].name, usable[-1].name}
    for kind in sorted({i.layout for i in spatial} - {"nchw"}):
        of_kind = [i for i in spatial if i.layout == kind]
        chosen.add(of_kind[len(of_kind) // 2].name)
    return [i for i in usable if i.name in chosen]


@pytest.mark.parametrize("arch", ARCHS, ids=[a.id for a in ARCHS])
def test_probe_real_architecture(arch: Arch):
    net = arch.build()
    size = arch.size
    infos = neuronlabel.layers(net, input_size=(3, size, size))
    neuronlabel.assert_no_hooks(net)
    wide, ratio = _wide_shapes(arch, net, [i.name for i in infos if i.units is not None])
    chosen = _choose(infos, wide)
    names = [i.name for i in chosen]

    images = torch.rand(N_IMAGES, 3, size, size, generator=torch.Generator().manual_seed(0))
    raw: dict = {}
    handles = _capture(net, names, lambda name, t: raw.setdefault(name, []).append(t.clone()))
    try:
        result = neuronlabel.probe(net, images, layers=names, k=K, batch_size=BATCH, progress=False)
    finally:
        for h in handles:
            h.remove()
    neuronlabel.assert_no_hooks(net)

    for info in chosen:
        out = torch.cat(raw[info.name])
        kind = _oracle(tuple(out.shape), wide[info.name], ratio)
        expected = _by_hand(out, kind)
        n, units, h, w = expected.shape
        where = f"{arch.id} {info.name} {kind} raw {tuple(out.shape)}"
        assert n == N_IMAGES, where
        assert (info.units, info.map_size) == (units, (h, w)), where
        ex = result[info.name]
        assert ex.ids.shape == (units, K) and ex.scores.shape == (units, K), where
        assert ex.maps.shape == (units, K, h, w), where
        finite = torch.isfinite(expected).all()
        peaks = expected.amax(dim=(2, 3)).t()
        if finite:
            assert torch.equal(ex.scores, peaks.topk(K, dim=1).values), where
        assert torch.equal(ex.scores, peaks.gather(1, ex.ids)), where
        assert torch.equal(ex.maps, expected[ex.ids, torch.arange(units)[:, None]]), where
        values = expected.transpose(0, 1).reshape(units, -1)
        if finite:
            slack = ex.threshold_error + 1e-5
            assert torch.isfinite(ex.thresholds).all(), where
            assert (ex.thresholds >= values.amin(1) - slack).all(), where
            assert (ex.thresholds <= values.amax(1) + slack).all(), where
