import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignSeries, SeriesBuffer } from '../src/logic/series';

test('only added watches are buffered', () => {
  const b = new SeriesBuffer();
  b.add(1, 'accel_x');
  assert.equal(b.push({ watchId: 2, expression: 'y', t: [0, 1], v: [1, 2] }), 0);
  assert.equal(b.push({ watchId: 1, expression: 'accel_x', t: [0, 0.1], v: [5, 6] }), 2);
  assert.equal(b.totalReceived, 2);
  assert.deepEqual(b.aligned(), [[0, 0.1], [5, 6]]);
});

test('null and non-finite values become gaps, non-finite times are dropped', () => {
  const b = new SeriesBuffer();
  b.add(1, 'x');
  b.push({ watchId: 1, expression: 'x', t: [0, 1, NaN, 2], v: [1, null, 3, Infinity] });
  assert.deepEqual(b.aligned(), [[0, 1, 2], [1, null, null]]);
});

test('the window trims old samples and the point cap holds', () => {
  const b = new SeriesBuffer({ windowSeconds: 1, maxPoints: 1000 });
  b.add(1, 'x');
  b.push({ watchId: 1, expression: 'x', t: [0, 0.5, 1.0, 1.5, 2.0], v: [0, 1, 2, 3, 4] });
  assert.deepEqual(b.list()[0].t, [1.0, 1.5, 2.0]);
  const c = new SeriesBuffer({ windowSeconds: 1e9, maxPoints: 3 });
  c.add(1, 'x');
  for (let i = 0; i < 10; i++) c.push({ watchId: 1, expression: 'x', t: [i], v: [i] });
  assert.deepEqual(c.list()[0].v, [7, 8, 9]);
  assert.equal(c.totalReceived, 10);
});

test('time going backwards (target reset) starts the series over', () => {
  const b = new SeriesBuffer();
  b.add(1, 'x');
  b.push({ watchId: 1, expression: 'x', t: [10, 11], v: [1, 2] });
  b.push({ watchId: 1, expression: 'x', t: [0.5], v: [3] });
  assert.deepEqual(b.list()[0].t, [0.5]);
});

test('series at different rates align on the union of timestamps', () => {
  const out = alignSeries([
    { t: [0, 0.1, 0.2, 0.3], v: [0, 1, 2, 3] },
    { t: [0, 0.2], v: [10, 12] },
    { t: [], v: [] },
  ]);
  assert.deepEqual(out, [[0, 0.1, 0.2, 0.3], [0, 1, 2, 3], [10, null, 12, null], [null, null, null, null]]);
});

test('a repeated timestamp within a series keeps the last value, x stays strictly ascending', () => {
  const out = alignSeries([{ t: [0, 1, 1, 2], v: [0, 1, 9, 2] }, { t: [1], v: [5] }]);
  assert.deepEqual(out, [[0, 1, 2], [0, 9, 2], [null, 5, null]]);
});

test('clear keeps the series but drops points', () => {
  const b = new SeriesBuffer();
  b.add(3, 'z');
  b.push({ watchId: 3, expression: 'z', t: [1], v: [1] });
  b.clear();
  assert.equal(b.pointCount, 0);
  assert.equal(b.has(3), true);
});
