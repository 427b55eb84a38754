"""The inline CSS and JavaScript of the HTML report (no external assets).

>>> from neuronlabel.report.html_assets import CSS, SCRIPT
>>> "unit-card" in CSS and "getElementById('search')" in SCRIPT
True
"""

PAGE_SIZES = (20, 50, 100, 500)
DEFAULT_PAGE_SIZE = 50

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
.unit-card:target, .unit-card.targeted { outline: 2px solid var(--accent); }
.pager { display: flex; align-items: center; gap: 6px; color: var(--muted); font-size: 13px; }
.pager button { padding: 5px 10px; border: 1px solid var(--line); border-radius: 8px; background: var(--card);
  color: var(--ink); cursor: pointer; } .pager button:disabled { opacity: .4; cursor: default; }
.pager.bottom { justify-content: center; margin-top: 14px; }
@media (max-width: 760px) { .unit-card { grid-template-columns: 1fr; } }
.unit-card h3 { margin: 0 0 2px; font-size: 17px; line-height: 1.3; }
.ref { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); }
.ref a { color: inherit; text-decoration: none; }
.concepts { margin: 4px 0; font-size: 12px; }
.concepts .concept, .concepts .conf { display: inline-block; margin: 2px 4px 0 0; padding: 0 6px; border-radius: 4px;
  border: 1px solid var(--accent); }
.concepts .conf { border-style: dashed; }
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
.frame .mask { position: absolute; inset: 0; width: 100%; height: 100%; transition: opacity .15s; }
.frame:hover .mask { opacity: 0; }
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

SCRIPT = r"""
(function () {
  var store = JSON.parse(document.getElementById('nl-images').textContent);
  var units = JSON.parse(document.getElementById('nl-units').textContent);
  var container = document.getElementById('cards');
  var search = document.getElementById('search');
  var layerFilter = document.getElementById('layer-filter');
  var withCandidates = document.getElementById('search-candidates');
  var sortBy = document.getElementById('sort');
  var pageSize = document.getElementById('page-size');
  var count = document.getElementById('visible-count');
  var pageInfo = document.getElementById('page-info');
  var noMatch = document.getElementById('no-match');
  var rows = document.querySelectorAll('#layer-table tbody tr');
  var byAnchor = {};
  units.forEach(function (u, i) { u.index = i; byAnchor[u.anchor] = u; });
  var order = units.slice(), shown = units, page = 0;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function setImage(img, id) {
    var entry = store[String(id)];
    if (entry) { img.src = entry[0]; }
  }
  document.querySelectorAll('img[data-image]').forEach(function (img) { setImage(img, img.getAttribute('data-image')); });

  function half(bits) {
    var s = bits & 0x8000 ? -1 : 1, e = (bits >> 10) & 0x1f, f = bits & 0x3ff;
    if (e === 0) { return s * f * Math.pow(2, -24); }
    if (e === 31) { return f ? NaN : s * Infinity; }
    return s * (1 + f / 1024) * Math.pow(2, e - 15);
  }

  function decodeMaps(m) {
    var raw = atob(m.data), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    if (m.dtype === 'f4') { return new Float32Array(bytes.buffer); }
    var view = new DataView(bytes.buffer), out = new Float32Array(bytes.length / 2);
    for (var j = 0; j < out.length; j++) { out[j] = half(view.getUint16(2 * j, true)); }
    return out;
  }

  // overlays.upsample_bilinear (torch's align_corners=False) in float32, then > threshold.
  function axis(nIn, nOut) {
    var lo = new Int32Array(nOut), hi = new Int32Array(nOut), w = new Float32Array(nOut);
    for (var o = 0; o < nOut; o++) {
      var src = Math.max((o + 0.5) * (nIn / nOut) - 0.5, 0);
      lo[o] = Math.min(Math.floor(src), nIn - 1);
      hi[o] = Math.min(lo[o] + 1, nIn - 1);
      w[o] = src - lo[o];
    }
    return {lo: lo, hi: hi, w: w};
  }

  function regionMask(map, h, w, H, W, threshold) {
    var f = Math.fround, rowsUp = map, y, x;
    if (h !== H) {
      var ay = axis(h, H);
      rowsUp = new Float32Array(H * w);
      for (y = 0; y < H; y++) {
        var wy = ay.w[y], oy = f(1 - wy), a = ay.lo[y] * w, b = ay.hi[y] * w;
        for (x = 0; x < w; x++) { rowsUp[y * w + x] = f(f(map[a + x] * oy) + f(map[b + x] * wy)); }
      }
    }
    var full = rowsUp;
    if (w !== W) {
      var ax = axis(w, W);
      full = new Float32Array(H * W);
      for (y = 0; y < H; y++) {
        for (x = 0; x < W; x++) {
          var wx = ax.w[x];
          full[y * W + x] = f(f(rowsUp[y * w + ax.lo[x]] * f(1 - wx)) + f(rowsUp[y * w + ax.hi[x]] * wx));
        }
      }
    }
    var mask = new Uint8Array(H * W);
    for (var i = 0; i < H * W; i++) { mask[i] = full[i] > threshold ? 1 : 0; }
    return mask;
  }

  // overlays.mask_overlay_png: clear on the region, dark outside, an outline on its edge.
  function drawMask(canvas, mask, H, W) {
    var ctx = canvas.getContext('2d'), image = ctx.createImageData(W, H), d = image.data;
    function at(y, x) { return mask[Math.min(Math.max(y, 0), H - 1) * W + Math.min(Math.max(x, 0), W - 1)]; }
    for (var y = 0; y < H; y++) {
      for (var x = 0; x < W; x++) {
        var p = 4 * (y * W + x);
        if (!mask[y * W + x]) { d[p] = 12; d[p + 1] = 14; d[p + 2] = 20; d[p + 3] = 184; }
        else if (!(at(y - 1, x) && at(y + 1, x) && at(y, x - 1) && at(y, x + 1))) {
          d[p] = 255; d[p + 1] = 214; d[p + 2] = 10; d[p + 3] = 255;
        }
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  function card(u) {
    if (u.node) { return u.node; }
    var node = el('article', 'unit-card');
    node.id = u.anchor;
    node.setAttribute('data-layer', u.layer);
    node.setAttribute('data-unit', u.unit);
    node.setAttribute('data-label', u.label);
    var info = el('div', 'info'), head = el('h3', 'label');
    if (u.label) { head.textContent = u.label; } else { head.appendChild(el('em', '', '(no label)')); }
    info.appendChild(head);
    var ref = el('div', 'ref'), link = el('a', '', u.ref);
    link.href = '#' + u.anchor;
    ref.appendChild(link);
    info.appendChild(ref);
    u.flags.forEach(function (flag) { info.appendChild(el('span', 'flag', flag)); });
    if (u.evid && u.evid.length) {
      var found = el('div', 'concepts');
      found.title = 'evidence: concepts the exemplars show, with their scores (0 to 1)';
      if (u.conf !== null && u.conf !== undefined) { found.appendChild(el('span', 'conf', 'confidence ' + u.conf.toFixed(2))); }
      u.evid.forEach(function (e) { found.appendChild(el('span', 'concept ' + e[1], e[0] + ' ' + e[2])); });
      info.appendChild(found);
    }
    if (u.cand.length) {
      var list = el('ol', 'candidates');
      list.title = 'beam candidates, log-probability';
      u.cand.forEach(function (c) {
        var li = el('li');
        li.appendChild(el('span', '', c[0]));
        li.appendChild(el('span', 'num', c[1]));
        list.appendChild(li);
      });
      info.appendChild(list);
    }
    var stats = el('dl', 'stats');
    u.stats.forEach(function (kv) { stats.appendChild(el('dt', '', kv[0])); stats.appendChild(el('dd', 'num', kv[1])); });
    info.appendChild(stats);
    node.appendChild(info);
    var evidence = el('div', 'evidence');
    var figures = el('div', 'exemplars');
    u.ex.forEach(function (e, j) {
      var fig = el('figure', 'ex'), entry = store[String(e[0])];
      if (!entry) {
        fig.appendChild(el('div', 'missing', 'image ' + e[0] + ' not in report'));
      } else {
        var frame = el('div', 'frame'), img = el('img', 'exemplar');
        img.setAttribute('data-image', e[0]);
        img.alt = 'probe image ' + e[0];
        img.src = entry[0];
        frame.appendChild(img);
        if (u.maps) {
          var canvas = el('canvas', 'mask');
          canvas.width = entry[2];
          canvas.height = entry[1];
          canvas.setAttribute('data-exemplar', j);
          frame.appendChild(canvas);
        }
        fig.appendChild(frame);
      }
      fig.appendChild(el('figcaption', '', '#' + e[0] + ' · ' + e[1]));
      figures.appendChild(fig);
    });
    if (u.ex.length) { evidence.appendChild(figures); } else { evidence.appendChild(el('div', 'hint', 'no exemplars')); }
    if (u.attr && u.attr.some(Boolean)) {
      var details = el('details', 'attr'), grid = el('div', 'exemplars');
      details.appendChild(el('summary', '', u.attr_title));
      u.attr.forEach(function (src, j) {
        if (!src) { return; }
        var fig = el('figure', 'ex'), frame = el('div', 'frame'), img = el('img', 'attribution');
        img.alt = 'attribution on image ' + u.ex[j][0];
        img.src = src;
        frame.appendChild(img);
        fig.appendChild(frame);
        fig.appendChild(el('figcaption', '', '#' + u.ex[j][0]));
        grid.appendChild(fig);
      });
      details.appendChild(grid);
      evidence.appendChild(details);
    }
    node.appendChild(evidence);
    node.nlUnit = u;
    u.node = node;
    if (u.maps) { watch(node); }
    return node;
  }

  // Masks are painted when their card comes near the viewport, so a page of any size opens at once.
  function paint(node) {
    var u = node.nlUnit;
    if (u.painted) { return; }
    u.painted = true;
    var maps = decodeMaps(u.maps), h = u.maps.h, w = u.maps.w;
    node.querySelectorAll('canvas.mask').forEach(function (canvas) {
      var j = parseInt(canvas.getAttribute('data-exemplar'), 10), H = canvas.height, W = canvas.width;
      drawMask(canvas, regionMask(maps.subarray(j * h * w, (j + 1) * h * w), h, w, H, W, u.th), H, W);
      canvas.setAttribute('data-painted', '1');
    });
    if (!document.documentElement.hasAttribute('data-first-masks-ms')) {
      document.documentElement.setAttribute('data-first-masks-ms', String(performance.now()));
    }
  }
  var observer = 'IntersectionObserver' in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { if (e.isIntersecting) { observer.unobserve(e.target); paint(e.target); } });
  }, {rootMargin: '100% 0px'}) : null;
  function watch(node) { if (observer) { observer.observe(node); } else { paint(node); } }

  function size() { return parseInt(pageSize.value, 10) || 50; }
  function pages() { return Math.max(1, Math.ceil(shown.length / size())); }

  function draw() {
    page = Math.min(Math.max(page, 0), pages() - 1);
    var part = document.createDocumentFragment();
    shown.slice(page * size(), (page + 1) * size()).forEach(function (u) { part.appendChild(card(u)); });
    container.textContent = '';
    container.appendChild(part);
    count.textContent = shown.length + ' of ' + units.length + ' units';
    pageInfo.textContent = 'page ' + (page + 1) + ' of ' + pages();
    document.querySelectorAll('.pager .prev').forEach(function (b) { b.disabled = page === 0; });
    document.querySelectorAll('.pager .next').forEach(function (b) { b.disabled = page >= pages() - 1; });
    document.querySelector('.pager.bottom').hidden = pages() < 2;
    noMatch.hidden = shown.length > 0;
  }

  function apply() {
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var layer = layerFilter.value, candidates = withCandidates.checked;
    shown = order.filter(function (u) {
      var text = candidates ? u.search : u.label.toLowerCase();
      return (!layer || u.layer === layer) && terms.every(function (t) { return text.indexOf(t) !== -1; });
    });
    rows.forEach(function (row) { row.classList.toggle('active', row.getAttribute('data-layer') === layer); });
    page = 0;
    draw();
  }

  function sortUnits() {
    var key = sortBy.value;
    order = units.slice();
    if (key === 'label') {
      order.sort(function (a, b) { return a.label.localeCompare(b.label) || a.index - b.index; });
    } else if (key === 'activation' || key === 'score') {
      var attr = key === 'activation' ? 'top' : 'score';
      order.sort(function (a, b) {
        var x = a[attr] === null ? -Infinity : a[attr], y = b[attr] === null ? -Infinity : b[attr];
        return (y - x) || a.index - b.index;
      });
    }
    apply();
  }

  function showTarget() {
    var id = decodeURIComponent(location.hash.slice(1)), u = byAnchor[id];
    if (!u) { return; }
    var at = shown.indexOf(u);
    if (at < 0) {
      search.value = '';
      layerFilter.value = '';
      apply();
      at = shown.indexOf(u);
    }
    page = Math.floor(at / size());
    draw();
    document.querySelectorAll('.unit-card.targeted').forEach(function (c) { c.classList.remove('targeted'); });
    u.node.classList.add('targeted');
    u.node.scrollIntoView();
  }

  ['input', 'search', 'change'].forEach(function (ev) { search.addEventListener(ev, apply); });
  layerFilter.addEventListener('change', apply);
  withCandidates.addEventListener('change', apply);
  sortBy.addEventListener('change', sortUnits);
  pageSize.addEventListener('change', function () { page = 0; draw(); });
  document.querySelectorAll('.pager .prev').forEach(function (b) {
    b.addEventListener('click', function () { page -= 1; draw(); });
  });
  document.querySelectorAll('.pager .next').forEach(function (b) {
    b.addEventListener('click', function () { page += 1; draw(); if (b.closest('.bottom')) { container.scrollIntoView(); } });
  });
  rows.forEach(function (row) {
    row.addEventListener('click', function () {
      var layer = row.getAttribute('data-layer');
      layerFilter.value = layerFilter.value === layer ? '' : layer;
      apply();
    });
  });
  window.addEventListener('hashchange', showTarget);
  apply();
  if (location.hash) { showTarget(); }
  document.documentElement.setAttribute('data-first-render-ms', String(performance.now()));
})();
"""
