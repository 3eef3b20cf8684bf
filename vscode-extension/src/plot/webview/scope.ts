// Scope mode of the plot view: arm triggered captures (single or normal), force or stop them,
// and draw each completed capture — one chart per channel on the capture's own time axis
// (seconds from the trigger sample), the trigger as a dashed vertical line in every chart and
// its level as a dashed horizontal line in the trigger channel's. The charts share one cursor
// (readouts of every channel at the cursor) and one zoom (drag in any chart; double-click or
// a new capture zooms out). Export writes the capture, not the live buffer.
import uPlot from 'uplot';
import {
  captureToCsv, levelProblem, nearestSample, numericColumn, preProblem, readout, TRIGGER_OPS, triggerText,
} from '../../logic/capture';
import type { CaptureEvent, CapturePlan, TriggerOp } from '../../logic/capture';
import type { ArmRequest, FromWebview } from '../messages';

const PALETTE = ['#4e9bff', '#f0a030', '#4ec97a', '#e0567a', '#b07cf0', '#40c8c8', '#d0d040', '#ff7f50'];
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export class Scope {
  private channels: string[] = [];
  private capture: CaptureEvent | undefined;
  private charts: uPlot[] = [];
  private captures = 0;
  private syncing = false;
  private readonly bar = $<HTMLDivElement>('scopebar');
  private readonly box = $<HTMLDivElement>('scopeCharts');
  private readonly readoutEl = $<HTMLDivElement>('readout');
  private readonly summaryEl = $<HTMLDivElement>('scopeSummary');
  private readonly stateEl = $<HTMLSpanElement>('scopeState');
  private readonly trigCh = $<HTMLSelectElement>('trigCh');
  private readonly trigOp = $<HTMLSelectElement>('trigOp');
  private readonly trigLevel = $<HTMLInputElement>('trigLevel');
  private readonly pre = $<HTMLInputElement>('pre');
  private readonly samples = $<HTMLInputElement>('samples');
  private readonly rate = $<HTMLInputElement>('rate');

  constructor(private readonly post: (m: FromWebview) => void, private readonly cssVar: (n: string, f: string) => string) {
    $<HTMLButtonElement>('single').addEventListener('click', () => this.arm('single'));
    $<HTMLButtonElement>('normal').addEventListener('click', () => this.arm('normal'));
    $<HTMLButtonElement>('force').addEventListener('click', () => this.post({ type: 'force' }));
    $<HTMLButtonElement>('stopScope').addEventListener('click', () => {
      this.post({ type: 'stopCapture' });
      this.state('stopped');
    });
    new ResizeObserver(() => this.resize()).observe(this.box);
    document.body.dataset.captures = '0';
  }

  get active(): boolean {
    return document.body.dataset.mode === 'scope';
  }

  show(on: boolean): void {
    document.body.dataset.mode = on ? 'scope' : 'live';
    this.bar.hidden = !on;
    this.box.hidden = !on;
    this.readoutEl.hidden = !on;
    this.summaryEl.hidden = !on;
    if (on) this.resize();
  }

  /** The channels to capture (the plotted watches, or what the command chose). */
  setChannels(channels: string[], trigger?: { channel: string; op: string; level: string }): void {
    this.channels = [...new Set(channels)];
    const keep = trigger?.channel ?? this.trigCh.value;
    this.trigCh.replaceChildren(...this.channels.map((c) => new Option(c, c)));
    if (this.channels.includes(keep)) this.trigCh.value = keep;
    if (trigger) {
      if ((TRIGGER_OPS as readonly string[]).includes(trigger.op)) this.trigOp.value = trigger.op;
      this.trigLevel.value = trigger.level;
    }
    document.body.dataset.channels = this.channels.join(',');
  }

  arm(mode: 'single' | 'normal'): void {
    const op = this.trigOp.value as TriggerOp;
    const problem = !this.channels.length ? 'Plot a watch (or use "Arm Capture on Watches…") to have something to capture.'
      : levelProblem(op, this.trigLevel.value) ?? preProblem(this.pre.value);
    if (problem) {
      this.state('error', problem);
      return;
    }
    const request: ArmRequest = {
      channels: this.channels,
      trigger: triggerText(this.trigCh.value, op, this.trigLevel.value),
      pre: this.pre.value.trim(),
      samples: Number(this.samples.value) || undefined,
      rateHz: Number(this.rate.value) || undefined,
      mode,
    };
    this.state('arming');
    this.post({ type: 'arm', request });
  }

  onPlan(plan: CapturePlan): void {
    // what the target will really do: its rate may differ from the one asked
    this.rate.value = String(plan.rateHz);
    this.samples.value = String(plan.samples);
    const notes = plan.notes.length ? ` — ${plan.notes.join(' ')}` : '';
    this.summaryEl.textContent = `${plan.description}${notes}`;
    document.body.dataset.where = plan.where;
  }

  onState(st: Record<string, unknown>): void {
    const name = String(st.state ?? '');
    if (name === 'uploading' && typeof st.bytes === 'number' && typeof st.total === 'number' && st.total) {
      this.state(name, `${Math.round((100 * st.bytes) / st.total)} %`);
    } else if (name === 'error') {
      this.state(name, String(st.message ?? ''));
    } else {
      this.state(name, typeof st.waited === 'number' ? `${st.waited} samples` : '');
    }
  }

  onError(message: string): void {
    this.state('error', message);
  }

  private state(name: string, detail = ''): void {
    document.body.dataset.captureState = name;
    this.stateEl.textContent = detail ? `${name}: ${detail}` : name;
    this.stateEl.classList.toggle('error', name === 'error');
  }

  onCapture(ev: CaptureEvent): void {
    this.capture = ev;
    this.captures += 1;
    document.body.dataset.captures = String(this.captures);
    document.body.dataset.triggerIndex = String(ev.triggerIndex);
    document.body.dataset.samples = String(ev.times.length);
    document.body.dataset.level = ev.level === null ? '' : String(ev.level);
    document.body.dataset.zoomed = 'false';
    this.summaryEl.textContent = ev.summary;
    this.draw();
  }

  private draw(): void {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    this.box.replaceChildren();
    const ev = this.capture;
    if (!ev) return;
    const fg = this.cssVar('--vscode-foreground', '#ccc');
    const grid = this.cssVar('--vscode-editorWidget-border', 'rgba(128,128,128,0.25)');
    const red = '#e05050';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const shown = ev.channels.map((_, i) => i).filter((i) => numericColumn(ev.values[i]).some((v) => v !== null));
    const height = Math.max(110, Math.floor((this.box.clientHeight || 420) / Math.max(1, shown.length)) - 8);
    shown.forEach((i, k) => {
      const div = document.createElement('div');
      div.className = 'scopechart';
      div.dataset.channel = ev.channels[i];
      this.box.appendChild(div);
      const level = ev.triggerChannel === i ? ev.level : null;
      const drawMarks = (u: uPlot) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = red;
        ctx.setLineDash([5, 4]);
        ctx.lineWidth = devicePixelRatio;
        const x = u.valToPos(0, 'x', true);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        if (level !== null) {
          const y = u.valToPos(level, 'y', true);
          ctx.moveTo(u.bbox.left, y);
          ctx.lineTo(u.bbox.left + u.bbox.width, y);
        }
        ctx.stroke();
        ctx.restore();
      };
      const opts: uPlot.Options = {
        width: this.box.clientWidth || 600,
        height,
        scales: { x: { time: false }, y: level !== null ? { range: (_u, lo, hi) => [Math.min(lo, level), Math.max(hi, level)] } : {} },
        axes: [{ ...axis, label: k === shown.length - 1 ? 'time from the trigger (s)' : undefined }, { ...axis }],
        cursor: { sync: { key: 'firmwatch-scope' }, drag: { x: true, y: false, setScale: true } },
        legend: { show: true },
        series: [
          { label: 't (s)', value: (_u, v) => (v == null ? '–' : v.toFixed(6)) },
          { label: ev.channels[i], stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false, points: { show: false },
            paths: uPlot.paths.stepped?.({ align: 1 }) },
        ],
        hooks: {
          draw: [drawMarks],
          setCursor: [(u: uPlot) => this.cursorMoved(u)],
          setScale: [(u: uPlot, key: string) => this.scaled(u, key)],
        },
      };
      const chart = new uPlot(opts, [ev.times, numericColumn(ev.values[i])] as uPlot.AlignedData, div);
      chart.over.addEventListener('dblclick', () => this.unzoom());
      this.charts.push(chart);
    });
    document.body.dataset.charts = String(this.charts.length);
    this.readoutEl.textContent = readout(ev, ev.triggerIndex);
    document.body.dataset.readout = this.readoutEl.textContent;
  }

  private cursorMoved(u: uPlot): void {
    const ev = this.capture;
    const left = u.cursor.left;
    if (!ev || left === undefined || left < 0) return;
    const k = nearestSample(ev.times, u.posToVal(left, 'x'));
    this.readoutEl.textContent = readout(ev, k);
    document.body.dataset.readout = this.readoutEl.textContent;
  }

  /** A drag-zoom in one chart zooms them all. */
  private scaled(u: uPlot, key: string): void {
    if (key !== 'x' || this.syncing) return;
    const { min, max } = u.scales.x;
    if (min === undefined || max === undefined || min === null || max === null) return;
    this.syncing = true;
    for (const c of this.charts) if (c !== u) c.setScale('x', { min, max });
    this.syncing = false;
    const ev = this.capture;
    if (ev && ev.times.length) {
      const full = min <= ev.times[0] + 1e-12 && max >= ev.times[ev.times.length - 1] - 1e-12;
      document.body.dataset.zoomed = String(!full);
      document.body.dataset.zoomMin = String(min);
      document.body.dataset.zoomMax = String(max);
    }
  }

  private unzoom(): void {
    const ev = this.capture;
    if (!ev || !ev.times.length) return;
    this.charts[0]?.setScale('x', { min: ev.times[0], max: ev.times[ev.times.length - 1] });
  }

  private resize(): void {
    if (!this.charts.length) return;
    const h = Math.max(110, Math.floor((this.box.clientHeight || 420) / this.charts.length) - 8);
    for (const c of this.charts) c.setSize({ width: this.box.clientWidth || 600, height: h });
  }

  csv(): string | undefined {
    return this.capture ? captureToCsv(this.capture) : undefined;
  }

  /** All charts stacked into one image, with the summary on top. */
  png(background: string): string | undefined {
    if (!this.charts.length || !this.capture) return undefined;
    const canvases = this.charts.map((c) => c.ctx.canvas);
    const head = 24 * devicePixelRatio;
    const out = document.createElement('canvas');
    out.width = Math.max(...canvases.map((c) => c.width));
    out.height = head + canvases.reduce((n, c) => n + c.height + head, 0);
    const g = out.getContext('2d') as CanvasRenderingContext2D;
    g.fillStyle = background;
    g.fillRect(0, 0, out.width, out.height);
    g.font = `${12 * devicePixelRatio}px sans-serif`;
    g.fillStyle = this.cssVar('--vscode-foreground', '#ccc');
    g.fillText(this.capture.summary.split('\n')[0], 8 * devicePixelRatio, 16 * devicePixelRatio);
    let y = head;
    this.charts.forEach((c, k) => {
      g.fillStyle = PALETTE[this.capture!.channels.indexOf(c.series[1].label as string) % PALETTE.length] ?? PALETTE[k];
      g.fillText(`■ ${c.series[1].label}`, 8 * devicePixelRatio, y + 16 * devicePixelRatio);
      g.drawImage(c.ctx.canvas, 0, y + head);
      y += head + c.ctx.canvas.height;
    });
    return out.toDataURL('image/png');
  }
}
