// Sample buffers for the plot: one growing column pair per watch, trimmed to a time window and a
// point cap, and merged into the aligned table uPlot draws ([x, y1, y2, ...], null where a series
// has no sample at that x). No DOM and no `vscode`: shared by the webview and the unit tests.

export interface SeriesChunk {
  watchId: number;
  expression: string;
  t: number[];
  v: (number | null)[];
}

export interface SeriesData {
  watchId: number;
  expression: string;
  t: number[];
  v: (number | null)[];
}

export interface BufferOptions {
  /** keep at most this many seconds of target time per series (older points drop) */
  windowSeconds: number;
  /** hard cap on points per series, whatever the window */
  maxPoints: number;
}

export const DEFAULT_BUFFER: BufferOptions = { windowSeconds: 120, maxPoints: 200_000 };

export class SeriesBuffer {
  private readonly series = new Map<number, SeriesData>();
  private received = 0;

  constructor(private readonly options: BufferOptions = DEFAULT_BUFFER) {}

  /** Starts plotting a watch; samples of watches not added here are ignored. */
  add(watchId: number, expression: string): void {
    if (!this.series.has(watchId)) this.series.set(watchId, { watchId, expression, t: [], v: [] });
  }

  remove(watchId: number): void {
    this.series.delete(watchId);
  }

  has(watchId: number): boolean {
    return this.series.has(watchId);
  }

  clear(): void {
    for (const s of this.series.values()) {
      s.t = [];
      s.v = [];
    }
  }

  /** Appends a `firmwatch.samples` chunk; returns how many points were taken. */
  push(chunk: SeriesChunk): number {
    const s = this.series.get(chunk.watchId);
    if (!s) return 0;
    const n = Math.min(chunk.t.length, chunk.v.length);
    let taken = 0;
    for (let i = 0; i < n; i++) {
      const t = chunk.t[i];
      if (typeof t !== 'number' || !Number.isFinite(t)) continue;
      // a target that restarted sends time from zero again: start the series over rather than
      // draw a line back in time (uPlot needs ascending x)
      if (s.t.length > 0 && t < s.t[s.t.length - 1]) {
        s.t = [];
        s.v = [];
      }
      const v = chunk.v[i];
      s.t.push(t);
      s.v.push(typeof v === 'number' && Number.isFinite(v) ? v : null);
      taken++;
    }
    this.trim(s);
    this.received += taken;
    return taken;
  }

  private trim(s: SeriesData): void {
    if (s.t.length === 0) return;
    const newest = s.t[s.t.length - 1];
    let cut = 0;
    const oldestKept = newest - this.options.windowSeconds;
    while (cut < s.t.length && s.t[cut] < oldestKept) cut++;
    cut = Math.max(cut, s.t.length - this.options.maxPoints);
    if (cut > 0) {
      s.t.splice(0, cut);
      s.v.splice(0, cut);
    }
  }

  /** Points received since creation (after filtering), for the view's counter and the tests. */
  get totalReceived(): number {
    return this.received;
  }

  get pointCount(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.t.length;
    return n;
  }

  list(): SeriesData[] {
    return [...this.series.values()];
  }

  /** The aligned table for uPlot: union of all timestamps, ascending. */
  aligned(): [number[], ...(number | null)[][]] {
    return alignSeries(this.list());
  }
}

/** Merge-joins sorted series on their timestamps: [x, y1, y2, ...] with null for gaps. */
export function alignSeries(series: { t: number[]; v: (number | null)[] }[]): [number[], ...(number | null)[][]] {
  const x: number[] = [];
  const ys: (number | null)[][] = series.map(() => []);
  const idx = series.map(() => 0);
  for (;;) {
    let next = Infinity;
    for (let k = 0; k < series.length; k++) {
      const i = idx[k];
      if (i < series[k].t.length && series[k].t[i] < next) next = series[k].t[i];
    }
    if (next === Infinity) break;
    x.push(next);
    for (let k = 0; k < series.length; k++) {
      const s = series[k];
      const i = idx[k];
      if (i < s.t.length && s.t[i] === next) {
        ys[k].push(s.v[i] ?? null);
        idx[k] = i + 1;
        // duplicate timestamps within one series: keep the last value, never emit x twice
        while (idx[k] < s.t.length && s.t[idx[k]] === next) {
          ys[k][ys[k].length - 1] = s.v[idx[k]] ?? null;
          idx[k]++;
        }
      } else {
        ys[k].push(null);
      }
    }
  }
  return [x, ...ys];
}
