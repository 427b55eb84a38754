"""LabelReport JSON: exact round trip, compact arrays, schema versioning and corrupt files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from neuronlabel.errors import CheckpointError, InputError, NeuronLabelError
from neuronlabel.report import LabelReport, ReportSchemaError, UnitLabel
from neuronlabel.report.codec import decode_array, encode_array

from test_report_factory import make_report


@pytest.fixture(scope="module")
def report():
    return make_report(attributions=True, explanations=True)


def test_round_trip_is_exact(report, tmp_path):
    path = report.to_json(tmp_path / "report.json")
    back = LabelReport.from_json(path)
    assert back.meta == report.meta
    assert back.explanations == report.explanations
    assert sorted(back.images) == sorted(report.images)
    for i, img in report.images.items():
        assert back.images[i].dtype == np.uint8 and np.array_equal(back.images[i], img)
    assert len(back.units) == len(report.units)
    for a, b in zip(report.units, back.units):
        assert (a.layer, a.unit, a.label, a.flags) == (b.layer, b.unit, b.label, b.flags)
        assert a.candidates == b.candidates
        assert a.exemplar_ids == b.exemplar_ids
        assert a.exemplar_scores == b.exemplar_scores
        assert a.threshold == b.threshold
        assert a.stats == b.stats
        assert np.array_equal(a.maps, b.maps)
        assert b.maps.dtype == np.float16
        np.testing.assert_allclose(b.attributions, a.attributions, rtol=1e-3, atol=1e-3)


def test_from_json_accepts_text_bytes_and_dict(report):
    text = report.to_json()
    for source in (text, text.encode("utf-8"), json.loads(text)):
        assert [u.label for u in LabelReport.from_json(source).units] == [u.label for u in report.units]


def test_json_is_strict_and_keeps_nonfinite_values():
    u = UnitLabel("fc", 0, "x", exemplar_ids=[1], exemplar_scores=[math.inf], threshold=math.nan,
                  maps=np.array([[[np.nan, np.inf], [-np.inf, 1.0]]], np.float16),
                  stats={"max": -math.inf}, flags=["nonfinite"])
    text = LabelReport([u]).to_json()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    back = LabelReport.from_json(text).units[0]
    assert back.exemplar_scores == [math.inf] and math.isnan(back.threshold) and back.stats == {"max": -math.inf}
    assert np.isnan(back.maps[0, 0, 0]) and back.maps[0, 0, 1] == np.inf and back.maps[0, 1, 0] == -np.inf


def test_arrays_are_float16_when_they_fit_and_float32_otherwise():
    small = np.array([[1.5, -2.25]], np.float32)
    big = np.array([[1e6, 1.0]], np.float32)
    assert encode_array(small)["dtype"] == "float16"
    assert encode_array(big)["dtype"] == "float32"
    assert np.array_equal(decode_array(encode_array(big), "x"), big)
    assert len(encode_array(np.zeros((15, 7, 7), np.float32))["data"]) == math.ceil(15 * 49 * 2 / 3) * 4


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=20))
def test_scores_round_trip_bit_exact(scores):
    u = UnitLabel("fc", 0, "x", candidates=[("x", scores[0])], exemplar_ids=list(range(len(scores))),
                  exemplar_scores=scores, threshold=scores[-1])
    back = LabelReport.from_json(LabelReport([u]).to_json()).units[0]
    assert back.exemplar_scores == [float(s) for s in scores]
    assert back.candidates == [("x", float(scores[0]))] and back.threshold == float(scores[-1])


def test_other_schema_versions_are_refused_clearly(report):
    data = json.loads(report.to_json())
    data["schema"] = "neuronlabel.report/3"
    with pytest.raises(ReportSchemaError, match=r"newer than this neuronlabel reads.*pip install -U neuronlabel"):
        LabelReport.from_json(data)
    data["schema"] = "neuronlabel.report/0"
    with pytest.raises(ReportSchemaError, match=r"old report schema 'neuronlabel.report/0'.*Re-create"):
        LabelReport.from_json(data)
    data["schema"] = "something/else"
    with pytest.raises(ReportSchemaError, match="not a neuronlabel report schema"):
        LabelReport.from_json(data)
    del data["schema"]
    with pytest.raises(ReportSchemaError, match="no 'schema' field"):
        LabelReport.from_json(data)
    assert issubclass(ReportSchemaError, CheckpointError) and issubclass(ReportSchemaError, ValueError)


def test_missing_file_and_invalid_json(tmp_path):
    with pytest.raises(InputError, match=r"report file '.*nope.json' does not exist"):
        LabelReport.from_json(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "neuronlabel.report/1", "units": [', encoding="utf-8")
    with pytest.raises(ReportSchemaError, match=r"bad.json is not valid JSON: .* line 1, column"):
        LabelReport.from_json(bad)


def test_corrupt_fields_name_their_place(report):
    data = json.loads(report.to_json())
    data["units"][2]["maps"]["data"] = data["units"][2]["maps"]["data"][:-8]
    with pytest.raises(ReportSchemaError, match=r"units\[2\] \(layer3:2\): maps: data holds \d+ bytes but shape"):
        LabelReport.from_json(data)
    data = json.loads(report.to_json())
    data["units"][0]["exemplar_scores"][1] = "high"
    with pytest.raises(ReportSchemaError, match=r"units\[0\] \(layer3:0\): exemplar_scores: expected a number, got 'high'"):
        LabelReport.from_json(data)
    data = json.loads(report.to_json())
    data["units"][1]["colour"] = "red"
    with pytest.raises(ReportSchemaError, match=r"units\[1\]: unknown field\(s\) \['colour'\]"):
        LabelReport.from_json(data)
    data = json.loads(report.to_json())
    data["images"][0]["png"] = "bm90IGEgcG5n"
    with pytest.raises(ReportSchemaError, match=r"images\[0\]: not a readable base64 PNG"):
        LabelReport.from_json(data)
    data = json.loads(report.to_json())
    data["units"][3]["maps"]["shape"] = [4, 7, 7]
    with pytest.raises(NeuronLabelError, match=r"units\[3\].*"):
        LabelReport.from_json(data)


def test_meta_that_json_cannot_hold_is_rejected_by_name():
    r = LabelReport([], meta={"model": object()})
    with pytest.raises(InputError, match=r"meta\['model'\] is a object"):
        r.to_json()


def test_schema_2_round_trips_evidence_and_version_1_still_loads(report):
    from neuronlabel.evidence import EvidenceItem

    u = UnitLabel("fc", 0, "crabs", candidates=[("crabs", float("nan")), ("reptiles", -2.0)],
                  evidence=[EvidenceItem("n01976957", "object", "crabs", 0.7, 0.8, 0.9),
                            ["colour:red", "colour", "red", 0.25, 0.4, None]], confidence=0.7,
                  flags=[])
    data = json.loads(LabelReport([u]).to_json())
    assert data["schema"] == "neuronlabel.report/2"
    assert data["units"][0]["evidence"][0] == ["n01976957", "object", "crabs", 0.7, 0.8, 0.9]
    back = LabelReport.from_json(data).units[0]
    assert back.confidence == 0.7 and [e.name for e in back.evidence] == ["crabs", "red"]
    assert math.isnan(back.evidence[1].agree) and math.isnan(back.candidates[0][1])
    v1 = json.loads(report.to_json())
    v1["schema"] = "neuronlabel.report/1"
    for unit in v1["units"]:
        del unit["confidence"], unit["evidence"]
    old = LabelReport.from_json(v1)
    assert [x.label for x in old.units] == [x.label for x in report.units]
    assert all(math.isnan(x.confidence) and x.evidence == [] for x in old.units)
    v1["units"][0]["evidence"] = []                 # a version-1 file cannot hold version-2 fields
    with pytest.raises(ReportSchemaError, match="unknown field"):
        LabelReport.from_json(v1)
    data["units"][0]["evidence"] = [["colour:red", "colour"]]
    with pytest.raises(ReportSchemaError, match="evidence item"):
        LabelReport.from_json(data)
