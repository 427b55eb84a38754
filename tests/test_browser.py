"""The HTML report in a real browser: cards, decoded images, search and layer filtering.

Needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver) and
selenium; skipped when any of them is missing.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time

import numpy as np
import pytest

from neuronlabel.report import LabelReport, UnitLabel
from test_report_factory import make_report

CHROMIUM = os.environ.get("NEURONLABEL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NEURONLABEL_CHROMEDRIVER", "/usr/bin/chromedriver")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

LABELS = {
    "layer3": ["dog faces", "red stripes", "the surface of water", "Dog fur", "grass"],
    "layer4": ["human faces", "letters on signs", "hotdogs", "wheels", "cat faces", "sky"],
}


@pytest.fixture(scope="module")
def report():
    return make_report(LABELS, k=6, n_images=14, seed=7, attributions=True, explanations=True)


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="neuronlabel-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as e:  # a browser that cannot start here is an environment problem, not a bug
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"Chromium did not start: {e}")
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def page(report, browser, tmp_path_factory):
    path = report.to_html(tmp_path_factory.mktemp("html") / "report.html")
    browser.get(path.resolve().as_uri())
    return browser


def _visible_labels(driver) -> list:
    return [c.get_attribute("data-label") for c in driver.find_elements(By.CSS_SELECTOR, ".unit-card")
            if c.is_displayed()]


def test_one_card_per_unit(report, page):
    cards = page.find_elements(By.CSS_SELECTOR, ".unit-card")
    assert len(cards) == len(report.units) == 11
    assert [c.get_attribute("data-label") for c in cards] == [u.label for u in report.units]
    assert page.find_element(By.ID, "visible-count").text == "11 of 11 units"


def test_every_image_decodes(report, page):
    def all_decoded(driver):
        return driver.execute_script(
            "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);")

    WebDriverWait(page, 20).until(all_decoded)
    exemplars = page.execute_script(
        "return Array.from(document.querySelectorAll('img.exemplar')).map(i => [i.naturalWidth, i.naturalHeight]);")
    assert len(exemplars) == sum(len(u.exemplar_ids) for u in report.units) + len(report.explanations)
    assert all(w > 0 and h > 0 for w, h in exemplars)
    masks = page.execute_script("return document.querySelectorAll('canvas.mask').length;")
    attributions = page.execute_script("return document.querySelectorAll('img.attribution').length;")
    assert masks == attributions == sum(len(u.exemplar_ids) for u in report.units)


@pytest.mark.parametrize("query", ["faces", "dog", "DOG faces", "zebra", ""])
def test_search_box_filters_cards(report, page, query):
    search = page.find_element(By.ID, "search")
    search.clear()
    if query:
        search.send_keys(query)
    terms = query.lower().split()
    expected = [u.label for u in report.units if all(t in u.label.lower() for t in terms)]
    assert _visible_labels(page) == expected
    assert [u.label for u in report.search(query)] == expected
    assert page.find_element(By.ID, "visible-count").text == f"{len(expected)} of 11 units"
    assert page.find_element(By.ID, "no-match").is_displayed() == (not expected)


def test_layer_filter_and_candidate_search(report, page):
    search = page.find_element(By.ID, "search")
    search.clear()
    search.send_keys("faces")
    Select(page.find_element(By.ID, "layer-filter")).select_by_value("layer4")
    assert _visible_labels(page) == ["human faces", "cat faces"]
    Select(page.find_element(By.ID, "layer-filter")).select_by_value("")
    search.clear()
    search.send_keys("sky")
    assert _visible_labels(page) == ["sky"]
    page.find_element(By.ID, "search-candidates").click()
    assert len(_visible_labels(page)) == len(report.search("sky", candidates=True)) == 11
    page.find_element(By.ID, "search-candidates").click()
    search.clear()
    page.find_element(By.CSS_SELECTOR, '#layer-table tr[data-layer="layer3"]').click()
    assert _visible_labels(page) == LABELS["layer3"]


def _alpha_of_masks(driver, card_ids) -> dict:
    """Paint the masks of these cards (by scrolling to each) and read back their alpha channels."""
    for card_id in card_ids:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView();", card_id)
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(
            "var c = document.getElementById(arguments[0]);"
            "return c.querySelectorAll('canvas.mask').length === c.querySelectorAll('canvas.mask[data-painted]').length;",
            card_id))
    rows = driver.execute_script("""
        return Array.from(document.querySelectorAll('canvas.mask')).map(function (c) {
          var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, s = '';
          for (var i = 3; i < d.length; i += 4) { s += String.fromCharCode(d[i]); }
          return [c.closest('.unit-card').id, parseInt(c.getAttribute('data-exemplar'), 10), c.height, c.width, btoa(s)];
        });""")
    return {(card, j): np.frombuffer(base64.b64decode(a), np.uint8).reshape(h, w) for card, j, h, w, a in rows}


def test_masks_are_region_mask_pixel_for_pixel(report, page):
    from neuronlabel.report.overlays import fit_image, region_mask

    page.find_element(By.ID, "search").clear()
    Select(page.find_element(By.ID, "layer-filter")).select_by_value("")
    alpha = _alpha_of_masks(page, [f"unit-{u.ref}" for u in report.units])
    assert len(alpha) == sum(len(u.exemplar_ids) for u in report.units)
    for u in report.units:
        for j, image_id in enumerate(u.exemplar_ids):
            thumb = fit_image(report.images[image_id], 112)
            region = region_mask(np.asarray(u.maps[j], np.float32), u.threshold, thumb.shape[:2])
            padded = np.pad(region, 1, mode="edge")
            interior = region & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
            expected = np.where(region, np.where(interior, 0, 255), round(0.72 * 255))
            assert region.any() and not region.all()
            np.testing.assert_array_equal(alpha[(f"unit-{u.ref}", j)], expected)


def _cards(driver) -> list:
    return [c.get_attribute("id") for c in driver.find_elements(By.CSS_SELECTOR, "#cards .unit-card")]


def test_pages_search_sort_and_links_across_pages(browser, tmp_path):
    labels = {"layer3": [f"texture {i}" for i in range(60)],
              "layer4": [f"pattern {i}" if i != 53 else "zebra stripes" for i in range(60)]}
    report = make_report(labels, k=2, n_images=6, seed=3)
    report.units.append(UnitLabel("fc", 0, "no maps", exemplar_ids=[100, 999], exemplar_scores=[1.0, 0.5]))
    browser.get(report.to_html(tmp_path / "pages.html").resolve().as_uri())
    refs = [f"unit-{u.ref}" for u in report.units]
    assert _cards(browser) == refs[:50]
    assert browser.find_element(By.ID, "page-info").text == "page 1 of 3"
    assert browser.find_element(By.ID, "visible-count").text == "121 of 121 units"
    assert not browser.find_element(By.CSS_SELECTOR, ".pager.top .prev").is_enabled()
    browser.find_element(By.CSS_SELECTOR, ".pager.top .next").click()
    assert _cards(browser) == refs[50:100]
    browser.find_element(By.CSS_SELECTOR, ".pager.top .next").click()
    assert _cards(browser) == refs[100:]
    assert not browser.find_element(By.CSS_SELECTOR, ".pager.top .next").is_enabled()
    last = browser.find_element(By.ID, "unit-fc:0")
    assert "image 999 not in report" in last.text and not last.find_elements(By.CSS_SELECTOR, "canvas.mask")

    search = browser.find_element(By.ID, "search")
    search.send_keys("zebra")
    assert _cards(browser) == ["unit-layer4:53"]
    assert browser.find_element(By.ID, "page-info").text == "page 1 of 1"
    search.clear()
    assert _cards(browser) == refs[:50]

    browser.execute_script("location.hash = '#unit-layer4:55';")
    WebDriverWait(browser, 10).until(lambda d: "unit-layer4:55" in _cards(d))
    assert browser.find_element(By.ID, "page-info").text == "page 3 of 3"
    assert "targeted" in browser.find_element(By.ID, "unit-layer4:55").get_attribute("class")

    Select(browser.find_element(By.ID, "page-size")).select_by_value("100")
    assert _cards(browser) == refs[:100]
    Select(browser.find_element(By.ID, "sort")).select_by_value("label")
    assert _cards(browser)[:3] == [f"unit-{u.ref}" for u in sorted(report.units, key=lambda u: u.label)][:3]


def _big_report(n: int, k: int = 15) -> LabelReport:
    from test_report_factory import make_maps, make_thumbnail

    rng = np.random.default_rng(0)
    images = {i: make_thumbnail(rng, (96, 128)) for i in range(300)}
    maps = [make_maps(rng, k) for _ in range(64)]
    units = []
    for u in range(n):
        m = maps[u % 64]
        scores = sorted(m.reshape(k, -1).max(axis=1).astype(float).tolist(), reverse=True)
        units.append(UnitLabel(f"layer{1 + u // 1000}", u % 1000, f"concept {u} and texture {u % 97}",
                               candidates=[(f"concept {u}", -1.0 - u / n), ("objects", -3.0)],
                               exemplar_ids=rng.choice(300, k, replace=False).tolist(), exemplar_scores=scores,
                               threshold=float(np.quantile(m.astype(np.float32), 0.9)), maps=m,
                               stats={"max": scores[0], "mean": 0.4}))
    return LabelReport(units, images=images, meta={"model": "synthetic", "k": k})


@pytest.mark.slow
def test_a_5000_unit_report_opens_quickly(browser, tmp_path):
    report = _big_report(5000)
    t0 = time.perf_counter()
    path = report.to_html(tmp_path / "big.html")
    written = time.perf_counter() - t0
    t0 = time.perf_counter()
    browser.get(path.resolve().as_uri())
    loaded = time.perf_counter() - t0
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(
        "var c = document.querySelector('#cards .unit-card');"
        "return c && c.querySelectorAll('canvas.mask[data-painted]').length === 15 &&"
        " Array.from(c.querySelectorAll('img')).every(i => i.complete && i.naturalWidth > 0);"))
    first_render, painted = (float(browser.execute_script(
        f"return document.documentElement.getAttribute('data-first-{what}-ms');")) for what in ("render", "masks"))
    search_ms = browser.execute_script(
        "var s = document.getElementById('search'), t = performance.now(); s.value = 'texture 96';"
        "s.dispatchEvent(new Event('input')); return performance.now() - t;")
    matches = browser.find_element(By.ID, "visible-count").text
    print(f"\n5000-unit report: {path.stat().st_size / 1e6:.1f} MB written in {written:.1f} s; first page of cards "
          f"drawn {first_render / 1000:.2f} s after navigation start, first masks painted at {painted / 1000:.2f} s "
          f"(page load returned after {loaded:.2f} s); a search over all units took {search_ms:.0f} ms")
    assert matches == f"{len(report.search('texture 96'))} of 5000 units"
    assert first_render < 15_000
    assert len(_cards(browser)) == 50


def test_notebook_table_switches_pages_without_script(browser, tmp_path):
    report = make_report({"layer4": [f"label {i}" for i in range(25)]}, k=3, n_images=8, seed=4)
    path = tmp_path / "notebook.html"
    path.write_text(f"<!DOCTYPE html><html><body>{report._repr_html_()}</body></html>", encoding="utf-8")
    browser.get(path.resolve().as_uri())

    def shown():
        return [t.get_attribute("class") for t in browser.find_elements(By.CSS_SELECTOR, "table.pg") if t.is_displayed()]

    assert shown() == ["pg pg0"]
    browser.find_element(By.CSS_SELECTOR, "nav label:nth-of-type(3)").click()
    assert shown() == ["pg pg2"]
    assert [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.pg2 td.ref")] == \
        [f"layer4:{i}" for i in range(20, 25)]
