import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureToCsv, levelProblem, nearestSample, numericColumn, preProblem, readout, triggerText } from '../src/logic/capture';
import type { CaptureEvent } from '../src/logic/capture';

const ev: CaptureEvent = {
  channels: ['accel_x', 'g_config'], types: ['int16_t', 'config_t'], times: [-0.002, -0.001, 0, 0.001],
  values: [[-4, -2, 0, 2], ['{a}', '{b}', '{c}', null]], triggerIndex: 2, trigger: 'accel_x rising 0',
  where: 'device', clock: "the device's tick (1000 Hz) / 1", rateAsked: 1000, rateHz: 1000, triggerTime: 2.5,
  captureId: 1, lost: 0, slips: 0, notes: [], triggerChannel: 0, level: 0, summary: '',
};

test('the trigger text the adapter takes', () => {
  assert.equal(triggerText('accel_x', 'rising', ' 500 '), 'accel_x rising 500');
  assert.equal(triggerText('accel_x', 'change', '500'), 'accel_x change');
  assert.equal(triggerText('accel_x', 'none', '500'), undefined);
  assert.equal(triggerText('', 'above', '1'), undefined);
  assert.equal(levelProblem('rising', ''), 'Give the trigger a level, e.g. 500.');
  assert.equal(levelProblem('equal', 'FSM_SAMPLING'), undefined);
  assert.match(levelProblem('above', '1 2') ?? '', /not one level/);
  assert.equal(levelProblem('change', ''), undefined);
});

test('pre-trigger parts', () => {
  assert.equal(preProblem('20%'), undefined);
  assert.equal(preProblem('200'), undefined);
  assert.match(preProblem('120%') ?? '', /no pre-trigger/);
  assert.match(preProblem('-3') ?? '', /no pre-trigger/);
});

test('CSV: sample 0 is the trigger, texts quoted when needed, missing cells empty', () => {
  assert.equal(captureToCsv(ev), 'sample,time_s,accel_x,g_config\r\n-2,-0.002,-4,{a}\r\n-1,-0.001,-2,{b}\r\n0,0,0,{c}\r\n1,0.001,2,\r\n');
});

test('numbers for the chart, the nearest sample, the readout', () => {
  assert.deepEqual(numericColumn(ev.values[1]), [null, null, null, null]);
  assert.equal(nearestSample(ev.times, 0.0004), 2);
  assert.equal(nearestSample(ev.times, 0.0006), 3);
  assert.equal(nearestSample(ev.times, -5), 0);
  assert.equal(nearestSample([], 1), -1);
  assert.equal(readout(ev, 3), 'sample 1 · t = +1.000 ms · accel_x = 2 · g_config = –');
  assert.equal(readout(ev, 9), '');
});

test('trigger text typed in the command', async () => {
  const { parseTriggerText, parseDeadband } = await import('../src/logic/capture');
  assert.deepEqual(parseTriggerText('accel_x rising 500'), { channel: 'accel_x', op: 'rising', level: '500' });
  assert.deepEqual(parseTriggerText(' g_config.calib.gain_q8  not-equal 256 '), { channel: 'g_config.calib.gain_q8', op: 'not_equal', level: '256' });
  assert.deepEqual(parseTriggerText('button_state change'), { channel: 'button_state', op: 'change', level: '' });
  assert.equal(parseTriggerText(''), null);
  assert.equal(parseTriggerText('none'), null);
  assert.equal(parseTriggerText('accel_x whenever 3'), undefined);
  assert.equal(parseTriggerText('accel_x rising'), undefined);
  assert.equal(parseDeadband(''), null);
  assert.equal(parseDeadband('2.5'), 2.5);
  assert.match(String(parseDeadband('-1')), /not a deadband/);
});
