// Polls the current firmwatch session's memory health (`firmwatch.memoryHealth`) and shows a
// status-bar warning while the stack–heap collision margin is under the threshold. The memory
// view subscribes to the same polls, so one refresh serves both.
import * as vscode from 'vscode';
import { marginWarning, MemoryHealth } from '../logic/memoryHealth';
import type { Sessions } from '../sessions';

const PERIOD_MS = 1000;

export class MemoryMonitor implements vscode.Disposable {
  readonly onHealth = new vscode.EventEmitter<{ sessionId: string; health?: MemoryHealth; error?: string }>();
  private readonly item = vscode.window.createStatusBarItem('firmwatch.memory', vscode.StatusBarAlignment.Left, 49);
  private timer: ReturnType<typeof setInterval> | undefined;
  private busy = false;
  private threshold: number | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly sessions: Sessions) {
    this.item.name = 'firmwatch memory';
    this.item.command = 'firmwatch.showMemoryUsage';
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    this.disposables.push(
      sessions.onStarted.event(() => this.start()),
      sessions.onEnded.event(() => {
        if (!sessions.current()) this.stop();
      }),
    );
  }

  /** A threshold the memory view set (bytes); the adapter keeps it for the session. */
  setThreshold(threshold: number): void {
    this.threshold = threshold;
    void this.poll();
  }

  private start(): void {
    if (!this.timer) this.timer = setInterval(() => void this.poll(), PERIOD_MS);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.item.hide();
  }

  async poll(): Promise<void> {
    const session = this.sessions.current();
    if (!session || this.busy) return;
    this.busy = true;
    try {
      const args = this.threshold !== undefined ? { threshold: this.threshold } : {};
      const health = (await session.customRequest('firmwatch.memoryHealth', args)) as MemoryHealth;
      const warn = marginWarning(health);
      if (warn) {
        this.item.text = warn.text;
        this.item.tooltip = warn.tooltip;
        this.item.show();
      } else {
        this.item.hide();
      }
      this.onHealth.fire({ sessionId: session.id, health });
    } catch (e) {
      // a session still connecting, or one whose link dropped: the next poll tries again
      this.onHealth.fire({ sessionId: session.id, error: String((e as Error)?.message ?? e) });
    } finally {
      this.busy = false;
    }
  }

  dispose(): void {
    this.stop();
    this.item.dispose();
    this.onHealth.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
