// CSV export of what the plot holds: one row per target timestamp, one column per series,
// empty cells where a series has no sample at that time. No `vscode` import.
import { alignSeries } from './series';

export interface CsvSeries {
  expression: string;
  t: number[];
  v: (number | null)[];
}

/** RFC 4180 quoting: only when needed, doubling embedded quotes. */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Shortest text that reads back as the same double; integers without a decimal point. */
export function csvNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  return String(v);
}

export function seriesToCsv(series: CsvSeries[], timeHeader = 't_s'): string {
  const [x, ...ys] = alignSeries(series);
  const lines = [[timeHeader, ...series.map((s) => s.expression)].map(csvField).join(',')];
  for (let r = 0; r < x.length; r++) {
    const cells = [csvNumber(x[r])];
    for (const y of ys) cells.push(csvNumber(y[r]));
    lines.push(cells.join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
