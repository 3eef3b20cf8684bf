// Recording, sample rate and memory usage commands: thin wrappers over the adapter's custom requests.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { expressionFromMenuArg, parseRate, valueFromMenuArg } from './logic/commandArgs';
import { MemoryPanel } from './memory/panel';
import type { MemoryMonitor } from './memory/monitor';
import { requestError, Sessions } from './sessions';
import type { StatusBar } from './statusBar';

function timestampName(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `firmwatch-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.csv`;
}

export async function askExpression(arg: unknown, prompt: string): Promise<string | undefined> {
  const fromMenu = expressionFromMenuArg(arg);
  if (fromMenu) return fromMenu;
  return vscode.window.showInputBox({ prompt, placeHolder: 'e.g. accel_x or g_config.calib.gain_q8', ignoreFocusOut: true });
}

export function registerCommands(ctx: vscode.ExtensionContext, sessions: Sessions, status: StatusBar,
  memory: MemoryMonitor): void {
  const reg = (id: string, fn: (...args: unknown[]) => unknown) => ctx.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg('firmwatch.startRecording', async () => {
    const session = sessions.require('Recording');
    if (!session) return;
    const folder = session.workspaceFolder?.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: 'Record every sample to CSV',
      defaultUri: folder ? vscode.Uri.joinPath(folder, timestampName()) : undefined,
      filters: { CSV: ['csv'] },
    });
    if (!target) return;
    try {
      const r = await session.customRequest('firmwatch.startRecording', { path: target.fsPath, sessionId: session.id });
      const where = typeof r?.path === 'string' ? r.path : target.fsPath;
      await vscode.commands.executeCommand('setContext', 'firmwatch.recording', true);
      status.setRecording(where);
      void vscode.window.setStatusBarMessage(`firmwatch: recording to ${path.basename(where)}`, 4000);
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
    }
  });

  reg('firmwatch.stopRecording', async () => {
    const session = sessions.require('Stopping a recording');
    if (!session) return;
    try {
      const r = await session.customRequest('firmwatch.stopRecording', {});
      await vscode.commands.executeCommand('setContext', 'firmwatch.recording', false);
      status.setRecording(undefined);
      const open = 'Open';
      const pick = await vscode.window.showInformationMessage(`firmwatch: recorded ${r?.rows ?? 0} rows to ${r?.path ?? 'the CSV file'}.`, open);
      if (pick === open && typeof r?.path === 'string') await vscode.window.showTextDocument(vscode.Uri.file(r.path));
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
    }
  });

  reg('firmwatch.setSampleRate', async (arg: unknown) => {
    const session = sessions.require('Setting a sample rate');
    if (!session) return;
    const expression = await askExpression(arg, 'Expression whose sample rate to set');
    if (!expression) return;
    const text = await vscode.window.showInputBox({
      prompt: `Samples per second for ${expression}`,
      placeHolder: '100',
      ignoreFocusOut: true,
      validateInput: (t) => (typeof parseRate(t) === 'string' ? (parseRate(t) as string) : undefined),
    });
    if (text === undefined) return;
    const rateHz = parseRate(text) as number;
    try {
      const r = await session.customRequest('firmwatch.setRate', { expression, rateHz });
      const got = typeof r?.rateHz === 'number' ? r.rateHz : rateHz;
      void vscode.window.setStatusBarMessage(`firmwatch: ${expression} at ${got} Hz`, 4000);
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
    }
  });

  // VS Code's own Set Value edits the tree element the menu was opened on; the live refresh
  // replaces that element several times a second, so the edit box can vanish. This command
  // only needs the expression, which the menu argument carries.
  reg('firmwatch.setValue', async (arg: unknown) => {
    const session = sessions.require('Setting a value');
    if (!session) return;
    const expression = await askExpression(arg, 'Expression to write to (a variable, field or element)');
    if (!expression) return;
    const value = await vscode.window.showInputBox({
      prompt: `New value for ${expression} (written to the device)`,
      value: valueFromMenuArg(arg),
      ignoreFocusOut: true,
      validateInput: (t) => (t.trim() ? undefined : 'Type a value, e.g. 512, 0x200, 1.5 or an enum name.'),
    });
    if (value === undefined) return;
    try {
      const r = await session.customRequest('setExpression', { expression, value: value.trim() });
      void vscode.window.setStatusBarMessage(`firmwatch: ${expression} = ${r?.value ?? value.trim()}`, 4000);
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
    }
  });

  // live memory health (the static sections are under "static (from the ELF)" in the Memory scope)
  reg('firmwatch.showMemoryUsage', async () => {
    const session = sessions.require('Memory usage');
    if (!session) return;
    MemoryPanel.show(memory);
  });
}
