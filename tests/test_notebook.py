"""LabelReport._repr_html_ and UnitLabel._repr_html_: what a notebook shows."""

import re

from neuronlabel.report import LabelReport, UnitLabel
from neuronlabel.report.notebook import MAX_UNITS, PAGE_SIZE

from test_report_factory import make_report


def test_report_table_pages_units_and_embeds_each_thumbnail_once():
    report = make_report({"layer4": [f"label {i}" for i in range(35)]}, k=5, n_images=12, seed=2)
    html = report._repr_html_()
    assert "<script" not in html
    assert html.count('type="radio"') == 4 and html.count("<table") == 4
    tables = re.findall(r'<table class="pg pg(\d)">(.*?)</table>', html)
    assert [p for p, _ in tables] == ["0", "1", "2", "3"]
    assert re.findall(r'<td class="ref">([^<]+)</td>', tables[3][1]) == [f"layer4:{i}" for i in range(30, 35)]
    uris = re.findall(r"url\((data:image/jpeg;base64,[^)]+)\)", html)
    assert len(uris) == len(set(uris)) == len({i for u in report for i in u.exemplar_ids[:5]})
    assert "confidence" not in html and "nonfinite" in html


def test_confidence_column_and_the_cap_on_rows():
    units = [UnitLabel("fc", i, f"concept {i}", stats={"confidence": i / 200}) for i in range(150)]
    html = LabelReport(units)._repr_html_()
    assert "<th>confidence</th>" in html and "<td>0.25</td>" in html
    assert html.count('<td class="ref">') == MAX_UNITS and html.count('type="radio"') == MAX_UNITS // PAGE_SIZE
    assert f"showing the first {MAX_UNITS} of 150 units" in html
    assert "&lt;b&gt;" in LabelReport([UnitLabel("fc", 0, "<b>")])._repr_html_()


def test_unit_card_draws_exemplars_with_masks_when_in_a_report():
    report = make_report(k=4, n_images=8, seed=1)
    html = report["layer4:1"]._repr_html_()
    assert html.count('alt="probe image') == 4 and html.count("data:image/png") == 4
    assert report["layer4:1"].candidates[0][0] in html and "threshold" in html
    alone = UnitLabel("fc", 0, "cats", exemplar_ids=[3], exemplar_scores=[1.0])._repr_html_()
    assert "<img" not in alone and "#3" in alone
