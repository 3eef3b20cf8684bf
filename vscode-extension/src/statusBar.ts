// Status-bar item during a firmwatch session: link state, sample rate, samples lost. With several
// sessions (a compound launch, one per device) it names the focused one and lists all in its tooltip.
import * as vscode from 'vscode';
import { formatHeld, formatStatus, StatusBody } from './logic/status';
import type { RefreshHolds } from './refreshHold';
import type { Sessions } from './sessions';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('firmwatch.status', vscode.StatusBarAlignment.Left, 50);
  private readonly lostAtStart = new Map<string, number>();
  private recording: string | undefined;
  private last: StatusBody | undefined;
  private readonly bodies = new Map<string, StatusBody>();
  private heldShown = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly sessions: Sessions, private readonly holds: RefreshHolds) {
    this.item.name = 'firmwatch';
    this.item.command = 'firmwatch.showMemoryUsage';
    this.disposables.push(
      holds.onChange.event(() => {
        const s = sessions.current();
        if (s && this.last) this.render(s.id);
      }),
      sessions.onStarted.event(() => {
        this.last = undefined;
        this.item.text = '$(sync~spin) firmwatch: connecting';
        this.item.tooltip = 'firmwatch: connecting to the target';
        this.item.backgroundColor = undefined;
        this.item.show();
      }),
      sessions.onStatus.event(({ session, body }) => {
        if (!this.lostAtStart.has(session.id)) this.lostAtStart.set(session.id, body.lost ?? 0);
        this.bodies.set(session.id, body);
        const current = sessions.current();
        if (session.id === current?.id) this.last = body;
        if (current && this.bodies.has(current.id)) this.render(current.id);
      }),
      vscode.debug.onDidChangeActiveDebugSession(() => {
        const s = sessions.current();
        if (!s || !this.bodies.has(s.id)) return;
        this.last = this.bodies.get(s.id);
        this.render(s.id);
      }),
      sessions.onEnded.event((s) => {
        this.lostAtStart.delete(s.id);
        this.bodies.delete(s.id);
        const now = sessions.current();
        if (now && this.bodies.has(now.id)) {
          this.last = this.bodies.get(now.id);
          this.render(now.id);
        }
        if (!sessions.current()) {
          this.item.hide();
          this.heldShown = false;
          void vscode.commands.executeCommand('setContext', 'firmwatch.refreshHeld', false);
          this.recording = undefined;
        }
      }),
    );
  }

  setRecording(path: string | undefined): void {
    this.recording = path;
    const s = this.sessions.current();
    if (s) this.render(s.id);
  }

  private render(sessionId: string): void {
    const view = formatStatus(this.last ?? { link: 'up' }, this.lostAtStart.get(sessionId) ?? 0);
    // held: what the adapter says it holds (the context menu's hold is only there); this
    // window's holds show at once, as "holding…" until the adapter lists them
    const held = formatHeld(this.last?.held ?? [], this.holds.reasons(this.sessions.current()));
    const all = this.sessions.all();
    const named = all.length > 1 ? `${all.find((s) => s.id === sessionId)?.name ?? ''}: ` : '';
    this.item.text = `firmwatch ${named}${view.text}${held ? ` · ${held.text}` : ''}${this.recording ? ' · $(record) REC' : ''}`;
    // every session's line, the focused one first: which device a figure belongs to
    const others = all.filter((s) => s.id !== sessionId && this.bodies.has(s.id)).map((s) =>
      `${s.name}: ${formatStatus(this.bodies.get(s.id) as StatusBody, this.lostAtStart.get(s.id) ?? 0).text}`);
    this.item.tooltip = (named ? `${named}` : '') + view.tooltip + (this.recording ? `\nrecording to ${this.recording}` : '') +
      (others.length ? `\n\nalso running:\n${others.join('\n')}` : '') +
      (held ? `\n\n${held.tooltip}` : '\n\nClick: memory usage');
    this.item.command = held ? 'firmwatch.resumeRefresh' : 'firmwatch.showMemoryUsage';
    if (!!held !== this.heldShown) {
      this.heldShown = !!held;
      void vscode.commands.executeCommand('setContext', 'firmwatch.refreshHeld', this.heldShown);
    }
    this.item.backgroundColor = view.severity === 'error'
      ? new vscode.ThemeColor('statusBarItem.errorBackground')
      : view.severity === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
