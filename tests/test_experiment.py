"""The captioner experiment pieces on a tiny real computation: train, score, tabulate, `neuronlabel evaluate`."""

from __future__ import annotations

import json
import statistics

import pytest

from neuronlabel.captioner import Captioner
from neuronlabel.cli import main
from neuronlabel.evaluation.compound_scores import bleu_by_length
from neuronlabel.evaluation.experiment import compound_features, markdown_table, score, summarize, train_config

from test_compound import _fixture

TINY = dict(epochs=2, patience=2, lm_epochs=1, hidden_size=16, embedding_size=8, lm_hidden_size=8,
            lm_embedding_size=8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = _fixture(tmp_path_factory.mktemp("data"))
    cache = tmp_path_factory.mktemp("cache")
    compound, feats = compound_features(root, units=40, k=3, cache=cache)
    result = train_config("fused_gate", 0, compound, feats, **TINY)
    return root, cache, compound, feats, result.captioner


def test_features_are_cached_by_the_data_sets_fingerprint(trained):
    root, cache, compound, feats, _ = trained
    files = list((cache / "compound").glob(f"features-{compound.fingerprint()}-*.pt"))
    assert len(files) == 1
    again, feats2 = compound_features(root, units=40, k=3, cache=cache)
    assert again.fingerprint() == compound.fingerprint()
    assert feats2.features.equal(feats.features)


def test_score_matches_a_direct_computation(trained):
    _, _, compound, feats, cap = trained
    s = score(cap, compound, feats, "test", bertscore=False)
    idx = compound.indices("test")
    part = feats.subset(idx)
    for key, rerank in (("plain", False), ("rerank", True)):
        hyps = [c[0][0] for c in cap.describe(part.features, rerank=rerank)]
        assert s[key]["bleu"] == bleu_by_length(hyps, part.descriptions)
    assert s["units"] == len(idx) and s["novel_units"] == sum(compound.novel[i] for i in idx)


def test_unknown_configuration_is_a_clear_error(trained):
    _, _, compound, feats, _ = trained
    with pytest.raises(Exception, match="unknown configuration 'bahdanau'.*additive"):
        train_config("bahdanau", 0, compound, feats)


def test_table_reports_mean_and_std_over_seeds():
    runs = [{"config": c, "seed": s, "plain": {"bleu": {"overall": v, ">10": {"bleu": v / 2}}}}
            for c, vals in (("additive", [18.0, 20.0, 22.0]), ("fused_sum", [21.0, 21.5, 25.0])) for s, v in enumerate(vals)]
    m = summarize(runs, "plain", ("bleu", "overall"))
    assert m["fused_sum"] == (statistics.fmean([21.0, 21.5, 25.0]), statistics.stdev([21.0, 21.5, 25.0]), 3)
    table = markdown_table(runs).splitlines()
    assert table[2].startswith("| additive (MILAN) | beam 5 | 3 | 20.0 ± 2.0 |")
    assert table[3].startswith("| fused_sum | beam 5 | 3 | 22.5 ± 2.2 |")
    assert len(table) == 4                      # no rerank rows when no run has them


def test_evaluate_command_prints_and_writes_scores(trained, tmp_path, capsys):
    root, cache, compound, feats, cap = trained
    cap.save(tmp_path / "cap.pt")
    out = tmp_path / "scores.json"
    code = main(["evaluate", str(tmp_path / "cap.pt"), "--data", str(root), "--units", "40", "-k", "3",
                 "--cache", str(cache), "--no-bertscore", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert f"| beam search | {saved['plain']['bleu']['overall']:.1f} |" in text
    assert saved == json.loads(json.dumps(score(Captioner.load(tmp_path / "cap.pt"), compound, feats, "test",
                                                bertscore=False)))


def test_evaluate_command_names_a_missing_data_folder(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "nope"), "--no-bertscore"]) == 2
    assert "no data folder at" in capsys.readouterr().err
