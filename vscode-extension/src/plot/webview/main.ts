// The plot webview: buffers full-rate samples per watch and draws them with uPlot against
// host time (each device's clock mapped onto the host's: series of several devices line up). Follows the newest samples until the user pauses or drag-zooms.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './plot.css';
import { seriesToCsv } from '../../logic/csv';
import { SeriesBuffer } from '../../logic/series';
import type { FromWebview, ToWebview } from '../messages';
import { Scope } from './scope';

declare function acquireVsCodeApi(): { postMessage(m: FromWebview): void };
const vscode = acquireVsCodeApi();

// series of several devices share this axis: each device's clock mapped onto the host's
const X_LABEL = 'host time (s)';
const PALETTE = ['#4e9bff', '#f0a030', '#4ec97a', '#e0567a', '#b07cf0', '#40c8c8', '#d0d040', '#ff7f50'];
const buffer = new SeriesBuffer();
const chartEl = document.getElementById('chart') as HTMLDivElement;
const countEl = document.getElementById('count') as HTMLSpanElement;
const stateEl = document.getElementById('state') as HTMLSpanElement;
const pauseBtn = document.getElementById('pause') as HTMLButtonElement;
const windowSel = document.getElementById('window') as HTMLSelectElement;

let chart: uPlot | undefined;
let paused = false;
let zoomed = false; // a drag-zoom stops following until Reset / double-click
let dirty = false;
let programmaticScale = false;
let userDrag = false; // only a drag-select on the chart counts as zooming

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

function makeChart(): void {
  chart?.destroy();
  chart = undefined;
  const list = buffer.list();
  document.body.dataset.series = String(list.length);
  document.body.dataset.xAxis = X_LABEL; // uPlot draws the label on its canvas
  (document.getElementById('empty') as HTMLDivElement).style.display = list.length ? 'none' : '';
  if (!list.length) return;
  const fg = cssVar('--vscode-foreground', '#ccc');
  const grid = cssVar('--vscode-editorWidget-border', 'rgba(128,128,128,0.25)');
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const opts: uPlot.Options = {
    width: chartEl.clientWidth || 600,
    height: Math.max(200, chartEl.clientHeight || 300),
    scales: { x: { time: false } },
    axes: [{ ...axis, label: X_LABEL }, { ...axis }],
    cursor: { drag: { x: true, y: false, setScale: true } },
    series: [
      { label: 't (s)', value: (_u, v) => (v == null ? '–' : v.toFixed(3)) },
      ...list.map((s, i) => ({ label: s.expression, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: { show: false } })),
    ],
    hooks: {
      setScale: [(_u: uPlot, key: string) => {
        if (key === 'x' && !programmaticScale && userDrag) {
          zoomed = true;
          showState();
        }
      }],
    },
  };
  // uPlot sets its scales while it initialises: that is not the user zooming
  programmaticScale = true;
  chart = new uPlot(opts, buffer.aligned() as uPlot.AlignedData, chartEl);
  programmaticScale = false;
  chart.over.addEventListener('dblclick', resetZoom);
  dirty = true;
}

function follow(): void {
  if (!chart) return;
  const data = buffer.aligned() as uPlot.AlignedData;
  const x = data[0] as number[];
  programmaticScale = true;
  chart.setData(data, false);
  if (x.length) {
    const newest = x[x.length - 1];
    const span = Number(windowSel.value);
    chart.setScale('x', { min: Math.max(x[0], newest - span), max: Math.max(newest, x[0] + 1e-6) });
  }
  programmaticScale = false;
}

function resetZoom(): void {
  zoomed = false;
  showState();
  follow();
}

function showState(): void {
  stateEl.textContent = paused ? ' · paused' : zoomed ? ' · zoomed (double-click or Reset to follow)' : '';
  document.body.dataset.paused = String(paused);
}

function frame(): void {
  if (dirty && !paused && !zoomed) {
    dirty = false;
    follow();
  }
  requestAnimationFrame(frame);
}

let lastReported = 0;
function report(): void {
  const total = buffer.totalReceived;
  countEl.textContent = `${total} points`;
  document.body.dataset.points = String(total);
  // per series, for tests and diagnostics: "label=points@newest x|..."
  document.body.dataset.perSeries = buffer.list().map((s) => `${s.expression}=${s.t.length}@${s.t[s.t.length - 1] ?? NaN}`).join('|');
  // tell the extension now and then (tests and diagnostics), not on every chunk
  if (total - lastReported >= 50 || (lastReported === 0 && total > 0)) {
    lastReported = total;
    vscode.postMessage({ type: 'points', total });
  }
}

// a series' expression as the device knows it (its label names the session when there are several)
const rawNames = new Map<number, string>();
function channelNames(): string[] {
  return [...new Set(buffer.list().map((s) => rawNames.get(s.watchId) ?? s.expression))];
}

const scope = new Scope((m) => vscode.postMessage(m), cssVar);
const scopeBtn = document.getElementById('scopeMode') as HTMLButtonElement;

/** Scope mode (triggered captures) or the live plot; the toolbar's Scope/Live button switches. */
function setScope(on: boolean): void {
  scope.show(on);
  scopeBtn.textContent = on ? 'Live' : 'Scope';
  chartEl.hidden = on;
  for (const id of ['pause', 'reset', 'window']) {
    const el = document.getElementById(id) as HTMLElement;
    (el.closest('label') ?? el).hidden = on;
  }
  (document.getElementById('empty') as HTMLDivElement).style.display = on || buffer.list().length ? 'none' : '';
  if (on) scope.setChannels(channelNames());
  else dirty = true;
}
scopeBtn.addEventListener('click', () => setScope(!scope.active));

window.addEventListener('message', (ev: MessageEvent<ToWebview>) => {
  const m = ev.data;
  switch (m.type) {
    case 'add':
      // every Plot command counts, also one for a series already shown (tests wait on it)
      document.body.dataset.adds = String(Number(document.body.dataset.adds ?? '0') + 1);
      if (!buffer.has(m.watchId)) {
        buffer.add(m.watchId, m.expression);
        makeChart();
      }
      if (m.raw !== undefined) rawNames.set(m.watchId, m.raw);
      if (scope.active) scope.setChannels(channelNames());
      break;
    case 'scope':
      setScope(true);
      scope.setChannels(m.channels, m.trigger);
      if (m.arm) scope.arm('single');
      break;
    case 'capturePlan':
      scope.onPlan(m.plan);
      break;
    case 'captureState':
      scope.onState(m.state);
      break;
    case 'capture':
      scope.onCapture(m.capture);
      break;
    case 'captureError':
      scope.onError(m.message);
      break;
    case 'remove':
      if (buffer.has(m.watchId)) {
        buffer.remove(m.watchId);
        makeChart();
      }
      break;
    case 'samples':
      for (const chunk of m.series) buffer.push(chunk);
      dirty = true;
      report();
      break;
    case 'session':
      stateEl.textContent = m.state === 'ended' ? ' · session ended' : '';
      break;
  }
});

pauseBtn.addEventListener('click', () => {
  paused = !paused;
  pauseBtn.textContent = paused ? 'Resume' : 'Pause';
  showState();
  if (!paused) dirty = true;
});
(document.getElementById('reset') as HTMLButtonElement).addEventListener('click', resetZoom);
windowSel.addEventListener('change', () => { dirty = true; });
(document.getElementById('csv') as HTMLButtonElement).addEventListener('click', () => {
  if (scope.active) {
    const text = scope.csv();
    if (text) vscode.postMessage({ type: 'saveCsv', text });
    return;
  }
  vscode.postMessage({ type: 'saveCsv', text: seriesToCsv(buffer.list()) });
});
(document.getElementById('png') as HTMLButtonElement).addEventListener('click', () => {
  if (scope.active) {
    const dataUrl = scope.png(cssVar('--vscode-editor-background', '#1e1e1e'));
    if (dataUrl) vscode.postMessage({ type: 'savePng', dataUrl });
    return;
  }
  if (!chart) return;
  // the chart canvas is transparent and the legend is HTML: paint the background and the
  // series names so the image reads on its own
  const src = chart.ctx.canvas;
  const out = document.createElement('canvas');
  const legendH = 24 * devicePixelRatio;
  out.width = src.width;
  out.height = src.height + legendH;
  const g = out.getContext('2d') as CanvasRenderingContext2D;
  g.fillStyle = cssVar('--vscode-editor-background', '#1e1e1e');
  g.fillRect(0, 0, out.width, out.height);
  g.drawImage(src, 0, 0);
  g.font = `${12 * devicePixelRatio}px sans-serif`;
  let x = 8 * devicePixelRatio;
  buffer.list().forEach((s, i) => {
    g.fillStyle = PALETTE[i % PALETTE.length];
    g.fillText(`■ ${s.expression}`, x, src.height + 16 * devicePixelRatio);
    x += g.measureText(`■ ${s.expression}`).width + 16 * devicePixelRatio;
  });
  vscode.postMessage({ type: 'savePng', dataUrl: out.toDataURL('image/png') });
});

new ResizeObserver(() => {
  programmaticScale = true;
  chart?.setSize({ width: chartEl.clientWidth, height: Math.max(200, chartEl.clientHeight) });
  programmaticScale = false;
}).observe(chartEl);
chartEl.addEventListener('mousedown', () => { userDrag = true; });
window.addEventListener('mouseup', () => { setTimeout(() => { userDrag = false; }, 0); });

showState();
makeChart();
requestAnimationFrame(frame);
vscode.postMessage({ type: 'ready' });
