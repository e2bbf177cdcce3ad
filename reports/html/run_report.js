// The page of a run's report.html: reads the run's data (the JSON in #fleetsim-data, written by
// reports::write_report_html) and draws it with Chart.js (Debian's libjs-chart.js, inlined) through common.js.
(function () {
  'use strict';
  const { el, dur, bytes, value, palette, draw } = window.fleetsim;
  const data = window.fleetsim.data();
  const r = data.report;
  // A run of fleetsim emulate happened in real time: its time axes say so.
  const emulatedRun = String((r.engine || {}).runtime || '').startsWith('emulate');
  const timeAxis = (title) => window.fleetsim.timeAxis(title || (emulatedRun ? 'emulated time' : 'simulated time'));
  const stateColors = { running: '#2b8a3e', updating: '#2f6fdf', starting: '#74c0fc', crashlooping: '#e03131',
                        down: '#868e96', none: '#dee2e6' };
  // Scripted fault windows are shaded on the time axes; random outages (a site's flaps, often hundreds) are not:
  // the Faults section charts how many are open at once.
  const faultWindows = (r.faults || []).filter((f) => f.kind !== 'random')
    .map((f) => ({ start: f.start_s, end: f.end_s, label: f.name }));
  const opMarks = [];
  for (const op of r.operations || []) {
    opMarks.push({ at: op.started_at_s, label: op.name, color: '#364fc7' });
    // A batched rollout's gates: each batch after the first starts when the one before passed its gate.
    (op.batches || []).slice(1).forEach((b, k) =>
      opMarks.push({ at: b.started_s, label: op.name + ' batch ' + (k + 2), color: '#748ffc' }));
    if (op.aborted_at_s !== null && op.aborted_at_s !== undefined)
      opMarks.push({ at: op.aborted_at_s, label: op.name + ' aborted', color: '#c92a2a' });
  }
  opMarks.sort((a, b) => a.at - b.at);

  // ---- sections --------------------------------------------------------------------------------------------------
  function header() {
    const head = document.getElementById('head');
    const sc = r.scenario || {};
    document.title = 'fleetsim: ' + (sc.name || sc.file || 'run') + ' (' + r.result + ')';
    head.appendChild(el('h1', {}, 'fleetsim: ' + (sc.name || sc.file || 'run') + ' ',
                        el('span', { class: 'result ' + r.result, id: 'result' }, String(r.result).toUpperCase())));
    const meta = el('dl', { class: 'meta' });
    const add = (k, v) => { meta.appendChild(el('dt', {}, k)); meta.appendChild(el('dd', {}, v)); };
    add('scenario', el('code', {}, sc.file || ''));
    add('seed', String(sc.seed));
    if ((sc.parameters || []).length)
      add('parameters', sc.parameters.map((p) => p.name + ' = ' + p.value + (p.given ? '' : ' (default)')).join(', '));
    if ((sc.overrides || []).length) add('--set', sc.overrides.join(', '));
    add('fleet', (r.fleet || {}).sites + ' sites, ' + (r.fleet || {}).nodes + ' nodes; ' +
                     (emulatedRun ? 'emulated ' : 'simulated ') + dur(r.end_time_s) +
                     (r.hit_max_time ? ' (stopped at simulation.max_time)' : ''));
    if (data.replay) add('replay', el('code', {}, data.replay));
    add('engine', Object.entries(r.engine || {}).map(([k, v]) => k + ' ' + v).join(', '));
    add('fleetsim', r.fleetsim_version || '');
    head.appendChild(meta);
  }

  function checks(main) {
    main.appendChild(el('h2', {}, 'Expectations and invariants'));
    const rows = [];
    for (const e of r.expectations || []) {
      const gap = e.measured === null ? '-' : value(Math.abs(e.measured - e.expected), e.unit);
      const verdict = e.passed === null ? el('span', { class: 'skip' }, 'across seeds') :
                      e.passed ? el('span', { class: 'ok' }, 'pass') : el('span', { class: 'bad' }, 'FAIL');
      rows.push(el('tr', {}, el('td', {}, verdict), el('td', {}, el('code', {}, e.expect)),
                   el('td', { class: 'num' }, value(e.measured, e.unit)),
                   el('td', { class: 'num' }, e.op + ' ' + value(e.expected, e.unit)), el('td', { class: 'num' }, gap),
                   el('td', {}, e.where)));
    }
    const violated = {};
    for (const v of r.invariant_violations || []) (violated[v.invariant] = violated[v.invariant] || []).push(v);
    for (const name of data.invariants || []) {
      const list = violated[name];
      rows.push(el('tr', {}, el('td', {}, list ? el('span', { class: 'bad' }, 'FAIL') : el('span', { class: 'ok' }, 'pass')),
                   el('td', {}, 'invariant ', el('code', {}, name)),
                   el('td', { class: 'num' }, list ? list.length + ' violation(s)' : '0 violations'),
                   el('td', { class: 'num' }, '0'), el('td', { class: 'num' }, '-'),
                   el('td', {}, list ? 'at ' + dur(list[0].at_s) + ': ' + list[0].detail : '')));
    }
    main.appendChild(el('div', { class: 'scroll' }, el('table', { id: 'checks' },
      el('thead', {}, el('tr', {}, ['result', 'check', 'measured', 'threshold', 'gap', 'where / first violation']
                                     .map((h) => el('th', {}, h)))),
      el('tbody', {}, rows))));
  }

  function operations(main) {
    if (!(data.completion || []).length) return;
    main.appendChild(el('h2', {}, 'Operations'));
    const grid = el('div', { class: 'charts' });
    main.appendChild(grid);
    for (const [i, op] of data.completion.entries()) {
      // From the start (0 %) to the operation's end (or the run's), whatever share it reached: a curve even when no
      // node got there.
      const info0 = r.operations[i] || {};
      const end = (info0.finished_at_s !== null && info0.finished_at_s !== undefined ? info0.finished_at_s : r.end_time_s) -
                  info0.started_at_s;
      const pts = [{ x: 0, y: 0 }].concat(op.healthy_s.map((t, k) => ({ x: t, y: op.ranks[k] / Math.max(op.targeted, 1) })));
      if (end > pts[pts.length - 1].x) pts.push({ x: end, y: pts[pts.length - 1].y });
      const pct = (r.operations[i] || {}).time_to_pct_s || {};
      const marks = Object.entries(pct).filter(([p, t]) => ['50', '90', '99', '100'].includes(p) && t !== null)
        .map(([p, t]) => ({ at: t, label: p + '% ' + dur(t), color: '#2b8a3e' }));
      const info = r.operations[i] || {};
      const note = info.targeted + ' targeted: ' + info.succeeded + ' healthy, ' + info.failed + ' failed, ' +
                   info.timed_out + ' timed out, ' + info.canceled + ' canceled' +
                   (Object.keys(info.failures_by_reason || {}).length ? ' (' + Object.entries(info.failures_by_reason)
                     .map(([k, n]) => k + ' ' + n).join(', ') + ')' : '');
      draw(grid, op.name + ': share of targets healthy on the new version', {
        type: 'line',
        data: { datasets: [{ label: op.name, data: pts, stepped: 'before', borderColor: palette[i % palette.length],
                             backgroundColor: palette[i % palette.length], pointRadius: 0, borderWidth: 2 }] },
        options: { scales: { x: timeAxis('since the operation started'),
                             y: { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + '%' } } },
                   plugins: { fleetsimTimeMarks: { marks } } },
      }, note);
      // The distribution of per-node times: a histogram of the healthy times.
      if (op.healthy_s.length > 1) {
        const lo = op.healthy_s[0], hi = op.healthy_s[op.healthy_s.length - 1];
        const bins = 30, width = (hi - lo) / bins || 1, counts = new Array(bins).fill(0);
        for (let k = 0; k < op.healthy_s.length; k++) {
          const n = k + 1 < op.ranks.length ? op.ranks[k + 1] - op.ranks[k] : 1;
          counts[Math.min(bins - 1, Math.floor((op.healthy_s[k] - lo) / width))] += Math.max(n, 1);
        }
        draw(grid, op.name + ': nodes by time to healthy', {
          type: 'bar',
          data: { labels: counts.map((_, k) => dur(lo + (k + 0.5) * width)),
                  datasets: [{ label: 'nodes', data: counts, backgroundColor: palette[i % palette.length] }] },
          options: { scales: { x: { title: { display: true, text: 'time to healthy since the operation started' } },
                               y: { title: { display: true, text: 'nodes' } } }, plugins: { legend: { display: false } } },
        });
      }
    }
  }

  function states(main) {
    const samples = r.states || [];
    if (!samples.length) return;
    main.appendChild(el('h2', {}, 'Nodes per app, version and state'));
    const grid = el('div', { class: 'charts' });
    main.appendChild(grid);
    const apps = [...new Set(samples.map((s) => s.app))];
    for (const app of apps) {
      const times = [...new Set(samples.filter((s) => s.app === app).map((s) => s.t))].sort((a, b) => a - b);
      const index = new Map(times.map((t, k) => [t, k]));
      const series = new Map();
      for (const s of samples) {
        if (s.app !== app) continue;
        const key = s.version + ' ' + s.state;
        if (!series.has(key)) series.set(key, { version: s.version, state: s.state, y: new Array(times.length).fill(0) });
        series.get(key).y[index.get(s.t)] = s.nodes;
      }
      const versions = [...new Set([...series.values()].map((s) => s.version))];
      const datasets = [...series.entries()].sort().map(([key, s], k) => {
        const base = stateColors[s.state] || palette[k % palette.length];
        const shade = versions.indexOf(s.version) % 2 === 1 ? 'cc' : 'ff';
        return { label: key, data: times.map((t, j) => ({ x: t, y: s.y[j] })), fill: k === 0 ? 'origin' : '-1',
                 borderColor: base, backgroundColor: base + (shade === 'cc' ? '99' : 'cc'), pointRadius: 0,
                 borderWidth: 1 };
      });
      draw(grid, app + ': nodes by version and state', {
        type: 'line', data: { datasets },
        options: { scales: { x: timeAxis(), y: { stacked: true, title: { display: true, text: 'nodes' } } },
                   plugins: { fleetsimTimeMarks: { windows: faultWindows, marks: opMarks } } },
      }, 'shaded: fault windows; dashed: operations started and aborted');
    }
  }

  function telemetry(main) {
    const series = data.telemetry_series || [];
    if (!series.length) return;
    main.appendChild(el('h2', {}, 'Telemetry'));
    const grid = el('div', { class: 'charts' });
    main.appendChild(grid);
    draw(grid, 'Buffered at the sites (bytes waiting for the uplink)', {
      type: 'line',
      data: { datasets: series.map((s, k) => ({ label: s.scope, data: s.t.map((t, j) => ({ x: t, y: s.buffered_bytes[j] })),
                                                borderColor: palette[k % palette.length], pointRadius: 0, borderWidth: 2 })) },
      options: { scales: { x: timeAxis(), y: { ticks: { callback: (v) => bytes(v) } } },
                 plugins: { fleetsimTimeMarks: { windows: faultWindows } } },
    }, 'shaded: fault windows (outages)');
    draw(grid, 'Dropped messages (cumulative)', {
      type: 'line',
      data: { datasets: series.map((s, k) => ({ label: s.scope, data: s.t.map((t, j) => ({ x: t, y: s.dropped[j] })),
                                                borderColor: palette[k % palette.length], pointRadius: 0, borderWidth: 2 })) },
      options: { scales: { x: timeAxis(), y: { title: { display: true, text: 'messages' } } },
                 plugins: { fleetsimTimeMarks: { windows: faultWindows } } },
    });
    drainChart(grid);
    delayChart(grid);
    const groups = ((r.telemetry || {}).groups || []).filter((g) => g.scope !== 'fleet');
    const reasons = [...new Set(groups.flatMap((g) => Object.keys(g.dropped_by_reason || {})))]
      .filter((reason) => groups.some((g) => (g.dropped_by_reason || {})[reason] > 0));
    if (reasons.length)
      draw(grid, 'Drops by reason', {
        type: 'bar',
        data: { labels: groups.map((g) => g.scope + (g.preset ? ' (' + g.preset + ')' : '')),
                datasets: reasons.map((reason, k) => ({ label: reason, data: groups.map((g) => g.dropped_by_reason[reason] || 0),
                                                        backgroundColor: palette[k % palette.length] })) },
        options: { scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: 'messages' } } } },
      });
    const table = el('table', {}, el('thead', {}, el('tr', {}, ['scope', 'preset', 'sites', 'produced', 'delivered',
      'dropped', 'peak buffer', 'drain p50', 'drain max', 'delay p99'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ((r.telemetry || {}).groups || []).map((g) => el('tr', {}, el('td', {}, g.scope),
        el('td', {}, g.preset), el('td', { class: 'num' }, value(g.sites)), el('td', { class: 'num' }, value(g.produced)),
        el('td', { class: 'num' }, value(g.delivered)), el('td', { class: 'num' }, value(g.dropped)),
        el('td', { class: 'num' }, bytes(g.peak_buffer_bytes)), el('td', { class: 'num' }, dur(g.drain_p50_s)),
        el('td', { class: 'num' }, dur(g.drain_max_s)), el('td', { class: 'num' }, dur(g.delay_p99_s))))));
    main.appendChild(el('div', { class: 'scroll' }, table));
  }

  // Drain time after each outage that left a backlog, per site template, at the time the uplink came back.
  function drainChart(grid) {
    const d = data.drains;
    if (!d || !d.total) return;
    let unfinished = 0, drawn = 0;
    const datasets = Object.entries(d.by_scope).map(([scope, s], k) => {
      const pts = [];
      s.up_at_s.forEach((t, j) => {
        if (s.drained_after_s[j] === null) unfinished++;
        else pts.push({ x: t, y: s.drained_after_s[j], backlog: s.backlog_bytes[j] });
      });
      drawn += s.up_at_s.length;
      return { label: scope, data: pts, showLine: false, pointRadius: 3, borderColor: palette[k % palette.length],
               backgroundColor: palette[k % palette.length] + '99' };
    });
    draw(grid, 'Drain time after each outage (backlog sent once the uplink is back)', {
      type: 'scatter', data: { datasets },
      options: { scales: { x: Object.assign(timeAxis('uplink back at'), { min: 0, max: r.end_time_s }), y: { min: 0, title: { display: true, text: 'drain time' },
                                                               ticks: { callback: (v) => dur(v) } } },
                 plugins: { fleetsimTimeMarks: { windows: faultWindows },
                            tooltip: { callbacks: { label: (c) => c.dataset.label + ': ' + bytes(c.raw.backlog) +
                              ' drained in ' + dur(c.raw.y) + ' from ' + dur(c.raw.x) } } } },
    }, d.total + ' drain(s)' + (drawn < d.total ? ', the ' + drawn + ' slowest drawn' : '') +
       (unfinished ? '; ' + unfinished + ' not caught up (the run ended or the uplink failed again) are not drawn' : '') +
       '; physics: backlog / (uplink capacity - live rate)');
  }

  // How long messages took from production to the cloud: the share delivered within each delay (from the delay
  // histogram of report.json, 20 bins per decade; a point is its bin's upper edge).
  function delayChart(grid) {
    const all = (r.telemetry || {}).groups || [];
    const groups = all.length > 2 ? all.filter((g) => g.scope !== 'fleet') : all.filter((g) => g.scope === 'fleet');
    const datasets = groups.filter((g) => (g.delay_histogram || []).length).map((g, k) => {
      const total = g.delay_histogram.reduce((a, b) => a + b[2], 0);
      let seen = 0;
      const pts = [{ x: g.delay_histogram[0][0], y: 0 }];
      for (const [, upper, n] of g.delay_histogram) {
        seen += n;
        pts.push({ x: upper, y: seen / total });
      }
      return { label: g.scope + (g.preset ? ' (' + g.preset + ')' : ''), data: pts, stepped: 'after',
               borderColor: palette[k % palette.length], pointRadius: 0, borderWidth: 2 };
    });
    if (!datasets.length) return;
    draw(grid, 'Delivery delay (production to the cloud): share of messages delivered within', {
      type: 'line', data: { datasets },
      options: { scales: { x: { type: 'logarithmic', title: { display: true, text: 'delay' },
                                ticks: { callback: (v) => { const l = Math.log10(v); return Math.abs(l - Math.round(l)) < 1e-6 ? dur(v) : ''; } } },
                           y: { min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + '%' } } } },
    }, 'delivered messages only; read at bin edges (20 per decade, at most 12% above the true delay)');
  }

  // Throughput on the registry egress and the busiest site uplinks (network.csv: the bytes each carried between two
  // samples over the time between them), against each link's capacity (0 while it is down).
  function network(main) {
    const links = data.network || [];
    if (!links.length) return;
    main.appendChild(el('h2', {}, 'Bytes over time'));
    const grid = el('div', { class: 'charts' });
    main.appendChild(grid);
    const mbps = (b) => b * 8 / 1e6;
    // The egress alone (its rate dwarfs an uplink's), then the busiest uplinks in each direction; the capacity of the
    // egress and of the busiest uplink drawn dashed.
    const charts = [
      ['Registry egress (image pulls of every site)', links.filter((l) => l.link === 'registry egress')],
      ['Busiest site uplinks, towards the sites (image pulls, control)', links.filter((l) => l.link !== 'registry egress' && l.direction === 'down')],
      ['Busiest site uplinks, from the sites (telemetry, status)', links.filter((l) => l.direction === 'up')],
    ];
    for (const [title, list] of charts) {
      if (!list.length) continue;
      const datasets = [];
      list.forEach((l, k) => {
        const color = palette[k % palette.length];
        datasets.push({ label: l.link + ' (' + bytes(l.total_bytes) + ')', data: l.t.map((t, j) => ({ x: t, y: mbps(l.bytes_per_s[j]) })),
                        borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2 });
        if (k === 0)
          datasets.push({ label: l.link + ' capacity', data: l.t.map((t, j) => ({ x: t, y: mbps(l.capacity_bytes_per_s[j]) })),
                          borderColor: color, backgroundColor: color, borderDash: [6, 4], pointRadius: 0, borderWidth: 1,
                          stepped: 'before' });
      });
      draw(grid, title, {
        type: 'line', data: { datasets },
        options: { scales: { x: timeAxis(), y: { min: 0, title: { display: true, text: 'Mbit/s' } } },
                   plugins: { fleetsimTimeMarks: { windows: faultWindows, marks: opMarks } } },
      }, 'mean rate between samples (simulation.states_sample), a pull counted as its bytes arrive; dashed: capacity ' +
         '(0 while the link is down)');
    }
  }

  function faults(main) {
    const all = r.faults || [];
    if (!all.length) return;
    main.appendChild(el('h2', {}, 'Faults'));
    const grid = el('div', { class: 'charts' });
    main.appendChild(grid);
    // How many windows are open at once, per kind: a step series from every window's start and end.
    const kinds = [...new Set(all.map((f) => f.kind))];
    draw(grid, 'Fault windows open at once', {
      type: 'line',
      data: { datasets: kinds.map((kind, k) => {
        const edges = [];
        for (const f of all.filter((x) => x.kind === kind)) {
          edges.push([f.start_s, 1]);
          edges.push([Math.max(f.end_s, f.start_s), -1]);
        }
        edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        let open = 0;
        const pts = [{ x: 0, y: 0 }];
        for (const [t, d] of edges) {
          open += d;
          pts.push({ x: t, y: open });
        }
        pts.push({ x: r.end_time_s, y: open });
        return { label: kind, data: pts, stepped: 'before', borderColor: palette[k % palette.length], pointRadius: 0,
                 borderWidth: 2 };
      }) },
      options: { scales: { x: timeAxis(), y: { min: 0, title: { display: true, text: 'windows' } } } },
    }, all.length + ' window(s): ' + kinds.map((kind) => all.filter((f) => f.kind === kind).length + ' ' + kind).join(', '));
    // Which window, when: one bar each, for the scripted ones (the first 60).
    const list = all.filter((f) => f.kind !== 'random').slice(0, 60);
    if (!list.length) return;
    const names = list.map((f) => f.name + ' (' + f.kind + ')');
    draw(grid, 'Fault timeline', {
      type: 'bar',
      data: { labels: names, datasets: [{ label: 'window', data: list.map((f) => [f.start_s, Math.max(f.end_s, f.start_s + 1)]),
                                          backgroundColor: '#e03131aa' }] },
      options: { indexAxis: 'y', scales: { x: timeAxis() }, plugins: { legend: { display: false },
                 tooltip: { callbacks: { label: (c) => dur(c.raw[0]) + ' to ' + dur(c.raw[1]) } } } },
    }, list.map((f) => f.name + ': ' + f.targets.length + ' target(s)').slice(0, 12).join('; '));
  }

  function nodes(main) {
    const n = data.nodes;
    if (!n || !n.rows.length) return;
    main.appendChild(el('h2', {}, 'Nodes'));
    if (n.total > n.rows.length)
      main.appendChild(el('p', { class: 'empty' }, 'The first ' + n.rows.length + ' of ' + n.total +
                                                    ' nodes, failed ones first; every node is in nodes.csv.'));
    const site = el('input', { placeholder: 'site or node contains...', id: 'node-filter' });
    const outcome = el('select', { id: 'outcome-filter' }, el('option', { value: '' }, 'any outcome'),
      [...new Set(n.rows.map((row) => row[n.columns.indexOf('outcome')]))].map((o) => el('option', { value: o }, o || '(none)')));
    // Failure reasons: those of any operation (the "<op> reason" columns).
    const reasonColumns = n.columns.map((c, k) => (c.endsWith(' reason') ? k : -1)).filter((k) => k >= 0);
    const reasons = [...new Set(n.rows.flatMap((row) => reasonColumns.map((k) => row[k])).filter((x) => x))].sort();
    const reason = el('select', { id: 'reason-filter' }, el('option', { value: '' }, 'any failure reason'),
      reasons.map((x) => el('option', { value: x }, x)));
    main.appendChild(el('div', { class: 'filters' }, site, outcome, reason));
    const tbody = el('tbody');
    let sortColumn = -1, sortDown = false;
    const render = () => {
      const text = site.value.trim();
      const o = outcome.value, why = reason.value;
      let rows = n.rows.filter((row) => (!text || row[0].includes(text) || row[1].includes(text)) &&
                                        (!o || row[n.columns.indexOf('outcome')] === o) &&
                                        (!why || reasonColumns.some((k) => row[k] === why)));
      if (sortColumn >= 0) {
        rows = rows.slice().sort((a, b) => {
          const x = a[sortColumn], y = b[sortColumn];
          const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
          return sortDown ? -c : c;
        });
      }
      tbody.replaceChildren(...rows.slice(0, 2000).map((row) => el('tr', {}, row.map((v, k) => el('td',
        { class: typeof v === 'number' ? 'num' : '' }, n.units[k] === 'seconds' ? dur(v) : n.units[k] === 'bytes' ? bytes(v) :
          v === null ? '-' : String(v))))));
    };
    const head = el('tr', {}, n.columns.map((c, k) => {
      const th = el('th', { class: 'sortable' + (n.units[k] ? ' num' : '') }, c);
      th.addEventListener('click', () => { sortDown = sortColumn === k ? !sortDown : false; sortColumn = k; render(); });
      return th;
    }));
    site.addEventListener('input', render);
    outcome.addEventListener('change', render);
    reason.addEventListener('change', render);
    main.appendChild(el('div', { class: 'scroll' }, el('table', { id: 'nodes' }, el('thead', {}, head), tbody)));
    render();
  }

  const main = document.getElementById('main');
  const timings = [];  // milliseconds per section, in body[data-timings] for bench/report_html
  for (const [name, section] of [['header', header], ['checks', checks], ['operations', operations], ['states', states],
                                 ['network', network], ['telemetry', telemetry], ['faults', faults], ['nodes', nodes]]) {
    const start = performance.now();
    section(main);
    timings.push(name + ' ' + Math.round(performance.now() - start));
  }
  document.body.dataset.timings = timings.join(', ');
  window.fleetsim.finish();
})();
