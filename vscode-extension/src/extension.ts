// Entry point: registers the firmwatch debugger, the plot, the session commands, the profile
// view and code lenses, the status bar and the ELF language server.
import * as vscode from 'vscode';
import { DEBUG_TYPE, FirmwatchAdapterFactory, FirmwatchConfigurationProvider } from './adapterFactory';
import { registerCapture } from './capture/commands';
import { askExpression, registerCommands } from './commands';
import { expressionFromMenuArg } from './logic/commandArgs';
import { LspClient } from './lsp';
import { MemoryMonitor } from './memory/monitor';
import { PlotPanel } from './plot/panel';
import { registerProfile } from './profile/commands';
import { RefreshHolds } from './refreshHold';
import { Sessions } from './sessions';
import { StatusBar } from './statusBar';

export function activate(ctx: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('firmwatch');
  const sessions = new Sessions();
  const holds = new RefreshHolds(log);
  const status = new StatusBar(sessions, holds);
  const memory = new MemoryMonitor(sessions);
  ctx.subscriptions.push(
    log, sessions, holds, status, memory,
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new FirmwatchAdapterFactory(log)),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new FirmwatchConfigurationProvider()),
    vscode.commands.registerCommand('firmwatch.plot', async (arg: unknown) => {
      const session = sessions.forMenu(arg, 'Plotting');
      if (!session) return;
      const ask = () => askExpression(arg, 'Expression to plot');
      let expression: string | undefined;
      if (expressionFromMenuArg(arg)) {
        holds.endMenu(session); // the menu's row is known: nothing to hold for
        expression = await ask();
      } else {
        expression = await holds.hold(session, 'choosing an expression to plot', ask);
      }
      // the session chosen when the command started: the focus may move while the user types
      if (expression) await PlotPanel.plot(ctx, sessions, expression, session);
    }),
    sessions.onEnded.event((s) => {
      holds.forget(s);
      if (!sessions.current()) void vscode.commands.executeCommand('setContext', 'firmwatch.recording', false);
    }),
  );
  registerCommands(ctx, sessions, status, memory, holds);
  registerCapture(ctx, sessions, holds);
  registerProfile(ctx, sessions);
  const lsp = new LspClient(sessions, log);
  ctx.subscriptions.push(lsp);
  lsp.start();
}

export function deactivate(): void {
  // disposables registered on the context stop the language server and panels
}
