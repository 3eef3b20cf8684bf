#!/usr/bin/env node
// End-to-end test of the firmwatch extension in a real VS Code (code-server 4.100.3) driven by
// headless Chromium: F5 on the simulated demo device, live Watch values, g_config in the
// Variables view and an edit that changes the device's behaviour, the plot webview, hover and
// completion from the language server; then the demo on QEMU behind gdb (a CPU thread running
// next to the Live frame). Assertions are on the DOM; screenshots go to the
// artifacts dir. Writes results.json there and exits 1 when a scenario failed.
//
//   node tests/e2e/run.mjs [--perf] [--stress | --stress-only] [--keep]
// env: FIRMWATCH_PYTHON (interpreter with firmwatch), FIRMWATCH_VSIX (packaged extension),
//      FIRMWATCH_E2E_ARTIFACTS (default test-artifacts/vscode-e2e), FIRMWATCH_E2E_HOME (tools).
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CodeServer, launchBrowser, REPO, waitFor } from './harness.mjs';
import {
  acceptSaveDialog, addWatch, ARTIFACTS, contextMenu, docShot, endDebugSession, escapeRe, expandVariables, findRow, focusedRow, isNumber,
  keyboardContextMenu, log, menuItem, menuItemReady, openFile, pane, paneExpanded, plotFrame, row, rows, runCommand,
  shot, statusItem, T, varValue, watchValue, wordPosition,
} from './workbench.mjs';
import { captureScenarios } from './capture.mjs';
import { memoryScenarios } from './memory.mjs';
import { multiLaunch, multiScenarios } from './multi.mjs';
import { peripheralScenarios, writeDemoSvd } from './peripherals.mjs';
import { profileScenarios, profileWorkspace } from './profile.mjs';
import { rtosConfig, rtosScenarios } from './rtos.mjs';

const PERF = process.argv.includes('--perf');
// --stress: after the usual scenarios, the context-menu actions 50 times in a row each, at
// uiRefreshHz 10 and 30, by mouse and by keyboard (issue 20)
const STRESS = process.argv.includes('--stress');
const STRESS_RUNS = Number(process.env.FIRMWATCH_E2E_STRESS_RUNS || '50');
// --stress-only: the stress group alone (a quicker loop when working on it); FIRMWATCH_E2E_STRESS_HZ
// picks the refresh rates (default "10,30")
const STRESS_ONLY = process.argv.includes('--stress-only');
const STRESS_HZ = (process.env.FIRMWATCH_E2E_STRESS_HZ || '10,30').split(',').map(Number);
const KEEP = process.argv.includes('--keep');
const PYTHON = process.env.FIRMWATCH_PYTHON || path.join(REPO, '.venv', 'bin', 'python');
const VSIX = process.env.FIRMWATCH_VSIX || path.join(REPO, 'vscode-extension', 'firmwatch.vsix');

const results = { scenarios: {}, figures: {}, artifacts: ARTIFACTS };

// ---------------------------------------------------------------------------------------------
// workspace and settings

let WORKSPACE = '';
let SERVER;
const QEMU_CONFIG = 'firmwatch: QEMU Cortex-M3 (gdb)';
const STRESS_30HZ = 'firmwatch: demo at 30 Hz';
const SESSION_TOOLS = /\b(qemu-system-arm|gdb-multiarch|arm-none-eabi-gdb)\b/;

function makeWorkspace(root, hostElf) {
  const ws = path.join(root, 'workspace');
  WORKSPACE = ws;
  fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
  fs.cpSync(path.join(REPO, 'firmware', 'examples', 'demo'), path.join(ws, 'demo'), { recursive: true });
  const demo = { type: 'firmwatch', request: 'launch', name: 'firmwatch: demo', sim: 'host', uiRefreshHz: 10,
    svdFile: writeDemoSvd(PYTHON, hostElf, path.join(ws, 'demo.svd')) };
  // FIRMWATCH_E2E_TRACE=1: the adapter logs every DAP message (to diagnose refresh rates)
  if (process.env.FIRMWATCH_E2E_TRACE === '1') demo.trace = path.join(ARTIFACTS, 'dap-trace.log');
  // the same demo on an emulated Cortex-M3 under QEMU, reached through gdb: a real CPU thread
  const qemu = { type: 'firmwatch', request: 'launch', name: QEMU_CONFIG, sim: 'cortex-m3', transport: 'gdb' };
  // the instrumented profiler demo on QEMU, profiled over its serial line (profile.mjs)
  const profile = profileWorkspace(PYTHON);
  const fast = { ...demo, name: STRESS_30HZ, uiRefreshHz: 30 };
  // two devices at once, started together by a compound (multi.mjs)
  const multi = multiLaunch();
  fs.writeFileSync(path.join(ws, '.vscode', 'launch.json'), JSON.stringify({ version: '0.2.0',
    configurations: [demo, qemu, profile, fast, rtosConfig(), ...multi.configurations], compounds: multi.compounds }, null, 2));
  fs.writeFileSync(path.join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'firmwatch.python': PYTHON }, null, 2));
  return ws;
}

const USER_SETTINGS = {
  'security.workspace.trust.enabled': false,
  'remote.autoForwardPorts': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'editor.minimap.enabled': false,
  // sticky tree headers cover the rows under them: the test clicks rows
  'workbench.tree.enableStickyScroll': false,
  'editor.hover.delay': 200,
  // completion must come from the language server, not from words in the file
  'editor.wordBasedSuggestions': 'off',
  'editor.quickSuggestions': { other: false, comments: false, strings: false },
  'debug.toolBarLocation': 'docked',
  'debug.internalConsoleOptions': 'neverOpen',
  'files.autoSave': 'off',
  'window.restoreWindows': 'none',
  'chat.commandCenter.enabled': false,
  'workbench.colorTheme': 'Default Dark Modern',
  // When a session starts, VS Code focuses the Live thread's frame and opens its document; with
  // this on (the default) it also moves the keyboard focus into that editor, at a moment nothing
  // on the page announces. A command palette or input box open then closes, and the test's keys
  // land in the read-only document ("Cannot edit in read-only editor": the Start Profile of
  // profile_flame_graph_and_code_lenses never ran). Off, the frame is still focused and its
  // document opened; the keyboard stays where the test put it.
  'debug.focusEditorOnBreak': false,
};

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// scenarios

async function scenario(name, page, fn, needs = []) {
  const missing = needs.filter((n) => results.scenarios[n]?.ok !== true);
  if (missing.length) {
    // say why: the prerequisite's own failure, so every scenario it took down names the cause
    const why = missing.map((n) => `${n} (${results.scenarios[n] ? results.scenarios[n].error : 'did not run'})`).join('; ');
    results.scenarios[name] = { ok: false, error: `not run: needs ${why}` };
    log(`SKIP ${name}: needs ${why}`);
    return;
  }
  const t0 = Date.now();
  log(`---- ${name}`);
  try {
    const detail = (await fn()) ?? {};
    results.scenarios[name] = { ok: true, seconds: (Date.now() - t0) / 1000, ...detail };
    log(`PASS ${name}`, JSON.stringify(detail));
  } catch (e) {
    results.scenarios[name] = { ok: false, seconds: (Date.now() - t0) / 1000, error: String(e?.message ?? e).split('\n')[0] };
    log(`FAIL ${name}: ${e?.stack ?? e}`);
    await page.keyboard.press('Escape').catch(() => undefined);
  }
  await shot(page, name);
}


async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (!fs.existsSync(VSIX)) throw new Error(`${VSIX} does not exist: run "make -C vscode-extension" or npm run package first.`);
  if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} does not exist: set FIRMWATCH_PYTHON to a Python with firmwatch installed.`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'firmwatch-e2e-'));
  log(`root ${root}`);
  // build the simulated device's firmware first, so F5 measures starting it, not compiling it
  const built = spawnSync(PYTHON, ['-c', 'from firmwatch.sim import build; print(build("host").elf)'], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building the demo firmware failed: ${built.stderr.trim().split('\n').pop()}`);
  const ws = makeWorkspace(root, built.stdout.trim());
  const server = new CodeServer({ root, workspace: ws, settings: USER_SETTINGS, log: path.join(ARTIFACTS, 'code-server.log') });
  SERVER = server;
  fs.rmSync(server.log, { force: true });
  server.installExtension(VSIX);
  await server.start();
  log(`code-server at ${server.url}`);
  let browser;
  try {
    browser = await launchBrowser(path.join(root, 'chromium'));
    const page = browser.pages()[0] ?? (await browser.newPage());
    // the page's and its webviews' errors and warnings: a webview that never shows says why here
    const consoleLog = path.join(ARTIFACTS, 'console.log');
    fs.rmSync(consoleLog, { force: true });
    page.on('console', (m) => {
      // and everything the webview hosts say (their service-worker handshake logs at level log)
      if (m.type() === 'error' || m.type() === 'warning' || /\/webview\//.test(m.location()?.url ?? '')) {
        fs.appendFileSync(consoleLog, `${new Date().toISOString().slice(11, 23)} ${m.type()} ${m.location()?.url?.slice(0, 120) ?? ''}: ${m.text().slice(0, 500)}\n`);
      }
    });
    // the webviews' service workers (each webview registers one; a new webview's replaces the
    // last): their states say where a webview that is slow to show spends its time
    const swSession = await page.context().newCDPSession(page);
    await swSession.send('ServiceWorker.enable').catch(() => undefined);
    swSession.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
      for (const v of versions) {
        const id = /[?&]id=([0-9a-f]{8})/.exec(v.scriptURL)?.[1] ?? v.scriptURL.replace(/^.*\//, '').slice(0, 30);
        fs.appendFileSync(consoleLog, `${new Date().toISOString().slice(11, 23)} service worker ${v.versionId} (${id}): ${v.runningStatus} ${v.status}, ${v.controlledClients?.length ?? 0} clients\n`);
      }
    });
    page.on('pageerror', (e) => fs.appendFileSync(consoleLog, `${new Date().toISOString().slice(11, 23)} pageerror: ${String(e).slice(0, 500)}\n`));
    page.setDefaultTimeout(T(15000));
    await page.goto(`${server.url}?folder=${encodeURIComponent(ws)}`);
    await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: T(60000) });
    await page.locator('.monaco-workbench .part.activitybar, .monaco-workbench .part.sidebar').first().waitFor({ timeout: T(30000) });
    if (!STRESS_ONLY) await runScenarios(page);
    await endDebugSession(page);
    if (STRESS || STRESS_ONLY) await stressScenarios(page);
    await scenario('missing_firmwatch_one_message', page, async () => {
      // a Python without firmwatch: F5 must give one message with the install command, no session
      const settingsFile = path.join(WORKSPACE, '.vscode', 'settings.json');
      const saved = fs.readFileSync(settingsFile, 'utf8');
      const bare = process.env.FIRMWATCH_E2E_BARE_PYTHON || '/usr/bin/python3';
      if (spawnSync(bare, ['-c', 'import firmwatch']).status === 0) throw new Error(`${bare} has firmwatch: set FIRMWATCH_E2E_BARE_PYTHON to one without`);
      const toasts = page.locator('.notification-toast .notification-list-item-message');
      await page.keyboard.press('Control+Shift+P').catch(() => undefined);
      await runCommand(page, 'Notifications: Clear All Notifications');
      fs.writeFileSync(settingsFile, JSON.stringify({ 'firmwatch.python': bare }, null, 2));
      try {
        await page.locator('.part.sidebar .composite.title').first().click();
        // the settings file is watched: F5 until the new interpreter is the one checked
        const text = await waitFor('the not-installed message', async () => {
          const t = (await toasts.allTextContents()).filter((x) => /firmwatch is not installed/.test(x));
          if (t.length) return t;
          await page.keyboard.press('F5');
          return undefined;
        }, T(30000), 1500);
        if (text.length !== 1) throw new Error(`${text.length} messages instead of one: ${text.join(' / ')}`);
        if (!text[0].includes(`${bare} -m pip install firmwatch`)) throw new Error(`no install command in: ${text[0]}`);
        if (await statusItem(page).count()) throw new Error('a debug session started anyway');
        await docShot(page, 'not-installed', await page.locator('.notification-toast').first().boundingBox());
        return { message: text[0] };
      } finally {
        fs.writeFileSync(settingsFile, saved);
      }
    });
  } finally {
    if (!KEEP) {
      await browser?.close().catch(() => undefined);
      await server.stop();
      if (server.stragglers?.length) log(`killed processes left behind by the session: ${server.stragglers.join(' ')}`);
      fs.rmSync(root, { recursive: true, force: true });
    } else {
      log(`kept running: ${server.url} (root ${root}, code-server pgid ${server.proc.pid})`);
    }
  }
}

async function runScenarios(page) {
  await scenario('watch_added_before_f5', page, async () => {
    await debugReady(page, { selected: true });
    await paneExpanded(page, 'Watch');
    await addWatch(page, 'accel_x');
    return { value: await watchValue(page, 'accel_x') };
  });

  await scenario('open_demo_source', page, async () => {
    await openFile(page, 'demo/demo.c');
  });

  await scenario('f5_first_live_value', page, async () => {
    await page.locator('.editor-instance .view-lines').first().click();
    const t0 = Date.now();
    await page.keyboard.press('F5');
    await page.waitForFunction(() => {
      const panes = [...document.querySelectorAll('.pane')].filter((p) => p.querySelector(':scope > .pane-header h3.title')?.textContent === 'Watch');
      const r = panes[0] && [...panes[0].querySelectorAll('.monaco-list-row')].find((el) => el.querySelector('.name')?.textContent?.trim().replace(/\s*[=:]$/, '') === 'accel_x');
      const v = r?.querySelector('.value')?.textContent?.trim() ?? '';
      return /^-?\d/.test(v);
    }, undefined, { polling: 'raf', timeout: T(60000) });
    const seconds = (Date.now() - t0) / 1000;
    results.figures.f5_to_first_value_s = seconds;
    return { seconds };
  }, ['watch_added_before_f5']);

  await scenario('watch_value_changes', page, async () => {
    const seen = new Set();
    await waitFor('accel_x to show 5 different values', async () => {
      const v = await watchValue(page, 'accel_x');
      if (isNumber(v)) seen.add(v);
      return seen.size >= 5;
    }, T(20000), 50);
    return { distinct: [...seen].slice(0, 8) };
  }, ['f5_first_live_value']);

  await scenario('call_stack_live_and_session_alive', page, async () => {
    const p = await paneExpanded(page, 'Call Stack');
    // the host simulation has no CPU thread (no gdb stub): the Call Stack shows the Live frame
    // the adapter keeps "paused" by design; a GDB target would add its running CPU thread
    const text = await waitFor('the Live frame in the Call Stack', async () => {
      const t = (await p.locator('.monaco-list-row').allTextContents()).join(' | ');
      return /live/i.test(t) ? t : undefined;
    }, T(15000));
    const status = await waitFor('the firmwatch status-bar item saying live', async () => {
      const t = await statusItem(page).first().textContent();
      return /live/.test(t ?? '') ? t.trim() : undefined;
    }, T(15000));
    // alive: the watch keeps changing after we looked
    const before = await watchValue(page, 'accel_x');
    await waitFor('accel_x to change again', async () => (await watchValue(page, 'accel_x')) !== before, T(10000), 50);
    return { callStack: text.slice(0, 200), statusBar: status };
  }, ['watch_value_changes']);

  await scenario('expand_g_config', page, async () => {
    // Globals (scope) → demo/demo.c (the adapter groups globals by source file) → g_config
    const { reclicks } = await expandVariables(page, ['demo/demo.c', 'g_config'], 'magic');
    for (const field of ['magic', 'calib', 'channel_map']) await findRow(page, 'Variables', field);
    const magic = Number(await varValue(page, 'Variables', 'magic'));
    if (magic !== 0xC0FFEE01) throw new Error(`g_config.magic shows ${magic}, not 0xC0FFEE01 (3237998081)`);
    return { magic, reclicks };
  }, ['f5_first_live_value']);

  await scenario('edit_field_changes_device', page, async () => {
    // Variables view → g_config → calib → gain_q8 → "Set Value on the Device…"; the Watch view
    // shows what the device then holds
    await addWatch(page, 'g_config.calib.gain_q8');
    await waitFor('gain_q8 to show 256', async () => (await watchValue(page, 'g_config.calib.gain_q8')) === '256', T(10000));
    await expandVariables(page, ['demo/demo.c', 'g_config', 'calib'], 'gain_q8');
    const gain = await findRow(page, 'Variables', 'gain_q8');
    await gain.click({ button: 'right' });
    const ours = menuItem(page, 'Set Value on the Device…');
    await ours.waitFor({ state: 'visible', timeout: T(10000) });
    // VS Code's own Set Value edits another row than the one right-clicked once the views have
    // refreshed (docs/vscode.md): the extension replaces it, the adapter reports it unsupported
    const labels = (await page.locator('.context-view .monaco-menu .action-label').allTextContents()).map((t) => t.trim());
    if (labels.includes('Set Value')) throw new Error(`VS Code's own Set Value is still in the menu: ${labels.join(', ')}`);
    // the context menu holds the refresh: the status bar says so
    const menuHeld = await waitFor('the status bar to say the refresh is held for the menu', async () => {
      const t = (await statusItem(page).first().textContent()) ?? '';
      return /refresh held: context menu open/.test(t) ? t.trim() : undefined;
    }, T(5000), 20);
    await menuItemReady(page, ours);
    await ours.click();
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: T(10000) });
    const prefilled = await input.inputValue();
    const inputHeld = await waitFor('the status bar to say the refresh is held while the input box is open', async () => {
      const t = (await statusItem(page).first().textContent()) ?? '';
      return /refresh held: setting a value/.test(t) ? t.trim() : undefined;
    }, T(5000), 20);
    await input.fill('512');
    await input.press('Enter');
    await waitFor('the watch to read back 512 from the device', async () => (await watchValue(page, 'g_config.calib.gain_q8')) === '512', T(15000));
    // the firmware scales accel_x by gain_q8/256: the sine's amplitude 1000 becomes 2000
    let peak = 0;
    await waitFor('accel_x beyond 1000 (the device applied the new gain)', async () => {
      const v = Number(await watchValue(page, 'accel_x'));
      if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v));
      return peak > 1100;
    }, T(20000), 20);
    // the Variables view shows the new value too, and the refresh runs again
    await findRow(page, 'Variables', 'gain_q8');
    await waitFor('gain_q8 in Variables to show 512', async () => (await varValue(page, 'Variables', 'gain_q8')) === '512', T(15000));
    await waitFor('the status bar to say live again', async () => !/refresh held/.test((await statusItem(page).first().textContent()) ?? ''), T(10000), 20);
    const sidebar = await page.locator('.part.sidebar').boundingBox();
    await docShot(page, 'sidebar', sidebar && { ...sidebar, width: sidebar.width + 360 }, 0);
    const status = await statusItem(page).first().boundingBox();
    await docShot(page, 'statusbar', status, 6);
    return { prefilled, watch: '512', accelPeak: peak, menuHeld, inputHeld };
  }, ['expand_g_config']);

  await scenario('set_value_keyboard', page, async () => {
    // the keyboard path: the row focused, Shift+F10, down to "Set Value on the Device…", Enter
    const gain = await findRow(page, 'Variables', 'gain_q8');
    await gain.click();
    await keyboardContextMenu(page, 'Set Value on the Device…');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: T(10000) });
    await input.fill('384');
    await input.press('Enter');
    await waitFor('gain_q8 in Variables to read back 384', async () => (await varValue(page, 'Variables', 'gain_q8')) === '384', T(15000));
    // F2 runs the extension's command too (VS Code tells an extension nothing about the focused
    // row: it proposes the expression last acted on); Enter, then the value
    await (await findRow(page, 'Variables', 'gain_q8')).click();
    await page.keyboard.press('F2');
    await waitFor('the expression prompt', async () => /Expression to write to/.test(await page.locator('.quick-input-widget').innerText()), T(10000), 20);
    const proposed = await input.inputValue();
    if (proposed !== 'g_config.calib.gain_q8') throw new Error(`F2 proposed "${proposed}"`);
    await input.press('Enter');
    await waitFor('the value prompt', async () => /New value for g_config\.calib\.gain_q8/.test(await page.locator('.quick-input-widget').innerText()), T(10000), 20);
    await input.fill('512');
    await input.press('Enter');
    await waitFor('gain_q8 in Variables to read back 512', async () => (await varValue(page, 'Variables', 'gain_q8')) === '512', T(15000));
    return { keyboard: '384', f2: '512' };
  }, ['edit_field_changes_device']);

  await scenario('plot_receives_points', page, async () => {
    // "Plot" from the Variables view's context menu (VS Code 1.100 has no extension menu in the
    // Watch view: debug/watch/context is not a contribution point there)
    const r = await findRow(page, 'Variables', 'accel_x');
    await contextMenu(page, r, 'Plot');
    // the plot webview counts the Plot commands it got (adds) and the samples (points)
    const frame = await plotFrame(page);
    const points = async () => Number(await frame.evaluate(() => document.body.dataset.points));
    const first = await waitFor('points in the plot', async () => { const n = await points(); return n > 0 ? n : 0; }, T(20000));
    const later = await waitFor('more points in the plot', async () => { const n = await points(); return n > first + 50 ? n : 0; }, T(20000));
    const info = await frame.evaluate(() => ({ series: document.body.dataset.series, canvas: !!document.querySelector('#chart canvas'),
      legend: document.querySelector('.u-legend')?.textContent ?? '' }));
    if (!info.canvas) throw new Error('the plot has no canvas');
    if (!/accel_x/.test(info.legend)) throw new Error(`the plot legend does not name accel_x: ${info.legend}`);
    // the Watch view's own way in: a Plot button in its title bar during a firmwatch session
    const watchHeader = pane(page, 'Watch').locator('> .pane-header');
    await watchHeader.hover();
    await watchHeader.locator('.action-label[aria-label*="Plot"]').first().waitFor({ timeout: T(5000) });
    await docShot(page, 'plot', await page.locator('.editor-group-container').last().boundingBox(), 0);
    return { first, later, series: info.series };
  }, ['watch_value_changes']);

  await scenario('plot_export_csv_png', page, async () => {
    const frame = await plotFrame(page);
    const save = async (button, ext) => {
      await frame.locator(`#${button}`).click();
      const proposed = await acceptSaveDialog(page, `firmwatch-plot.${ext}`);
      const file = path.join(WORKSPACE, path.basename(proposed));
      await waitFor(`${path.basename(file)} written`, () => fs.existsSync(file) && fs.statSync(file).size > 0, T(15000), 100);
      return file;
    };
    const csv = await save('csv', 'csv');
    const png = await save('png', 'png');
    const lines = fs.readFileSync(csv, 'utf8').trim().split(/\r?\n/);
    if (lines[0] !== 't_s,accel_x') throw new Error(`unexpected CSV header: ${lines[0]}`);
    if (lines.length < 20 || !/^[\d.]+,-?\d+$/.test(lines[1])) throw new Error(`unexpected CSV rows: ${lines.slice(1, 3)}`);
    const sig = fs.readFileSync(png).subarray(0, 8).toString('hex');
    if (sig !== '89504e470d0a1a0a') throw new Error('the exported PNG is not a PNG');
    return { csvRows: lines.length - 1, pngBytes: fs.statSync(png).size };
  }, ['plot_receives_points']);

  await captureScenarios(page, scenario, WORKSPACE);

  await scenario('hover_shows_address_and_live_value', page, async () => {
    await openFile(page, 'demo/demo.c');
    const hover = page.locator('.monaco-hover:not(.hidden)').first();
    const text = await waitFor('a hover with an address and a live value', async () => {
      await page.mouse.move(1, 1);
      const pos = await wordPosition(page, 'heartbeat_counter');
      if (!pos) return undefined;
      await page.mouse.move(pos.x, pos.y);
      const t = await waitFor('hover text', async () => (await hover.textContent().catch(() => '')) || undefined, T(3000), 100).catch(() => '');
      return /0x[0-9a-f]+/i.test(t) && /live:\s*\d/.test(t) ? t : undefined;
    }, T(40000), 300);
    const hb = await page.locator('.monaco-hover:not(.hidden)').first().boundingBox();
    await docShot(page, 'hover', hb && { x: hb.x - 40, y: hb.y - 10, width: hb.width + 80, height: hb.height + 50 });
    await shot(page, 'hover_open');
    await page.mouse.move(1, 1);
    return { hover: text.replace(/\s+/g, ' ').slice(0, 200) };
  }, ['open_demo_source', 'f5_first_live_value']);

  await scenario('completion_offers_demo_global', page, async () => {
    await openFile(page, 'demo/demo.c');
    // type on a new line inside demo_loop(), where a user would
    const pos = await wordPosition(page, 'button_state');
    if (!pos) throw new Error('button_state is not visible in demo.c');
    await page.mouse.click(pos.x, pos.y);
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('temp_c');
    const item = page.locator('.suggest-widget .monaco-list-row').filter({ hasText: 'temp_celsius' }).first();
    await waitFor('temp_celsius in the completion list', async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+Space');
      return item.waitFor({ timeout: T(3000) }).then(() => true).catch(() => false);
    }, T(30000), 300);
    const label = (await item.getAttribute('aria-label')) ?? (await item.textContent()) ?? '';
    // the details pane (type, address) shows with Ctrl+Space on the focused item
    const sw = await page.locator('.suggest-widget').first().boundingBox();
    await docShot(page, 'completion', sw && { x: sw.x - 80, y: sw.y - 30, width: sw.width + 120, height: sw.height + 40 });
    await page.keyboard.press('Escape');
    return { item: label.trim().slice(0, 120) };
  }, ['open_demo_source']);

  await memoryScenarios(page, scenario);

  await scenario('set_sample_rate_command', page, async () => {
    const r = await findRow(page, 'Variables', 'accel_y');
    await contextMenu(page, r, 'Set Sample Rate…');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: T(10000) });
    await input.fill('200');
    await input.press('Enter');
    const msg = await waitFor('the confirmation in the status bar', async () => {
      const t = (await page.locator('.part.statusbar').innerText()) ?? '';
      return /accel_y at 200 Hz/.test(t) ? t.match(/firmwatch: accel_y at 200 Hz/)?.[0] : undefined;
    }, T(10000), 50);
    // the status item's total rate includes the new 200 Hz watch within a status period or two
    const status = await waitFor('a total sample rate above 200 Hz', async () => {
      const t = await statusItem(page).first().textContent();
      const m = /([\d.]+)\s*(k?)Hz/.exec(t ?? '');
      const hz = m ? Number(m[1]) * (m[2] ? 1000 : 1) : 0;
      return hz > 200 ? t.trim() : undefined;
    }, T(15000), 100);
    return { message: msg, status };
  }, ['expand_g_config']);

  await scenario('recording_to_csv', page, async () => {
    await runCommand(page, 'firmwatch: Start Recording (CSV, Parquet, VCD)…');
    const proposed = await acceptSaveDialog(page, '.csv');
    const csv = path.join(WORKSPACE, path.basename(proposed));
    await waitFor('REC in the status bar', async () => /REC/.test((await page.locator('.part.statusbar').innerText()) ?? ''), T(15000), 50);
    // let some samples come in: five new values of accel_x in the Watch view (the recorder may
    // buffer its writes until stopped, so the file's size says nothing yet)
    let last = await watchValue(page, 'accel_x');
    let changes = 0;
    await waitFor('five new accel_x values while recording', async () => {
      const v = await watchValue(page, 'accel_x');
      if (v !== last) { changes++; last = v; }
      return changes >= 5;
    }, T(15000), 30);
    await runCommand(page, 'firmwatch: Stop Recording');
    const note = await waitFor('the recording summary', async () => {
      const t = (await page.locator('.notification-toast .notification-list-item-message').allTextContents()).join(' ');
      return /recorded \d+ rows/.test(t) ? t.match(/recorded (\d+) rows/)[0] : undefined;
    }, T(15000), 100);
    const rowsWritten = Number(/(\d+)/.exec(note)[1]);
    if (!(rowsWritten > 0)) throw new Error(`the recording has ${rowsWritten} rows`);
    const lines = fs.readFileSync(csv, 'utf8').split(/\r?\n/);
    const header = lines[0];
    if (!/\bname\b/.test(header) || !/\bvalue\b/.test(header)) throw new Error(`unexpected CSV header: ${header}`);
    if (!lines.some((l) => /\baccel_x\b/.test(l))) throw new Error('the recording has no accel_x samples');
    return { note, header: header.slice(0, 120) };
  }, ['watch_value_changes']);

  await peripheralScenarios(page, scenario);

  if (PERF) await perfScenarios(page);

  await profileScenarios(page, scenario);

  await rtosScenarios(page, scenario, PYTHON, SERVER);

  await endDebugSession(page);
  await scenario('qemu_gdb_watch_changes_cpu_running', page, async () => {
    // the host simulation has no CPU thread: this one runs the demo on QEMU behind gdb
    for (const tool of ['qemu-system-arm', 'arm-none-eabi-gcc']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed: this scenario needs QEMU and the Arm toolchain`);
    }
    // build first (off the event loop), so starting the session does not compile
    await new Promise((resolve, reject) => execFile(PYTHON, ['-c', 'from firmwatch.sim import build; build("cortex-m3")'],
      (err, _out, stderr) => (err ? reject(new Error(`building the cortex-m3 firmware failed: ${stderr.trim().split('\n').pop()}`)) : resolve())));
    await page.keyboard.press('Control+Shift+D');
    await addWatch(page, 'loop_count');
    let failed = false;
    try {
      await runCommand(page, 'Debug: Select and Start Debugging');
      const pick = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: QEMU_CONFIG }).first();
      await pick.waitFor({ state: 'visible', timeout: T(10000) });
      await pick.click();
      await waitFor('the firmwatch status-bar item saying live', async () => /live/.test((await statusItem(page).first().textContent().catch(() => '')) ?? ''), T(60000), 100);
      const stack = await paneExpanded(page, 'Call Stack');
      const threadRow = (name) => stack.locator('.monaco-list-row').filter({ has: page.locator('.thread .name', { hasText: new RegExp(`^${escapeRe(name)}$`) }) }).first();
      const cpuState = async () => ((await threadRow('CPU').locator('.state').textContent().catch(() => '')) ?? '').trim();
      let stackText = '';
      // the Live thread's frame: the row right under the Live thread, one level deeper
      const liveFrame = async () => {
        const all = await rows(page, 'Call Stack');
        const i = all.findIndex((r) => r.name === 'Live');
        stackText = all.map((r) => `${r.text}(${r.level})`).join(' | ');
        return i >= 0 && all[i + 1] && all[i + 1].level > all[i].level ? all[i + 1].text : undefined;
      };
      const seen = new Set();
      let shown = '';
      const detail = await waitFor('loop_count to show 3 different values while the Call Stack shows CPU Running and the Live frame', async () => {
        const v = await watchValue(page, 'loop_count');
        if (isNumber(v)) seen.add(v);
        const state = await cpuState();
        const frame = await liveFrame();
        shown = `CPU state "${state}", Live frame "${frame}", loop_count ${[...seen].slice(0, 5).join(',')}; Call Stack: ${stackText.slice(0, 300)}`;
        return seen.size >= 3 && /^Running$/i.test(state) && frame ? { state, frame } : undefined;
      }, T(30000), 50).catch((e) => { throw new Error(`${e.message}; saw ${shown}`); });
      await shot(page, 'qemu_gdb_running');
      // the check after Shift+F5 below means something only if it sees the session's processes now
      const running = SERVER.processes(SESSION_TOOLS);
      if (!running.length) throw new Error('no QEMU or gdb process found under this code-server while the session runs');
      return { loopCount: [...seen].slice(0, 6), cpu: detail.state, liveFrame: detail.frame.slice(0, 120), processes: running.length };
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      await endDebugSession(page);
      // nothing of the session left: no QEMU and no gdb started under this code-server
      let left = '';
      await waitFor('QEMU and gdb to exit', () => SERVER.processes(SESSION_TOOLS).length === 0, T(15000), 100)
        .catch((e) => { left = `${e.message}: still running ${SERVER.processes(SESSION_TOOLS).join(' ')}`; });
      if (!left && (await statusItem(page).count())) left = 'the firmwatch session is still shown after Shift+F5';
      // a cleanup failure must not hide the failure that came first
      if (left && failed) log(left);
      else if (left) throw new Error(left); // eslint-disable-line no-unsafe-finally
    }
  });

  await multiScenarios(page, scenario);
}


/**
 * Opens Run and Debug and waits until it lists launch.json's configurations and the extension's
 * providers. Run and Debug shows "No Configurations" until launch.json is read, and renders its
 * start item again — taking the keyboard focus — then, and once more when the extensions' dynamic
 * configuration providers ("firmwatch (live watch)...") are registered: an edit box or a quick
 * open shown before that loses the focus and closes (VS Code drops an empty watch), and "Debug:
 * Select and Start Debugging" is not in the palette before the debugger is registered.
 */
async function debugReady(page, { selected = false } = {}) {
  await page.keyboard.press('Control+Shift+D');
  await waitFor('the launch configurations and providers in Run and Debug', () => page.evaluate((sel) => {
    const select = document.querySelector('.part.sidebar .start-debug-action-item select');
    const texts = [...(select?.options ?? [])].map((o) => o.text);
    // selected: F5 then starts the demo configuration
    return (sel ? select?.value === 'firmwatch: demo' : texts.includes('firmwatch: demo')) && texts.some((t) => t.startsWith('firmwatch (live watch)'));
  }, selected), T(60000), 20);
}

// ---------------------------------------------------------------------------------------------
// --stress: every context-menu action on a live row, STRESS_RUNS times in a row, no retries

/** Starts a launch configuration by name and waits until its live values show. */
async function startConfiguration(page, name) {
  await debugReady(page);
  await runCommand(page, 'Debug: Select and Start Debugging');
  const pick = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: name }).first();
  await pick.waitFor({ state: 'visible', timeout: T(10000) });
  await pick.click();
  await waitFor('the firmwatch status-bar item saying live', async () => /live/.test((await statusItem(page).first().textContent().catch(() => '')) ?? ''), T(60000), 100);
}

async function plotCounts(frame) {
  return frame.evaluate(() => ({ adds: Number(document.body.dataset.adds ?? '0'), points: Number(document.body.dataset.points ?? '0') }));
}

/** Runs `iteration` `n` times in a row; the first failure ends the loop and names its iteration
 *  and stage. `iteration(i, stage)` calls `stage(name)` as it goes: the slowest run's stages are
 *  reported with their times (ms since the run began). */
async function repeat(n, iteration) {
  const ms = [];
  let slowest = { ms: -1, stages: [] };
  for (let i = 0; i < n; i++) {
    const t0 = Date.now();
    const stages = [];
    const stage = (name) => stages.push(`${name}@${Date.now() - t0}`);
    try {
      await iteration(i, stage);
    } catch (e) {
      throw new Error(`run ${i + 1} of ${n} failed after ${i} successes (${stages.join(' ')}): ${e.message}`);
    }
    const took = Date.now() - t0;
    ms.push(took);
    if (took > slowest.ms) slowest = { ms: took, run: i + 1, stages };
  }
  ms.sort((a, b) => a - b);
  return { succeeded: `${n}/${n}`, medianMs: ms[Math.floor(n / 2)], maxMs: ms[n - 1], slowest: `run ${slowest.run}: ${slowest.stages.join(' ')}` };
}

/** The plot webview's frame when the panel is open, else undefined (no waiting). */
async function openPlotFrame(page) {
  for (const f of page.frames()) {
    if (await f.evaluate(() => !!document.getElementById('chart') && document.body.dataset.points !== undefined).catch(() => false)) return f;
  }
  return undefined;
}

async function stressScenarios(page) {
  for (const [hz, config] of [[10, 'firmwatch: demo'], [30, STRESS_30HZ]].filter(([rate]) => STRESS_HZ.includes(rate))) {
    const input = page.locator('.quick-input-widget input');
    const quickInputGone = () => waitFor('the input box to close', async () => !(await input.isVisible()), T(10000), 20);
    const setValueThen = async (value, stage) => {
      await input.waitFor({ state: 'visible', timeout: T(10000) });
      await waitFor('the prompt for the new value', async () => /New value for g_config\.calib\.gain_q8/.test(await page.locator('.quick-input-widget').innerText()), T(10000), 10);
      stage('input');
      await input.fill(value);
      await input.press('Enter');
      await quickInputGone();
      stage('closed');
      await waitFor(`gain_q8 to read back ${value} from the device`, async () => (await varValue(page, 'Variables', 'gain_q8')) === value, T(10000), 20);
      stage('read back');
    };
    // the plot panel may not be open yet: then the first Plot opens it
    const plotOnce = async (open, stage) => {
      const before = (await openPlotFrame(page)) ? await plotCounts(await openPlotFrame(page)) : { adds: 0, points: 0 };
      await open();
      stage('chosen');
      const frame = await plotFrame(page);
      await waitFor('the plot to get this Plot command', async () => (await plotCounts(frame)).adds === before.adds + 1, T(10000), 20);
      stage('added');
      await waitFor('new points in the plot', async () => (await plotCounts(frame)).points >= before.points + 5, T(10000), 20);
      stage('points');
    };
    const base = hz === 10 ? 1000 : 2000; // every run writes a value the device did not hold

    await scenario(`stress_${hz}hz_session`, page, async () => {
      await startConfiguration(page, config);
      await addWatch(page, 'timestamp_ms');
      const { reclicks } = await expandVariables(page, ['demo/demo.c', 'g_config', 'calib'], 'gain_q8');
      await findRow(page, 'Variables', 'gain_q8');
      const m = await measureRefresh(page, 3);
      results.figures[`stress_refresh_hz_${hz}`] = Number(m.hz.toFixed(1));
      if (m.hz < 1) throw new Error(`the views do not refresh (${m.hz.toFixed(2)} Hz)`);
      return { refreshHz: Number(m.hz.toFixed(1)), reclicks };
    });
    const needs = [`stress_${hz}hz_session`];

    await scenario(`stress_${hz}hz_set_value_mouse`, page, () => repeat(STRESS_RUNS, async (i, stage) => {
      await contextMenu(page, await findRow(page, 'Variables', 'gain_q8'), 'Set Value on the Device…');
      stage('clicked');
      await setValueThen(String(base + i), stage);
    }), needs);

    await scenario(`stress_${hz}hz_plot_mouse`, page, () => repeat(STRESS_RUNS, (i, stage) =>
      plotOnce(async () => contextMenu(page, await findRow(page, 'Variables', 'accel_x'), 'Plot'), stage)), needs);

    await scenario(`stress_${hz}hz_set_value_keyboard`, page, async () => {
      await (await findRow(page, 'Variables', 'gain_q8')).click();
      return repeat(STRESS_RUNS, async (i, stage) => {
        // the focus comes back to the row after each input box: a keyboard user goes on
        if ((await focusedRow(page, 'Variables')) !== 'gain_q8') throw new Error('the keyboard focus is not on gain_q8 in the Variables view');
        await keyboardContextMenu(page, 'Set Value on the Device…');
        stage('chosen');
        await setValueThen(String(base + 100 + i), stage);
      });
    }, needs);

    await scenario(`stress_${hz}hz_plot_keyboard`, page, async () => {
      await (await findRow(page, 'Variables', 'accel_x')).click();
      return repeat(STRESS_RUNS, async (i, stage) => {
        if ((await focusedRow(page, 'Variables')) !== 'accel_x') throw new Error('the keyboard focus is not on accel_x in the Variables view');
        await plotOnce(() => keyboardContextMenu(page, 'Plot'), stage);
      });
    }, needs);

    await endDebugSession(page);
  }
}

/** Counts how often the Watch view shows a new timestamp_ms (it changes every ms on the device). */
async function measureRefresh(page, seconds) {
  await waitFor('timestamp_ms to show a value', async () => isNumber(await watchValue(page, 'timestamp_ms')), T(20000));
  const m = await page.evaluate(async (secs) => {
    const read = () => {
      const panes = [...document.querySelectorAll('.pane')].filter((p) => p.querySelector(':scope > .pane-header h3.title')?.textContent === 'Watch');
      const r = panes[0] && [...panes[0].querySelectorAll('.monaco-list-row')].find((el) => el.querySelector('.name')?.textContent?.trim().replace(/\s*[=:]$/, '') === 'timestamp_ms');
      return r?.querySelector('.value')?.textContent ?? '';
    };
    let last = read();
    let changes = 0;
    const t0 = performance.now();
    await new Promise((resolve) => {
      const tick = () => {
        const v = read();
        if (v !== last) { changes++; last = v; }
        if (performance.now() - t0 >= secs * 1000) resolve(undefined); else requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    return { changes, ms: performance.now() - t0 };
  }, seconds);
  return { ...m, hz: m.changes / (m.ms / 1000) };
}

async function perfScenarios(page) {
  await scenario('perf_3_watches', page, async () => {
    // measure the Watch view alone: close the plot (its redraws share the CPU)
    const plotTab = page.locator('.tab:has-text("firmwatch Plot")').first();
    if (await plotTab.count()) {
      await plotTab.hover();
      await plotTab.locator('.codicon-close').click();
      await waitFor('the plot to close', async () => !(await plotTab.count()), T(10000));
    }
    await addWatch(page, 'timestamp_ms');
    const count = (await rows(page, 'Watch')).filter((r) => r.level === 1).length;
    const m = await measureRefresh(page, 10);
    results.figures.watch_refresh_hz_3_watches = Number(m.hz.toFixed(2));
    return { watches: count, ...m };
  }, ['f5_first_live_value']);

  await scenario('perf_20_watches', page, async () => {
    // room for 20 watch rows (the tree renders only what fits)
    for (const title of ['Variables', 'Call Stack', 'Breakpoints']) {
      const header = pane(page, title).locator('> .pane-header');
      if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
    }
    const names = ['timestamp_ms', 'loop_count', 'heartbeat_counter', 'sensor_temp', 'temp_celsius', 'accel_y', 'accel_z',
      'fsm_state', 'button_state', 'uptime_s', 'event_counter64', 'g_pair.a', 'g_pair.b', 'g_config.magic',
      'g_config.calib.offset', 'g_config.sample_period_ms', 'g_config.alarm_threshold', 'sine_table[3]'];
    // with accel_x and g_config.calib.gain_q8 from the scenarios before: 20 watches
    for (const n of names) {
      if (!(await rows(page, 'Watch')).some((r) => r.name === n)) await addWatch(page, n);
    }
    const count = (await rows(page, 'Watch')).filter((r) => r.level === 1).length;
    const m20 = await measureRefresh(page, 10);
    results.figures.watch_refresh_hz_20_watches = Number(m20.hz.toFixed(2));
    results.figures.watch_count = count;
    return { watches: count, ...m20 };
  }, ['f5_first_live_value']);
}

main().then(() => {
  results.figures.load_average_1min = Number(os.loadavg()[0].toFixed(2));
  fs.writeFileSync(path.join(ARTIFACTS, 'results.json'), JSON.stringify(results, null, 2));
  const failed = Object.entries(results.scenarios).filter(([, r]) => !r.ok);
  log(`${Object.keys(results.scenarios).length - failed.length} passed, ${failed.length} failed; figures ${JSON.stringify(results.figures)}`);
  process.exit(failed.length ? 1 : 0);
}, (e) => {
  results.error = String(e?.message ?? e);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, 'results.json'), JSON.stringify(results, null, 2));
  console.error(`e2e: ${e?.stack ?? e}`);
  process.exit(2);
});
