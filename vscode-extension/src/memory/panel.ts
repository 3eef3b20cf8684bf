// The live memory view (command "firmwatch: Show Memory Usage (live)"): the RAM map as a bar,
// every figure with the place it came from, the warnings, and the threshold, refreshed with each
// poll of the MemoryMonitor. The page is static HTML updated by messages (no reload per refresh).
import * as vscode from 'vscode';
import { ramBar } from '../logic/memoryHealth';
import type { MemoryMonitor } from './monitor';

function nonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

export class MemoryPanel implements vscode.Disposable {
  private static instance: MemoryPanel | undefined;
  private readonly panel: vscode.WebviewPanel;
  private readonly disposables: vscode.Disposable[] = [];

  static show(monitor: MemoryMonitor): void {
    if (!MemoryPanel.instance) MemoryPanel.instance = new MemoryPanel(monitor);
    MemoryPanel.instance.panel.reveal(undefined, true);
    void monitor.poll();
  }

  private constructor(private readonly monitor: MemoryMonitor) {
    this.panel = vscode.window.createWebviewPanel('firmwatch.memory', 'firmwatch Memory',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: true, retainContextWhenHidden: true });
    this.panel.webview.html = this.html();
    this.disposables.push(
      this.panel.onDidDispose(() => this.dispose()),
      monitor.onHealth.event(({ health, error }) => {
        if (health) void this.panel.webview.postMessage({ type: 'health', health, bar: ramBar(health.segments, 64) });
        else if (error) void this.panel.webview.postMessage({ type: 'error', error });
      }),
      this.panel.webview.onDidReceiveMessage((m: { type: string; threshold?: number }) => {
        if (m.type === 'threshold' && typeof m.threshold === 'number') this.monitor.setThreshold(m.threshold);
      }),
    );
  }

  private html(): string {
    const n = nonce();
    return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${n}';">
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 8px 12px; }
pre#bar { font-family: var(--vscode-editor-font-family); font-size: 13px; margin: 4px 0; }
.legend { opacity: .7; font-size: 12px; }
#warnings div { background: var(--vscode-inputValidation-warningBackground); border: 1px solid var(--vscode-inputValidation-warningBorder); padding: 4px 8px; margin: 4px 0; }
table { border-collapse: collapse; margin-top: 8px; }
td { padding: 2px 10px 2px 0; vertical-align: top; }
td.value { text-align: right; font-family: var(--vscode-editor-font-family); white-space: nowrap; }
td.source { opacity: .75; font-size: 12px; }
#meta, #notes { opacity: .7; font-size: 12px; margin-top: 6px; }
</style></head>
<body data-refreshes="0">
<h3>Memory health <span id="state" class="legend">waiting for the first refresh…</span></h3>
<div id="warnings"></div>
<pre id="bar"></pre>
<div class="legend">D .data · B .bss · H heap · . free · s stack used earlier (high-water) · S stack now</div>
<table id="figures"></table>
<div id="notes"></div>
<div id="meta"></div>
<p><label>Warning threshold (bytes): <input id="threshold" type="number" min="0" step="1" style="width:7em"></label></p>
<script nonce="${n}">
const vscode = acquireVsCodeApi();
const $ = (id) => document.getElementById(id);
const text = (tag, t, cls) => { const e = document.createElement(tag); e.textContent = t; if (cls) e.className = cls; return e; };
$('threshold').addEventListener('change', (ev) => {
  const v = Number(ev.target.value);
  if (Number.isInteger(v) && v >= 0) vscode.postMessage({ type: 'threshold', threshold: v });
});
window.addEventListener('message', (ev) => {
  const m = ev.data;
  if (m.type === 'error') { $('state').textContent = m.error; return; }
  if (m.type !== 'health') return;
  const h = m.health;
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes) + 1);
  document.body.dataset.warning = h.warnings.length ? 'yes' : 'no';
  $('state').textContent = 'live';
  const lo = Math.min(...h.segments.map((s) => s.start)), hi = Math.max(...h.segments.map((s) => s.end));
  $('bar').textContent = h.segments.length ? '0x' + lo.toString(16) + ' [' + m.bar + '] 0x' + hi.toString(16) : '';
  $('warnings').replaceChildren(...h.warnings.map((w) => text('div', '⚠ ' + w)));
  $('figures').replaceChildren(...h.figures.map((f) => {
    const tr = document.createElement('tr');
    tr.dataset.key = f.key;
    tr.append(text('td', f.label), text('td', f.text, 'value'), text('td', f.source, 'source'));
    return tr;
  }));
  $('notes').replaceChildren(...h.notes.map((n) => text('div', 'note: ' + n)));
  $('meta').textContent = 'refresh: ' + h.bytesRead + ' bytes in ' + h.reads + ' reads, ' + h.ms.toFixed(1) + ' ms';
  if (document.activeElement !== $('threshold')) $('threshold').value = String(h.threshold);
});
</script></body></html>`;
  }

  dispose(): void {
    MemoryPanel.instance = undefined;
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
  }
}
