// Code lenses over each profiled function's definition: its share of the time, its self time and
// its calls (instrumented) or samples (sampled), refreshed while the profile runs.
import * as vscode from 'vscode';
import { functionsInDocument, lensTitle } from '../logic/profile';
import type { ProfileStore } from './store';

// VS Code asks for lenses a debounce delay after a change event, and every further event starts
// that wait over (editor/contrib/codelens/browser/codelensController.ts: a RunOnceScheduler that
// onDidChange reschedules). The delay is the moving average of how long providing took, between
// 250 ms and 250² ms (editor/common/services/languageFeatureDebounce.ts): on a busy machine it
// grew past any fixed refresh period, and the lenses never showed. So the next event waits
// until VS Code has asked for the lenses of the previous one, and at least REFRESH_MS.
const REFRESH_MS = 2500;

export class ProfileLenses implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly sub: vscode.Disposable;
  private last = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: boolean | undefined;
  private dirty = false; // the profile changed since the lenses were last announced
  private awaiting = false; // an event was fired and VS Code has not asked for lenses since

  constructor(private readonly store: ProfileStore) {
    this.sub = store.onDidChange.event(() => {
      this.dirty = true;
      this.maybeFire();
    });
  }

  private maybeFire(): void {
    if (!this.dirty || this.awaiting || this.timer) return;
    const running = this.store.current()?.running;
    const wait = this.last + REFRESH_MS - Date.now();
    if (wait > 0 && running === this.running) { // a start or a stop shows at once
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.maybeFire();
      }, wait);
      return;
    }
    this.running = running;
    this.dirty = false;
    this.awaiting = true;
    this.last = Date.now();
    this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (this.awaiting) {
      this.awaiting = false;
      if (this.dirty) setTimeout(() => this.maybeFire(), 0); // not from inside VS Code's request
    }
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
