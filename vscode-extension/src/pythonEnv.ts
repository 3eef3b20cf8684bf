// Resolves the Python interpreter (setting → Python extension → python3) and checks once per
// interpreter that firmwatch imports there, so a missing install gives one clear message
// instead of a debug adapter that dies on start.
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import { choosePython, installCommand, notInstalledMessage, PythonChoice } from './logic/python';

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath?(resource?: vscode.Uri): { id?: string; path?: string } | undefined;
    resolveEnvironment?(env: unknown): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
}

/** The Python extension's interpreter, when that extension is installed; never throws. */
async function fromPythonExtension(resource?: vscode.Uri): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const envs = api?.environments;
    const active = envs?.getActiveEnvironmentPath?.(resource);
    if (!active?.path) return undefined;
    if (envs?.resolveEnvironment) {
      const resolved = await envs.resolveEnvironment(active);
      const exe = resolved?.executable?.uri?.fsPath;
      if (exe) return exe;
    }
    return active.path;
  } catch {
    return undefined;
  }
}

export async function resolvePython(folder?: vscode.WorkspaceFolder): Promise<PythonChoice> {
  const setting = vscode.workspace.getConfiguration('firmwatch', folder?.uri).get<string>('python', '');
  const workspaceFolder = (folder ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath;
  const ext = setting.trim() ? undefined : await fromPythonExtension(folder?.uri);
  return choosePython({ setting, fromPythonExtension: ext, workspaceFolder });
}

export function runPython(python: string, args: string[], timeoutMs = 20000): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(python, args, { timeout: timeoutMs, windowsHide: true }, (err, stdout, stderr) => {
      resolve({ ok: !err, stdout: String(stdout), stderr: String(stderr || (err ? err.message : '')) });
    });
  });
}

const verified = new Map<string, Promise<string | undefined>>();
const shown = new Set<string>();

/** undefined when `module` imports in `choice`, else the one-sentence message (cached per interpreter). */
export function checkImport(choice: PythonChoice, module: string): Promise<string | undefined> {
  const key = `${choice.command}\0${module}`;
  let p = verified.get(key);
  if (!p) {
    p = runPython(choice.command, ['-c', `import ${module}`]).then((r) => {
      if (r.ok) return undefined;
      verified.delete(key); // check again next time: the user may install it meanwhile
      return notInstalledMessage(choice, r.stderr, module.startsWith('firmwatch.lsp') ? 'firmwatch[lsp]' : 'firmwatch');
    });
    verified.set(key, p);
  }
  return p;
}

/** Shows the not-installed message once per interpreter and window, with the fixes as buttons. */
export async function reportNotInstalled(choice: PythonChoice, message: string, what: 'firmwatch' | 'firmwatch[lsp]' = 'firmwatch'): Promise<void> {
  const key = `${choice.command}\0${what}`;
  if (shown.has(key)) return;
  shown.add(key);
  const copy = 'Copy Install Command';
  const settings = 'Set firmwatch.python';
  const pick = await vscode.window.showErrorMessage(message, copy, settings);
  shown.delete(key);
  if (pick === copy) await vscode.env.clipboard.writeText(installCommand(choice, what));
  if (pick === settings) await vscode.commands.executeCommand('workbench.action.openSettings', 'firmwatch.python');
}
