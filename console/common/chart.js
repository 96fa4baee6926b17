// chart.js: charts drawn by uPlot (the pinned npm library the build embeds as
// vendor/uplot.min.js, MIT; its licence is vendor/uplot.LICENSE.txt), loaded only by the pages
// that draw one, so the sign-in page stays small.
let loading = null;
function load() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = '/console/vendor/uplot.min.css';
      document.head.append(css);
      const s = document.createElement('script');
      s.src = '/console/vendor/uplot.min.js';
      s.onload = () => resolve(window.uPlot);
      s.onerror = () => reject(new Error('uplot'));
      document.head.append(s);
    });
  }
  return loading;
}

// Bars of values per day into el: days ["2026-10-01", ...], series [{label, values, color}];
// yFormat(v) labels the axis. A table of the same numbers sits beside it for screen readers.
export async function dailyBars(el, days, series, yFormat, caption) {
  const uPlot = await load();
  el.replaceChildren();
  el.setAttribute('role', 'img');
  el.setAttribute('aria-label', caption);
  const xs = days.map((d) => Date.parse(`${d}T12:00:00Z`) / 1000);
  const width = Math.max(280, Math.min(900, el.clientWidth || 600));
  const bars = uPlot.paths.bars({ size: [0.7, 60] });
  const opts = {
    width, height: 220,
    scales: { x: { time: true, range: () => [xs[0] - 43200, xs[xs.length - 1] + 43200] } },
    axes: [{}, { values: (u, vals) => vals.map((v) => yFormat(v)), size: 80 }],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, fill: `${s.color}99`, paths: bars, points: { show: false } }))],
    legend: { show: series.length > 1 },
    cursor: { show: true },
  };
  const chart = new uPlot(opts, [xs, ...series.map((s) => s.values)], el);
  return chart;
}
