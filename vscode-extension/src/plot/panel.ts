// The plot webview panel: asks the adapter to stream an expression at full rate
// (`firmwatch.plot`) and forwards `firmwatch.samples` for the plotted watches — of any number of
// firmwatch sessions at once (one device each), overlaid on the host time axis.
import * as vscode from 'vscode';
import { PlotSources, seriesLabel, SourceChunk } from '../logic/plotSources';
import { requestError, Sessions } from '../sessions';
import type { FromWebview, ToWebview } from './messages';

function nonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

export class PlotPanel implements vscode.Disposable {
  private static instance: PlotPanel | undefined;
  private readonly sources = new PlotSources();
  private readonly pending: ToWebview[] = [];
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  /** Plots `expression` of the current session, in the one plot panel (created on demand). */
  static async plot(ctx: vscode.ExtensionContext, sessions: Sessions, expression: string): Promise<void> {
    const session = sessions.require('Plotting');
    if (!session) return;
    let r: { watchId: number; expression: string; rateHz?: number };
    try {
      r = await session.customRequest('firmwatch.plot', { expression });
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
      return;
    }
    if (!PlotPanel.instance) PlotPanel.instance = new PlotPanel(ctx, sessions);
    const panel = PlotPanel.instance;
    // series of sessions that ended go; those of the other live sessions stay, on one time axis
    const live = sessions.all();
    for (const id of panel.sources.dropExcept(new Set(live.map((s) => s.id)))) panel.post({ type: 'remove', watchId: id });
    const id = panel.sources.id(session.id, r.watchId);
    const label = seriesLabel(r.expression ?? expression, session.name, live.length);
    panel.post({ type: 'add', watchId: id, expression: label, rateHz: r.rateHz });
    panel.panel.reveal(undefined, true);
  }

  private readonly panel: vscode.WebviewPanel;

  private constructor(ctx: vscode.ExtensionContext, sessions: Sessions) {
    const dist = vscode.Uri.joinPath(ctx.extensionUri, 'dist');
    this.panel = vscode.window.createWebviewPanel('firmwatch.plot', 'firmwatch Plot', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true, // keeps the sample history while the tab is in the background
      localResourceRoots: [dist],
    });
    this.panel.webview.html = this.html(dist);
    this.disposables.push(
      this.panel.onDidDispose(() => this.dispose()),
      this.panel.webview.onDidReceiveMessage((m: FromWebview) => void this.onMessage(m)),
      sessions.onSamples.event(({ session, series }) => {
        const mine = this.sources.map(session.id, series as SourceChunk[]);
        if (mine.length) this.post({ type: 'samples', series: mine });
      }),
      sessions.onEnded.event((s) => {
        const mine = this.sources.sessions();
        if (mine.has(s.id) && !sessions.all().some((x) => mine.has(x.id))) this.post({ type: 'session', state: 'ended' });
      }),
    );
  }

  private post(m: ToWebview): void {
    if (!this.ready) {
      // samples before the webview's script runs would be lost; the 'add's must not be
      if (m.type !== 'samples') this.pending.push(m);
      return;
    }
    void this.panel.webview.postMessage(m);
  }

  private async onMessage(m: FromWebview): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        for (const p of this.pending.splice(0)) void this.panel.webview.postMessage(p);
        return;
      case 'saveCsv':
        return this.save('CSV', 'csv', Buffer.from(m.text, 'utf8'));
      case 'savePng': {
        const b64 = m.dataUrl.replace(/^data:image\/png;base64,/, '');
        return this.save('PNG image', 'png', Buffer.from(b64, 'base64'));
      }
      default:
        return;
    }
  }

  private async save(label: string, ext: string, data: Uint8Array): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const uri = await vscode.window.showSaveDialog({
      title: `Export the plot as ${label}`,
      defaultUri: folder ? vscode.Uri.joinPath(folder, `firmwatch-plot.${ext}`) : undefined,
      filters: { [label]: [ext] },
    });
    if (!uri) return;
    try {
      await vscode.workspace.fs.writeFile(uri, data);
      void vscode.window.setStatusBarMessage(`firmwatch: plot exported to ${uri.fsPath}`, 4000);
    } catch (e) {
      void vscode.window.showErrorMessage(`Could not write ${uri.fsPath} (${requestError(e)}): choose another location.`);
    }
  }

  private html(dist: vscode.Uri): string {
    const w = this.panel.webview;
    const n = nonce();
    const script = w.asWebviewUri(vscode.Uri.joinPath(dist, 'plot.js'));
    const css = w.asWebviewUri(vscode.Uri.joinPath(dist, 'plot.css'));
    return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${w.cspSource} data:; style-src ${w.cspSource} 'unsafe-inline'; script-src 'nonce-${n}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}">
<title>firmwatch Plot</title></head>
<body data-points="0" data-series="0">
<div id="toolbar">
  <button id="pause" title="Freeze the chart (samples keep arriving)">Pause</button>
  <button id="reset" title="Back to the live, auto-scrolling view (or double-click the chart)">Reset zoom</button>
  <button id="csv" title="Export every buffered sample as CSV">Export CSV</button>
  <button id="png" title="Save the chart as a PNG image">Export PNG</button>
  <label title="Seconds shown while following">Window <select id="window">
    <option value="5">5 s</option><option value="10" selected>10 s</option><option value="30">30 s</option><option value="120">120 s</option>
  </select></label>
  <span id="count">0 points</span><span id="state"></span>
</div>
<div id="chart"></div>
<div id="empty">Right-click a watch and choose <b>Plot</b> to add it here.</div>
<script nonce="${n}" src="${script}"></script>
</body></html>`;
  }

  private disposed = false;

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    PlotPanel.instance = undefined;
    for (const d of this.disposables) d.dispose();
    this.panel.dispose();
  }
}
