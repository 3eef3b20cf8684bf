import { test } from 'node:test';
import assert from 'node:assert/strict';
import { marginWarning, MemoryHealth, ramBar } from '../src/logic/memoryHealth';

const health = (margin: number | null, threshold: number, warnings: string[] = []): MemoryHealth => ({
  figures: [], warnings, notes: [], segments: [], threshold, margin, bytesRead: 0, reads: 0, ms: 0, time: 0,
});

test('the RAM bar draws each band in proportion, later bands winning ties', () => {
  const bar = ramBar([
    { name: '.data', start: 0, end: 16 }, { name: '.bss', start: 16, end: 32 }, { name: 'heap', start: 32, end: 48 },
    { name: 'free', start: 48, end: 96 }, { name: 'stack (used earlier)', start: 96, end: 112 }, { name: 'stack', start: 112, end: 128 },
  ], 8);
  assert.equal(bar, 'DBH...sS');
  // a stack inside .bss (the host device) shows as stack
  assert.equal(ramBar([{ name: '.bss', start: 0, end: 100 }, { name: 'stack', start: 50, end: 100 }], 4), 'BBSS');
  assert.equal(ramBar([], 10), '');
});

test('the status-bar warning appears only under the threshold', () => {
  assert.equal(marginWarning(health(200, 128)), undefined);
  assert.equal(marginWarning(health(null, 128)), undefined);
  const w = marginWarning(health(96, 128, ['the stack–heap collision margin is 96 bytes, under the 128-byte threshold']));
  assert.ok(w);
  assert.equal(w.text, '$(warning) stack–heap margin 96 B');
  assert.match(w.tooltip, /96 bytes, under the 128-byte threshold/);
  assert.match(w.tooltip, /memoryThreshold/);
});
