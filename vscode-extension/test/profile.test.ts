import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flameLayout, functionsInDocument, lensTitle, profileStatus, type ProfileBody } from '../src/logic/profile';

const tree = {
  name: '', total: 0, self: 0,
  children: [
    { name: 'app_frame', total: 0.8, self: 0.1, calls: 10, children: [
      { name: 'filter', total: 0.2, self: 0.2, calls: 10 },
      { name: 'telemetry', total: 0.5, self: 0.5, calls: 10 },
    ] },
    { name: 'isr', total: 0.2, self: 0.2, calls: 40 },
  ],
};

test('flame blocks are as wide as their share, children by time left to right', () => {
  const b = flameLayout(tree);
  const by = Object.fromEntries(b.map((x) => [x.path, x]));
  assert.equal(b.length, 4);
  assert.deepEqual([by['app_frame'].x, by['app_frame'].w, by['app_frame'].depth], [0, 0.8, 0]);
  assert.equal(by['isr'].x, 0.8);
  assert.equal(by['app_frame > telemetry'].x, 0); // the larger child first
  assert.ok(Math.abs(by['app_frame > filter'].x - 0.5) < 1e-12);
  assert.equal(by['app_frame > filter'].depth, 1);
  assert.deepEqual(flameLayout({ name: '', total: 0, self: 0 }), []);
  // too narrow to draw: left out
  assert.equal(flameLayout(tree, 0.3).length, 2);
});

test('lens text says share, self time and calls or samples', () => {
  assert.equal(lensTitle({ name: 'f', self_s: 0.5989, total_s: 0.6, share: 0.346, calls: 1038, avg_s: 0.000577 }, true),
    '$(flame) 34.6 % of the time · self 598.9 ms · 1,038 calls · avg 577.0 µs');
  assert.equal(lensTitle({ name: 'f', self_s: 2, total_s: 2, share: 0.5, samples: 1 }, false),
    '$(flame) 50.0 % of the time · self 2.00 s · 1 sample (last profile)');
});

test('lenses go where the function is defined, by path or by name in a copy elsewhere', () => {
  const fns = [
    { name: 'telemetry', self_s: 1, total_s: 1, share: 0.1, file: '/build/src/app.c', line: 3 },
    { name: 'filter', self_s: 1, total_s: 1, share: 0.1, file: '/build/src/app.c', line: 1 },
    { name: 'other', self_s: 1, total_s: 1, share: 0.1, file: '/build/src/util.c', line: 1 },
    { name: 'nowhere', self_s: 1, total_s: 1, share: 0.1 },
  ];
  const lines = ['void filter(void)', '{', 'static void telemetry (int x)'];
  const text = (n: number) => lines[n - 1];
  assert.deepEqual(functionsInDocument(fns, '/build/src/app.c', () => undefined).map((f) => f.name), ['telemetry', 'filter']);
  assert.deepEqual(functionsInDocument(fns, '/home/me/ws/app.c', text).map((f) => f.name), ['telemetry', 'filter']);
  // same file name, but the line does not define the function: no lens
  assert.deepEqual(functionsInDocument(fns, '/home/me/ws/app.c', () => 'int x;'), []);
  assert.deepEqual(functionsInDocument(fns, 'C:\\ws\\util.c', () => 'void other(void)').map((f) => f.name), ['other']);
});

test('status line names the mode and the losses', () => {
  const p: ProfileBody = { mode: 'instrumented', running: true, duration: 1.5, functions: [], tree,
    counters: { records: 1200, device_overflows: 3, link_lost: 2 } };
  assert.equal(profileStatus(p), 'instrumented · running · 1.50 s · 1,200 calls · 3 not kept by the device · 2 lost on the link');
  assert.equal(profileStatus({ mode: 'sampled', running: false, functions: [], tree, device: { method: 'halt' },
    counters: { samples: 90, halted_share: 0.052 } }), 'sampled (halt) · stopped · 90 samples · CPU halted 5.2 %');
});
