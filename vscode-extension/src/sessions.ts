// The firmwatch debug sessions this window runs, and fan-out of the adapter's custom events.
import * as vscode from 'vscode';
import { DEBUG_TYPE } from './adapterFactory';
import { sessionIdFromMenuArg } from './logic/commandArgs';
import type { SeriesChunk } from './logic/series';
import type { StatusBody } from './logic/status';

export interface SamplesEvent { session: vscode.DebugSession; series: SeriesChunk[] }
export interface StatusEvent { session: vscode.DebugSession; body: StatusBody }
/** `firmwatch.capture` (a completed capture) or `firmwatch.captureState` (what it is doing). */
export interface CaptureEventFromAdapter { session: vscode.DebugSession; event: string; body: Record<string, unknown> }

export class Sessions implements vscode.Disposable {
  private readonly live = new Map<string, vscode.DebugSession>();
  private readonly disposables: vscode.Disposable[] = [];
  readonly onSamples = new vscode.EventEmitter<SamplesEvent>();
  readonly onStatus = new vscode.EventEmitter<StatusEvent>();
  readonly onCapture = new vscode.EventEmitter<CaptureEventFromAdapter>();
  readonly onStarted = new vscode.EventEmitter<vscode.DebugSession>();
  readonly onEnded = new vscode.EventEmitter<vscode.DebugSession>();

  constructor() {
    this.disposables.push(
      vscode.debug.onDidStartDebugSession((s) => {
        if (s.type !== DEBUG_TYPE) return;
        this.live.set(s.id, s);
        this.onStarted.fire(s);
      }),
      vscode.debug.onDidTerminateDebugSession((s) => {
        if (!this.live.delete(s.id)) return;
        this.onEnded.fire(s);
      }),
      vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
        if (e.session.type !== DEBUG_TYPE) return;
        if (e.event === 'firmwatch.samples' && Array.isArray(e.body?.series)) {
          this.onSamples.fire({ session: e.session, series: e.body.series as SeriesChunk[] });
        } else if (e.event === 'firmwatch.status' && e.body) {
          this.onStatus.fire({ session: e.session, body: e.body as StatusBody });
        } else if ((e.event === 'firmwatch.capture' || e.event === 'firmwatch.captureState') && e.body) {
          this.onCapture.fire({ session: e.session, event: e.event, body: e.body as Record<string, unknown> });
        }
      }),
      this.onSamples, this.onStatus, this.onCapture, this.onStarted, this.onEnded,
    );
    const active = vscode.debug.activeDebugSession;
    if (active?.type === DEBUG_TYPE) this.live.set(active.id, active);
  }

  /** The focused firmwatch session, else the most recent one. */
  current(): vscode.DebugSession | undefined {
    const active = vscode.debug.activeDebugSession;
    if (active?.type === DEBUG_TYPE && this.live.has(active.id)) return active;
    let last: vscode.DebugSession | undefined;
    for (const s of this.live.values()) last = s;
    return last;
  }

  /** Every live firmwatch session, oldest first (a compound launch starts several). */
  all(): vscode.DebugSession[] {
    return [...this.live.values()];
  }

  /** The current session, or a warning saying how to get one. */
  /** The session of the row a menu command was started from, else {@link require}'s. */
  forMenu(arg: unknown, what: string): vscode.DebugSession | undefined {
    const id = sessionIdFromMenuArg(arg);
    const own = id !== undefined ? this.live.get(id) : undefined;
    return own ?? this.require(what);
  }

  require(what: string): vscode.DebugSession | undefined {
    const s = this.current();
    if (!s) void vscode.window.showWarningMessage(`${what} needs a running firmwatch session: start one with F5 (Run and Debug).`);
    return s;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** The adapter's error message for a failed custom request, as one sentence. */
export function requestError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^Error:\s*/, '');
}
