import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expressionFromMenuArg, parseRate, sessionIdFromMenuArg } from '../src/logic/commandArgs';
import { chooseElf, substituteWorkspace } from '../src/logic/elf';
import { formatBytes, memoryRows } from '../src/logic/memory';
import { formatHeld, formatRate, formatStatus } from '../src/logic/status';

test('status text shows link, rate and drops during the session', () => {
  const v = formatStatus({ link: 'up', rateHz: 200, samples: 1000, lost: 15, watches: 3, target: 'host', transport: 'serial' }, 5);
  assert.equal(v.text, '$(pulse) live · 200 Hz · $(warning) 10 lost');
  assert.equal(v.severity, 'warning');
  assert.match(v.tooltip, /lost this session: 10 \(0\.99 %\)/);
  assert.match(v.tooltip, /over 3 watches/);
  assert.equal(formatStatus({ link: 'lost' }).severity, 'error');
  assert.equal(formatStatus({ link: 'up', rateHz: 10, lost: 0 }).severity, 'ok');
  assert.match(formatStatus({ link: 'reconnecting' }).text, /reconnecting/);
});

test('a held refresh says so, why, and that a click resumes', () => {
  assert.equal(formatHeld([]), undefined);
  assert.equal(formatHeld([], []), undefined);
  const one = formatHeld(['setting a value']);
  assert.equal(one?.text, '$(debug-pause) refresh held: setting a value');
  assert.match(one?.tooltip ?? '', /do not refresh while: setting a value\. .*Click to resume now\./);
  // this window's reason and the adapter's list of the same hold count once
  const two = formatHeld(['setting a value', 'context menu open'], ['setting a value']);
  assert.equal(two?.text, '$(debug-pause) refresh held: setting a value +1');
  assert.match(two?.tooltip ?? '', /setting a value; context menu open/);
  assert.ok((formatHeld(['x'.repeat(80)])?.text.length ?? 0) < 70);
});

test('a hold the adapter has not confirmed is not called held', () => {
  // asked by this window, not yet in the adapter's status: a refresh may still come
  const asked = formatHeld([], ['paused']);
  assert.equal(asked?.text, '$(sync~spin) holding refresh: paused…');
  assert.doesNotMatch(asked?.text ?? '', /refresh held/);
  assert.match(asked?.tooltip ?? '', /Asked the debug adapter to hold the refresh \(paused\)/);
  // the adapter holds for the menu; this window's input box is still on its way
  const mixed = formatHeld(['context menu open'], ['setting a value']);
  assert.equal(mixed?.text, '$(debug-pause) refresh held: context menu open +1');
  assert.match(mixed?.tooltip ?? '', /do not refresh while: context menu open\. Asked .*\(setting a value\)/);
  // resumed here, the adapter not yet told: still held, as the adapter says
  assert.equal(formatHeld(['paused'], [])?.text, '$(debug-pause) refresh held: paused');
});

test('rates read naturally', () => {
  assert.equal(formatRate(9.96), '10 Hz');
  assert.equal(formatRate(2.5), '2.5 Hz');
  assert.equal(formatRate(1500), '1.5 kHz');
  assert.equal(formatRate(undefined), '–');
});

test('context-menu arguments give the expression', () => {
  assert.equal(expressionFromMenuArg({ container: {}, variable: { name: 'gain_q8', evaluateName: 'g_config.calib.gain_q8' } }), 'g_config.calib.gain_q8');
  assert.equal(expressionFromMenuArg({ variable: { name: 'accel_x' } }), 'accel_x');
  assert.equal(expressionFromMenuArg({ expression: 'accel_y' }), 'accel_y');
  assert.equal(expressionFromMenuArg({ name: 'g_pair.a' }), 'g_pair.a');
  assert.equal(expressionFromMenuArg(undefined), undefined);
  assert.equal(expressionFromMenuArg({}), undefined);
});

test('rates typed by the user', () => {
  assert.equal(parseRate('100'), 100);
  assert.equal(parseRate(' 2.5 Hz'), 2.5);
  assert.equal(typeof parseRate('0'), 'string');
  assert.equal(typeof parseRate('fast'), 'string');
  assert.equal(typeof parseRate('1e9'), 'string');
});

test('the ELF comes from the setting, then the session, then launch.json', () => {
  const configs = [{ type: 'cppdbg', elf: 'no' }, { type: 'firmwatch', name: 'a', elf: '${workspaceFolder}/fw.elf' }];
  assert.deepEqual(chooseElf('/x.elf', undefined, configs), { kind: 'path', path: '/x.elf', from: 'setting firmwatch.elf' });
  assert.equal((chooseElf('', { type: 'firmwatch', elf: '/s.elf' }, configs) as { path: string }).path, '/s.elf');
  assert.equal((chooseElf('', undefined, configs) as { path: string }).path, '${workspaceFolder}/fw.elf');
  assert.deepEqual(chooseElf('', undefined, [{ type: 'firmwatch', name: 'demo', sim: 'host' }]), { kind: 'sim', sim: 'host', from: 'launch configuration "demo"' });
  assert.deepEqual(chooseElf(undefined, undefined, []), { kind: 'none' });
  assert.equal(substituteWorkspace('${workspaceFolder}/a/${workspaceRoot}', '/w'), '/w/a//w');
});

test('memory usage rows: totals first, then sections by address', () => {
  const rows = memoryRows({
    ram: { used: 1536, total: 20480 }, flash: { used: 3000, total: 0 },
    sections: [{ name: '.bss', address: 0x20000100, size: 512, kind: 'ram' }, { name: '.text', address: 0, size: 2900, kind: 'flash' }],
  });
  assert.equal(rows[0].label, 'RAM: 1.50 KiB of 20.0 KiB (7.5 %)');
  assert.equal(rows[1].label, 'Flash: 2.93 KiB used');
  assert.deepEqual(rows.slice(2).map((r) => r.label), ['.text', '.bss']);
  assert.equal(rows[3].description, '0x20000100  512 B');
  assert.equal(formatBytes(3 * 1024 * 1024), '3.00 MiB');
});

test('the value to prefill comes from the menu argument', async () => {
  const { valueFromMenuArg } = await import('../src/logic/commandArgs');
  assert.equal(valueFromMenuArg({ variable: { name: 'gain_q8', value: '256' } }), '256');
  assert.equal(valueFromMenuArg({ name: 'accel_x', value: '-12' }), '-12');
  assert.equal(valueFromMenuArg(undefined), undefined);
});

test('a menu command acts on the session of the row it was started from', () => {
  // VS Code's Variables/Watch context: { sessionId, container, variable }
  assert.equal(sessionIdFromMenuArg({ sessionId: 'b-2', container: {}, variable: { name: 'accel_x' } }), 'b-2');
  assert.equal(sessionIdFromMenuArg({ variable: { name: 'accel_x' } }), undefined);
  assert.equal(sessionIdFromMenuArg('accel_x'), undefined);
  assert.equal(sessionIdFromMenuArg({ sessionId: '' }), undefined);
});
