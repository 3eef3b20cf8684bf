// Recording, sample rate and memory usage commands: thin wrappers over the adapter's custom requests.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { expressionFromMenuArg, parseRate, valueFromMenuArg } from './logic/commandArgs';
import { MemoryPanel } from './memory/panel';
import type { MemoryMonitor } from './memory/monitor';
import type { RefreshHolds } from './refreshHold';
import { requestError, Sessions } from './sessions';
import type { StatusBar } from './statusBar';

/** The current value to prefill an edit box with, when the adapter has it at once. */
async function liveValue(session: vscode.DebugSession, expression: string): Promise<string | undefined> {
  try {
    const r = await session.customRequest('firmwatch.evaluateLive', { expression });
    return typeof r?.value === 'string' ? r.value : undefined;
  } catch {
    return undefined;
  }
}

function timestampName(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `firmwatch-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}.csv`;
}

/** The expression a command last acted on: what F2 (no row known, see setValue) proposes. */
let lastExpression: string | undefined;

/**
 * The expression of the row the context menu was opened on. VS Code builds this argument when the
 * menu opens (variablesView.ts, getVariablesContext), so it stays right however often the rows
 * are re-rendered meanwhile. Without one (palette, F2, a title-bar button) the user types it.
 */
export async function askExpression(arg: unknown, prompt: string): Promise<string | undefined> {
  const fromMenu = expressionFromMenuArg(arg);
  if (fromMenu) {
    lastExpression = fromMenu;
    return fromMenu;
  }
  const typed = await vscode.window.showInputBox({ prompt, value: lastExpression, placeHolder: 'e.g. accel_x or g_config.calib.gain_q8', ignoreFocusOut: true });
  const expression = typed?.trim();
  if (expression) lastExpression = expression;
  return expression || undefined;
}

/** The frame to write in: a CPU frame of `session` focused in the Call Stack (locals,
 *  registers), else the Live frame (globals). */
function focusedFrameId(session: vscode.DebugSession): number | undefined {
  const item = vscode.debug.activeStackItem;
  return item instanceof vscode.DebugStackFrame && item.session.id === session.id ? item.frameId : undefined;
}

export function registerCommands(ctx: vscode.ExtensionContext, sessions: Sessions, status: StatusBar,
  memory: MemoryMonitor, holds: RefreshHolds): void {
  const reg = (id: string, fn: (...args: unknown[]) => unknown) => ctx.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg('firmwatch.resumeRefresh', () => holds.resumeAll(sessions.current()));
  // To read, copy or expand rows at leisure: VS Code can undo an expansion that a refresh
  // overtakes (docs/vscode.md), and values that stand still are easier to read.
  reg('firmwatch.pauseRefresh', async () => {
    const session = sessions.require('Pausing the live refresh');
    if (session) await holds.pause(session);
  });

  // VS Code's own "+" edits the new watch in a row the live refresh re-renders (the typed text
  // is lost each time): this one types in an input box, with the refresh held meanwhile.
  reg('firmwatch.addWatch', async () => {
    const session = sessions.current();
    const run = async () => vscode.window.showInputBox({
      prompt: 'Expression to add to the Watch view', placeHolder: 'e.g. accel_x, g_config.calib.gain_q8, buf[2]@4',
      ignoreFocusOut: true, validateInput: (t) => (t.trim() ? undefined : 'Type a C expression over the ELF\'s globals.'),
    });
    const text = (session ? await holds.hold(session, 'adding a watch', run) : await run())?.trim();
    if (!text) return;
    await vscode.commands.executeCommand('debug.addToWatchExpressions', { variable: { evaluateName: text } });
  });

  reg('firmwatch.startRecording', async () => {
    const session = sessions.require('Recording');
    if (!session) return;
    const folder = session.workspaceFolder?.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
    const target = await vscode.window.showSaveDialog({
      title: 'Record every sample (CSV, Parquet for pandas/polars/DuckDB, or VCD for waveform viewers)',
      defaultUri: folder ? vscode.Uri.joinPath(folder, timestampName()) : undefined,
      filters: { CSV: ['csv'], Parquet: ['parquet'], VCD: ['vcd'] },
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
      if (pick === open && typeof r?.path === 'string') {
        // Parquet is binary: show it where it is; CSV and VCD open as text
        if (r.path.endsWith('.parquet')) await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(r.path));
        else await vscode.window.showTextDocument(vscode.Uri.file(r.path));
      }
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
    }
  });

  reg('firmwatch.setSampleRate', async (arg: unknown) => {
    const session = sessions.require('Setting a sample rate');
    if (!session) return;
    const asked = await holds.hold(session, 'setting a sample rate', async () => {
      const expression = await askExpression(arg, 'Expression whose sample rate to set');
      if (!expression) return undefined;
      const text = await vscode.window.showInputBox({
        prompt: `Samples per second for ${expression}`,
        placeHolder: '100',
        ignoreFocusOut: true,
        validateInput: (t) => (typeof parseRate(t) === 'string' ? (parseRate(t) as string) : undefined),
      });
      return text === undefined ? undefined : { expression, text };
    });
    if (!asked) return;
    const { expression, text } = asked;
    const rateHz = parseRate(text) as number;
    try {
      const r = await session.customRequest('firmwatch.setRate', { expression, rateHz });
      const got = typeof r?.rateHz === 'number' ? r.rateHz : rateHz;
      void vscode.window.setStatusBarMessage(`firmwatch: ${expression} at ${got} Hz`, 4000);
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
    }
  });

  // Replaces VS Code's inline Set Value in firmwatch sessions (the adapter turns that one off):
  // VS Code's edits the row last rendered rather than the one chosen, in an edit box that the
  // next refresh removes (docs/vscode.md). This one takes the row from the menu argument, asks
  // in an input box with the refresh held, and writes through setExpression.
  reg('firmwatch.setValue', async (arg: unknown) => {
    const session = sessions.forMenu(arg, 'Setting a value');
    if (!session) return;
    const asked = await holds.hold(session, 'setting a value', async () => {
      const expression = await askExpression(arg, 'Expression to write to (a variable, field or element)');
      if (!expression) return undefined;
      const value = await vscode.window.showInputBox({
        prompt: `New value for ${expression} (written to the device)`,
        value: valueFromMenuArg(arg) ?? (await liveValue(session, expression)),
        placeHolder: 'e.g. 512, 0x200, 1.5 or an enum name',
        ignoreFocusOut: true,
        // no validateInput: each check is a round trip to the extension host, which a 30 Hz
        // refresh keeps busy; the adapter answers a bad value with one sentence
      });
      return value === undefined ? undefined : { expression, value: value.trim() };
    });
    if (!asked) return;
    if (!asked.value) {
      void vscode.window.setStatusBarMessage(`firmwatch: nothing written to ${asked.expression} (no value given)`, 4000);
      return;
    }
    try {
      const frameId = focusedFrameId(session);
      const r = await session.customRequest('setExpression', { expression: asked.expression, value: asked.value, ...(frameId !== undefined ? { frameId } : {}) });
      void vscode.window.setStatusBarMessage(`firmwatch: ${asked.expression} = ${r?.value ?? asked.value}`, 4000);
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
