import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlotSources, seriesLabel } from '../src/logic/plotSources';
import { alignSeries } from '../src/logic/series';

test('the same watch id in two sessions is two series', () => {
  const p = new PlotSources();
  const a = p.id('sa', 1);
  const b = p.id('sb', 1);
  assert.notEqual(a, b);
  assert.equal(p.id('sa', 1), a);
  assert.deepEqual([...p.sessions()].sort(), ['sa', 'sb']);
});

test('samples of two devices share the host time axis', () => {
  const p = new PlotSources();
  p.id('gw', 3);
  p.id('n1', 3);
  // two devices whose own clocks differ by 100 s; their host times line up
  const gw = p.map('gw', [{ watchId: 3, expression: 'x', t: [5.0, 5.1], h: [1000.0, 1000.1], v: [1, 2] }]);
  const n1 = p.map('n1', [{ watchId: 3, expression: 'x', t: [105.05], h: [1000.05], v: [7] }]);
  assert.deepEqual(gw[0].t, [0, 0.1]);
  assert.deepEqual(n1[0].t, [0.05]);
  assert.notEqual(gw[0].watchId, n1[0].watchId);
  assert.deepEqual(alignSeries([gw[0], n1[0]]), [[0, 0.05, 0.1], [1, null, 2], [null, 7, null]]);
});

test('unplotted watches are dropped; without host times the device time is kept', () => {
  const p = new PlotSources();
  p.id('s', 1);
  assert.deepEqual(p.map('s', [{ watchId: 2, expression: 'y', t: [1], v: [1] }]), []);
  assert.deepEqual(p.map('s', [{ watchId: 1, expression: 'x', t: [1.5], v: [1] }])[0].t, [1.5]);
});

test('series of ended sessions are forgotten', () => {
  const p = new PlotSources();
  const old = p.id('old', 1);
  const keep = p.id('new', 1);
  assert.deepEqual(p.dropExcept(new Set(['new'])), [old]);
  assert.equal(p.has('old', 1), false);
  assert.equal(p.id('new', 1), keep);
});

test('labels name the session only when there are several', () => {
  assert.equal(seriesLabel('accel_x', 'gw', 1), 'accel_x');
  assert.equal(seriesLabel('accel_x', 'gw', 2), 'gw: accel_x');
});
