// Holds the live refresh of the Watch and Variables views while the user edits something, through
// the adapter's firmwatch.holdRefresh / firmwatch.resumeRefresh (docs/dap.md). Why: every refresh
// re-renders every visible row, and VS Code keeps an edit's state in those rows (docs/vscode.md,
// "Live rows and context menus"). The status bar shows the hold; clicking it resumes at once.
import * as vscode from 'vscode';
import { requestError } from './sessions';

/** Longest hold the extension asks for; the adapter also ends it when the session ends. */
const HOLD_SECONDS = 600;
/** A hold request the adapter does not answer within this does not block the command. */
const HOLD_ANSWER_MS = 2000;

export class RefreshHolds implements vscode.Disposable {
  private next = 0;
  /** id -> reason of the holds this window asked for and has not released */
  private readonly mine = new Map<string, { session: vscode.DebugSession; reason: string }>();
  readonly onChange = new vscode.EventEmitter<void>();

  constructor(private readonly log: vscode.OutputChannel) {}

  /** The reasons this window holds refresh for `session`, oldest first. */
  reasons(session: vscode.DebugSession | undefined): string[] {
    return [...this.mine.values()].filter((h) => h.session.id === session?.id).map((h) => h.reason);
  }

  /**
   * Runs `fn` with the refresh held for `reason`. The context menu's own hold (id `menu`, taken by
   * the adapter when VS Code opened the menu) ends here: this command took over from the menu.
   */
  async hold<T>(session: vscode.DebugSession, reason: string, fn: () => Promise<T>): Promise<T> {
    const id = `ext-${process.pid}-${++this.next}`;
    this.mine.set(id, { session, reason });
    this.onChange.fire();
    // not awaited before `fn`: its input box is not in the views, and under a busy workbench the
    // request's round trip (extension host → workbench → adapter) can take a while
    const held = this.request(session, 'firmwatch.holdRefresh', { id, reason, seconds: HOLD_SECONDS })
      .then(() => this.request(session, 'firmwatch.resumeRefresh', { id: 'menu' }));
    try {
      return await fn();
    } finally {
      this.mine.delete(id);
      this.onChange.fire();
      await held;
      void this.request(session, 'firmwatch.resumeRefresh', { id });
    }
  }

  /** "Pause Live Refresh": holds until resumed (or for HOLD_SECONDS). */
  async pause(session: vscode.DebugSession): Promise<void> {
    const id = 'paused';
    this.mine.set(id, { session, reason: 'paused' });
    this.onChange.fire();
    await this.request(session, 'firmwatch.holdRefresh', { id, reason: 'paused', seconds: HOLD_SECONDS });
  }

  /** A command chosen from the context menu that needs no input: the menu's hold ends. */
  endMenu(session: vscode.DebugSession): void {
    void this.request(session, 'firmwatch.resumeRefresh', { id: 'menu' });
  }

  /** Ends every hold of `session` (the status-bar item's click). */
  async resumeAll(session: vscode.DebugSession | undefined): Promise<void> {
    if (!session) return;
    for (const [id, h] of this.mine) if (h.session.id === session.id) this.mine.delete(id);
    this.onChange.fire();
    await this.request(session, 'firmwatch.resumeRefresh', {});
  }

  forget(session: vscode.DebugSession): void {
    for (const [id, h] of this.mine) if (h.session.id === session.id) this.mine.delete(id);
    this.onChange.fire();
  }

  private async request(session: vscode.DebugSession, command: string, args: object): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, HOLD_ANSWER_MS); });
    try {
      await Promise.race([Promise.resolve(session.customRequest(command, args)), late]);
    } catch (e) {
      // an older adapter, or a session that just ended: the command still works, only unheld
      this.log.appendLine(`${command}: ${requestError(e)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    this.onChange.dispose();
  }
}
