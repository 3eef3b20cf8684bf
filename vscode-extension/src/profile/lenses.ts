// Code lenses over each profiled function's definition: its share of the time, its self time and
// its calls (instrumented) or samples (sampled), refreshed while the profile runs.
import * as vscode from 'vscode';
import { functionsInDocument, lensTitle } from '../logic/profile';
import type { ProfileStore } from './store';

// VS Code debounces a lens refresh (longer when a provider, e.g. the language server's, is slow)
// and starts the wait over at every change event: one a second would postpone it for ever.
const REFRESH_MS = 2500;

export class ProfileLenses implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly sub: vscode.Disposable;
  private last = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: boolean | undefined;

  constructor(private readonly store: ProfileStore) {
    this.sub = store.onDidChange.event(() => this.schedule());
  }

  private schedule(): void {
    const running = this.store.current()?.running;
    const now = Date.now();
    if (running !== this.running || now - this.last >= REFRESH_MS) {
      this.running = running;
      this.fire();
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.fire(), REFRESH_MS - (now - this.last));
    }
  }

  private fire(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.last = Date.now();
    this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const p = this.store.current();
    if (!p || doc.uri.scheme !== 'file') return [];
    const line = (n: number) => (n >= 1 && n <= doc.lineCount ? doc.lineAt(n - 1).text : undefined);
    return functionsInDocument(p.functions, doc.uri.fsPath, line).map((f) => {
      const range = new vscode.Range((f.line ?? 1) - 1, 0, (f.line ?? 1) - 1, 0);
      return new vscode.CodeLens(range, {
        title: lensTitle(f, !!p.running),
        tooltip: `firmwatch profile of ${f.name}: total ${f.total_s.toFixed(6)} s` + (f.max_s !== undefined ? `, longest call ${f.max_s.toFixed(6)} s` : ''),
        command: 'firmwatch.showProfile',
        arguments: [f.name],
      });
    });
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.sub.dispose();
    this.changed.dispose();
  }
}
