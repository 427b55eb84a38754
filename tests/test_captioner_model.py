"""Captioner: tokenizer/vocabulary, describe, save/load round trip and checkpoint errors."""

import pytest

from neuronlabel.captioner.hygiene import problem
import torch

from neuronlabel.captioner import Captioner, CaptionerConfig, Vocabulary, detokenize, tokenize
from neuronlabel.captioner import model as model_module
from neuronlabel.errors import CheckpointError, InputError


pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = dict(feature_size=12, hidden_size=32, attention_hidden_size=16, heads=4, embedding_size=16,
             lm_embedding_size=16, lm_hidden_size=32)
WORDS = ["dog", "faces", "red", "and", "white", "stripes", "the", "of", "cars", ",", "-"]


def _captioner(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = CaptionerConfig(**{**SMALL, "attention": ("additive", "multiplicative", "dot_product"), **kw})
    return Captioner(cfg, Vocabulary(WORDS), lm=True)


def test_tokenizer_is_lowercase_handles_punctuation_and_round_trips():
    assert tokenize("  Dog FACES.  ") == ["dog", "faces"]
    assert tokenize("red, white & blue (mostly)!") == ["red", ",", "white", "&", "blue", "(", "mostly", ")"]
    assert tokenize("the dog’s left-side") == ["the", "dog's", "left", "-", "side"]
    assert tokenize("Café ﬁsh") == ["café", "fish"]
    for text in ["red, white stripes", "black-and-white fur", "the dog's face (left)"]:
        assert detokenize(tokenize(text)) == text
    with pytest.raises(InputError, match="must be a str"):
        tokenize(None)


def test_vocabulary_is_deterministic_and_handles_unknown_words():
    texts = ["a dog", "a cat", "the dog, a bird"]
    v1, v2 = Vocabulary.build(texts), Vocabulary.build(list(reversed(texts)))
    assert v1 == v2 and v1.itos[:5] == ["<pad>", "<start>", "<end>", "<unk>", "a"]
    assert v1.decode(v1.encode("a dog, zebra")) == "a dog, <unk>"
    assert Vocabulary.build(texts, min_count=2).itos[4:] == ["a", "dog"]
    assert Vocabulary.from_list(v1.to_list()) == v1
    with pytest.raises(CheckpointError):
        Vocabulary.from_list(["dog", "cat"])


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    cap = _captioner(fusion="gate")
    x = torch.randn(7, 5, 12)
    before = cap.describe(x, beam_size=4, max_length=8, rerank=True)
    before_plain = cap.describe(x, beam_size=3, max_length=8, rerank=False)
    path = cap.save(tmp_path / "cap.pt")
    loaded = Captioner.load(path)
    assert loaded.config == cap.config and loaded.vocab == cap.vocab
    for a, b in zip(cap.decoder.state_dict().values(), loaded.decoder.state_dict().values()):
        assert torch.equal(a, b)
    assert loaded.describe(x, beam_size=4, max_length=8, rerank=True) == before
    assert loaded.describe(x, beam_size=3, max_length=8, rerank=False) == before_plain
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "neuronlabel-captioner" and isinstance(raw["config"], dict)


def test_rerank_changes_order_only_by_wpmi():
    cap = _captioner(seed=3)
    x = torch.randn(6, 4, 12)
    plain = cap.describe(x, beam_size=5, max_length=6, rerank=False)
    ranked = cap.describe(x, beam_size=5, max_length=6, rerank=True, lam=0.2)
    for p, r in zip(plain, ranked):
        assert sorted(p) == sorted(r)
        prior = cap.lm.score([cap.vocab.encode(t) for t, _ in r])
        scores = [lp - 0.2 * float(pr) for (_, lp), pr in zip(r, prior)]
        bad = [problem(t) is not None for t, _ in r]
        assert bad == sorted(bad)                                     # clean descriptions first (hygiene)
        for group in (False, True):
            within = [s for s, b in zip(scores, bad) if b == group]
            assert within == sorted(within, reverse=True)
    assert cap.describe(x, beam_size=5, max_length=6, rerank=True, lam=0.0) == plain


def test_padding_mask_ignores_padded_exemplars():
    cap = _captioner(seed=4)
    x = torch.randn(2, 6, 12)
    mask = torch.tensor([[True] * 6, [True, True, True, False, False, False]])
    padded = cap.describe(x, mask=mask, beam_size=3, max_length=6, rerank=False)
    alone = cap.describe(x[1:, :3], beam_size=3, max_length=6, rerank=False)[0]
    assert [t for t, _ in padded[1]] == [t for t, _ in alone]      # scores agree to float rounding:
    assert [s for _, s in padded[1]] == pytest.approx([s for _, s in alone], abs=1e-5)   # batch sizes differ


def test_describe_rejects_bad_input():
    cap = _captioner()
    with pytest.raises(InputError, match=r"\[units, k, 12\]"):
        cap.describe(torch.randn(2, 3, 11))
    with pytest.raises(InputError, match="NaN"):
        cap.describe(torch.full((1, 2, 12), float("nan")))
    cap.lm = None
    with pytest.raises(InputError, match="rerank=True needs a language-model prior"):
        cap.describe(torch.randn(1, 2, 12), rerank=True)
    with pytest.raises(InputError, match="needs a vocabulary"):
        Captioner(CaptionerConfig(**SMALL))


def _signed(state):
    return {**state, "sha256": model_module.digest(state)}


def test_corrupt_and_foreign_files_raise_checkpoint_error(tmp_path):
    cap = _captioner()
    good = cap.save(tmp_path / "good.pt")
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    for i in range(len(flipped) // 3, len(flipped) // 3 + 64):
        flipped[i] ^= 0xFF
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    (tmp_path / "text.pt").write_text("not a checkpoint")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled_module.pt")
    for name in ("truncated.pt", "flipped.pt", "text.pt", "pickled_module.pt"):
        with pytest.raises(CheckpointError, match="corrupt"):
            Captioner.load(tmp_path / name)
    with pytest.raises(CheckpointError, match="no file at"):
        Captioner.load(tmp_path / "missing.pt")

    state = cap.state_dict()
    torch.save({**state, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        Captioner.load(tmp_path / "future.pt")
    torch.save({**state, "format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a neuronlabel captioner"):
        Captioner.load(tmp_path / "other.pt")
    torch.save(_signed({**state, "config": {**state["config"], "new_knob": 1}}), tmp_path / "newer_config.pt")
    with pytest.raises(CheckpointError, match="new_knob"):
        Captioner.load(tmp_path / "newer_config.pt")
    torch.save(_signed({**state, "config": {**state["config"], "hidden_size": 64}}), tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit its config"):
        Captioner.load(tmp_path / "mismatch.pt")
    tampered = {**state, "decoder": {**state["decoder"], "output.bias": state["decoder"]["output.bias"] + 1e-3}}
    torch.save(tampered, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match="checksum does not match"):
        Captioner.load(tmp_path / "tampered.pt")


def test_missing_bundled_weights_say_so(tmp_path, monkeypatch):
    monkeypatch.setattr(model_module, "BUNDLED", tmp_path / "weights" / "captioner.pt")
    with pytest.raises(CheckpointError, match="no bundled captioner weights.*neuronlabel train"):
        Captioner.load()


def test_config_validation():
    assert CaptionerConfig(attention="luong").attention == ("multiplicative",)
    with pytest.raises(InputError, match="divisible"):
        CaptionerConfig(attention=("dot_product",), attention_hidden_size=30, heads=8)
    with pytest.raises(InputError, match="dropout"):
        CaptionerConfig(dropout=1.0)
    with pytest.raises(InputError, match="hidden_size must be a positive integer"):
        CaptionerConfig(hidden_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_round_trip(tmp_path):
    cap = _captioner()
    x = torch.randn(5, 4, 12)
    cpu = cap.describe(x, beam_size=3, max_length=6)
    path = cap.save(tmp_path / "cap.pt")
    on_gpu = Captioner.load(path, map_location="cuda")
    assert on_gpu.device.type == "cuda"
    gpu = on_gpu.describe(x, beam_size=3, max_length=6)
    assert [[t for t, _ in u] for u in gpu] == [[t for t, _ in u] for u in cpu]
    assert Captioner.load(path).to("cuda").to("cpu").describe(x, beam_size=3, max_length=6) == cpu


def _tiny_encoder():
    torch.manual_seed(11)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 8, 3, stride=2, padding=1))
    from neuronlabel.captioner import PyramidEncoder

    return PyramidEncoder(net, layers=["1", "2"], input_size=32)


@pytest.mark.parametrize("spatial", [False, True])
def test_describe_exemplars_equals_encode_pool_describe(spatial):
    enc = _tiny_encoder()
    cfg = CaptionerConfig(**{**SMALL, "feature_size": None, "spatial": spatial})
    torch.manual_seed(12)
    cap = Captioner(cfg, Vocabulary(WORDS), encoder=enc)
    assert cap.config.encoder == "custom:Sequential" and cap.config.encoder_layers == ("1", "2")
    assert cap.config.feature_size == 12 + (1 if spatial else 0)
    images = torch.rand(5, 3, 48, 48)
    masks = torch.rand(3, 4, 48, 48) > 0.7
    index = torch.tensor([[0, 1, 2, 3], [4, 4, 0, 1], [2, 2, 2, 2]])
    x = cap.pool(cap.encode(images), masks, index)
    assert x.shape == (3, 4 * (1 + 64) if spatial else 4, cap.config.feature_size)
    kw = dict(beam_size=3, max_length=5, rerank=False)
    assert cap.describe_exemplars(images, masks, index, **kw) == cap.describe(x, **kw)


def test_custom_encoder_captioner_needs_its_encoder_back(tmp_path):
    enc = _tiny_encoder()
    cap = Captioner(CaptionerConfig(**{**SMALL, "feature_size": None}), Vocabulary(WORDS), encoder=enc)
    path = cap.save(tmp_path / "custom.pt")
    without = Captioner.load(path)
    with pytest.raises(InputError, match="custom backbone.*pass encoder=PyramidEncoder"):
        without.encode(torch.rand(1, 3, 32, 32))
    images, masks, index = torch.rand(2, 3, 32, 32), torch.ones(1, 2, 32, 32), torch.tensor([[0, 1]])
    again = Captioner.load(path, encoder=enc)
    assert again.describe_exemplars(images, masks, index, rerank=False) == cap.describe_exemplars(images, masks, index,
                                                                                                  rerank=False)


def test_language_model_scores_are_remembered_until_the_weights_change():
    from neuronlabel.captioner.lm import LanguageModel

    torch.manual_seed(0)
    lm = LanguageModel(vocab_size=12, embedding_size=8, hidden_size=16).eval()
    seqs = [[4, 5], [6], [4, 5], [7, 8, 9]]
    first = lm.score(seqs)
    assert torch.allclose(first, lm._score(seqs), atol=1e-5)
    assert torch.equal(lm.score([[7, 8, 9], [6]]), first[[3, 1]])
    assert len(lm._memo) == 3
    with torch.no_grad():
        lm.output.bias[4:6].add_(1.0)
    changed = lm.score(seqs)
    assert torch.allclose(changed, lm._score(seqs), atol=1e-5) and not torch.allclose(changed, first, atol=1e-3)
    lm.train()
    assert lm.score(seqs).shape == (4,)


def test_scoring_over_shared_prefixes_equals_scoring_whole_sequences():
    from neuronlabel.captioner.lm import LanguageModel

    torch.manual_seed(1)
    lm = LanguageModel(vocab_size=12, embedding_size=8, hidden_size=16).eval()
    seqs = [(4, 5, 6), (4, 5, 7), (4,), (9, 4, 5, 6, 6), (5,), (4, 5)]
    with torch.no_grad():
        whole = lm._score([list(s) for s in seqs])
        by_hand = torch.stack([lm.sequence_logprob(torch.tensor([[1, *s, 2]]))[0] for s in seqs])
        assert torch.allclose(lm._score_prefixes(seqs), whole, atol=1e-5)
        assert torch.allclose(whole, by_hand, atol=1e-5)
