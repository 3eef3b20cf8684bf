// The plot webview panel: asks the adapter to stream an expression at full rate
// (`firmwatch.plot`) and forwards `firmwatch.samples` for the plotted watches — of any number of
// firmwatch sessions at once (one device each), overlaid on the host time axis.
import * as vscode from 'vscode';
import { PlotSources, seriesLabel, SourceChunk } from '../logic/plotSources';
import { requestError, Sessions } from '../sessions';
import type { CaptureEvent, CapturePlan } from '../logic/capture';
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
  /** The session scope mode captures on (the one armed last; the current one until then). */
  private scopeSessionId: string | undefined;
  private readonly pending: ToWebview[] = [];
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  /** Plots `expression` of `chosen` (else the current session), in the one plot panel. */
  static async plot(ctx: vscode.ExtensionContext, sessions: Sessions, expression: string,
    chosen?: vscode.DebugSession): Promise<void> {
    const session = chosen ?? sessions.require('Plotting');
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
    panel.post({ type: 'add', watchId: id, expression: label, rateHz: r.rateHz, raw: r.expression ?? expression });
    panel.panel.reveal(undefined, true);
  }

  private readonly panel: vscode.WebviewPanel;

  private constructor(ctx: vscode.ExtensionContext, private readonly sessions: Sessions) {
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
      sessions.onCapture.event(({ session, event, body }) => {
        if (session.id !== this.scopeSessionId) return;
        if (event === 'firmwatch.capture') this.post({ type: 'capture', capture: body as unknown as CaptureEvent });
        else this.post({ type: 'captureState', state: body });
      }),
    );
  }

  /** The plot view in scope mode on `channels` of the current session; arms a single capture when
   *  `arm` (the command "Arm Capture on Watches…"). */
  static async scope(ctx: vscode.ExtensionContext, sessions: Sessions, channels: string[],
    trigger: { channel: string; op: string; level: string } | undefined, arm: boolean): Promise<void> {
    const session = sessions.require('A capture');
    if (!session) return;
    if (!PlotPanel.instance) PlotPanel.instance = new PlotPanel(ctx, sessions);
    const panel = PlotPanel.instance;
    panel.scopeSessionId = session.id;
    panel.post({ type: 'scope', channels, trigger, arm });
    panel.panel.reveal(undefined, true);
  }

  private session(): vscode.DebugSession | undefined {
    const live = this.sessions.all();
    const s = live.find((x) => x.id === this.scopeSessionId) ?? this.sessions.current();
    if (s) this.scopeSessionId = s.id;
    return s;
  }

  private async capture(command: string, args: object): Promise<unknown> {
    const session = this.session();
    if (!session) {
      this.post({ type: 'captureError', message: 'The debug session has ended: start one with F5 to capture.' });
      return undefined;
    }
    try {
      return await session.customRequest(command, args);
    } catch (e) {
      this.post({ type: 'captureError', message: requestError(e) });
      return undefined;
    }
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
      case 'arm': {
        const plan = await this.capture('firmwatch.captureArm', m.request);
        if (plan) this.post({ type: 'capturePlan', plan: plan as CapturePlan });
        return;
      }
      case 'force':
        await this.capture('firmwatch.captureForce', {});
        return;
      case 'stopCapture':
        await this.capture('firmwatch.captureStop', {});
        return;
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
  <button id="scopeMode" title="Scope mode: triggered captures of the plotted watches (or Live: back to the live plot)">Scope</button>
  <span id="count">0 points</span><span id="state"></span>
</div>
<div id="scopebar" hidden>
  <label title="The channel whose value triggers the capture">Trigger <select id="trigCh"></select></label>
  <select id="trigOp" title="The condition (none: capture at once)">
    <option value="rising" selected>rising</option><option value="falling">falling</option><option value="cross">cross</option>
    <option value="above">above</option><option value="below">below</option><option value="equal">equal</option>
    <option value="not_equal">not equal</option><option value="change">change</option><option value="none">none (at once)</option>
  </select>
  <input id="trigLevel" size="8" value="0" title="The level (a number, or an enum name)">
  <label title="Samples kept from before the trigger: a count or a share">Pre <input id="pre" size="5" value="20%"></label>
  <label>Samples <input id="samples" size="6" value="1000"></label>
  <label>Rate <input id="rate" size="7" value="1000"> Hz</label>
  <button id="single" title="One capture">Single</button>
  <button id="normal" title="Capture again after each one, until Stop">Normal</button>
  <button id="force" title="Trigger now">Force</button>
  <button id="stopScope" title="Disarm">Stop</button>
  <span id="scopeState"></span>
</div>
<div id="chart"></div>
<div id="scopeCharts" hidden></div>
<div id="readout" hidden></div>
<div id="scopeSummary" hidden></div>
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
