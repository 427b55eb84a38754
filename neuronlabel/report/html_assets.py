"""The inline CSS and JavaScript of the HTML report (no external assets).

>>> from neuronlabel.report.html_assets import CSS, SCRIPT
>>> "unit-card" in CSS and "getElementById('search')" in SCRIPT
True
"""

CSS = """
:root { --bg:#f5f6f8; --card:#fff; --ink:#1d2330; --muted:#667085; --line:#e3e6eb;
  --accent:#3155d4; --flag:#c2410c; --bar:#2f9e62; --neg:#d9485f; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#12151b; --card:#1b2029; --ink:#e8ebf1; --muted:#9aa3b2; --line:#2c3340;
    --accent:#8aa4ff; --flag:#fb923c; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.page { padding: 28px 32px 12px; }
header.page h1 { margin: 0 0 6px; font-size: 24px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 8px; margin: 10px 0 0; padding: 0; }
.meta div { background: var(--card); border: 1px solid var(--line); border-radius: 999px;
  padding: 2px 10px; font-size: 12px; }
.meta dt { display: inline; color: var(--muted); } .meta dd { display: inline; margin: 0 0 0 4px; }
main { padding: 0 32px 48px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
table.summary { border-collapse: collapse; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; overflow: hidden; width: 100%; }
table.summary th, table.summary td { text-align: left; padding: 6px 12px; border-bottom: 1px solid var(--line); }
table.summary th { font-size: 12px; color: var(--muted); font-weight: 600; }
table.summary tbody tr { cursor: pointer; } table.summary tbody tr:hover { background: rgba(49,85,212,.07); }
table.summary tr.active { background: rgba(49,85,212,.13); }
.num { font-variant-numeric: tabular-nums; }
.word { display: inline-block; margin: 1px 4px 1px 0; padding: 0 6px; border-radius: 4px;
  background: rgba(49,85,212,.1); font-size: 12px; }
.controls { position: sticky; top: 0; z-index: 5; display: flex; flex-wrap: wrap; gap: 10px;
  align-items: center; padding: 12px 0; background: var(--bg); border-bottom: 1px solid var(--line); }
.controls input[type=search] { flex: 1 1 280px; font-size: 15px; padding: 8px 12px;
  border: 1px solid var(--line); border-radius: 8px; background: var(--card); color: var(--ink); }
.controls select { padding: 7px 8px; border: 1px solid var(--line); border-radius: 8px;
  background: var(--card); color: var(--ink); }
.controls label { color: var(--muted); font-size: 13px; }
#visible-count { color: var(--muted); font-size: 13px; margin-left: auto; }
#cards { display: flex; flex-direction: column; gap: 14px; margin-top: 14px; }
.unit-card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; display: grid; grid-template-columns: minmax(220px, 300px) 1fr; gap: 16px;
  content-visibility: auto; contain-intrinsic-size: auto 320px; }
.unit-card:target { outline: 2px solid var(--accent); }
@media (max-width: 760px) { .unit-card { grid-template-columns: 1fr; } }
.unit-card h3 { margin: 0 0 2px; font-size: 17px; line-height: 1.3; }
.ref { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); }
.ref a { color: inherit; text-decoration: none; }
.flag { display: inline-block; margin: 4px 4px 0 0; padding: 0 7px; border-radius: 4px; font-size: 11px;
  color: #fff; background: var(--flag); }
.candidates { margin: 10px 0 8px; padding: 0; list-style: none; font-size: 13px; }
.candidates li { display: flex; justify-content: space-between; gap: 8px; padding: 1px 0;
  color: var(--muted); }
.candidates li:first-child { color: var(--ink); font-weight: 600; }
.stats { display: grid; grid-template-columns: auto 1fr; gap: 0 10px; margin: 0; font-size: 12px; }
.stats dt { color: var(--muted); } .stats dd { margin: 0; }
.exemplars { display: grid; grid-template-columns: repeat(auto-fill, minmax(92px, 1fr)); gap: 6px; }
figure.ex { margin: 0; }
.frame { position: relative; line-height: 0; border-radius: 6px; overflow: hidden; background: #000; }
.frame img { width: 100%; height: auto; display: block; }
.frame img.mask { position: absolute; inset: 0; height: 100%; transition: opacity .15s; }
.frame:hover img.mask { opacity: 0; }
figcaption { font-size: 11px; color: var(--muted); text-align: center; margin-top: 2px;
  font-variant-numeric: tabular-nums; }
.missing { aspect-ratio: 1; display: flex; align-items: center; justify-content: center; font-size: 11px;
  color: var(--muted); border: 1px dashed var(--line); border-radius: 6px; line-height: 1.2;
  text-align: center; padding: 4px; }
details.attr { margin-top: 10px; }
details.attr summary { cursor: pointer; color: var(--muted); font-size: 13px; margin-bottom: 6px; }
.hint { color: var(--muted); font-size: 12px; }
#no-match { padding: 24px; text-align: center; color: var(--muted); }
.explanation { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; display: grid; grid-template-columns: 140px 1fr; gap: 16px; margin-bottom: 12px; }
.explanation h3 { margin: 0 0 8px; font-size: 16px; }
.explanation table { border-collapse: collapse; width: 100%; font-size: 13px; }
.explanation td { padding: 3px 8px 3px 0; vertical-align: middle; }
.bar { height: 10px; border-radius: 3px; background: var(--bar); min-width: 1px; }
.bar.neg { background: var(--neg); }
footer { padding: 16px 32px 32px; color: var(--muted); font-size: 12px; }
"""

SCRIPT = """
(function () {
  var store = JSON.parse(document.getElementById('nl-images').textContent);
  document.querySelectorAll('img[data-image]').forEach(function (img) {
    var src = store[img.getAttribute('data-image')];
    if (src) { img.src = src; }
  });
  var cards = Array.prototype.slice.call(document.querySelectorAll('.unit-card'));
  var container = document.getElementById('cards');
  var search = document.getElementById('search');
  var layerFilter = document.getElementById('layer-filter');
  var withCandidates = document.getElementById('search-candidates');
  var sortBy = document.getElementById('sort');
  var count = document.getElementById('visible-count');
  var noMatch = document.getElementById('no-match');
  var rows = document.querySelectorAll('#layer-table tbody tr');

  function apply() {
    var terms = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var layer = layerFilter.value;
    var shown = 0;
    cards.forEach(function (card) {
      var text = withCandidates.checked ? card.getAttribute('data-search')
                                        : card.getAttribute('data-label').toLowerCase();
      var ok = (!layer || card.getAttribute('data-layer') === layer) &&
               terms.every(function (t) { return text.indexOf(t) !== -1; });
      card.hidden = !ok;
      if (ok) { shown += 1; }
    });
    rows.forEach(function (row) {
      row.classList.toggle('active', row.getAttribute('data-layer') === layer);
    });
    count.textContent = shown + ' of ' + cards.length + ' units';
    noMatch.hidden = shown > 0;
  }

  function sortCards() {
    var key = sortBy.value;
    var sorted = cards.slice();
    if (key === 'label') {
      sorted.sort(function (a, b) { return a.getAttribute('data-label').localeCompare(b.getAttribute('data-label')); });
    } else if (key === 'activation' || key === 'score') {
      var attr = key === 'activation' ? 'data-activation' : 'data-score';
      sorted.sort(function (a, b) {
        var x = parseFloat(a.getAttribute(attr)), y = parseFloat(b.getAttribute(attr));
        return (isNaN(y) ? -Infinity : y) - (isNaN(x) ? -Infinity : x);
      });
    }
    sorted.forEach(function (card) { container.appendChild(card); });
  }

  ['input', 'search', 'change'].forEach(function (ev) { search.addEventListener(ev, apply); });
  layerFilter.addEventListener('change', apply);
  withCandidates.addEventListener('change', apply);
  sortBy.addEventListener('change', sortCards);
  rows.forEach(function (row) {
    row.addEventListener('click', function () {
      var layer = row.getAttribute('data-layer');
      layerFilter.value = layerFilter.value === layer ? '' : layer;
      apply();
    });
  });
  apply();
})();
"""
