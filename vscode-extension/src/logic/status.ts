// Text of the status-bar item from `firmwatch.status` events. No `vscode` import.

export interface StatusBody {
  link?: 'up' | 'lost' | 'reconnecting' | string;
  target?: string;
  transport?: string;
  samples?: number;
  lost?: number;
  rateHz?: number;
  watches?: number;
  buildId?: string;
  /** why the live refresh is held (empty or absent: refreshing) */
  held?: string[];
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** 'error' when the link is lost, 'warning' while reconnecting or dropping samples */
  severity: 'ok' | 'warning' | 'error';
}

export function formatRate(hz: number | undefined): string {
  if (hz === undefined || !Number.isFinite(hz)) return '–';
  if (hz >= 1000) return `${(hz / 1000).toFixed(hz >= 10000 ? 0 : 1)} kHz`;
  if (hz >= 100) return `${Math.round(hz)} Hz`;
  return `${Number(hz.toFixed(1))} Hz`;
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`;
  return String(n);
}

/**
 * `lostAtStart` is the adapter's lost-sample count when this session began, so the item shows
 * drops during the session even if the adapter counts from its own start.
 */
/** Shortens a hold reason for the status-bar text (the tooltip has it whole). */
function shortReason(reason: string): string {
  return reason.length > 40 ? `${reason.slice(0, 39)}…` : reason;
}

/**
 * Status text while the live refresh is held: says so, why, and that a click resumes.
 * `held`: the reasons the adapter reports holding (its `firmwatch.status`), the only proof that
 * no `invalidated` follows; `asked`: this window's holds, shown at once but as "holding…" until
 * the adapter lists them — a refresh can still arrive meanwhile (the request travels extension
 * host → workbench → adapter, hundreds of ms on a busy machine), so "held" is never claimed early.
 */
export function formatHeld(held: string[], asked: string[] = []): { text: string; tooltip: string } | undefined {
  const confirmed = [...new Set(held)];
  const pending = [...new Set(asked)].filter((r) => !confirmed.includes(r));
  const all = [...confirmed, ...pending];
  if (!all.length) return undefined;
  const more = all.length > 1 ? ` +${all.length - 1}` : '';
  const text = confirmed.length
    ? `$(debug-pause) refresh held: ${shortReason(confirmed[0])}${more}`
    : `$(sync~spin) holding refresh: ${shortReason(pending[0])}${more}…`;
  const tooltip = (confirmed.length ? `The Watch and Variables views do not refresh while: ${confirmed.join('; ')}. ` : '') +
    (pending.length ? `Asked the debug adapter to hold the refresh (${pending.join('; ')}); until it answers, the views may refresh once more. ` : '') +
    'Plots and recordings keep every sample. Click to resume now.';
  return { text, tooltip };
}

export function formatStatus(body: StatusBody, lostAtStart = 0): StatusView {
  const link = body.link ?? 'up';
  const lost = Math.max(0, (body.lost ?? 0) - lostAtStart);
  const icon = link === 'up' ? '$(pulse)' : link === 'reconnecting' ? '$(sync~spin)' : '$(debug-disconnect)';
  const parts = [`${icon} ${link === 'up' ? 'live' : link}`, formatRate(body.rateHz)];
  if (lost > 0) parts.push(`$(warning) ${formatCount(lost)} lost`);
  const samples = body.samples ?? 0;
  const pct = samples + lost > 0 ? (100 * lost) / (samples + lost) : 0;
  const tooltip = [
    `firmwatch — link ${link}`,
    body.target ? `target: ${body.target}` : '',
    body.transport ? `transport: ${body.transport}` : '',
    `sample rate: ${formatRate(body.rateHz)}${body.watches !== undefined ? ` over ${body.watches} watch${body.watches === 1 ? '' : 'es'}` : ''}`,
    `samples: ${samples}, lost this session: ${lost}${lost ? ` (${pct.toFixed(2)} %)` : ''}`,
    body.buildId ? `build id: ${body.buildId}` : '',
  ].filter(Boolean).join('\n');
  const severity = link === 'lost' ? 'error' : link === 'reconnecting' || lost > 0 ? 'warning' : 'ok';
  return { text: parts.join(' · '), tooltip, severity };
}
