"""Output adapters on real timm and torchvision architectures (random weights, small inputs).

Each case runs the real network, captures a layer's raw output with a plain forward hook,
and checks the layout neuronlabel picks (kind, prefix tokens, grid) and that every unit map
value is the raw value it should be: ``maps[:, c, i, j] == tokens[:, prefix + i*w + j, c]``.
"""

from __future__ import annotations

import functools

import pytest
import timm
import torch
import torchvision
from torch import nn

import neuronlabel
from neuronlabel.adapters import Layout, detect_layout, select_tensor, to_unit_maps
from neuronlabel.errors import InputError, LayerOutputError, NeuronLabelError


def raw_outputs(net: nn.Module, names: list[str], x: torch.Tensor) -> dict:
    modules = dict(net.named_modules())
    seen: dict = {}
    handles = [modules[n].register_forward_hook(lambda m, i, o, n=n: seen.setdefault(n, o)) for n in names]
    try:
        with torch.inference_mode():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def adapt(net: nn.Module, name: str, x: torch.Tensor):
    """(raw tensor, layout, unit maps) for one layer of ``net`` on input ``x``."""
    out = raw_outputs(net, [name], x)[name]
    tensor = select_tensor(out, name)
    layout = detect_layout(tensor, tuple(x.shape[-2:]), net, dict(net.named_modules())[name], name)
    return tensor, layout, to_unit_maps(tensor, layout)


def assert_tokens_match(tokens: torch.Tensor, maps: torch.Tensor, prefix: int, grid: tuple[int, int]) -> None:
    b, n, c = tokens.shape
    h, w = grid
    assert maps.shape == (b, c, h, w)
    assert n == prefix + h * w
    for i in range(h):
        for j in range(w):
            assert torch.equal(maps[:, :, i, j], tokens[:, prefix + i * w + j, :]), (i, j)


def assert_nhwc_match(raw: torch.Tensor, maps: torch.Tensor) -> None:
    b, h, w, c = raw.shape
    assert maps.shape == (b, c, h, w)
    for i in range(h):
        for j in range(w):
            assert torch.equal(maps[:, :, i, j], raw[:, i, j, :]), (i, j)


@functools.lru_cache(maxsize=None)
def _cached(lib: str, name: str, kwargs: tuple) -> nn.Module:
    torch.manual_seed(0)
    if lib == "timm":
        return timm.create_model(name, pretrained=False, **dict(kwargs)).eval()
    return torchvision.models.get_model(name, weights=None, **dict(kwargs)).eval()


def timm_net(name: str, **kwargs) -> nn.Module:
    """A randomly initialised timm network, shared between tests (they only read it)."""
    return _cached("timm", name, tuple(sorted(kwargs.items())))


def tv_net(name: str, **kwargs) -> nn.Module:
    return _cached("torchvision", name, tuple(sorted(kwargs.items())))


def images(h: int, w: int, n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(1))


# ---------------------------------------------------------------- conv NCHW, flat

def test_resnet_conv_layers_are_nchw_on_a_non_square_input():
    net = tv_net("resnet18")
    x = images(64, 48)
    raw, layout, maps = adapt(net, "layer1", x)
    assert layout == Layout("nchw")
    assert raw.shape == (2, 64, 16, 12)
    assert maps is raw
    raw, layout, maps = adapt(net, "layer4.1.conv2", x)
    assert layout == Layout("nchw") and maps.shape == (2, 512, 2, 2)


def test_linear_and_pooled_outputs_are_one_by_one_maps():
    net = tv_net("resnet18")
    raw, layout, maps = adapt(net, "fc", images(32, 32))
    assert layout == Layout("flat")
    assert maps.shape == (2, 1000, 1, 1)
    assert torch.equal(maps[:, :, 0, 0], raw)
    raw, layout, maps = adapt(net, "avgpool", images(32, 32))
    assert layout == Layout("nchw") and maps.shape == (2, 512, 1, 1)


# ---------------------------------------------------------------- ViT tokens

def test_timm_vit_drops_the_class_token():
    net = timm_net("vit_tiny_patch16_224", img_size=64)
    for name in ("patch_embed", "blocks.0", "blocks.11", "norm"):
        tokens, layout, maps = adapt(net, name, images(64, 64))
        prefix = 0 if name == "patch_embed" else 1
        assert layout == Layout("tokens", prefix, (4, 4)), name
        assert_tokens_match(tokens, maps, prefix, (4, 4))


def test_timm_vit_qkv_and_mlp_hidden_tokens_keep_their_own_channel_count():
    net = timm_net("vit_tiny_patch16_224", img_size=64)
    tokens, layout, maps = adapt(net, "blocks.3.attn.qkv", images(64, 64))
    assert layout == Layout("tokens", 1, (4, 4)) and maps.shape == (2, 3 * 192, 4, 4)
    tokens, layout, maps = adapt(net, "blocks.3.mlp.fc1", images(64, 64))
    assert layout == Layout("tokens", 1, (4, 4)) and maps.shape == (2, 4 * 192, 4, 4)
    assert_tokens_match(tokens, maps, 1, (4, 4))


def test_torchvision_vit_encoder_layers_without_timm_metadata():
    net = tv_net("vit_b_16", image_size=64)
    for name in ("encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_11", "encoder.ln",
                 "encoder.layers.encoder_layer_5.mlp"):
        tokens, layout, maps = adapt(net, name, images(64, 64))
        assert layout == Layout("tokens", 1, (4, 4)), name
        assert_tokens_match(tokens, maps, 1, (4, 4))
    raw, layout, maps = adapt(net, "conv_proj", images(64, 64))
    assert layout == Layout("nchw") and maps.shape == (2, 768, 4, 4)


def test_torchvision_vit_self_attention_tuple_output():
    net = tv_net("vit_b_16", image_size=64)
    name = "encoder.layers.encoder_layer_2.self_attention"
    out = raw_outputs(net, [name], images(64, 64))[name]
    assert isinstance(out, tuple) and out[1] is None
    tokens, layout, maps = adapt(net, name, images(64, 64))
    assert torch.equal(tokens, out[0])
    assert layout == Layout("tokens", 1, (4, 4))
    assert_tokens_match(tokens, maps, 1, (4, 4))


def test_distilled_deit_drops_class_and_distillation_tokens():
    net = timm_net("deit_tiny_distilled_patch16_224", img_size=64)
    tokens, layout, maps = adapt(net, "blocks.6", images(64, 64))
    assert tokens.shape == (2, 2 + 16, 192)
    assert layout == Layout("tokens", 2, (4, 4))
    assert_tokens_match(tokens, maps, 2, (4, 4))


def test_register_tokens_are_dropped():
    assert "vit_small_patch14_reg4_dinov2" in timm.list_models("*reg4*")
    net = timm_net("vit_small_patch14_reg4_dinov2", img_size=56)
    tokens, layout, maps = adapt(net, "blocks.4", images(56, 56))
    assert tokens.shape == (2, 1 + 4 + 16, 384)
    assert layout == Layout("tokens", 5, (4, 4))
    assert_tokens_match(tokens, maps, 5, (4, 4))


def test_non_square_grid_from_a_non_square_timm_vit():
    net = timm_net("vit_tiny_patch16_224", img_size=(80, 48))
    tokens, layout, maps = adapt(net, "blocks.2", images(80, 48))
    assert tokens.shape == (2, 1 + 5 * 3, 192)
    assert layout == Layout("tokens", 1, (5, 3))
    assert_tokens_match(tokens, maps, 1, (5, 3))


@pytest.mark.parametrize("hw, grid", [((96, 48), (6, 3)), ((48, 112), (3, 7)), ((64, 64), (4, 4))])
def test_dynamic_size_vit_reads_the_grid_of_each_input(hw, grid):
    net = timm_net("deit_tiny_distilled_patch16_224", img_size=64, dynamic_img_size=True)
    tokens, layout, maps = adapt(net, "blocks.1", images(*hw))
    assert layout == Layout("tokens", 2, grid)
    assert_tokens_match(tokens, maps, 2, grid)


def test_tokens_of_a_size_other_than_the_layouts_are_refused():
    net = timm_net("vit_tiny_patch16_224", img_size=64, dynamic_img_size=True)
    _, layout, _ = adapt(net, "blocks.0", images(64, 64))
    bigger = raw_outputs(net, ["blocks.0"], images(80, 80))["blocks.0"]
    with pytest.raises(LayerOutputError, match="expected 16 patch tokens after 1 prefix tokens, got 25"):
        to_unit_maps(bigger, layout)


def test_cait_patch_blocks_have_no_class_token_but_the_class_blocks_do():
    net = timm_net("cait_xxs24_224", img_size=64)
    tokens, layout, maps = adapt(net, "blocks.3", images(64, 64))
    assert layout == Layout("tokens", 0, (4, 4))
    assert_tokens_match(tokens, maps, 0, (4, 4))
    tokens, layout, maps = adapt(net, "blocks_token_only.0.norm1", images(64, 64))
    assert layout == Layout("tokens", 1, (4, 4))
    assert_tokens_match(tokens, maps, 1, (4, 4))


def test_cait_at_its_native_size_does_not_mistake_a_patch_token_for_a_prefix():
    # 196 patch tokens: reading one as a prefix would leave a 13x15 grid
    net = timm_net("cait_xxs24_224")
    tokens, layout, maps = adapt(net, "blocks.0", images(224, 224, n=1))
    assert layout == Layout("tokens", 0, (14, 14))


def test_coat_serial_blocks_with_a_class_token_down_to_a_one_by_one_grid():
    net = timm_net("coat_lite_tiny", img_size=32)
    expected = {"serial_blocks1.0": (8, 8), "serial_blocks2.0": (4, 4), "serial_blocks3.0": (2, 2),
                "serial_blocks4.0": (1, 1)}
    for name, grid in expected.items():
        tokens, layout, maps = adapt(net, name, images(32, 32))
        assert layout == Layout("tokens", 1, grid), name
        assert_tokens_match(tokens, maps, 1, grid)


# ---------------------------------------------------------------- token MLPs and LeViT

def test_mixer_tokens_have_no_prefix():
    net = timm_net("mixer_s16_224", img_size=64)
    for name in ("stem", "blocks.0", "blocks.7", "norm"):
        tokens, layout, maps = adapt(net, name, images(64, 64))
        assert layout == Layout("tokens", 0, (4, 4)), name
        assert_tokens_match(tokens, maps, 0, (4, 4))


def test_mixer_token_mixing_mlp_is_read_channels_first():
    net = timm_net("mixer_s16_224", img_size=64)
    raw, layout, maps = adapt(net, "blocks.2.mlp_tokens", images(64, 64))
    assert raw.shape == (2, 512, 16)
    assert layout == Layout("ctokens", 0, (4, 4))
    for i in range(4):
        for j in range(4):
            assert torch.equal(maps[:, :, i, j], raw[:, :, i * 4 + j])


def test_mixer_token_mixing_hidden_layer_has_no_grid():
    net = timm_net("mixer_s16_224", img_size=64)
    raw = raw_outputs(net, ["blocks.2.mlp_tokens.fc1"], images(64, 64))["blocks.2.mlp_tokens.fc1"]
    assert raw.shape == (2, 512, 256)
    with pytest.raises(LayerOutputError, match=r"blocks\.2\.mlp_tokens\.fc1.*512 tokens form no patch grid"):
        detect_layout(raw, (64, 64), net, None, "blocks.2.mlp_tokens.fc1")


def test_resmlp_and_gmlp_token_projections_are_read_channels_first():
    for name, kwargs, layer, channels in [("resmlp_12_224", {}, "blocks.3.linear_tokens", 384),
                                          ("gmlp_ti16_224", {}, "blocks.3.mlp_channels.gate.proj", 384)]:
        net = timm_net(name, img_size=64, **kwargs)
        raw, layout, maps = adapt(net, layer, images(64, 64))
        assert raw.shape == (2, channels, 16), name
        assert layout == Layout("ctokens", 0, (4, 4)), name
        assert torch.equal(maps[:, :, 1, 2], raw[:, :, 1 * 4 + 2])


def test_levit_tokens_shrink_per_stage_down_to_one():
    net = timm_net("levit_128s", img_size=64)
    expected = {"stages.0": (4, 4), "stages.1": (2, 2), "stages.2": (1, 1), "stages.1.blocks.0.mlp.ln1": (2, 2)}
    for name, grid in expected.items():
        tokens, layout, maps = adapt(net, name, images(64, 64))
        assert layout == Layout("tokens", 0, grid), name
        assert_tokens_match(tokens, maps, 0, grid)
    raw, layout, maps = adapt(net, "stem", images(64, 64))
    assert layout == Layout("nchw") and maps.shape == (2, 128, 4, 4)


# ---------------------------------------------------------------- channels-last

def test_timm_swin_stages_are_nhwc():
    net = timm_net("swin_tiny_patch4_window7_224", img_size=64, window_size=4)
    expected = {"patch_embed": (16, 16, 96), "layers.0": (16, 16, 96), "layers.1": (8, 8, 192),
                "layers.3": (2, 2, 768), "norm": (2, 2, 768), "layers.2.blocks.1.mlp.fc1": (16, 1536)}
    for name, shape in expected.items():
        raw, layout, maps = adapt(net, name, images(64, 64))
        assert raw.shape[1:] == shape, name
        if len(shape) == 3:
            assert layout == Layout("nhwc"), name
            assert_nhwc_match(raw, maps)
        else:
            assert layout == Layout("tokens", 0, (4, 4)), name
            assert_tokens_match(raw, maps, 0, (4, 4))


def test_torchvision_swin_features_are_nhwc_until_the_final_permute():
    net = tv_net("swin_t")
    expected = {"features.0": "nhwc", "features.1": "nhwc", "features.2": "nhwc", "features.7": "nhwc",
                "features.1.0.mlp": "nhwc", "norm": "nhwc", "permute": "nchw"}
    for name, kind in expected.items():
        raw, layout, maps = adapt(net, name, images(64, 64))
        assert layout == Layout(kind), name
        if kind == "nhwc":
            assert_nhwc_match(raw, maps)
    raw, layout, maps = adapt(net, "features.1", images(64, 64))
    assert maps.shape == (2, 96, 16, 16)


def test_convnext_stages_are_nchw_and_block_internals_nhwc():
    net = timm_net("convnext_tiny")
    x = images(64, 64)
    raw, layout, maps = adapt(net, "stages.0", x)
    assert layout == Layout("nchw") and maps.shape == (2, 96, 16, 16)
    raw, layout, maps = adapt(net, "stages.1.blocks.0", x)
    assert layout == Layout("nchw") and maps.shape == (2, 192, 8, 8)
    for name in ("stages.0.blocks.0.mlp.fc1", "stages.0.blocks.0.norm", "stages.2.blocks.1.mlp"):
        raw, layout, maps = adapt(net, name, x)
        assert layout == Layout("nhwc"), name
        assert_nhwc_match(raw, maps)
    assert adapt(net, "stages.0.blocks.0.mlp.fc1", x)[2].shape == (2, 384, 16, 16)


def test_torchvision_convnext_block_internals():
    net = tv_net("convnext_tiny")
    x = images(64, 64)
    expected = {"features.1.0": "nchw", "features.1.0.block.0": "nchw", "features.1.0.block.2": "nhwc",
                "features.1.0.block.3": "nhwc", "features.1.0.block.5": "nhwc", "features.1.0.block.6": "nchw"}
    for name, kind in expected.items():
        raw, layout, maps = adapt(net, name, x)
        assert layout == Layout(kind), name
        if kind == "nhwc":
            assert_nhwc_match(raw, maps)


def test_convnext_when_channels_equal_height_and_width():
    # 160x160 input: stage 0 of convnext_atto is 40 channels on a 40x40 grid, in both layouts
    net = timm_net("convnext_atto", conv_mlp=False)
    x = images(160, 160, n=1)
    expected = {"stem": "nchw", "stages.0": "nchw", "stages.0.blocks.0": "nchw",
                "stages.0.blocks.0.conv_dw": "nchw", "stages.0.blocks.0.norm": "nhwc",
                "stages.0.blocks.0.mlp.fc1": "nhwc", "stages.0.blocks.0.mlp.fc2": "nhwc"}
    for name, kind in expected.items():
        raw, layout, maps = adapt(net, name, x)
        assert raw.shape[1:3] == (40, 40), name
        assert layout == Layout(kind), name


def test_a_declared_layout_overrides_detection():
    torch.manual_seed(0)
    net = timm.create_model("convnext_atto", pretrained=False, conv_mlp=False).eval()
    x = images(160, 160, n=1)
    net.stages[0].blocks[0].mlp.neuronlabel_layout = "nhwc"
    raw, layout, maps = adapt(net, "stages.0.blocks.0.mlp", x)
    assert layout == Layout("nhwc")
    assert_nhwc_match(raw, maps)
    net.stages[0].blocks[0].mlp.neuronlabel_layout = "flat"
    with pytest.raises(LayerOutputError, match="neuronlabel_layout='flat'.*1, 40, 40, 40"):
        adapt(net, "stages.0.blocks.0.mlp", x)


def test_window_partitions_and_split_heads_are_refused():
    net = tv_net("maxvit_t")
    name = "blocks.0.layers.0.layers.window_attention.attn_layer"
    raw = raw_outputs(net, [name], images(224, 224, n=1))[name]
    assert raw.shape == (1, 64, 49, 64)  # (batch, windows, tokens per window, channels)
    with pytest.raises(LayerOutputError, match=r"\(1, 64, 49, 64\), which is neither"):
        detect_layout(raw, (224, 224), net, None, name)
    vit = timm_net("vit_pwee_patch16_reg1_gap_256", img_size=32)
    raw = raw_outputs(vit, ["blocks.0.q_norm"], images(32, 32))["blocks.0.q_norm"]
    assert raw.shape == (2, 1 + 4, 4, 64)  # (batch, tokens, heads, head dim)
    with pytest.raises(LayerOutputError, match="blocks.0.q_norm"):
        detect_layout(raw, (32, 32), vit, None, "blocks.0.q_norm")


# ---------------------------------------------------------------- tuples, lists, dicts

class _Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Conv2d(3, 8, 16, 16)
        self.lstm = nn.LSTM(8, 12, batch_first=True)

    def forward(self, x):
        return self.lstm(self.embed(x).flatten(2).transpose(1, 2))


def test_lstm_tuple_output_uses_the_sequence():
    net = _Recurrent().eval()
    out = raw_outputs(net, ["lstm"], images(64, 32))["lstm"]
    assert isinstance(out, tuple) and isinstance(out[1], tuple)
    tokens, layout, maps = adapt(net, "lstm", images(64, 32))
    assert torch.equal(tokens, out[0])
    assert layout == Layout("tokens", 0, (4, 2))
    assert_tokens_match(tokens, maps, 0, (4, 2))


class _DictHead(nn.Module):
    def __init__(self, keys):
        super().__init__()
        self.keys = keys
        self.conv = nn.Conv2d(3, 6, 8, 8)

    def forward(self, x):
        y = self.conv(x)
        return {k: y * (i + 1) for i, k in enumerate(self.keys)}


def test_dict_outputs():
    x = images(32, 32)
    only = _DictHead(["logits"]).eval()
    raw = raw_outputs(only, [""], x)[""]
    assert select_tensor(raw) is raw["logits"]
    both = _DictHead(["aux", "out"]).eval()
    raw = raw_outputs(both, [""], x)[""]
    assert select_tensor(raw) is raw["out"]
    with pytest.raises(LayerOutputError, match=r"dict with keys \['a', 'b'\]"):
        select_tensor(raw_outputs(_DictHead(["a", "b"]).eval(), [""], x)[""], "head")


def test_torchvision_feature_extractor_dict_with_two_maps_is_refused():
    from torchvision.models.feature_extraction import create_feature_extractor

    net = create_feature_extractor(tv_net("resnet18"), {"layer1": "early", "layer4": "late"})
    with torch.inference_mode():
        out = net(images(32, 32))
    assert set(out) == {"early", "late"}
    with pytest.raises(LayerOutputError, match=r"'extractor'.*\['early', 'late'\]"):
        select_tensor(out, "extractor")


def test_timm_features_only_list_uses_the_first_map():
    net = timm_net("resnet18", features_only=True)
    with torch.inference_mode():
        out = net(images(64, 64))
    assert isinstance(out, list) and len(out) == 5
    assert select_tensor(out) is out[0]


def test_multihead_attention_module_returns_output_and_weights():
    attn = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    q = torch.rand(2, 1 + 3 * 3, 16)
    out, weights = attn(q, q, q)
    picked = select_tensor((out, weights))
    assert picked is out
    layout = detect_layout(picked, (48, 48))
    assert layout == Layout("tokens", 1, (3, 3))
    assert_tokens_match(picked, to_unit_maps(picked, layout), 1, (3, 3))


# ---------------------------------------------------------------- no rule fits

@pytest.mark.parametrize("output, message", [
    (torch.tensor(0.5), r"shape \(\).*no units"),
    (torch.rand(4), r"shape \(4,\).*no units"),
    (torch.rand(2, 3, 4, 4, 4), r"5-d tensor \(2, 3, 4, 4, 4\)"),
])
def test_outputs_without_units_raise_layer_output_error(output, message):
    with pytest.raises(LayerOutputError, match=message):
        detect_layout(output, (32, 32), layer="head")


def test_outputs_without_a_tensor_raise_layer_output_error():
    with pytest.raises(LayerOutputError, match=r"'pool'.*\['NoneType', 'int'\]"):
        select_tensor((None, 3), "pool")
    with pytest.raises(LayerOutputError, match="returned str"):
        select_tensor("logits", "head")


def test_scalar_loss_layer_of_a_real_network_is_refused():
    class WithLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torchvision.models.resnet18()
            self.loss = nn.CrossEntropyLoss()

        def forward(self, x):
            return self.loss(self.net(x), torch.zeros(x.shape[0], dtype=torch.long))

    net = WithLoss().eval()
    out = raw_outputs(net, ["loss"], images(32, 32))["loss"]
    assert out.dim() == 0
    with pytest.raises(LayerOutputError, match="'loss'"):
        detect_layout(out, (32, 32), net, net.loss, "loss")
    assert issubclass(LayerOutputError, (NeuronLabelError, ValueError))


# ---------------------------------------------------------------- neuronlabel.layers()

def test_layers_flags_shared_modules_and_window_batches():
    swin = {i.name: i for i in neuronlabel.layers(timm_net("swin_tiny_patch4_window7_224", img_size=64,
                                                                 window_size=4), input_size=(3, 64, 64))}
    attn = swin["layers.0.blocks.0.attn"]
    assert attn.units is None and "not the batch" in attn.note
    assert (swin["layers.0"].layout, swin["layers.0"].units, swin["layers.0"].map_size) == ("nhwc", 96, (16, 16))
    resnet = {i.name: i for i in neuronlabel.layers(tv_net("resnet18"), input_size=(3, 32, 32))}
    assert resnet["layer1.0.relu"].units is None and "runs 2 times" in resnet["layer1.0.relu"].note
    assert resnet["relu"].units == 64


def test_layers_lists_every_map_size_and_layout_of_a_vit():
    infos = {i.name: i for i in neuronlabel.layers(timm_net("deit_tiny_distilled_patch16_224", img_size=64),
                                                   input_size=(3, 64, 64))}
    assert (infos["blocks.5"].layout, infos["blocks.5"].units, infos["blocks.5"].map_size) == ("tokens", 192, (4, 4))
    assert infos["head"].layout == "flat" and infos["head"].map_size == (1, 1)
    assert "runs 2 times" in infos["head_drop"].note


def test_layers_with_an_input_the_network_refuses():
    with pytest.raises(InputError, match=r"input_size"):
        neuronlabel.layers(timm_net("vit_tiny_patch16_224", img_size=64), input_size=(3, 48, 48))
