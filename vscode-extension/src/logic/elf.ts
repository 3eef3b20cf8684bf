// Which ELF the language server indexes. No `vscode` import.

export interface LaunchLike {
  type?: string;
  request?: string;
  name?: string;
  elf?: string;
  sim?: string;
}

export type ElfChoice =
  | { kind: 'path'; path: string; from: string }
  | { kind: 'sim'; sim: string; from: string }
  | { kind: 'none' };

/** The `firmwatch.elf` setting, else the active session's configuration, else the first
 *  firmwatch configuration of launch.json (a `sim` one means the simulated device's ELF). */
export function chooseElf(setting: string | undefined, active: LaunchLike | undefined, configs: LaunchLike[]): ElfChoice {
  if (setting && setting.trim()) return { kind: 'path', path: setting.trim(), from: 'setting firmwatch.elf' };
  const candidates = [active, ...configs].filter((c): c is LaunchLike => !!c && c.type === 'firmwatch');
  for (const c of candidates) {
    if (typeof c.elf === 'string' && c.elf.trim()) return { kind: 'path', path: c.elf.trim(), from: `launch configuration "${c.name ?? '?'}"` };
    if (typeof c.sim === 'string' && c.sim) return { kind: 'sim', sim: c.sim, from: `launch configuration "${c.name ?? '?'}"` };
  }
  return { kind: 'none' };
}

/** Replaces `${workspaceFolder}` (and `${workspaceRoot}`) the way VS Code does in launch.json. */
export function substituteWorkspace(p: string, workspaceFolder: string | undefined): string {
  if (workspaceFolder === undefined) return p;
  return p.replace(/\$\{workspace(Folder|Root)\}/g, workspaceFolder);
}
