// Runs the debug adapter as `python -m firmwatch.dap` over stdio, and fills in the demo
// configuration when F5 is pressed without a launch.json.
import * as vscode from 'vscode';
import { checkImport, reportNotInstalled, resolvePython } from './pythonEnv';

export const DEBUG_TYPE = 'firmwatch';

export class FirmwatchAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly log: vscode.OutputChannel) {}

  async createDebugAdapterDescriptor(session: vscode.DebugSession): Promise<vscode.DebugAdapterDescriptor> {
    const choice = await resolvePython(session.workspaceFolder);
    this.log.appendLine(`debug adapter: ${choice.command} -m firmwatch.dap (${choice.source})`);
    const cwd = session.workspaceFolder?.uri.fsPath;
    // FIRMWATCH_DAP_UI: this extension's Set Value replaces VS Code's inline one (docs/dap.md)
    const env = { FIRMWATCH_DAP_UI: 'vscode-extension' };
    return new vscode.DebugAdapterExecutable(choice.command, ['-m', 'firmwatch.dap'], cwd ? { cwd, env } : { env });
  }
}

export class FirmwatchConfigurationProvider implements vscode.DebugConfigurationProvider {
  async resolveDebugConfiguration(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    // F5 with no launch.json: run the simulated demo device rather than fail
    if (!config.type && !config.request && !config.name) {
      config = { type: DEBUG_TYPE, request: 'launch', name: 'firmwatch: simulated demo device', sim: 'host', watch: ['accel_x', 'temp_celsius'] };
    }
    // The import check lives here, not in the descriptor factory: returning undefined from a
    // resolver aborts the launch quietly, so the user sees our one message and nothing else.
    const choice = await resolvePython(folder);
    const problem = await checkImport(choice, 'firmwatch');
    if (problem) {
      void reportNotInstalled(choice, problem);
      return undefined;
    }
    return config;
  }
}
