// Client of the ELF language server (`python -m firmwatch.lsp`): starts it for C, C++, Rust,
// assembly and launch.json, tells it which ELF to index, and answers its `firmwatch/liveValue`
// requests from the running firmwatch session.
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { chooseElf, LaunchLike, substituteWorkspace } from './logic/elf';
import { checkImport, reportNotInstalled, resolvePython, runPython } from './pythonEnv';
import type { Sessions } from './sessions';

const LIVE_VALUE_TIMEOUT_MS = 300; // hover must stay fast: no value beats a slow one

export class LspClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private elf: string | undefined;
  private restarting: Promise<void> = Promise.resolve();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly sessions: Sessions, private readonly log: vscode.OutputChannel) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('firmwatch.elf') || e.affectsConfiguration('firmwatch.python') ||
          e.affectsConfiguration('firmwatch.lsp.enable') || e.affectsConfiguration('launch')) {
          this.restart(true);
        }
      }),
      // a session's configuration names its ELF even when launch.json does not
      sessions.onStarted.event(() => this.restart(false)),
    );
  }

  start(): void {
    this.restart(true);
  }

  /** Serialised: a restart waits for the previous start/stop to finish. */
  private restart(force: boolean): void {
    this.restarting = this.restarting.then(() => this.doRestart(force)).catch((e) => {
      this.log.appendLine(`language server: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  private async doRestart(force: boolean): Promise<void> {
    const enabled = vscode.workspace.getConfiguration('firmwatch').get<boolean>('lsp.enable', true);
    const elf = enabled ? await this.currentElf() : undefined;
    if (!force && this.client && elf === this.elf) return;
    if (this.client) {
      const old = this.client;
      this.client = undefined;
      await old.stop().catch(() => undefined);
    }
    if (!enabled) return;
    const folder = vscode.workspace.workspaceFolders?.[0];
    const choice = await resolvePython(folder);
    const problem = await checkImport(choice, 'firmwatch.lsp');
    if (problem) {
      this.log.appendLine(`language server not started: ${problem}`);
      // One message per problem: without firmwatch at all, F5 says so (with the install
      // command); a pop-up here is only for firmwatch installed without its lsp extra, and only
      // when the workspace uses firmwatch (a configuration or an explicit ELF).
      const base = await checkImport(choice, 'firmwatch');
      if (!base && elf) void reportNotInstalled(choice, problem, 'firmwatch[lsp]');
      return;
    }
    this.elf = elf;
    const serverOptions: ServerOptions = {
      command: choice.command,
      args: ['-m', 'firmwatch.lsp'],
      transport: TransportKind.stdio,
      options: folder ? { cwd: folder.uri.fsPath } : undefined,
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: 'file', language: 'c' },
        { scheme: 'file', language: 'cpp' },
        { scheme: 'file', language: 'rust' },
        { scheme: 'file', language: 'arm' },
        { scheme: 'file', language: 'asm' },
        { scheme: 'file', pattern: '**/.vscode/launch.json' },
      ],
      initializationOptions: { elf: elf ?? null },
      outputChannel: this.log,
      synchronize: { configurationSection: 'firmwatch' },
    };
    const client = new LanguageClient('firmwatch', 'firmwatch language server', serverOptions, clientOptions);
    client.onRequest('firmwatch/liveValue', (params: { expression?: string }) => this.liveValue(params?.expression));
    this.log.appendLine(`language server: ${choice.command} -m firmwatch.lsp, elf ${elf ?? '(none)'}`);
    await client.start();
    this.client = client;
  }

  private async liveValue(expression: string | undefined): Promise<{ value: string | null }> {
    const session = this.sessions.current();
    if (!session || !expression) return { value: null };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), LIVE_VALUE_TIMEOUT_MS); });
    try {
      const r = await Promise.race([
        Promise.resolve(session.customRequest('firmwatch.evaluateLive', { expression })).catch(() => null),
        timeout,
      ]);
      const value = r && typeof r === 'object' ? (r as { value?: unknown }).value : undefined;
      return { value: value === undefined || value === null ? null : String(value) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The ELF to index: setting, else the running session's or launch.json's firmwatch configuration. */
  private async currentElf(): Promise<string | undefined> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const setting = vscode.workspace.getConfiguration('firmwatch', folder?.uri).get<string>('elf', '');
    const configs = vscode.workspace.getConfiguration('launch', folder?.uri).get<LaunchLike[]>('configurations', []) ?? [];
    const active = this.sessions.current()?.configuration as LaunchLike | undefined;
    const choice = chooseElf(setting, active, Array.isArray(configs) ? configs : []);
    const wf = folder?.uri.fsPath;
    if (choice.kind === 'path') return substituteWorkspace(choice.path, wf);
    if (choice.kind === 'sim') return this.simElf(choice.sim);
    return undefined;
  }

  private readonly simElfs = new Map<string, string | undefined>();

  /** Where the simulated device's demo ELF is built (it may not exist yet: the server waits for it). */
  private async simElf(sim: string): Promise<string | undefined> {
    if (this.simElfs.has(sim)) return this.simElfs.get(sim);
    const choice = await resolvePython(vscode.workspace.workspaceFolders?.[0]);
    const code = 'import sys; from firmwatch.sim import default_build_dir, elf_path; ' +
      't = sys.argv[1]; print(elf_path(t, default_build_dir(t)))';
    const r = await runPython(choice.command, ['-c', code, sim]);
    const p = r.ok ? r.stdout.trim() : undefined;
    if (!r.ok) this.log.appendLine(`could not locate the ${sim} simulator's ELF: ${r.stderr.trim().split('\n').pop()}`);
    this.simElfs.set(sim, p);
    return p;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    void this.client?.stop();
  }
}
