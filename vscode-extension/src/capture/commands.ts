// "Arm Capture on Watches…" (the plot view's scope mode, docs/capture.md) and "Set Deadband…"
// (change-only watches): thin wrappers over the adapter's firmwatch.captureArm / setDeadband.
import * as vscode from 'vscode';
import { askExpression } from '../commands';
import { parseDeadband, parseTriggerText } from '../logic/capture';
import { expressionFromMenuArg } from '../logic/commandArgs';
import { PlotPanel } from '../plot/panel';
import type { RefreshHolds } from '../refreshHold';
import { requestError, Sessions } from '../sessions';

export function registerCapture(ctx: vscode.ExtensionContext, sessions: Sessions, holds: RefreshHolds): void {
  const reg = (id: string, fn: (...args: unknown[]) => unknown) => ctx.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg('firmwatch.armCapture', async (arg: unknown) => {
    const session = sessions.require('A capture');
    if (!session) return;
    const fromMenu = expressionFromMenuArg(arg);
    const chosen = await holds.hold(session, 'choosing what to capture', async () => {
      let watches: string[] = [];
      try {
        const st = await session.customRequest('firmwatch.captureStatus', {});
        if (Array.isArray(st?.watches)) watches = st.watches.filter((w: unknown): w is string => typeof w === 'string');
      } catch {
        // no list: the right-clicked row, or a typed expression
      }
      const names = [...new Set([...(fromMenu ? [fromMenu] : []), ...watches])];
      let channels: string[];
      if (names.length) {
        const picked = await vscode.window.showQuickPick(
          names.map((label) => ({ label, picked: fromMenu ? label === fromMenu : true })),
          { canPickMany: true, title: 'Capture which watches?', placeHolder: 'the channels of the capture', ignoreFocusOut: true },
        );
        if (!picked || !picked.length) return undefined;
        channels = picked.map((p) => p.label);
      } else {
        const typed = await askExpression(arg, 'Expression to capture');
        if (!typed) return undefined;
        channels = [typed];
      }
      const text = await vscode.window.showInputBox({
        title: 'Capture trigger',
        prompt: 'EXPRESSION CONDITION LEVEL (rising, falling, cross, above, below, equal, not_equal, change); empty: capture at once',
        value: `${channels[0]} rising 0`,
        ignoreFocusOut: true,
        validateInput: (t) => (parseTriggerText(t) === undefined
          ? 'Write e.g. accel_x rising 500, fsm_state equal FSM_SAMPLING or button_state change.' : undefined),
      });
      if (text === undefined) return undefined;
      return { channels, trigger: parseTriggerText(text) ?? undefined };
    });
    if (!chosen) return;
    const { channels, trigger } = chosen;
    if (trigger && !channels.includes(trigger.channel)) channels.push(trigger.channel);
    await PlotPanel.scope(ctx, sessions, channels, trigger, true);
  });

  reg('firmwatch.setDeadband', async (arg: unknown) => {
    const session = sessions.require('A deadband');
    if (!session) return;
    const asked = await holds.hold(session, 'setting a deadband', async () => {
      const expression = await askExpression(arg, 'Expression to send only when it changes');
      if (!expression) return undefined;
      const text = await vscode.window.showInputBox({
        prompt: `Send ${expression} only when it moved by more than… (0: any change; empty: every sample)`,
        placeHolder: '10',
        ignoreFocusOut: true,
        validateInput: (t) => (typeof parseDeadband(t) === 'string' ? (parseDeadband(t) as string) : undefined),
      });
      return text === undefined ? undefined : { expression, deadband: parseDeadband(text) as number | null };
    });
    if (!asked) return;
    try {
      const r = await session.customRequest('firmwatch.setDeadband', asked);
      const what = asked.deadband === null ? 'every sample'
        : r?.filtered ? `only when it moves by more than ${asked.deadband}` : 'every sample (see the Debug Console for why)';
      void vscode.window.setStatusBarMessage(`firmwatch: ${asked.expression}: ${what}`, 5000);
    } catch (e) {
      void vscode.window.showErrorMessage(requestError(e));
    }
  });
}
