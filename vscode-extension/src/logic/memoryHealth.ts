// The `firmwatch.memoryHealth` answer: its shape and how it reads. No `vscode` import.

export interface HealthFigure {
  key: string;
  label: string;
  value: number | null;
  unit: string;
  text: string;
  source: string;
}

export interface HealthSegment {
  name: string;
  start: number;
  end: number;
}

export interface MemoryHealth {
  figures: HealthFigure[];
  warnings: string[];
  notes: string[];
  segments: HealthSegment[];
  threshold: number;
  margin: number | null;
  bytesRead: number;
  reads: number;
  ms: number;
  time: number;
}

export const BAR_CHARS: Record<string, string> = {
  '.data': 'D', '.bss': 'B', heap: 'H', free: '.', 'stack (used earlier)': 's', stack: 'S',
};

/** One character per slice of RAM, the band covering most of it (ties: the later, more specific band),
 * as the command line draws it. */
export function ramBar(segments: HealthSegment[], width: number): string {
  if (!segments.length) return '';
  const lo = Math.min(...segments.map((s) => s.start));
  const hi = Math.max(...segments.map((s) => s.end));
  const span = Math.max(1, hi - lo);
  let out = '';
  for (let i = 0; i < width; i++) {
    const a = lo + Math.floor((span * i) / width);
    const b = Math.max(a + 1, lo + Math.floor((span * (i + 1)) / width));
    let best = ' ';
    let cover = 0;
    for (const s of segments) {
      const c = Math.min(b, s.end) - Math.max(a, s.start);
      if (c > 0 && c >= cover) {
        best = BAR_CHARS[s.name] ?? '?';
        cover = c;
      }
    }
    out += best;
  }
  return out;
}

/** The status-bar warning while the collision margin is under the threshold, else undefined. */
export function marginWarning(h: MemoryHealth): { text: string; tooltip: string } | undefined {
  if (h.margin === null || h.margin === undefined || h.margin >= h.threshold) return undefined;
  const w = h.warnings.find((x) => /collision margin/.test(x)) ?? `collision margin ${h.margin} bytes`;
  return {
    text: `$(warning) stack–heap margin ${h.margin} B`,
    tooltip: `firmwatch: ${w}\nThreshold ${h.threshold} bytes (launch.json "memoryThreshold").\n\nClick: memory view`,
  };
}

export function figure(h: MemoryHealth, key: string): HealthFigure | undefined {
  return h.figures.find((f) => f.key === key);
}
