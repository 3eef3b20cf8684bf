// Start, stop, show and export a profile of the current firmwatch session (custom requests
// firmwatch.startProfile / stopProfile / profile, docs/profiler.md), the Profile view and the
// code lenses over profiled functions.
import * as vscode from 'vscode';
import { requestError, Sessions } from '../sessions';
import { ProfileLenses } from './lenses';
import { ProfilePanel } from './panel';
import { ProfileStore } from './store';

const EXPORTS: Record<string, { label: string; ext: string; format: string }> = {
  speedscope: { label: 'speedscope JSON', ext: 'speedscope.json', format: 'speedscope' },
  chrome: { label: 'Chrome / Perfetto trace', ext: 'trace.json', format: 'chrome' },
  collapsed: { label: 'collapsed stacks (flamegraph.pl)', ext: 'folded', format: 'collapsed' },
};

export function registerProfile(ctx: vscode.ExtensionContext, sessions: Sessions): ProfileStore {
  const store = new ProfileStore(sessions);
  const lenses = new ProfileLenses(store);
  const setProfiling = (on: boolean) => vscode.commands.executeCommand('setContext', 'firmwatch.profiling', on);
  ctx.subscriptions.push(
    store, lenses,
    vscode.languages.registerCodeLensProvider([{ language: 'c' }, { language: 'cpp' }, { language: 'rust' }], lenses),
    sessions.onEnded.event(() => { if (!sessions.current()) void setProfiling(false); }),
    vscode.commands.registerCommand('firmwatch.startProfile', async () => {
      const session = sessions.require('Profiling');
      if (!session) return;
      try {
        const r = await session.customRequest('firmwatch.startProfile', { intervalS: 1 });
        await setProfiling(true);
        ProfilePanel.show(store);
        const how = r?.mode === 'sampled' ? `sampling the PC (${String(r?.method ?? '')})` : 'instrumented';
        void vscode.window.setStatusBarMessage(`firmwatch: profiling, ${how}`, 4000);
      } catch (e) {
        void vscode.window.showErrorMessage(requestError(e));
      }
    }),
    vscode.commands.registerCommand('firmwatch.stopProfile', async () => {
      const session = sessions.require('Stopping a profile');
      if (!session) return;
      try {
        const body = await session.customRequest('firmwatch.stopProfile', {});
        store.set(session, body);
        await setProfiling(false);
      } catch (e) {
        void vscode.window.showErrorMessage(requestError(e));
      }
    }),
    vscode.commands.registerCommand('firmwatch.showProfile', (name?: unknown) => {
      ProfilePanel.show(store, typeof name === 'string' ? name : undefined);
    }),
    vscode.commands.registerCommand('firmwatch.exportProfile', async () => {
      const session = sessions.require('Exporting a profile');
      if (!session) return;
      const pick = await vscode.window.showQuickPick(Object.entries(EXPORTS).map(([k, v]) => ({ label: v.label, key: k })),
        { title: 'Export the profile as' });
      if (!pick) return;
      const e = EXPORTS[pick.key];
      const folder = session.workspaceFolder?.uri ?? vscode.workspace.workspaceFolders?.[0]?.uri;
      const uri = await vscode.window.showSaveDialog({
        title: `Export the profile as ${e.label}`,
        defaultUri: folder ? vscode.Uri.joinPath(folder, `firmwatch-profile.${e.ext}`) : undefined,
      });
      if (!uri) return;
      try {
        await session.customRequest('firmwatch.profile', { exports: { [e.format]: uri.fsPath } });
        void vscode.window.setStatusBarMessage(`firmwatch: profile exported to ${uri.fsPath}`, 4000);
      } catch (err) {
        void vscode.window.showErrorMessage(requestError(err));
      }
    }),
  );
  return store;
}
