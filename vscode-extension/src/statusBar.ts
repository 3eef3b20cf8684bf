// Status-bar item during a firmwatch session: link state, sample rate, samples lost.
import * as vscode from 'vscode';
import { formatStatus, StatusBody } from './logic/status';
import type { Sessions } from './sessions';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('firmwatch.status', vscode.StatusBarAlignment.Left, 50);
  private readonly lostAtStart = new Map<string, number>();
  private recording: string | undefined;
  private last: StatusBody | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly sessions: Sessions) {
    this.item.name = 'firmwatch';
    this.item.command = 'firmwatch.showMemoryUsage';
    this.disposables.push(
      sessions.onStarted.event(() => {
        this.last = undefined;
        this.item.text = '$(sync~spin) firmwatch: connecting';
        this.item.tooltip = 'firmwatch: connecting to the target';
        this.item.backgroundColor = undefined;
        this.item.show();
      }),
      sessions.onStatus.event(({ session, body }) => {
        if (session.id !== sessions.current()?.id) return;
        if (!this.lostAtStart.has(session.id)) this.lostAtStart.set(session.id, body.lost ?? 0);
        this.last = body;
        this.render(session.id);
      }),
      sessions.onEnded.event((s) => {
        this.lostAtStart.delete(s.id);
        if (!sessions.current()) {
          this.item.hide();
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
    this.item.text = `firmwatch ${view.text}${this.recording ? ' · $(record) REC' : ''}`;
    this.item.tooltip = view.tooltip + (this.recording ? `\nrecording to ${this.recording}` : '') + '\n\nClick: memory usage';
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
