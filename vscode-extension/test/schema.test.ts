// package.json's launch.json schema must offer exactly the keys the debug adapter accepts
// (adapter/firmwatch/dap/config.py), read from Python itself.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const root = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const debuggerContrib = pkg.contributes.debuggers.find((d: { type: string }) => d.type === 'firmwatch');

function python(): string {
  if (process.env.FIRMWATCH_PYTHON) return process.env.FIRMWATCH_PYTHON;
  const venv = path.resolve(root, '..', '.venv', 'bin', 'python');
  return existsSync(venv) ? venv : 'python3';
}

function adapterKeys(): { keys: string[]; transports: string[]; sims: string[]; buildId: string[] } | undefined {
  const code = 'import json; from firmwatch.dap import config as c; ' +
    'print(json.dumps({"keys": list(c.KEYS), "transports": list(c.TRANSPORTS), "sims": list(c.SIMS), "buildId": list(c.BUILD_ID_MODES)}))';
  try {
    return JSON.parse(execFileSync(python(), ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (e) {
    if (process.env.CI === 'true') throw new Error(`firmwatch.dap.config does not import in ${python()}: ${String(e)}`);
    return undefined;
  }
}

const props = (request: 'launch' | 'attach') => debuggerContrib.configurationAttributes[request].properties;

test('launch schema has every adapter key and nothing else', (t) => {
  const a = adapterKeys();
  if (!a) return t.skip('firmwatch.dap is not importable here');
  assert.deepEqual(Object.keys(props('launch')).sort(), [...a.keys].sort());
});

test('attach schema is the launch schema without the keys that start something', (t) => {
  const a = adapterKeys();
  if (!a) return t.skip('firmwatch.dap is not importable here');
  assert.deepEqual(Object.keys(props('attach')).sort(), a.keys.filter((k) => k !== 'sim' && k !== 'server').sort());
});

test('enums match the adapter', (t) => {
  const a = adapterKeys();
  if (!a) return t.skip('firmwatch.dap is not importable here');
  const p = props('launch');
  assert.deepEqual(p.transport.enum, a.transports);
  assert.deepEqual(p.sim.enum, a.sims);
  assert.deepEqual(p.verifyBuildId.enum, a.buildId);
});

test('every attribute has a description, and a default that fits its type', () => {
  for (const req of ['launch', 'attach'] as const) {
    for (const [key, spec] of Object.entries<Record<string, unknown>>(props(req))) {
      assert.ok(typeof spec.description === 'string' && (spec.description as string).length > 20, `${req}.${key} description`);
      assert.ok('default' in spec, `${req}.${key} has a default`);
      const types = ([] as string[]).concat(spec.type as string | string[]);
      const d = spec.default;
      const kind = Array.isArray(d) ? 'array' : d === null ? 'null' : Number.isInteger(d) ? 'integer' : typeof d;
      const ok = types.includes(kind) || (kind === 'integer' && types.includes('number')) ||
        (kind === 'string' && d === '' && types.includes('array'));
      assert.ok(ok, `${req}.${key}: default ${JSON.stringify(d)} is not of type ${types.join('|')}`);
      if (Array.isArray(spec.enum)) assert.ok((spec.enum as unknown[]).includes(d), `${req}.${key}: default in enum`);
    }
  }
});

test('snippets cover the targets the docs promise and use only known keys', () => {
  const labels = debuggerContrib.configurationSnippets.map((s: { label: string }) => s.label).join('\n');
  for (const want of [/simulated demo/, /serial/, /QEMU Cortex-M3/, /OpenOCD/, /J-Link/, /pyOCD/, /probe-rs/, /simavr/]) {
    assert.match(labels, want);
  }
  for (const s of debuggerContrib.configurationSnippets) {
    const body = s.body as Record<string, unknown>;
    assert.equal(body.type, 'firmwatch');
    const allowed = new Set([...Object.keys(props(body.request as 'launch' | 'attach')), 'type', 'request', 'name']);
    for (const k of Object.keys(body)) assert.ok(allowed.has(k), `${s.label}: key ${k}`);
    // what the adapter insists on (config.py _check_combination)
    if (body.request === 'launch') assert.ok('sim' in body || 'server' in body, `${s.label}: launch needs sim or server`);
    else assert.ok('elf' in body && 'transport' in body, `${s.label}: attach needs elf and transport`);
  }
});

test('the initial configuration is the simulated demo', () => {
  assert.deepEqual(debuggerContrib.initialConfigurations.map((c: { sim?: string }) => c.sim), ['host']);
});

test('commands in menus exist and breakpoints cover C, C++, Rust and assembly', () => {
  const ids = new Set(pkg.contributes.commands.map((c: { command: string }) => c.command));
  for (const menu of Object.values<{ command: string }[]>(pkg.contributes.menus)) {
    for (const m of menu) assert.ok(ids.has(m.command), m.command);
  }
  for (const where of ['debug/watch/context', 'debug/variables/context']) {
    assert.ok(pkg.contributes.menus[where].some((m: { command: string }) => m.command === 'firmwatch.plot'), where);
  }
  const langs = pkg.contributes.breakpoints.map((b: { language: string }) => b.language);
  for (const l of ['c', 'cpp', 'rust', 'arm', 'asm']) assert.ok(langs.includes(l), l);
});
