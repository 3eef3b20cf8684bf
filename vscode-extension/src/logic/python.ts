// Which Python runs `python -m firmwatch.dap` / `python -m firmwatch.lsp`, and the one message
// shown when firmwatch is missing from it. No `vscode` import: unit-tested under plain node.
import * as os from 'node:os';
import * as path from 'node:path';

export type PythonSource = 'setting' | 'python-extension' | 'default';

export interface PythonChoice {
  command: string;
  source: PythonSource;
}

export interface PythonInputs {
  /** the `firmwatch.python` setting, possibly empty */
  setting?: string;
  /** the Python extension's active interpreter, when that extension is installed */
  fromPythonExtension?: string;
  workspaceFolder?: string;
  home?: string;
}

/** Expands `${workspaceFolder}`, `${userHome}` and a leading `~` the way launch.json users expect. */
export function expandPath(value: string, workspaceFolder?: string, home: string = os.homedir()): string {
  let out = value.trim();
  out = out.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  if (out === '~') return home;
  if (out.startsWith('~/')) return path.join(home, out.slice(2));
  // a relative path with a separator means "relative to the workspace" (e.g. `.venv/bin/python`);
  // a bare name (`python3.12`) is looked up on PATH by the OS
  if (workspaceFolder !== undefined && !path.isAbsolute(out) && /[\\/]/.test(out)) {
    return path.join(workspaceFolder, out);
  }
  return out;
}

/** The setting wins, then the Python extension's interpreter, then `python3` on PATH. */
export function choosePython(inputs: PythonInputs): PythonChoice {
  const setting = inputs.setting?.trim();
  if (setting) return { command: expandPath(setting, inputs.workspaceFolder, inputs.home), source: 'setting' };
  const fromExt = inputs.fromPythonExtension?.trim();
  if (fromExt) return { command: fromExt, source: 'python-extension' };
  return { command: 'python3', source: 'default' };
}

export function sourceLabel(source: PythonSource): string {
  switch (source) {
    case 'setting': return 'the firmwatch.python setting';
    case 'python-extension': return "the Python extension's active interpreter";
    default: return 'python3 on PATH';
  }
}

/** One sentence: what happened and what to do. `detail` is the import error's last line. */
export function notInstalledMessage(choice: PythonChoice, detail: string, what: 'firmwatch' | 'firmwatch[lsp]' = 'firmwatch'): string {
  const why = detail.trim().split(/\r?\n/).filter(Boolean).pop() ?? '';
  const missingPython = /ENOENT|not found|No such file/i.test(why);
  if (missingPython) {
    return `The Python interpreter "${choice.command}" (from ${sourceLabel(choice.source)}) was not found: ` +
      `install Python 3.11+ with firmwatch ("python3 -m pip install ${what}") or set firmwatch.python to an interpreter that has it.`;
  }
  const where = `the Python "${choice.command}" (from ${sourceLabel(choice.source)}${why ? `: ${why}` : ''})`;
  if (what === 'firmwatch[lsp]') {
    return `The firmwatch language server cannot start in ${where}: ` +
      `run "${installCommand(choice, what)}" or set firmwatch.python to an interpreter that has it.`;
  }
  return `firmwatch is not installed in ${where}: ` +
    `run "${installCommand(choice, what)}" or set firmwatch.python to an interpreter that has it.`;
}

export function installCommand(choice: PythonChoice, what: 'firmwatch' | 'firmwatch[lsp]' = 'firmwatch'): string {
  const quoted = /\s/.test(choice.command) ? `"${choice.command}"` : choice.command;
  return `${quoted} -m pip install ${what === 'firmwatch' ? what : `"${what}"`}`;
}
