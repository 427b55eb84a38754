"""LabelReport: construction, lookup, search, layer summaries, CSV and DataFrame."""

from __future__ import annotations

import csv
import io
import sys

import numpy as np
import pytest

from neuronlabel.errors import InputError, MissingDependencyError, NeuronLabelError, UnknownLayerError
from neuronlabel.report import LabelReport, UnitLabel
from neuronlabel.units import UnitRef

from test_report_factory import DEFAULT_LABELS, make_report


@pytest.fixture(scope="module")
def report():
    return make_report()


def test_lookup_by_string_unitref_and_tuple(report):
    u = report["layer4:2"]
    assert (u.layer, u.unit, u.label) == ("layer4", 2, DEFAULT_LABELS["layer4"][2])
    assert report[UnitRef("layer4", 2)] is u
    assert report["layer4", 2] is u
    assert "layer4:2" in report and "layer4:99" not in report and "garbage" not in report


def test_unknown_unit_names_the_layer_units(report):
    with pytest.raises(UnknownLayerError, match=r"'layer4:99' is not in this report; layer 'layer4' has 5 units \(0\.\.4\)"):
        report["layer4:99"]


def test_unknown_layer_suggests_close_names(report):
    with pytest.raises(UnknownLayerError, match="Did you mean: 'layer4'"):
        report["layer5:0"]
    with pytest.raises(InputError, match="not of the form"):
        report["layer4"]
    with pytest.raises(InputError, match="the unit must be an integer"):
        report["layer4", "2"]


def test_search_matches_all_terms_case_insensitively(report):
    assert [u.ref for u in report.search("faces")] == ["layer3:1", "layer4:0"]
    assert [u.ref for u in report.search("FACES human")] == ["layer4:0"]
    assert [u.ref for u in report.search("faces", layer="layer3")] == ["layer3:1"]
    assert report.search("") == report.units
    assert [u.ref for u in report.search("sky")] == []
    assert len(report.search("sky", candidates=True)) == len(report.units)


def test_search_rejects_unknown_layer(report):
    with pytest.raises(UnknownLayerError, match="layer 'layr4' is not in this report"):
        report.search("x", layer="layr4")


def test_layers_summary(report):
    summaries = report.layers()
    assert [s.layer for s in summaries] == ["layer3", "layer4"]
    assert [s.n_units for s in summaries] == [4, 5]
    assert [s.n_flagged for s in summaries] == [1, 1]
    layer4 = [u for u in report.units if u.layer == "layer4"]
    assert summaries[1].mean_max_activation == pytest.approx(np.mean([u.exemplar_scores[0] for u in layer4]))
    assert ("faces", 1) in summaries[1].top_words
    assert "and" not in dict(summaries[1].top_words)


def test_images_are_stored_once_and_validated():
    img = np.zeros((4, 5, 3), np.uint8)
    r = LabelReport([UnitLabel("fc", 0, "x", exemplar_ids=[1, 2], exemplar_scores=[1.0, 0.5])],
                    images={1: img, 2: np.zeros((4, 5), np.uint8)})
    assert r.images[2].shape == (4, 5, 3)
    with pytest.raises(InputError, match=r"image 3: thumbnails must be uint8 HxWx3, got dtype float32"):
        LabelReport([], images={3: np.zeros((4, 4, 3), np.float32)})
    with pytest.raises(InputError, match=r"image 4: expected an HxWx3 uint8 array, got shape \(3, 8, 8\)"):
        LabelReport([], images={4: np.zeros((3, 8, 8), np.uint8)})


def test_unit_label_validation_names_the_unit_and_value():
    with pytest.raises(InputError, match=r"unit fc:0: 2 exemplar_ids but 1 exemplar_scores"):
        UnitLabel("fc", 0, "x", exemplar_ids=[1, 2], exemplar_scores=[1.0])
    with pytest.raises(InputError, match=r"unit fc:0: maps: expected a 3-d array .*first dim 2.*got shape \(3, 4, 4\)"):
        UnitLabel("fc", 0, "x", exemplar_ids=[1, 2], exemplar_scores=[1.0, 1.0], maps=np.zeros((3, 4, 4)))
    with pytest.raises(InputError, match=r"unit index must be >= 0"):
        UnitLabel("fc", -1, "x")
    with pytest.raises(InputError, match=r"candidates\[0\]: expected a \(text, log-prob score\) pair"):
        UnitLabel("fc", 0, "x", candidates=["x"])
    with pytest.raises(InputError, match="appears twice"):
        LabelReport([UnitLabel("fc", 0, "a"), UnitLabel("fc", 0, "b")])


def test_unit_label_accepts_numpy_and_torch_values():
    import torch

    u = UnitLabel("fc", np.int64(3), "x", exemplar_ids=np.array([4, 5]),
                  exemplar_scores=torch.tensor([2.0, 1.0]), threshold=np.float32(0.5),
                  maps=torch.ones(2, 3, 3), attributions=np.ones((2, 3, 8, 8), np.float32))
    assert u.unit == 3 and u.exemplar_ids == [4, 5] and u.exemplar_scores == [2.0, 1.0]
    assert isinstance(u.maps, np.ndarray) and u.maps.shape == (2, 3, 3)
    assert u.attributions.shape == (2, 8, 8) and float(u.attributions[0, 0, 0]) == 3.0


def test_meta_defaults_record_version_and_time():
    import neuronlabel

    r = LabelReport([])
    assert r.meta["neuronlabel_version"] == neuronlabel.__version__
    assert r.meta["created"][:2] == "20"


def test_csv_is_milan_layer_unit_description(report, tmp_path):
    path = report.to_csv(tmp_path / "labels.csv")
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    assert list(rows[0]) == ["layer", "unit", "description"]
    assert [(r["layer"], int(r["unit"]), r["description"]) for r in rows] == \
        [(u.layer, u.unit, u.label) for u in report.units]


def test_csv_quotes_commas_quotes_and_newlines():
    tricky = 'dogs, "cats"\nand birds'
    text = LabelReport([UnitLabel("features.3", 7, tricky)]).to_csv()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["layer", "unit", "description"], ["features.3", "7", tricky]]


def test_dataframe_has_a_row_per_unit(report):
    df = report.to_dataframe()
    assert len(df) == len(report.units)
    assert list(df["label"]) == [u.label for u in report.units]
    assert list(df["stats.max"]) == [u.stats["max"] for u in report.units]
    assert df.loc[0, "exemplar_ids"] == report.units[0].exemplar_ids
    assert df.loc[1, "flags"] == ["nonfinite"]


def test_dataframe_without_pandas_says_what_to_install(report, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match="pip install pandas"):
        report.to_dataframe()


def test_errors_share_the_root_class():
    with pytest.raises(NeuronLabelError):
        LabelReport(["not a unit"])
