// The latest profile of each firmwatch session (event `firmwatch.profile`), for the flame graph
// and the code lenses. A session's profile goes when the session ends.
import * as vscode from 'vscode';
import { DEBUG_TYPE } from '../adapterFactory';
import type { ProfileBody } from '../logic/profile';
import type { Sessions } from '../sessions';

export class ProfileStore implements vscode.Disposable {
  private readonly bySession = new Map<string, ProfileBody>();
  private readonly disposables: vscode.Disposable[] = [];
  readonly onDidChange = new vscode.EventEmitter<void>();

  constructor(private readonly sessions: Sessions) {
    this.disposables.push(
      vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
        if (e.session.type !== DEBUG_TYPE || e.event !== 'firmwatch.profile' || !e.body) return;
        this.set(e.session, e.body as ProfileBody);
      }),
      sessions.onEnded.event((s) => {
        if (this.bySession.delete(s.id)) this.onDidChange.fire();
      }),
      this.onDidChange,
    );
  }

  set(session: vscode.DebugSession, body: ProfileBody): void {
    if (!Array.isArray(body.functions) || !body.tree) return;
    this.bySession.set(session.id, body);
    this.onDidChange.fire();
  }

  /** The profile of the current session (or of the last session that had one). */
  current(): ProfileBody | undefined {
    const s = this.sessions.current();
    if (s && this.bySession.has(s.id)) return this.bySession.get(s.id);
    let last: ProfileBody | undefined;
    for (const b of this.bySession.values()) last = b;
    return last;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
