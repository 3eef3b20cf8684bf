// Triggered captures in the plot view's scope mode: what the adapter sends (`firmwatch.capture`,
// docs/dap.md), the trigger text the scope bar builds, the CSV export, cursor readouts.
// No DOM and no `vscode`: shared by the webview and the unit tests.
import { csvField, csvNumber } from './csv';

/** A completed capture, as the `firmwatch.capture` event carries it. */
export interface CaptureEvent {
  channels: string[];
  types: string[];
  times: number[]; // seconds from the trigger sample
  values: (number | string | null)[][]; // per channel, per sample
  triggerIndex: number;
  trigger: string;
  where: 'device' | 'host';
  clock: string;
  rateAsked: number | null;
  rateHz: number;
  triggerTime: number | null;
  captureId: number | null;
  lost: number;
  slips: number;
  notes: string[];
  triggerChannel: number | null;
  level: number | null;
  summary: string;
}

/** What `firmwatch.captureArm` answers. */
export interface CapturePlan {
  where: 'device' | 'host';
  samples: number;
  pre: number;
  rateHz: number;
  rateAsked: number | null;
  clock: string;
  notes: string[];
  description: string;
  channels: string[];
  trigger: string | null;
  level: number | null;
  triggerChannel: number | null;
}

/** The conditions the scope bar offers (docs/capture.md); `none` arms without one. */
export const TRIGGER_OPS = ['rising', 'falling', 'cross', 'above', 'below', 'equal', 'not_equal', 'change', 'none'] as const;
export type TriggerOp = (typeof TRIGGER_OPS)[number];

/** The trigger as the adapter takes it, or undefined for none (the capture starts at once). */
export function triggerText(channel: string, op: TriggerOp, level: string): string | undefined {
  if (!channel || op === 'none') return undefined;
  if (op === 'change') return `${channel} change`;
  return `${channel} ${op} ${level.trim() || '0'}`;
}

/** A level the adapter can read: a number (decimal, hex, float) or a name (an enumerator). */
export function levelProblem(op: TriggerOp, level: string): string | undefined {
  if (op === 'none' || op === 'change') return undefined;
  const t = level.trim();
  if (!t) return 'Give the trigger a level, e.g. 500.';
  if (/\s/.test(t)) return `"${t}" is not one level: write a number or an enum name.`;
  return undefined;
}

/** `--pre` as the adapter takes it: "20%" or a count. */
export function preProblem(text: string): string | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?%$/.test(t) && Number(t.slice(0, -1)) < 100) return undefined;
  if (/^\d+$/.test(t)) return undefined;
  return `"${t}" is no pre-trigger part: write a count (200) or a share (20%).`;
}

/** The capture as CSV, the same columns as `firmwatch capture -o`: sample (0 = trigger), time, channels. */
export function captureToCsv(ev: CaptureEvent): string {
  const lines = [['sample', 'time_s', ...ev.channels].map(csvField).join(',')];
  for (let k = 0; k < ev.times.length; k++) {
    const cells = [String(k - ev.triggerIndex), csvNumber(ev.times[k])];
    for (const ch of ev.values) {
      const v = ch[k];
      cells.push(typeof v === 'number' ? csvNumber(v) : v === null || v === undefined ? '' : csvField(String(v)));
    }
    lines.push(cells.join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

/** A channel as numbers for a chart (null where a value is no number). */
export function numericColumn(values: (number | string | null)[]): (number | null)[] {
  return values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
}

/** The sample nearest to time `t` (times ascending); -1 for an empty capture. */
export function nearestSample(times: number[], t: number): number {
  if (!times.length) return -1;
  let lo = 0;
  let hi = times.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) lo = mid;
    else hi = mid;
  }
  return Math.abs(times[lo] - t) <= Math.abs(times[hi] - t) ? lo : hi;
}

/** The cursor readout: "t = +1.234 ms · accel_x = 500 · fsm_state = 2". */
export function readout(ev: CaptureEvent, k: number): string {
  if (k < 0 || k >= ev.times.length) return '';
  const t = ev.times[k];
  const ms = t * 1000;
  const tt = Math.abs(ms) < 1000 ? `${ms >= 0 ? '+' : ''}${ms.toFixed(3)} ms` : `${t >= 0 ? '+' : ''}${t.toFixed(6)} s`;
  const parts = [`sample ${k - ev.triggerIndex}`, `t = ${tt}`];
  ev.channels.forEach((c, i) => parts.push(`${c} = ${ev.values[i][k] ?? '–'}`));
  return parts.join(' · ');
}

/** "accel_x rising 500" as the scope bar's fields; undefined when it names no condition. Empty or
 *  "none": no condition (the capture starts at once). */
export function parseTriggerText(text: string): { channel: string; op: TriggerOp; level: string } | undefined | null {
  const t = text.trim();
  if (!t || t.toLowerCase() === 'none') return null;
  const words = t.split(/\s+/);
  for (let i = words.length - 1; i > 0; i--) {
    const op = words[i].toLowerCase().replace('-', '_') as TriggerOp;
    if (!(TRIGGER_OPS as readonly string[]).includes(op) || op === 'none') continue;
    const rest = words.slice(i + 1);
    if (op === 'change' ? rest.length !== 0 : rest.length !== 1) return undefined;
    return { channel: words.slice(0, i).join(' '), op, level: rest[0] ?? '' };
  }
  return undefined;
}

/** A deadband as typed: a number of 0 or more, or empty for every sample (null). */
export function parseDeadband(text: string): number | null | string {
  const t = text.trim();
  if (!t) return null;
  const v = Number(t);
  if (!Number.isFinite(v) || v < 0) return `"${t}" is not a deadband: give 0 or more (0: any change), or nothing for every sample.`;
  return v;
}
