// The profiler (issue 12) in real VS Code: a session on the instrumented demo under QEMU, profiled
// over the streamer's own serial line. "firmwatch: Start Profile" opens the flame graph, which
// must show the demo's call graph (app_frame at the bottom, telemetry_pack its widest callee) and
// keep updating; the demo's source, opened from the workspace, must carry a code lens over each
// profiled function (share of time, self time, calls) sitting right above its definition;
// "Stop Profile" freezes both ("last profile").
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, waitFor } from './harness.mjs';
import { docShot, endDebugSession, openFile, runCommand, statusItem, T } from './workbench.mjs';

export const PROFILE_SCENARIOS = ['profile_flame_graph_and_code_lenses'];
export const PROFILE_CONFIG = 'firmwatch: profiler demo (QEMU Cortex-M3)';
const WORK = ['app_frame', 'sensor_read', 'filter_run', 'fir_tap', 'control_update', 'pid_step', 'telemetry_pack'];

/** The launch configuration of the instrumented demo, and its source copied into the workspace
 *  (the ELF's DWARF names the checkout's copy: the lenses must find the functions by name). */
export function profileWorkspace(python, ws) {
  const r = spawnSync(python, ['-c', 'from firmwatch.profiler import demo; print(demo.build("cortex-m3")["prof"])'],
    { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the profiler demo failed: ${r.stderr.trim().split('\n').pop()}`);
  fs.mkdirSync(path.join(ws, 'profiler'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'firmware', 'profiler', 'demo', 'prof_demo.c'), path.join(ws, 'profiler', 'prof_demo.c'));
  return { type: 'firmwatch', request: 'launch', name: PROFILE_CONFIG, sim: 'cortex-m3', elf: r.stdout.trim(), transport: 'serial' };
}

function profileFrame(page) {
  return waitFor('the profile webview', async () => {
    for (const f of page.frames()) {
      const ok = await f.evaluate(() => !!document.getElementById('flame') && document.body.dataset.updates !== undefined)
        .catch(() => false);
      if (ok) return f;
    }
    return undefined;
  }, T(20000), 200);
}

/** The code lenses in the visible editor: text, and the text of the line right under each. */
function lenses(page) {
  return page.evaluate(() => {
    const lines = [...document.querySelectorAll('.editor-instance .view-line')].map((el) => ({ top: el.getBoundingClientRect().top, text: el.textContent ?? '' }));
    return [...document.querySelectorAll('.editor-instance .codelens-decoration')].map((el) => {
      const r = el.getBoundingClientRect();
      const below = lines.filter((l) => l.top >= r.bottom - 2).sort((a, b) => a.top - b.top)[0];
      return { text: (el.textContent ?? '').trim(), below: below?.text ?? '' };
    }).filter((l) => /of the time/.test(l.text));
  });
}

export async function profileScenarios(page, scenario) {
  await scenario('profile_flame_graph_and_code_lenses', page, async () => {
    await endDebugSession(page);
    try {
      await runCommand(page, 'Debug: Select and Start Debugging');
      const pick = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: PROFILE_CONFIG }).first();
      await pick.waitFor({ state: 'visible', timeout: T(10000) });
      await pick.click();
      await waitFor('the firmwatch status-bar item saying live', async () =>
        /live/.test((await statusItem(page).first().textContent().catch(() => '')) ?? ''), T(60000), 100);
      // the demo's source first (a copy in the workspace: the lenses find its functions by name),
      // then the profile: its view opens beside the editor without taking the focus. VS Code
      // shows the Live frame's document when the session stops there: after that, not before.
      await page.locator('.tab.active:has-text("firmwatch live session")').first().waitFor({ timeout: T(20000) });
      await openFile(page, 'profiler/prof_demo.c');
      await runCommand(page, 'firmwatch: Start Profile');
      const frame = await profileFrame(page);
      const flame = () => frame.evaluate(() => ({
        updates: Number(document.body.dataset.updates), mode: document.body.dataset.mode, running: document.body.dataset.running,
        blocks: [...document.querySelectorAll('.block')].map((b) => ({ name: b.dataset.name, depth: Number(b.dataset.depth), share: Number(b.dataset.share) })),
        status: document.getElementById('status')?.textContent ?? '',
      }));
      let seen;
      const first = await waitFor('the flame graph of the demo\'s call graph', async () => {
        seen = await flame();
        const by = (n) => seen.blocks.find((b) => b.name === n);
        const kids = seen.blocks.filter((b) => b.depth === 1).sort((a, b) => b.share - a.share);
        return seen.mode === 'instrumented' && by('app_frame')?.depth === 0 && kids[0]?.name === 'telemetry_pack'
          && by('fir_tap')?.depth === 2 && by('pid_step')?.depth === 2 ? seen : undefined;
      }, T(30000), 200).catch((e) => { throw new Error(`${e.message}; saw ${JSON.stringify(seen)}`); });
      await waitFor('the flame graph to update again', async () => (await flame()).updates > first.updates, T(15000), 200);
      await docShot(page, 'profile-flame', await page.locator('iframe.webview').last().boundingBox().catch(() => null));

      // the code lenses over the demo's functions
      let got = [];
      await waitFor('a code lens over each of the demo\'s functions, right above its definition', async () => {
        got = await lenses(page);
        const over = WORK.filter((f) => got.some((l) => new RegExp(`\\b${f}\\s*\\(`).test(l.below) && /\d[\d,]* calls?/.test(l.text)));
        return over.length === WORK.length;
      }, T(30000), 300).catch((e) => { throw new Error(`${e.message}; saw ${JSON.stringify(got)}`); });
      const telemetry = got.find((l) => /\btelemetry_pack\s*\(/.test(l.below));
      const share = (l) => Number(/([\d.]+) % of the time/.exec(l.text)?.[1] ?? 0);
      if (got.some((l) => share(l) > share(telemetry))) throw new Error(`telemetry_pack is not the largest share: ${JSON.stringify(got)}`);
      await docShot(page, 'profile-lenses', await page.locator('.editor-instance').first().boundingBox().catch(() => null));

      await runCommand(page, 'firmwatch: Stop Profile');
      await waitFor('the flame graph to say stopped', async () => (await flame()).running === 'no', T(15000), 200);
      await waitFor('the lenses to show the last profile', async () => (await lenses(page)).some((l) => /\(last profile\)/.test(l.text)), T(15000), 200);
      return { lenses: got.length, telemetry: telemetry.text, status: first.status };
    } finally {
      await endDebugSession(page);
    }
  }, ['f5_first_live_value']);
}
