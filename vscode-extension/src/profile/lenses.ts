// Code lenses over each profiled function's definition: its share of the time, its self time and
// its calls (instrumented) or samples (sampled), refreshed with every profile event.
import * as vscode from 'vscode';
import { functionsInDocument, lensTitle } from '../logic/profile';
import type { ProfileStore } from './store';

export class ProfileLenses implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly store: ProfileStore) {
    this.sub = store.onDidChange.event(() => this.changed.fire());
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
    this.sub.dispose();
    this.changed.dispose();
  }
}
