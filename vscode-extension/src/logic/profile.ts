// The adapter's profile (event `firmwatch.profile`, docs/profiler.md) as the editor shows it: the
// flame graph's blocks, the code lens text, and which lens goes in which document. No `vscode`.

export interface ProfileFunction {
  name: string;
  self_s: number;
  total_s: number;
  share: number; // self time / profiled time
  calls?: number; // instrumented
  samples?: number; // sampled
  avg_s?: number;
  max_s?: number;
  file?: string;
  line?: number;
}

export interface ProfileNode {
  name: string;
  total: number; // seconds
  self: number;
  calls?: number;
  children?: ProfileNode[];
}

export interface ProfileBody {
  mode?: 'instrumented' | 'sampled';
  elf?: string;
  duration?: number;
  running?: boolean;
  functions: ProfileFunction[];
  lines?: { file: string; line: number; function: string; samples: number; share: number }[];
  tree: ProfileNode;
  counters?: Record<string, number>;
  notes?: string[];
  device?: Record<string, unknown>;
}

export interface FlameBlock {
  name: string;
  depth: number; // 0: the outermost calls (the root itself is not drawn)
  x: number; // 0..1 of the width
  w: number;
  total: number;
  self: number;
  calls?: number;
  path: string; // names from the outermost down, joined with ' > '
}

/** Blocks of a flame graph: each call path as wide as its share of the whole; children in
 * order of decreasing time, left to right. Blocks narrower than `minW` are left out. */
export function flameLayout(root: ProfileNode, minW = 0.002): FlameBlock[] {
  const out: FlameBlock[] = [];
  const kids = root.children ?? [];
  const whole = kids.reduce((s, c) => s + c.total, 0);
  if (whole <= 0) return out;
  const walk = (n: ProfileNode, depth: number, x: number, path: string): void => {
    const w = n.total / whole;
    if (w < minW) return;
    const p = path ? `${path} > ${n.name}` : n.name;
    out.push({ name: n.name, depth, x, w, total: n.total, self: n.self, calls: n.calls, path: p });
    let cx = x;
    for (const c of [...(n.children ?? [])].sort((a, b) => b.total - a.total)) {
      walk(c, depth + 1, cx, p);
      cx += c.total / whole;
    }
  };
  let x = 0;
  for (const c of [...kids].sort((a, b) => b.total - a.total)) {
    walk(c, 0, x, '');
    x += c.total / whole;
  }
  return out;
}

export function formatSeconds(s: number): string {
  if (s >= 1) return `${s.toFixed(2)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toFixed(1)} ms`;
  return `${(s * 1e6).toFixed(1)} µs`;
}

/** The code lens over a function: its share, its time, its calls (or samples). */
export function lensTitle(f: ProfileFunction, running: boolean): string {
  const parts = [`$(flame) ${(100 * f.share).toFixed(1)} % of the time`, `self ${formatSeconds(f.self_s)}`];
  if (f.calls !== undefined) {
    parts.push(`${f.calls.toLocaleString('en-US')} call${f.calls === 1 ? '' : 's'}`);
    if (f.avg_s !== undefined) parts.push(`avg ${formatSeconds(f.avg_s)}`);
  } else if (f.samples !== undefined) {
    parts.push(`${f.samples.toLocaleString('en-US')} sample${f.samples === 1 ? '' : 's'}`);
  }
  return parts.join(' · ') + (running ? '' : ' (last profile)');
}

function norm(p: string): string {
  return p.replace(/\\/g, '/').replace(/\/+/g, '/');
}

function base(p: string): string {
  const n = norm(p);
  return n.slice(n.lastIndexOf('/') + 1);
}

/** The functions whose lens goes in `docPath`: those defined in it, by path; a file built
 * elsewhere (another checkout, a container) matches by name when the line really defines that
 * function (`lineText` gives a line of the document, 1-based). */
export function functionsInDocument(fns: ProfileFunction[], docPath: string,
                                    lineText: (line: number) => string | undefined): ProfileFunction[] {
  const doc = norm(docPath);
  const out: ProfileFunction[] = [];
  for (const f of fns) {
    if (!f.file || !f.line) continue;
    const file = norm(f.file);
    if (file === doc) {
      out.push(f);
    } else if (base(file) === base(doc)) {
      const text = lineText(f.line);
      if (text !== undefined && new RegExp(`\\b${f.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\(`).test(text)) out.push(f);
    }
  }
  return out;
}

/** One line of status over the flame graph. */
export function profileStatus(p: ProfileBody): string {
  const c = p.counters ?? {};
  const parts: string[] = [];
  parts.push(p.mode === 'sampled' ? `sampled (${String(p.device?.method ?? '?')})` : 'instrumented');
  parts.push(p.running ? 'running' : 'stopped');
  if (p.duration !== undefined) parts.push(formatSeconds(p.duration));
  if (p.mode === 'sampled') {
    parts.push(`${(c.samples ?? 0).toLocaleString('en-US')} samples`);
    if (p.device?.method === 'halt') parts.push(`CPU halted ${(100 * (c.halted_share ?? 0)).toFixed(1)} %`);
  } else {
    parts.push(`${(c.records ?? 0).toLocaleString('en-US')} calls`);
    if (c.device_overflows) parts.push(`${c.device_overflows} not kept by the device`);
    if (c.link_lost) parts.push(`${c.link_lost} lost on the link`);
    if (c.corrupt_frames) parts.push(`${c.corrupt_frames} corrupt frames`);
  }
  return parts.join(' · ');
}
