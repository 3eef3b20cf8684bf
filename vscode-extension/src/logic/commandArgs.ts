// What VS Code passes to commands from the debug views' context menus, reduced to the
// expression to act on. No `vscode` import.

/** Debug: Watch gives the expression element (`name`/`expression`), Variables gives
 *  `{container, variable: {name, evaluateName}}`; the palette gives nothing. */
export function expressionFromMenuArg(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg.trim() || undefined;
  if (!arg || typeof arg !== 'object') return undefined;
  const a = arg as Record<string, unknown>;
  const variable = a.variable as Record<string, unknown> | undefined;
  if (variable && typeof variable === 'object') {
    const pick = variable.evaluateName ?? variable.name;
    if (typeof pick === 'string' && pick.trim()) return pick.trim();
  }
  for (const key of ['evaluateName', 'expression', 'name']) {
    const v = a[key];
    if (typeof v === 'string' && v.trim()) return v.trim();
  }
  return undefined;
}

/** The debug session a Variables/Watch menu argument belongs to (VS Code's IVariablesContext
 * carries `sessionId`): a command started from a row acts on that row's session, not on
 * whichever session has the focus when the command runs (several devices at once). */
export function sessionIdFromMenuArg(arg: unknown): string | undefined {
  if (!arg || typeof arg !== 'object') return undefined;
  const id = (arg as Record<string, unknown>).sessionId;
  return typeof id === 'string' && id ? id : undefined;
}

/** Parses a rate typed by the user; returns an error sentence or the number. */
export function parseRate(text: string): number | string {
  const t = text.trim().replace(/\s*hz$/i, '');
  const n = Number(t);
  if (!t || !Number.isFinite(n) || n <= 0) return 'Type a positive number of samples per second, e.g. 100.';
  if (n > 100_000) return 'Type a rate up to 100000 Hz.';
  return n;
}

/** The value shown in the view the menu was opened on, to prefill the edit box. */
export function valueFromMenuArg(arg: unknown): string | undefined {
  if (!arg || typeof arg !== 'object') return undefined;
  const a = arg as Record<string, unknown>;
  const variable = a.variable as Record<string, unknown> | undefined;
  const v = variable && typeof variable === 'object' ? variable.value : a.value;
  return typeof v === 'string' ? v : undefined;
}
