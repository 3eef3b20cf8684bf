// Triggered capture (issue 13) in real VS Code, on the host simulation whose firmware has the
// capture module: "Arm Capture on Watches…" from a variable's context menu turns the plot view to
// scope mode and arms a single capture of accel_x rising through 0; the capture arrives with its
// trigger line and level, cursor readouts and a zoom that all charts follow; it exports as CSV;
// Normal keeps capturing until Stop. "Set Deadband…" on a variable makes its watch change-only
// (the adapter confirms the device filters it) while its value stays live, and empty undoes it.
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './harness.mjs';
import { acceptSaveDialog, contextMenu, docShot, findRow, plotFrame, T, varValue } from './workbench.mjs';

export const CAPTURE_SCENARIOS = ['scope_capture_arm_zoom_export', 'deadband_from_variables'];

const body = (frame, key) => frame.evaluate((k) => document.body.dataset[k], key);

export async function captureScenarios(page, scenario, workspace) {
  await scenario('scope_capture_arm_zoom_export', page, async () => {
    const r = await findRow(page, 'Variables', 'accel_x');
    await contextMenu(page, r, 'Arm Capture on Watches…');
    // the channels: the right-clicked variable, preselected
    const quick = page.locator('.quick-input-widget');
    await quick.locator('input').waitFor({ state: 'visible', timeout: T(10000) });
    await waitFor('accel_x offered as a channel', async () => (await quick.locator('.monaco-list-row').filter({ hasText: 'accel_x' }).count()) > 0, T(10000), 100);
    await quick.locator('input').press('Enter');
    // the trigger, proposed as accel_x rising 0
    const input = quick.locator('input');
    const proposed = await waitFor('the trigger proposed', async () => {
      const v = await input.inputValue().catch(() => '');
      return v === 'accel_x rising 0' ? v : undefined;
    }, T(10000), 100);
    await input.press('Enter');
    const frame = await plotFrame(page);
    await waitFor('scope mode', async () => (await body(frame, 'mode')) === 'scope', T(15000), 100);
    const captures = async () => Number(await body(frame, 'captures'));
    await waitFor('the first capture', async () => (await captures()) >= 1, T(60000), 200);
    const info = await frame.evaluate(() => ({
      trigger: document.body.dataset.triggerIndex, samples: document.body.dataset.samples, level: document.body.dataset.level,
      charts: document.querySelectorAll('#scopeCharts canvas').length, where: document.body.dataset.where,
      summary: document.getElementById('scopeSummary')?.textContent ?? '', readout: document.body.dataset.readout ?? '',
    }));
    if (info.trigger !== '200' || info.samples !== '1000') throw new Error(`trigger at ${info.trigger} of ${info.samples} samples`);
    if (info.level !== '0' || info.charts < 1 || info.where !== 'device') throw new Error(`capture shown as ${JSON.stringify(info)}`);
    if (!/trigger accel_x rising 0 at sample 200: 200 before, 799 after/.test(info.summary)) throw new Error(`summary: ${info.summary}`);
    if (!/^sample 0 · t = \+0\.000 ms · accel_x = -?\d+$/.test(info.readout)) throw new Error(`readout at the trigger: ${info.readout}`);
    // the cursor: the readout follows the mouse
    const chart = frame.locator('#scopeCharts .u-over').first();
    const box = await chart.boundingBox();
    await chart.hover({ position: { x: box.width * 0.8, y: box.height / 2 } });
    const moved = await waitFor('a readout at the cursor', async () => {
      const t = await body(frame, 'readout');
      return t && !t.startsWith('sample 0 ') && /accel_x = -?\d+/.test(t) ? t : undefined;
    }, T(10000), 100);
    // zoom: a drag over a tenth of the chart; double-click zooms out
    await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.55, box.y + box.height / 2, { steps: 8 });
    await page.mouse.up();
    await waitFor('the zoomed capture', async () => (await body(frame, 'zoomed')) === 'true', T(10000), 100);
    const zoom = await frame.evaluate(() => [Number(document.body.dataset.zoomMin), Number(document.body.dataset.zoomMax)]);
    await docShot(page, 'scope', await page.locator('.editor-group-container').last().boundingBox(), 0);
    await chart.dblclick();
    await waitFor('zoomed out', async () => (await body(frame, 'zoomed')) === 'false', T(10000), 100);
    // export: the capture's CSV (sample 0 is the trigger); the live plot's export (an earlier
    // scenario) goes, else the save dialog would first ask to overwrite it
    fs.rmSync(path.join(workspace, 'firmwatch-plot.csv'), { force: true });
    await frame.locator('#csv').click();
    const file = path.join(workspace, path.basename(await acceptSaveDialog(page, 'firmwatch-plot.csv')));
    await waitFor('the capture CSV', () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').split(/\r?\n/).length > 1000, T(15000), 100);
    const lines = fs.readFileSync(file, 'utf8').trim().split(/\r?\n/);
    if (lines[0] !== 'sample,time_s,accel_x' || lines.length !== 1001) throw new Error(`CSV: ${lines[0]} / ${lines.length} lines`);
    const [before, at] = [lines[200].split(','), lines[201].split(',')];
    if (at[0] !== '0' || !(Number(before[2]) < 0 && Number(at[2]) >= 0)) throw new Error(`CSV around the trigger: ${before} / ${at}`);
    // normal mode: captures keep coming until Stop
    const n = await captures();
    await frame.locator('#normal').click();
    await waitFor('two more captures in normal mode', async () => (await captures()) >= n + 2, T(90000), 200);
    await frame.locator('#stopScope').click();
    await waitFor('stopped', async () => (await body(frame, 'captureState')) === 'stopped', T(10000), 100);
    return { proposed, zoom, readout: moved, captures: await captures() };
  }, ['plot_receives_points']);

  await scenario('deadband_from_variables', page, async () => {
    const setDeadband = async (text) => {
      await contextMenu(page, await findRow(page, 'Variables', 'accel_y'), 'Set Deadband (Send Only Changes)…');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: T(10000) });
      await input.fill(text);
      await input.press('Enter');
    };
    const statusSays = (what, re) => waitFor(what, async () => {
      const t = (await page.locator('.part.statusbar').innerText()) ?? '';
      return re.exec(t)?.[0];
    }, T(15000), 50);
    await setDeadband('25');
    // said only when the adapter reports that the device filters the watch
    const filtered = await statusSays('the deadband confirmed', /firmwatch: accel_y: only when it moves by more than 25/);
    // the value stays live: a triangle of 2 per ms crosses 25 many times a second
    const seen = new Set();
    await waitFor('accel_y changing with its deadband', async () => {
      const v = await varValue(page, 'Variables', 'accel_y');
      if (v !== undefined && /^-?\d+$/.test(v)) seen.add(v);
      return seen.size >= 3;
    }, T(15000), 100);
    await setDeadband('');
    const every = await statusSays('every sample again', /firmwatch: accel_y: every sample/);
    return { filtered, values: [...seen].slice(0, 5), every };
  }, ['expand_g_config']);
}
