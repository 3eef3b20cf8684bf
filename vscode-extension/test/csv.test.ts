import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, csvNumber, seriesToCsv } from '../src/logic/csv';

test('header, aligned rows and empty cells for missing samples', () => {
  const csv = seriesToCsv([
    { expression: 'accel_x', t: [0, 0.1, 0.2], v: [1, -2, 3] },
    { expression: 'g_config.calib.gain_q8', t: [0.1], v: [256] },
  ]);
  assert.equal(csv, 't_s,accel_x,g_config.calib.gain_q8\r\n0,1,\r\n0.1,-2,256\r\n0.2,3,\r\n');
});

test('expressions with commas or quotes are quoted', () => {
  assert.equal(csvField('buf[2]@4'), 'buf[2]@4');
  assert.equal(csvField('x,h'), '"x,h"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  const header = seriesToCsv([{ expression: 'x,h', t: [], v: [] }]).split('\r\n')[0];
  assert.equal(header, 't_s,"x,h"');
});

test('numbers round-trip exactly; null and non-finite are empty', () => {
  for (const v of [0.1 + 0.2, 1e-12, -123456789.125, 2 ** 53]) assert.equal(Number(csvNumber(v)), v);
  assert.equal(csvNumber(null), '');
  assert.equal(csvNumber(NaN), '');
  assert.equal(csvNumber(Infinity), '');
});
