// Series of several debug sessions in one plot: each (session, watch) gets a plot-wide series id,
// and samples are put on one time axis — the host clock the adapter maps each device's time onto
// (`h` in firmwatch.samples), in seconds from the first sample the plot got. No `vscode` import.
import type { SeriesChunk } from './series';

/** A firmwatch.samples series as the adapter sends it: `h` is host time (Unix seconds). */
export interface SourceChunk extends SeriesChunk {
  h?: number[];
}

export class PlotSources {
  private readonly ids = new Map<string, number>();
  private readonly owner = new Map<number, string>();
  private nextId = 1;
  /** host time at x = 0 */
  base: number | undefined;

  /** The plot's series id of `watchId` in `sessionId` (a new one the first time). */
  id(sessionId: string, watchId: number): number {
    const key = `${sessionId}/${watchId}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(key, id);
      this.owner.set(id, sessionId);
    }
    return id;
  }

  has(sessionId: string, watchId: number): boolean {
    return this.ids.has(`${sessionId}/${watchId}`);
  }

  sessions(): Set<string> {
    return new Set(this.owner.values());
  }

  /** Forgets the series of sessions not in `live`; returns their ids (for the view to drop). */
  dropExcept(live: Set<string>): number[] {
    const gone: number[] = [];
    for (const [key, id] of this.ids) {
      const sid = this.owner.get(id) as string;
      if (live.has(sid)) continue;
      this.ids.delete(key);
      this.owner.delete(id);
      gone.push(id);
    }
    return gone;
  }

  /** The chunks of `sessionId` that are plotted, renumbered and on the host time axis. */
  map(sessionId: string, series: SourceChunk[]): SeriesChunk[] {
    const out: SeriesChunk[] = [];
    for (const s of series) {
      const id = this.ids.get(`${sessionId}/${s.watchId}`);
      if (id === undefined) continue;
      let t = s.t;
      if (Array.isArray(s.h) && s.h.length === s.t.length && s.h.length > 0) {
        if (this.base === undefined) this.base = s.h[0];
        const base = this.base;
        // to the microsecond, so samples of one instant on two devices share an x
        t = s.h.map((x) => Math.round((x - base) * 1e6) / 1e6);
      }
      out.push({ watchId: id, expression: s.expression, t, v: s.v });
    }
    return out;
  }
}

/** The label of a plotted expression: with several sessions, which one it comes from. */
export function seriesLabel(expression: string, sessionName: string, sessionCount: number): string {
  return sessionCount > 1 ? `${sessionName}: ${expression}` : expression;
}
