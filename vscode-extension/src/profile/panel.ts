// The Profile view: a flame graph of the current session's profile (callers below their callees,
// each block as wide as its share of the time), the status, the notes and the top functions;
// redrawn with every `firmwatch.profile` event. Clicking a block opens the function's source.
import * as vscode from 'vscode';
import { flameLayout, formatSeconds, type ProfileBody, profileStatus } from '../logic/profile';
import type { ProfileStore } from './store';

function nonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

export class ProfilePanel implements vscode.Disposable {
  private static instance: ProfilePanel | undefined;
  private readonly panel: vscode.WebviewPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;

  static show(store: ProfileStore, focus?: string): void {
    if (!ProfilePanel.instance) ProfilePanel.instance = new ProfilePanel(store);
    const p = ProfilePanel.instance;
    p.panel.reveal(undefined, true);
    p.update();
    if (focus) void p.panel.webview.postMessage({ type: 'focus', name: focus });
  }

  private constructor(private readonly store: ProfileStore) {
    this.panel = vscode.window.createWebviewPanel('firmwatch.profile', 'firmwatch Profile',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: true, retainContextWhenHidden: true });
    this.panel.webview.html = this.html();
    this.disposables.push(
      this.panel.onDidDispose(() => this.dispose()),
      store.onDidChange.event(() => this.update()),
      this.panel.webview.onDidReceiveMessage((m: { type: string; name?: string }) => {
        if (m.type === 'ready') {
          this.ready = true;
          this.update();
        } else if (m.type === 'open' && m.name) {
          void this.open(m.name);
        }
      }),
    );
  }

  private update(): void {
    if (!this.ready) return;
    const p: ProfileBody | undefined = this.store.current();
    if (!p) {
      void this.panel.webview.postMessage({ type: 'empty' });
      return;
    }
    const blocks = flameLayout(p.tree).map((b) => ({
      ...b,
      tip: `${b.path}\n${(100 * b.w).toFixed(1)} % · total ${formatSeconds(b.total)} · self ${formatSeconds(b.self)}`
        + (p.mode === 'instrumented' && b.calls !== undefined ? ` · ${b.calls.toLocaleString('en-US')} calls` : ''),
    }));
    const top = p.functions.slice(0, 12).map((f) => ({
      name: f.name, share: `${(100 * f.share).toFixed(1)} %`, self: formatSeconds(f.self_s),
      n: f.calls !== undefined ? `${f.calls.toLocaleString('en-US')} calls` : `${(f.samples ?? 0).toLocaleString('en-US')} samples`,
    }));
    void this.panel.webview.postMessage({
      type: 'profile', mode: p.mode ?? 'instrumented', running: !!p.running, status: profileStatus(p),
      notes: p.notes ?? [], blocks, top,
    });
  }

  private async open(name: string): Promise<void> {
    const f = this.store.current()?.functions.find((x) => x.name === name);
    if (!f?.file || !f.line) {
      void vscode.window.setStatusBarMessage(`firmwatch: no source location for ${name} in the ELF's DWARF`, 4000);
      return;
    }
    try {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(f.file));
      const pos = new vscode.Position(f.line - 1, 0);
      await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, selection: new vscode.Range(pos, pos) });
    } catch {
      void vscode.window.showWarningMessage(`firmwatch: ${f.file} (where ${name} is defined) cannot be opened here.`);
    }
  }

  private html(): string {
    const n = nonce();
    return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${n}';">
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 8px 12px; }
#status { opacity: .8; margin-bottom: 6px; }
#notes div { background: var(--vscode-inputValidation-warningBackground); border: 1px solid var(--vscode-inputValidation-warningBorder); padding: 4px 8px; margin: 4px 0; font-size: 12px; }
#flame { position: relative; width: 100%; margin: 8px 0; }
.block { position: absolute; height: 17px; box-sizing: border-box; border: 1px solid var(--vscode-editor-background);
  font-size: 11px; line-height: 15px; padding: 0 3px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
  color: #111; cursor: pointer; }
.block:hover { filter: brightness(1.15); outline: 1px solid var(--vscode-focusBorder); }
.block.focus { outline: 2px solid var(--vscode-focusBorder); }
table { border-collapse: collapse; font-size: 12px; }
td { padding: 1px 12px 1px 0; } td.num { text-align: right; font-family: var(--vscode-editor-font-family); }
#empty { opacity: .7; }
body[data-has="yes"] #empty { display: none; }
</style></head>
<body data-updates="0" data-blocks="0">
<h3>Profile <span id="state"></span></h3>
<div id="status"></div>
<div id="empty">No profile yet: run "firmwatch: Start Profile" while a firmwatch debug session runs.</div>
<div id="notes"></div>
<div id="flame"></div>
<table id="top"></table>
<script nonce="${n}">
const vscode = acquireVsCodeApi();
const $ = (id) => document.getElementById(id);
const ROW = 18;
let focusName = '';
function hue(name) { let h = 0; for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0; return h; }
function color(name) { const h = hue(name); return 'hsl(' + (h % 50 + 5) + ',' + (70 + h % 20) + '%,' + (55 + (h >> 8) % 15) + '%)'; }
window.addEventListener('message', (ev) => {
  const m = ev.data;
  if (m.type === 'focus') { focusName = m.name; for (const b of document.querySelectorAll('.block')) b.classList.toggle('focus', b.dataset.name === focusName); return; }
  if (m.type === 'empty') {
    delete document.body.dataset.has;
    for (const id of ['flame', 'top', 'notes', 'status', 'state']) $(id).replaceChildren();
    return;
  }
  if (m.type !== 'profile') return;
  document.body.dataset.has = 'yes';
  $('state').textContent = m.running ? '(running)' : '(stopped)';
  $('status').textContent = m.status;
  $('notes').replaceChildren(...m.notes.map((t) => { const d = document.createElement('div'); d.textContent = t; return d; }));
  const depth = m.blocks.reduce((d, b) => Math.max(d, b.depth), 0) + 1;
  const flame = $('flame');
  flame.style.height = (depth * ROW) + 'px';
  flame.replaceChildren(...m.blocks.map((b) => {
    const d = document.createElement('div');
    d.className = 'block' + (b.name === focusName ? ' focus' : '');
    d.style.left = (100 * b.x) + '%';
    d.style.width = (100 * b.w) + '%';
    d.style.bottom = (b.depth * ROW) + 'px';
    d.style.background = color(b.name);
    d.textContent = b.name;
    d.title = b.tip;
    d.dataset.name = b.name;
    d.dataset.depth = String(b.depth);
    d.dataset.share = b.w.toFixed(4);
    d.addEventListener('click', () => vscode.postMessage({ type: 'open', name: b.name }));
    return d;
  }));
  $('top').replaceChildren(...m.top.map((f) => {
    const tr = document.createElement('tr');
    for (const [v, cls] of [[f.name, ''], [f.share, 'num'], [f.self, 'num'], [f.n, 'num']]) {
      const td = document.createElement('td'); td.textContent = v; if (cls) td.className = cls; tr.appendChild(td);
    }
    return tr;
  }));
  document.body.dataset.mode = m.mode;
  document.body.dataset.running = m.running ? 'yes' : 'no';
  document.body.dataset.blocks = String(m.blocks.length);
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
});
vscode.postMessage({ type: 'ready' });
</script></body></html>`;
  }

  dispose(): void {
    ProfilePanel.instance = undefined;
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
  }
}
