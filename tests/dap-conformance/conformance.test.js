// Conformance check: Microsoft's DebugClient (@vscode/debugadapter-testsupport) drives the real
// `python -m firmwatch.dap` against the host simulated device, the way VS Code starts a session.
// Run: npm ci && FIRMWATCH_PYTHON=/path/to/python node --test conformance.test.js
'use strict';
const { test } = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = process.env.FIRMWATCH_PYTHON || path.join(ROOT, '.venv', 'bin', 'python');

async function waitFor(cond, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('DebugClient drives a live session', { timeout: 240000 }, async () => {
  // "-mfirmwatch.dap" is python's own spelling of "-m firmwatch.dap" in one argument
  // a private index cache: the test does not depend on what earlier runs left in ~/.cache
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'firmwatch-dap-conformance-'));
  const dc = new DebugClient(PYTHON, '-mfirmwatch.dap', 'firmwatch',
    { cwd: ROOT, env: { ...process.env, FIRMWATCH_CACHE_DIR: cache } });
  dc.defaultTimeout = 120000;
  await dc.start();
  try {
    const initialized = dc.waitForEvent('initialized');
    const init = await dc.initializeRequest({ adapterID: 'firmwatch', linesStartAt1: true, columnsStartAt1: true,
      supportsVariablePaging: true, supportsInvalidatedEvent: true, supportsMemoryReferences: true });
    assert.ok(init.body.supportsReadMemoryRequest);
    assert.ok(init.body.supportsValueFormattingOptions);
    await initialized;
    await dc.launchRequest({ type: 'firmwatch', request: 'launch', name: 'sim', sim: 'host',
      watch: ['loop_count', { expression: 'accel_x', rateHz: 50 }] });
    const stopped = dc.waitForEvent('stopped');
    await dc.configurationDoneRequest();
    const ev = await stopped;
    assert.strictEqual(ev.body.threadId, 1);
    assert.strictEqual(ev.body.allThreadsStopped, false);

    const threads = await dc.threadsRequest();
    assert.deepStrictEqual(threads.body.threads.map((t) => t.name), ['Live']);
    const st = await dc.stackTraceRequest({ threadId: 1 });
    const frame = st.body.stackFrames[0];
    assert.ok(frame.source.sourceReference > 0);
    const src = await dc.sourceRequest({ sourceReference: frame.source.sourceReference });
    assert.match(src.body.content, /transport: +serial/);

    // the value changes across invalidated cycles, as in VS Code's Watch view
    const first = await dc.evaluateRequest({ expression: 'loop_count', context: 'watch', frameId: frame.id });
    await dc.waitForEvent('invalidated');
    const later = await waitFor(async () => {
      const r = await dc.evaluateRequest({ expression: 'loop_count', context: 'watch', frameId: frame.id });
      return Number(r.body.result) > Number(first.body.result) ? r : null;
    }, 10000, 'loop_count to advance');
    assert.ok(Number(later.body.result) > Number(first.body.result));

    const cfg = await dc.evaluateRequest({ expression: 'g_config', context: 'watch', frameId: frame.id });
    assert.ok(cfg.body.variablesReference > 0);
    const kids = await dc.variablesRequest({ variablesReference: cfg.body.variablesReference });
    assert.ok(kids.body.variables.every((v) => typeof v.evaluateName === 'string'));

    const scopes = await dc.scopesRequest({ frameId: frame.id });
    assert.deepStrictEqual(scopes.body.scopes.map((s) => s.name.split(' ')[0]), ['Globals', 'Memory']);

    const rate = await dc.customRequest('firmwatch.setRate', { expression: 'accel_y', rateHz: 100 });
    assert.strictEqual(rate.body.rateHz, 100);
    await dc.waitForEvent('firmwatch.samples');

    const set = await dc.customRequest('setExpression', { expression: 'g_config.alarm_threshold', value: '31.5' });
    assert.strictEqual(set.body.value, '31.5');

    // an error response is a rejected promise with the adapter's sentence
    await assert.rejects(dc.evaluateRequest({ expression: 'nosuch', context: 'repl' }), /no symbol 'nosuch'/);
  } finally {
    // disconnect ends the adapter (DAP spec): a second disconnect, as dc.stop() sends, would wait
    // on a process that is gone, so only reap it
    await dc.disconnectRequest({ terminateDebuggee: true }).catch(() => {});
    dc.stopAdapter();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
