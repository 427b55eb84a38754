"""fit(): overfitting to exact match, reproducibility, resume, early stopping, checkpoints."""

import random

import pytest
import torch

from neuronlabel.captioner import Captioner, CaptionerConfig, Vocabulary
from neuronlabel.captioner.hygiene import problem
from neuronlabel.errors import CheckpointError, InputError
from neuronlabel.evaluation.bleu import corpus_bleu
from neuronlabel.training import CaptionData, fit, split_units


pytestmark = pytest.mark.usefixtures("one_thread")


WORDS = ("dog cat red white stripes faces wheels of the and on in left right top bottom blue green fur "
         "text letters sky water grass trees windows buildings cars people hands eyes legs round square "
         "bright dark edges lines curves spots patterns near above below small large wooden metal").split()
SMALL = dict(hidden_size=128, attention_hidden_size=64, embedding_size=64, lm_hidden_size=32, lm_embedding_size=16)


def _well_formed(text: str, vocab: Vocabulary) -> bool:
    """True when ``describe`` may put ``text`` first: no pair beam search bans (``Vocabulary.follow_bans``)
    and nothing decoding hygiene moves behind clean candidates (``hygiene.problem``)."""
    if problem(text) is not None:
        return False
    bans = vocab.follow_bans()
    ids = [vocab.start] + vocab.encode(text) + [vocab.end]
    return all(b not in bans.get(a, ()) for a, b in zip(ids, ids[1:]))


def _distinct_units(n=36, feature_size=64, seed=0):
    rng = random.Random(seed)
    vocab = Vocabulary(WORDS)
    descriptions = []
    while len(descriptions) < n:
        words = rng.randint(2, 4) if len(descriptions) % 2 == 0 else rng.randint(15, 20)
        text = " ".join(rng.choice(WORDS) for _ in range(words))
        if text not in descriptions and _well_formed(text, vocab):
            descriptions.append(text)
    features = torch.randn(n, 5, feature_size, generator=torch.Generator().manual_seed(seed))
    return CaptionData(features, [[d] for d in descriptions], ids=[f"layer:{i}" for i in range(n)])


@pytest.mark.parametrize("attention,fusion", [
    (("additive",), "sum"),
    (("additive", "multiplicative", "dot_product"), "sum"),
    (("additive", "dot", "dot_product"), "gate"),
])
def test_overfits_short_and_long_descriptions_to_exact_match(attention, fusion):
    data = _distinct_units()
    assert max(len(d[0].split()) for d in data.descriptions) >= 15
    config = CaptionerConfig(attention=attention, fusion=fusion, max_length=22, **SMALL)
    result = fit(data, config, validation=data, epochs=300, patience=300, stop_bleu=100.0, batch_size=12, lr=3e-3,
                 lm_epochs=0, val_beam_size=5, progress=False, seed=0)
    assert result.stopped_early and result.best_bleu == pytest.approx(100.0)
    cap = result.captioner
    truth = [d[0] for d in data.descriptions]
    greedy = [units[0][0] for units in cap.describe(data.features, beam_size=1, rerank=False)]
    beam = [units[0][0] for units in cap.describe(data.features, beam_size=5, rerank=False)]
    assert greedy == truth
    assert beam == truth


def _tiny(n=10, seed=1):
    data = _distinct_units(n=n, feature_size=8, seed=seed)
    cfg = CaptionerConfig(attention=("additive", "dot_product"), fusion="gate", hidden_size=32,
                          attention_hidden_size=16, heads=2, embedding_size=16, lm_hidden_size=16,
                          lm_embedding_size=8)
    return data, cfg


def _weights(cap):
    return {k: v.clone() for k, v in cap.decoder.state_dict().items()}


def test_same_seed_same_weights_and_different_seed_differs():
    data, cfg = _tiny()
    kw = dict(epochs=2, batch_size=4, lm_epochs=1, progress=False, val_fraction=0.2)
    a, b = fit(data, cfg, seed=3, **kw), fit(data, cfg, seed=3, **kw)
    c = fit(data, cfg, seed=4, **kw)
    assert a.val_ids == b.val_ids and a.history[-1]["loss"] == b.history[-1]["loss"]
    assert all(torch.equal(x, y) for x, y in zip(_weights(a.captioner).values(), _weights(b.captioner).values()))
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a.captioner).values(), _weights(c.captioner).values()))


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    data, cfg = _tiny()
    kw = dict(batch_size=4, lm_epochs=1, progress=False, val_fraction=0.2, patience=10, seed=5)
    straight = fit(data, cfg, epochs=3, **kw)
    first = fit(data, cfg, epochs=2, checkpoint_dir=tmp_path, **kw)
    assert [h["epoch"] for h in first.history] == [1, 2]
    resumed = fit(data, cfg, epochs=3, checkpoint_dir=tmp_path, resume=True, **kw)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    assert all(torch.equal(x, y) for x, y in zip(_weights(resumed.captioner).values(),
                                                 _weights(straight.captioner).values()))
    best = Captioner.load(tmp_path / "best.pt")
    assert best.describe(data.features[:3], rerank=False) == resumed.captioner.describe(data.features[:3], rerank=False)
    with pytest.raises(CheckpointError, match="another run: lr differ"):
        fit(data, cfg, epochs=4, checkpoint_dir=tmp_path, resume=True, **{**kw, "lr": 0.5})


def test_early_stopping_keeps_the_best_epoch():
    data, cfg = _tiny(n=12, seed=8)   # a seed whose validation BLEU improves after epoch 1 (then falls)
    val = data.subset(range(4))
    result = fit(data, cfg, validation=val, epochs=200, patience=3, batch_size=4, lm_epochs=0, progress=False,
                 lr=3e-3)
    bleus = [h["val_bleu"] for h in result.history]
    assert result.stopped_early and result.best_epoch > 1 and len(bleus) == result.best_epoch + 3
    assert result.best_bleu == max(bleus) == bleus[result.best_epoch - 1]
    assert max(bleus[result.best_epoch:]) <= result.best_bleu
    texts = [u[0][0] for u in result.captioner.describe(val.features, beam_size=1, rerank=False)]
    assert corpus_bleu(texts, val.descriptions) == pytest.approx(result.best_bleu)


def test_split_is_by_unit_and_seeded():
    train, val = split_units(50, 0.2, seed=7)
    assert len(val) == 10 and not set(train) & set(val) and sorted(train + val) == list(range(50))
    assert split_units(50, 0.2, seed=7) == (train, val) and split_units(50, 0.2, seed=8) != (train, val)
    data = CaptionData(torch.randn(4, 2, 3), [["a", "b"], ["c"], ["d", "e", "f"], ["g"]])
    result = fit(data, CaptionerConfig(hidden_size=8, attention_hidden_size=8, embedding_size=8, lm_hidden_size=8,
                                       lm_embedding_size=8), epochs=1, val_fraction=0.25, lm_epochs=1, progress=False)
    assert set(result.train_ids).isdisjoint(result.val_ids) and len(result.val_ids) == 1
    assert result.captioner.lm is not None


def test_bad_training_input():
    with pytest.raises(InputError, match="unit 1 has no non-empty description"):
        CaptionData(torch.randn(2, 2, 3), [["a"], [" "]])
    with pytest.raises(InputError, match="3 units of features but 2"):
        CaptionData(torch.randn(3, 2, 3), [["a"], ["b"]])
    data = CaptionData(torch.randn(2, 2, 3), [["a"], ["b"]])
    with pytest.raises(InputError, match="feature_size=5 but the data's features are 3-dim"):
        fit(data, CaptionerConfig(feature_size=5), progress=False)
    with pytest.raises(InputError, match="resume=True needs checkpoint_dir"):
        fit(data, CaptionerConfig(hidden_size=8), resume=True, progress=False)


def test_feature_file_round_trip(tmp_path):
    data = CaptionData(torch.randn(3, 2, 4), [["a dog"], ["b", "c"], ["d"]], mask=torch.tensor([[1, 1], [1, 0], [1, 1]]))
    loaded = CaptionData.load(data.save(tmp_path / "f.pt"))
    assert torch.equal(loaded.features, data.features) and loaded.descriptions == data.descriptions
    assert loaded.fingerprint() == data.fingerprint() and torch.equal(loaded.mask, data.mask)
