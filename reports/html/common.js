// What the pages of fleetsim's HTML reports share (report.html, sweep.html): error capture for the headless-browser
// test, formatting of durations, bytes and values, and charts with Chart.js (shaded windows and marks on a time
// axis, round-duration ticks). Exposed as window.fleetsim; each page's script (run_report.js, sweep_report.js) uses
// it and calls fleetsim.finish() when every chart is drawn: body[data-ready="true"], body[data-charts] and
// body[data-points] say what was drawn, body[data-errors] any script error or console.error, body[data-render-ms]
// the time from navigation to the end (bench/report_html).
window.fleetsim = (function () {
  'use strict';
  const errors = [];
  const noteError = (text) => {
    errors.push(String(text));
    document.body.dataset.errors = errors.join(' | ');
  };
  window.addEventListener('error', (e) => noteError(e.message));
  const consoleError = console.error;
  console.error = function (...args) {
    noteError(args.join(' '));
    consoleError.apply(console, args);
  };

  const palette = ['#2f6fdf', '#e8590c', '#2b8a3e', '#c2255c', '#7048e8', '#0b7285', '#e67700', '#5c940d',
                   '#a61e4d', '#364fc7', '#087f5b', '#862e9c'];
  let pointsDrawn = 0;
  let chartsDrawn = 0;

  // ---- formatting ------------------------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-')) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return node;
  }
  function dur(s) {
    if (s === null || s === undefined || !isFinite(s)) return '-';
    const neg = s < 0 ? '-' : '';
    s = Math.abs(s);
    if (s < 60) return neg + (s < 10 ? s.toFixed(2) : s.toFixed(1)) + 's';
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    if (h >= 24) return neg + Math.floor(h / 24) + 'd' + String(h % 24).padStart(2, '0') + 'h';
    if (h > 0) return neg + h + 'h' + String(m).padStart(2, '0') + 'm';
    return neg + m + 'm' + String(sec).padStart(2, '0') + 's';
  }
  function bytes(b) {
    if (b === null || b === undefined) return '-';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b.toFixed(0) : b.toFixed(b < 10 ? 2 : 1)) + ' ' + units[i];
  }
  function value(v, unit) {
    if (v === null || v === undefined) return 'never reached';
    if (unit === 'seconds') return dur(v);
    if (unit === 'bytes') return bytes(v);
    return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(6);
  }

  // ---- charts ----------------------------------------------------------------------------------------------------
  // Fault windows shaded and operation events marked on the time axis of a chart (opts.windows, opts.marks).
  const timeMarks = {
    id: 'fleetsimTimeMarks',
    beforeDatasetsDraw(chart, args, opts) {
      const x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      if (!x || !area) return;
      ctx.save();
      let labelEnd = -Infinity;  // labels that would overlap the previous one are left out (the shading stays)
      for (const w of opts.windows || []) {
        const a = Math.max(x.getPixelForValue(w.start), area.left), b = Math.min(x.getPixelForValue(w.end), area.right);
        if (b <= a) continue;
        ctx.fillStyle = 'rgba(224, 49, 49, 0.10)';
        ctx.fillRect(a, area.top, b - a, area.bottom - area.top);
        ctx.fillStyle = 'rgba(160, 30, 30, 0.8)';
        ctx.font = '11px system-ui, sans-serif';
        if (a + 3 > labelEnd) {
          ctx.fillText(w.label, a + 3, area.top + 12);
          labelEnd = a + 3 + ctx.measureText(w.label).width + 6;
        }
      }
      labelEnd = -Infinity;
      for (const m of opts.marks || []) {
        const px = x.getPixelForValue(m.at);
        if (px < area.left || px > area.right) continue;
        ctx.strokeStyle = m.color || '#495057';
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = m.color || '#495057';
        ctx.font = '11px system-ui, sans-serif';
        if (px + 3 > labelEnd) {
          ctx.fillText(m.label, px + 3, area.bottom - 4);
          labelEnd = px + 3 + ctx.measureText(m.label).width + 6;
        }
      }
      ctx.restore();
    },
  };

  function chartBox(parent, title, note) {
    const canvas = el('canvas');
    const box = el('div', { class: 'chart' }, el('h3', {}, title), canvas, note ? el('div', { class: 'note' }, note) : null);
    parent.appendChild(box);
    return { box, canvas };
  }

  function draw(parent, title, config, note) {
    const { box, canvas } = chartBox(parent, title, note);
    let points = 0;
    for (const ds of config.data.datasets) points += ds.data.length;
    box.setAttribute('data-points', String(points));
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
                                     interaction: { mode: 'nearest', intersect: false } }, config.options || {});
    // Series given as {x, y} points in x order (every line and scatter of these pages) skip Chart.js's parsing and
    // its sorting checks: a third of the drawing time of a 10,000-node day's page.
    const xy = (d) => d.length === 0 || (typeof d[0] === 'object' && d[0] !== null && 'x' in d[0]);
    if (config.type !== 'bar' && config.data.datasets.every((ds) => xy(ds.data)))
      Object.assign(config.options, { parsing: false, normalized: true });
    config.plugins = [timeMarks];
    new Chart(canvas, config);  // eslint-disable-line no-new
    pointsDrawn += points;
    chartsDrawn += 1;
  }

  // A time axis whose ticks fall on round durations (1, 2, 5, 10, 15, 30 s or min, 1, 2, 3, 6, 12 h, days).
  const niceSteps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
                     43200, 86400, 172800, 604800];
  function timeAxis(title) {
    return { type: 'linear', title: { display: true, text: title || 'simulated time' },
             ticks: { callback: (v) => dur(v), maxTicksLimit: 12 },
             afterBuildTicks: (scale) => {
               const span = scale.max - scale.min;
               if (!(span > 0)) return;
               const step = niceSteps.find((s) => span / s <= 10) || niceSteps[niceSteps.length - 1];
               const ticks = [];
               for (let v = Math.ceil(scale.min / step) * step; v <= scale.max + 1e-9; v += step) ticks.push({ value: v });
               scale.ticks = ticks;
             } };
  }


  // The unit a metric's name says it has (for pages that show metrics by name), and a value in it.
  function unitOf(metric) {
    const field = metric.slice(metric.lastIndexOf('.') + 1);
    if (/^(time_to_|duration|drain_|delay_|max_backlog_age|node_time|end_time)/.test(field)) return 'seconds';
    if (/_bytes$/.test(field)) return 'bytes';
    return 'count';
  }
  function show(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return '-';
    if (unit === 'seconds') return dur(v);
    if (unit === 'bytes') return bytes(v);
    return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(4);
  }

  function finish() {
    document.body.dataset.charts = String(chartsDrawn);
    document.body.dataset.points = String(pointsDrawn);
    document.body.dataset.renderMs = String(Math.round(performance.now()));
    document.body.dataset.ready = 'true';
  }

  return { el, dur, bytes, value, palette, draw, chartBox, timeAxis, unitOf, show, finish,
           data: () => JSON.parse(document.getElementById('fleetsim-data').textContent) };
})();
