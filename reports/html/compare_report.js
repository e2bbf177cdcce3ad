// The page of fleetsim compare's compare.html: reads the comparison (#fleetsim-data, written by
// reports::write_compare_html): for two runs, each operation's completion curve of the baseline and the current run
// overlaid; for both kinds, every metric compared with its change, tolerance, rank-test p-value and verdict,
// regressions first.
(function () {
  'use strict';
  const { el, palette, draw, unitOf, show } = window.fleetsim;
  const c = window.fleetsim.data();

  const head = document.getElementById('head');
  document.title = 'fleetsim compare (' + c.result + ')';
  head.appendChild(el('h1', {}, 'fleetsim compare ', el('span', { class: 'result ' + c.result, id: 'result' },
                                                         c.result.toUpperCase())));
  const meta = el('dl', { class: 'meta' });
  const add = (k, v) => { meta.appendChild(el('dt', {}, k)); meta.appendChild(el('dd', {}, v)); };
  add('baseline', el('code', {}, c.baseline));
  add('current', el('code', {}, c.current));
  add('compared', c.rows.length + ' metrics of two ' + c.kind + 's; ' + c.regressions + ' worse than their tolerance');
  head.appendChild(meta);
  const main = document.getElementById('main');

  if (c.curves) {
    main.appendChild(el('h2', {}, 'Operations, baseline and current'));
    const grid = el('div', { class: 'charts' });
    main.appendChild(grid);
    const names = [...new Set([...c.curves.baseline, ...c.curves.current].map((o) => o.name))];
    for (const name of names) {
      const datasets = [];
      [['baseline', c.curves.baseline, '#868e96'], ['current', c.curves.current, palette[0]]].forEach(([label, list, color]) => {
        const op = list.find((o) => o.name === name);
        if (!op) return;
        const pts = [{ x: 0, y: 0 }].concat(op.healthy_s.map((t, k) => ({ x: t, y: op.ranks[k] / Math.max(op.targeted, 1) })));
        datasets.push({ label, data: pts, stepped: 'before', borderColor: color, backgroundColor: color, pointRadius: 0,
                        borderWidth: 2, borderDash: label === 'baseline' ? [6, 4] : [] });
      });
      draw(grid, name + ': share of targets healthy', {
        type: 'line', data: { datasets },
        options: { scales: { x: window.fleetsim.timeAxis('since the operation started'),
                             y: { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + '%' } } } },
      });
    }
  }

  main.appendChild(el('h2', {}, 'Metrics'));
  const rows = c.rows.slice().sort((a, b) => (b.regression - a.regression) || a.metric.localeCompare(b.metric));
  const table = el('table', { id: 'metrics' },
    el('thead', {}, el('tr', {}, ['metric', 'baseline', 'current', 'change', 'tolerance', 'p', 'verdict']
                                  .map((h) => el('th', { class: ['baseline', 'current', 'change', 'tolerance', 'p'].includes(h) ? 'num' : '' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, el('td', {}, el('code', {}, r.metric)),
      el('td', { class: 'num' }, show(r.baseline, unitOf(r.metric))), el('td', { class: 'num' }, show(r.current, unitOf(r.metric))),
      el('td', { class: 'num' }, r.change), el('td', { class: 'num' }, (r.direction > 0 ? '+' : '-') + r.tolerance_pct + '%'),
      el('td', { class: 'num' }, r.p === null ? '-' : r.p.toPrecision(3)),
      el('td', { class: r.regression ? 'bad' : r.verdict === 'better' ? 'ok' : '' }, r.verdict)))));
  main.appendChild(el('div', { class: 'scroll' }, table));
  window.fleetsim.finish();
})();
