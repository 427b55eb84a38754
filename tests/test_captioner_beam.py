"""Beam search: exhaustive optimum on a tiny vocabulary, batching invariance, greedy, limits."""

import itertools

import pytest
import torch

from neuronlabel.captioner import Captioner, CaptionerConfig, Vocabulary
from neuronlabel.captioner.beam import beam_search, greedy, sequence_logprob
from neuronlabel.captioner.decoder import Decoder
from neuronlabel.errors import InputError


pytestmark = pytest.mark.usefixtures("one_thread")


WORDS = [4, 5, 6]


def _decoder(seed=0, vocab_size=7, feature_size=3, attention=("additive",), fusion="sum"):
    torch.manual_seed(seed)
    dec = Decoder(vocab_size, feature_size, attention, fusion, embedding_size=8, hidden_size=16,
                  attention_hidden_size=8, heads=2).double().eval()
    with torch.no_grad():
        dec.output.weight.mul_(8.0)
    return dec


def _exhaustive(dec, feats, max_length):
    seqs = [list(s) for n in range(1, max_length + 1) for s in itertools.product(WORDS, repeat=n)]
    scores = sequence_logprob(dec, feats.expand(len(seqs), -1, -1), seqs)
    return sorted(zip(seqs, scores.tolist()), key=lambda x: -x[1])


@pytest.mark.parametrize("attention,fusion", [(("additive",), "sum"),
                                              (("additive", "multiplicative", "dot_product"), "gate")])
def test_wide_beam_returns_the_exhaustive_ranking(attention, fusion):
    dec = _decoder(attention=attention, fusion=fusion)
    feats = torch.randn(4, 5, 3, dtype=torch.float64)
    found = beam_search(dec, feats, beam_size=64, max_length=3)
    for u in range(4):
        truth = _exhaustive(dec, feats[u: u + 1], 3)
        assert len(found[u]) == len(truth) == 39
        assert [ids for ids, _ in found[u]] == [ids for ids, _ in truth]
        assert torch.allclose(torch.tensor([s for _, s in found[u]]), torch.tensor([s for _, s in truth]), atol=1e-9)


def test_narrow_beam_scores_are_exact_sorted_and_bounded_by_the_optimum():
    dec = _decoder(seed=4)
    feats = torch.randn(6, 4, 3, dtype=torch.float64)
    found = beam_search(dec, feats, beam_size=3, max_length=3)
    for u in range(6):
        scores = [s for _, s in found[u]]
        assert scores == sorted(scores, reverse=True) and len(scores) == 3
        for ids, s in found[u]:
            assert s == pytest.approx(sequence_logprob(dec, feats[u: u + 1], [ids])[0].item(), abs=1e-9)
        assert scores[0] <= _exhaustive(dec, feats[u: u + 1], 3)[0][1] + 1e-12


def _greedy_reference(dec, feats, max_length):
    state = dec.start(feats)
    token, out, total = torch.tensor([1]), [], 0.0
    for step in range(1, max_length + 2):
        logp, state, _ = dec.step(token, state)
        logp = logp[0].clone()
        logp[[0, 1, 3]] = float("-inf")
        if step == 1:
            logp[2] = float("-inf")
        if step == max_length + 1:
            keep = logp[2].item()
            logp[:] = float("-inf")
            logp[2] = keep
        word = int(logp.argmax())
        total += logp[word].item()
        if word == 2:
            break
        out.append(word)
        token = torch.tensor([word])
    return out, total


def test_greedy_matches_a_step_by_step_argmax():
    dec = _decoder(seed=5, vocab_size=12)
    feats = torch.randn(8, 3, 3, dtype=torch.float64)
    got = greedy(dec, feats, max_length=6)
    for u in range(8):
        ids, score = _greedy_reference(dec, feats[u: u + 1], 6)
        assert got[u][0] == ids
        assert got[u][1] == pytest.approx(score, abs=1e-9)


def test_batched_beam_search_equals_unit_by_unit():
    dec = _decoder(seed=6, vocab_size=30, attention=("additive", "dot_product"))
    feats = torch.randn(9, 6, 3, dtype=torch.float64)
    mask = torch.ones(9, 6, dtype=torch.bool)
    for u in range(9):
        mask[u, 1 + u % 6:] = False
    batched = beam_search(dec, feats, mask, beam_size=5, max_length=12)
    for u in range(9):
        alone = beam_search(dec, feats[u: u + 1, : 1 + u % 6], None, beam_size=5, max_length=12)[0]
        assert [ids for ids, _ in batched[u]] == [ids for ids, _ in alone]
        assert torch.allclose(torch.tensor([s for _, s in batched[u]]), torch.tensor([s for _, s in alone]), atol=1e-9)


def test_describe_batch_size_does_not_change_the_result():
    torch.manual_seed(7)
    cap = Captioner(CaptionerConfig(attention=("additive", "multiplicative"), feature_size=6, hidden_size=16,
                                    attention_hidden_size=8), Vocabulary([f"w{i}" for i in range(20)]))
    x = torch.randn(11, 4, 6)
    small = cap.describe(x, beam_size=4, batch_size=3, max_length=8)
    large = cap.describe(x, beam_size=4, batch_size=256, max_length=8)
    assert [[t for t, _ in u] for u in small] == [[t for t, _ in u] for u in large]
    assert [lp for u in small for _, lp in u] == pytest.approx([lp for u in large for _, lp in u], abs=1e-4)


def test_length_limits_are_respected():
    dec = _decoder(seed=8, vocab_size=10)
    feats = torch.randn(5, 2, 3, dtype=torch.float64)
    for ids, _ in sum(beam_search(dec, feats, beam_size=4, max_length=2, min_length=2), []):
        assert len(ids) == 2
    with pytest.raises(InputError, match="beam_size"):
        beam_search(dec, feats, beam_size=0)
    with pytest.raises(InputError, match="min_length"):
        beam_search(dec, feats, max_length=2, min_length=3)


def test_follow_bans_keep_descriptions_from_ending_mid_phrase():
    torch.manual_seed(3)
    cap = Captioner(CaptionerConfig(feature_size=6, hidden_size=16, attention_hidden_size=16, embedding_size=8),
                    ["red", "parts", "of", "and", "the", "dogs", "cats"])
    with torch.no_grad():                              # a decoder that strongly prefers to stop after "of"
        bias = cap.decoder.output.bias
        bias.zero_()
        bias[cap.vocab.stoi["of"]] = 6.0
        bias[cap.vocab.end] = 3.0
    x = torch.randn(4, 3, 6)
    free = beam_search(cap.decoder.eval(), x, beam_size=4, max_length=6)
    assert any(cap.vocab.itos[ids[-1]] == "of" for found in free for ids, _ in found if ids)
    bans = cap.vocab.follow_bans()
    for found in beam_search(cap.decoder, x, beam_size=4, max_length=6, follow_bans=bans):
        for ids, _ in found:
            words = [cap.vocab.itos[i] for i in ids]
            assert len(words) == 6 or words[-1] not in ("of", "and", "the")
            assert all(b not in ("of", "and") for a, b in zip(words, words[1:]) if a in ("of", "the"))
    for found in beam_search(cap.decoder, x, beam_size=4, max_length=6, follow_bans=bans):
        assert all(cap.vocab.itos[ids[0]] not in ("of", "and") for ids, _ in found if ids)
    texts = [t for found in cap.describe(x, beam_size=4, max_length=6, rerank=False) for t, _ in found]
    assert texts and all(t.split()[-1] not in ("of", "and", "the") or len(t.split()) == 6 for t in texts)


def test_hygiene_puts_descriptions_people_would_not_write_last():
    from neuronlabel.captioner.hygiene import problem, tidy

    for bad in ("fish or fish", "both animals and animals", "reptilians as well as reptilians", "orange parts of",
                "the black areas of and and", "both and birds colored brown", "above the trees", "sky above sky"):
        assert problem(bad) is not None, bad
    for good in ("dog faces", "vertical stripes", "the wheels of cars", "blue sky above trees", "text",
                 "white areas", "red and white stripes", "people on the left of cars"):
        assert problem(good) is None, good
    ranked = tidy([("fish or fish", -0.5), ("fish", -1.0), ("orange parts of", -1.5), ("orange fish", -2.0)])
    assert [t for t, _ in ranked] == ["fish", "orange fish", "fish or fish", "orange parts of"]


def test_rare_words_of_the_bundled_captioner_become_everyday_ones():
    from neuronlabel.captioner.everyday import everyday

    assert everyday("grey habiliments") == "grey clothes"
    assert everyday("self-propelled vehicles and primates") == "vehicles and monkeys"
    assert everyday("propelled dogs") == "propelled dogs"          # only whole phrases are rewritten
    assert everyday("humans and persons") == "humans and people"
