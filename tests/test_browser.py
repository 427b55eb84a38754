"""The HTML report in a real browser: cards, decoded images, search and layer filtering.

Needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver) and
selenium; skipped when any of them is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

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
    masks = page.execute_script("return document.querySelectorAll('img.mask').length;")
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
