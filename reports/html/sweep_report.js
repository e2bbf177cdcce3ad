// The page of a sweep's sweep.html: reads the sweep's data (#fleetsim-data: sweep.json's content, the metrics
// shown and each point's report link, written by reports::write_sweep_html) and draws, per metric of interest, its
// median across seeds against the first axis with the p5-p95 band (one line per combination of the other axes), a
// heat map of the medians for a two-axis grid, the expectations across seeds, and every point with its runs.
(function () {
  'use strict';
  const { el, palette, draw, unitOf, show } = window.fleetsim;
  const data = window.fleetsim.data();
  const s = data.sweep;
  const axes = s.axes || [];
  const varying = axes.filter((a) => a.values.length > 1);  // an axis of one value is a fixed parameter
  const points = s.points || [];

  // Nearest-rank percentile of the seeds' values that are numbers, as sweep.json's statistics.
  function rank(values, p) {
    const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
    if (!v.length) return null;
    return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length - 1e-9) - 1))];
  }

  function header() {
    const head = document.getElementById('head');
    const bad = s.failed + s.errors + s.expectations_failed;
    const result = s.missing ? 'interrupted' : bad ? 'fail' : 'pass';
    document.title = 'fleetsim sweep: ' + s.scenario + ' (' + result + ')';
    head.appendChild(el('h1', {}, 'fleetsim sweep: ' + s.scenario + ' ',
                        el('span', { class: 'result ' + result, id: 'result' }, result.toUpperCase())));
    const meta = el('dl', { class: 'meta' });
    const add = (k, v) => { meta.appendChild(el('dt', {}, k)); meta.appendChild(el('dd', {}, v)); };
    add('axes', axes.length ? axes.map((a) => a.name + ' = ' + a.values.join(', ')).join('; ') : '(seeds only)');
    add('seeds', s.seeds.length + ' (' + s.seeds.slice(0, 10).join(', ') + (s.seeds.length > 10 ? ', ...' : '') + ')');
    add('runs', s.runs + ': ' + s.failed + ' failed, ' + s.errors + ' errors, ' + s.missing + ' missing; ' +
                s.expectations_failed + ' expectation(s) across seeds failed');
    if (s.run_args.length) add('every run', el('code', {}, s.run_args.join(' ')));
    head.appendChild(meta);
  }

  function metricCharts(main) {
    if (!data.shown.length) return;
    main.appendChild(el('h2', {}, 'Metrics across the grid'));
    const grid = el('div', { class: 'charts' });
    main.appendChild(grid);
    const first = varying[0];
    // One line per combination of the other varying axes' values.
    const groups = new Map();
    for (const p of points) {
      const key = varying.slice(1).map((a) => a.name + '=' + p.parameters[a.name]).join(', ') || 'all';
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(p);
    }
    const labels = first ? first.values : ['(one point)'];
    for (const metric of data.shown) {
      const unit = unitOf(metric);
      const datasets = [];
      [...groups.entries()].forEach(([key, ps], k) => {
        const color = palette[k % palette.length];
        const at = (stat) => labels.map((v) => {
          const p = ps.find((q) => !first || q.parameters[first.name] === v);
          const m = p && p.metrics[metric];
          return m ? rank(m.values || [], stat) : null;
        });
        datasets.push({ label: key + ' p5', data: at(5), borderColor: 'transparent', pointRadius: 0, fill: false });
        datasets.push({ label: key + ' p95', data: at(95), borderColor: 'transparent', backgroundColor: color + '33',
                        pointRadius: 0, fill: '-1' });
        datasets.push({ label: key + ' median', data: at(50), borderColor: color, backgroundColor: color, pointRadius: 3,
                        borderWidth: 2, fill: false });
      });
      draw(grid, metric + (first ? ' against ' + first.name : ''), {
        type: 'line', data: { labels, datasets },
        options: { scales: { x: { title: { display: true, text: first ? first.name : '' } },
                             y: { ticks: { callback: (v) => show(v, unit) } } },
                   plugins: { legend: { labels: { filter: (item) => item.text.endsWith('median') } },
                              tooltip: { callbacks: { label: (c) => c.dataset.label + ': ' + show(c.raw, unit) } } } },
      }, 'median across seeds; the band is p5-p95 of the seeds');
    }
  }

  function heatMaps(main) {
    if (varying.length !== 2 || !data.shown.length) return;
    main.appendChild(el('h2', {}, 'Medians over the grid'));
    const [a, b] = varying;
    for (const metric of data.shown) {
      const unit = unitOf(metric);
      const med = (p) => (p && p.metrics[metric] ? rank(p.metrics[metric].values || [], 50) : null);
      const cells = points.map(med).filter((v) => v !== null);
      const lo = Math.min(...cells), hi = Math.max(...cells);
      const shade = (v) => {
        if (v === null) return '#f1f3f5';
        const f = hi > lo ? (v - lo) / (hi - lo) : 0;
        return 'hsl(' + Math.round(130 - 130 * f) + ', 60%, ' + Math.round(88 - 30 * f) + '%)';
      };
      const table = el('table', { class: 'heat', 'data-points': String(cells.length) },
        el('thead', {}, el('tr', {}, el('th', {}, a.name + ' \\ ' + b.name), b.values.map((v) => el('th', { class: 'num' }, v)))),
        el('tbody', {}, a.values.map((va) => el('tr', {}, el('th', {}, va), b.values.map((vb) => {
          const p = points.find((q) => q.parameters[a.name] === va && q.parameters[b.name] === vb);
          const v = med(p);
          const td = el('td', { class: 'num' }, show(v, unit));
          td.style.background = shade(v);
          return td;
        })))));
      main.appendChild(el('h3', {}, metric + ' (median across seeds; greener is smaller)'));
      main.appendChild(el('div', { class: 'scroll' }, table));
    }
  }

  function pointTable(main) {
    main.appendChild(el('h2', {}, 'Points'));
    const head = el('tr', {}, el('th', {}, 'point'), axes.map((a) => el('th', {}, a.name)), el('th', { class: 'num' }, 'passed'),
      el('th', { class: 'num' }, 'failed'), el('th', { class: 'num' }, 'errors'), el('th', { class: 'num' }, 'missing'),
      el('th', {}, 'expectations across seeds'), data.shown.map((m) => el('th', { class: 'num' }, m + ' p50')),
      el('th', {}, 'report'));
    const rows = points.map((p) => el('tr', {}, el('td', {}, p.id), axes.map((a) => el('td', {}, p.parameters[a.name])),
      el('td', { class: 'num' }, String(p.passed)), el('td', { class: 'num' + (p.failed ? ' bad' : '') }, String(p.failed)),
      el('td', { class: 'num' + (p.errors ? ' bad' : '') }, String(p.errors)), el('td', { class: 'num' }, String(p.missing)),
      el('td', {}, (p.expectations || []).map((e) => el('div', { class: e.passed === false ? 'bad' : e.passed ? 'ok' : 'skip' },
        (e.passed === false ? 'FAIL ' : e.passed ? 'pass ' : 'not judged ') + e.expect + ' (' + show(e.measured, e.unit) + ')'))),
      data.shown.map((m) => el('td', { class: 'num' }, show(p.metrics[m] ? p.metrics[m].p50 : null, unitOf(m)))),
      el('td', {}, data.links[p.id] ? el('a', { href: data.links[p.id] }, 'median run') : '-')));
    main.appendChild(el('div', { class: 'scroll' }, el('table', { id: 'points' }, el('thead', {}, head), el('tbody', {}, rows))));
  }

  header();
  const main = document.getElementById('main');
  metricCharts(main);
  heatMaps(main);
  pointTable(main);
  window.fleetsim.finish();
})();
