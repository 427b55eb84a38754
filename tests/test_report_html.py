"""The HTML report: self-contained, one card per unit, MILAN masks, captum-style heat maps."""

from __future__ import annotations

import base64
import html.parser
import io
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from neuronlabel.errors import InputError
from neuronlabel.report import LabelReport, UnitLabel
from neuronlabel.report import command as report_command
from neuronlabel.report.html_page import unit_records
from neuronlabel.report.overlays import blended_heat_map, fit_image, normalize_attr, region_mask, upsample_bilinear

from test_report_factory import make_report


class _Page(html.parser.HTMLParser):
    """Collect tags with their attributes and the text of <script> blocks."""

    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append([dict(attrs), ""])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1][1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _decode_data_uri(uri: str) -> Image.Image:
    header, data = uri.split(",", 1)
    assert header in ("data:image/png;base64", "data:image/jpeg;base64")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def _data(text: str) -> tuple[dict, list]:
    """The page's image store and unit records, as its script reads them."""
    scripts = {attrs.get("id"): body for attrs, body in _parse(text).scripts}
    return json.loads(scripts["nl-images"]), json.loads(scripts["nl-units"])


@pytest.fixture(scope="module")
def report():
    return make_report(attributions=True, explanations=True)


@pytest.fixture(scope="module")
def page_text(report):
    return report.to_html(thumb_size=64)


def test_page_is_self_contained(page_text):
    page = _parse(page_text)
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert not re.match(r"\s*(https?:)?//", value), f"<{tag} {key}={value[:60]}> is external"
                assert value.startswith(("data:", "#")), f"<{tag} {key}={value[:60]}> is not inline"
    assert not any(tag == "link" for tag, _ in page.tags)
    assert not any("src" in attrs for tag, attrs in page.tags if tag == "script")
    assert "@import" not in page_text and "url(http" not in page_text


def test_a_record_per_unit_with_controls(report, page_text):
    page = _parse(page_text)
    _, records = _data(page_text)
    assert [(r["layer"], r["unit"], r["label"], r["ref"]) for r in records] == \
        [(u.layer, u.unit, u.label, u.ref) for u in report.units]
    assert records[1]["flags"] == ["nonfinite"] and records[0]["cand"][0] == [report.units[0].label, "-0.5"]
    assert dict(records[0]["stats"])["threshold"] == f"{report.units[0].threshold:.3g}"
    assert any(t == "input" and a.get("id") == "search" for t, a in page.tags)
    options = [a["value"] for t, a in page.tags if t == "option" and "value" in a]
    assert options[:3] == ["", "layer3", "layer4"]
    rows = [a["data-layer"] for t, a in page.tags if t == "tr" and "data-layer" in a]
    assert rows == ["layer3", "layer4"]


def test_each_thumbnail_is_embedded_once_and_every_exemplar_refers_to_it(report, page_text):
    store, records = _data(page_text)
    used = {i for u in report.units for i in u.exemplar_ids} | {report.explanations[0]["image_id"]}
    assert set(map(int, store)) == used
    for key, (uri, h, w) in store.items():
        assert page_text.count(uri) == 1
        img = _decode_data_uri(uri)
        assert max(img.size) == 64 and img.size == (w, h)
    assert [[i for i, _ in r["ex"]] for r in records] == [u.exemplar_ids for u in report.units]
    page = _parse(page_text)
    assert [a["data-image"] for t, a in page.tags if t == "img" and "data-image" in a] == \
        [str(report.explanations[0]["image_id"])]


def test_maps_travel_exactly_with_their_thresholds(report, page_text):
    _, records = _data(page_text)
    for u, r in zip(report.units, records):
        m = r["maps"]
        assert (m["dtype"], m["h"], m["w"]) == ("f2", 7, 7) and r["th"] == u.threshold
        decoded = np.frombuffer(base64.b64decode(m["data"]), "<f2").reshape(u.maps.shape)
        assert np.array_equal(decoded, u.maps)
    wide = UnitLabel("fc", 0, "x", exemplar_ids=[1], exemplar_scores=[1.0], threshold=0.5,
                     maps=np.linspace(0, 1, 12, dtype=np.float32).reshape(1, 3, 4))
    m = unit_records(LabelReport([wide]), {})[0]["maps"]
    assert m["dtype"] == "f4" and np.array_equal(np.frombuffer(base64.b64decode(m["data"]), "<f4"), wide.maps.ravel())


def test_bilinear_upsampling_matches_torch():
    rng = np.random.default_rng(3)
    for h, w, H, W in [(7, 7, 112, 112), (14, 10, 64, 48), (1, 1, 5, 5), (3, 5, 4, 4), (8, 8, 8, 8)]:
        a = rng.normal(size=(2, h, w)).astype(np.float32)
        ref = F.interpolate(torch.from_numpy(a)[None], size=(H, W), mode="bilinear", align_corners=False)[0]
        np.testing.assert_allclose(upsample_bilinear(a, (H, W)), ref.numpy(), rtol=1e-5, atol=1e-5)


def test_region_mask_is_strictly_above_threshold():
    m = np.array([[0.0, 2.0], [2.0, 2.0]], np.float32)
    assert region_mask(m, 2.0, (2, 2)).sum() == 0
    assert region_mask(m, 1.999, (2, 2)).sum() == 3


@pytest.mark.parametrize("sign", ["absolute_value", "positive", "negative", "all"])
def test_attribution_normalisation_matches_captum(sign):
    from captum.attr._utils.visualization import _normalize_attr

    rng = np.random.default_rng(5)
    attr = rng.normal(size=(24, 24))
    np.testing.assert_allclose(normalize_attr(attr, sign, 2), _normalize_attr(attr, sign, 2), rtol=1e-12)


def test_blended_heat_map_is_half_heat_half_greyscale():
    import matplotlib

    img = np.zeros((8, 8, 3), np.uint8)
    img[:, 4:] = 200
    attr = np.zeros((8, 8))
    attr[:, :2] = 1.0
    out = blended_heat_map(img, attr, "absolute_value").astype(float)
    blues = matplotlib.colormaps["Blues"]
    expected_dark_hot = 0.5 * 0 + 0.5 * np.array(blues(1.0)[:3]) * 255
    expected_bright_cold = 0.5 * 255 + 0.5 * np.array(blues(0.0)[:3]) * 255
    np.testing.assert_allclose(out[0, 0], expected_dark_hot, atol=1)
    np.testing.assert_allclose(out[0, 7], expected_bright_cold, atol=1)


def test_attributions_and_explanations_are_drawn(report, page_text):
    _, records = _data(page_text)
    assert [len(r["attr"]) for r in records] == [len(u.exemplar_ids) for u in report.units]
    assert _decode_data_uri(records[0]["attr"][0]).size[0] == 64
    assert records[0]["attr_title"] == "Input attributions (absolute value, blended heat map)"
    assert 'id="explanations"' in page_text and "golden retriever" in page_text
    page = _parse(page_text)
    links = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").startswith("#unit-")]
    assert {h[1:] for h in links} <= {r["anchor"] for r in records}
    assert "#unit-layer3:1" in links


def test_labels_are_escaped():
    evil = '<script>alert("x")</script> <!-- & "quotes"'
    text = LabelReport([UnitLabel("fc", 0, evil)], meta={"model": "</title><b>"}).to_html()
    assert "<script>alert" not in text and "</title><b>" not in text and "<!--" not in text
    assert _data(text)[1][0]["label"] == evil


def test_units_without_maps_or_images_still_render():
    u = UnitLabel("fc", 0, "plain", exemplar_ids=[1, 2], exemplar_scores=[2.0, float("nan")])
    img = np.full((10, 10, 3), 128, np.uint8)
    store, records = _data(LabelReport([u], images={1: img}).to_html())
    assert list(store) == ["1"] and "maps" not in records[0]
    assert records[0]["ex"] == [[1, "2"], [2, "–"]] and records[0]["top"] == 2.0 and records[0]["score"] is None


def test_render_options_are_validated(report):
    with pytest.raises(InputError, match="thumb_size must be an integer number of pixels in 16..1024, got 4"):
        report.to_html(thumb_size=4)
    with pytest.raises(InputError, match="attribution_sign 'both' is not one of"):
        report.to_html(attribution_sign="both")


def test_to_html_writes_the_file(report, tmp_path):
    path = report.to_html(tmp_path / "r.html", title="Audit of resnet18")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<title>Audit of resnet18</title>" in text


def _run_report_command(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="neuronlabel report")
    report_command.add_arguments(parser)
    return report_command.run(parser.parse_args(argv))


def test_report_command_writes_html_and_csv(report, tmp_path, capsys):
    src = report.to_json(tmp_path / "report.json")
    code = _run_report_command([str(src), "--html", str(tmp_path / "r.html"), "--csv", str(tmp_path / "l.csv")])
    assert code == 0
    assert len(_data((tmp_path / "r.html").read_text(encoding="utf-8"))[1]) == len(report.units)
    assert (tmp_path / "l.csv").read_text(encoding="utf-8").splitlines()[0] == "layer,unit,description"
    assert "r.html" in capsys.readouterr().out


def test_report_command_usage_errors_exit_2(tmp_path, capsys):
    assert _run_report_command([str(tmp_path / "missing.json"), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "neuronlabel report: error: report file" in err and "does not exist" in err and "Traceback" not in err
    assert _run_report_command([str(tmp_path / "missing.json")]) == 2
    assert "nothing to write" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "neuronlabel.report/9"}', encoding="utf-8")
    assert _run_report_command([str(bad), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "newer than this neuronlabel reads" in capsys.readouterr().err
