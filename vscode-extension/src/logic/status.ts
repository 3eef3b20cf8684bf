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

/** Status text while the live refresh is held: says so, why, and that a click resumes. */
export function formatHeld(reasons: string[]): { text: string; tooltip: string } | undefined {
  const unique = [...new Set(reasons)];
  if (!unique.length) return undefined;
  return {
    text: `$(debug-pause) refresh held: ${shortReason(unique[0])}${unique.length > 1 ? ` +${unique.length - 1}` : ''}`,
    tooltip: `The Watch and Variables views do not refresh while: ${unique.join('; ')}. ` +
      'Plots and recordings keep every sample. Click to resume now.',
  };
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
