// Two firmwatch sessions at once (issue 17): a compound launch configuration starts two simulated
// devices, each its own debug session with its own Live thread; the status bar names the focused
// session; one plot overlays accel_x of both devices on the host time axis.
import { waitFor } from './harness.mjs';
import { endDebugSession, escapeRe, pane, paneExpanded, plotFrame, rows, runCommand, shot, statusItem, T } from './workbench.mjs';

export const MULTI_SCENARIOS = ['two_sessions_compound_plot_overlay'];
export const MULTI_COMPOUND = 'firmwatch: two devices';
const NAMES = ['node A', 'node B'];

/** The launch configurations and the compound that starts them together (for launch.json). */
export function multiLaunch() {
  const configurations = NAMES.map((name) => ({ type: 'firmwatch', request: 'launch', name, sim: 'host', uiRefreshHz: 10 }));
  return { configurations, compounds: [{ name: MULTI_COMPOUND, configurations: NAMES, stopAll: true }] };
}

const statusText = async (page) => ((await statusItem(page).first().textContent().catch(() => '')) ?? '').trim();

/** Focuses a debug session: a click on its Live frame in the Call Stack (the row under the
 *  session's; a click on the session's own row selects it without focusing it). */
async function focusSession(page, name) {
  const stack = await paneExpanded(page, 'Call Stack');
  const all = await rows(page, 'Call Stack');
  const i = all.findIndex((x) => x.text.startsWith(name));
  if (i < 0 || !all[i + 1] || all[i + 1].level <= all[i].level) throw new Error(`no frame under ${name} in the Call Stack`);
  const r = stack.locator('.monaco-list-row').nth(i + 1);
  await r.click();
  await waitFor(`the status bar to name ${name}`, async () => (await statusText(page)).includes(`${name}:`), T(15000), 100)
    .catch(async (e) => {
      await shot(page, 'two_sessions_focus');
      throw new Error(`${e.message}; it shows "${await statusText(page)}" (${await r.count()} rows matched)`);
    });
}

/** Per series of the plot: label -> {points, last x}. */
async function plotSeries(frame) {
  const text = await frame.evaluate(() => document.body.dataset.perSeries ?? '');
  const out = {};
  for (const part of text.split('|').filter(Boolean)) {
    const m = /^(.*)=(\d+)@(-?[\d.e+-]+|NaN)$/.exec(part);
    if (m) out[m[1]] = { points: Number(m[2]), last: Number(m[3]) };
  }
  return out;
}

export async function multiScenarios(page, scenario) {
  await scenario('two_sessions_compound_plot_overlay', page, async () => {
    await endDebugSession(page);
    await page.keyboard.press('Control+Shift+D');
    // Run and Debug lists the compound once launch.json is read and the providers are registered
    await waitFor('the compound in Run and Debug', () => page.evaluate((name) => {
      const select = document.querySelector('.part.sidebar .start-debug-action-item select');
      const texts = [...(select?.options ?? [])].map((o) => o.text);
      return texts.includes(name) && texts.some((t) => t.startsWith('firmwatch (live watch)'));
    }, MULTI_COMPOUND), T(60000), 50);
    // choose it in Run and Debug's own drop-down and press its start button (a quick open shown
    // while Run and Debug re-renders loses the focus and closes)
    await page.locator('.part.sidebar .start-debug-action-item select').selectOption({ label: MULTI_COMPOUND });
    await page.locator('.part.sidebar .start-debug-action-item .codicon-debug-start').first().click();
    try {
      // both sessions up: the status bar names one of them, and each shows its Live thread
      await waitFor('the status bar to name a session and say live', async () =>
        /firmwatch (node A|node B): .*live/.test(await statusText(page)), T(90000), 100);
      const stack = await paneExpanded(page, 'Call Stack');
      let seen = '';
      const threads = await waitFor('a Live thread under each session', async () => {
        const all = await rows(page, 'Call Stack');
        seen = all.map((r) => `${r.text.slice(0, 30)}(${r.level},${r.expanded})`).join(' | ');
        const sessions = all.filter((r) => NAMES.some((n) => r.text.startsWith(n)));
        // a collapsed session shows no threads: expand it
        for (const s of sessions.filter((x) => x.expanded === 'false')) {
          await stack.locator('.monaco-list-row').filter({ hasText: new RegExp(`^${escapeRe(s.text.slice(0, 6))}`) })
            .first().locator('.monaco-tl-twistie').click().catch(() => undefined);
        }
        // a session with one thread shows its frames right under it: the Live frame ("live: …")
        const live = all.filter((r) => r.level > 1 && (r.name === 'Live' || /^live\b/i.test(r.text)));
        return sessions.length === 2 && live.length >= 2 ? { sessions: sessions.map((s) => s.text.slice(0, 40)), live: live.length } : undefined;
      }, T(30000), 200).catch(async (e) => {
        await shot(page, 'two_sessions_call_stack');
        throw new Error(`${e.message}; the Call Stack shows: ${seen}`);
      });
      // plot accel_x of each device into the one plot
      const plotted = [];
      for (const name of NAMES) {
        await focusSession(page, name);
        // focusing a session opens its Live frame's document, which takes the keyboard focus a
        // moment later and closes a quick input opened before: open it until it stays
        await waitFor(`the Plot command's expression box (${name})`, async () => {
          try {
            await runCommand(page, 'firmwatch: Plot');
            const box = page.locator('.quick-input-widget').filter({ hasText: 'Expression to plot' });
            await box.waitFor({ state: 'visible', timeout: T(5000) });
            await box.locator('input').fill('accel_x', { timeout: T(5000) });
            await box.locator('input').press('Enter', { timeout: T(5000) });
            return true;
          } catch {
            await page.keyboard.press('Escape');
            return false;
          }
        }, T(60000), 500);
        plotted.push(`${name}: accel_x`);
      }
      const frame = await plotFrame(page);
      let seenSeries = {};
      const both = await waitFor('points of both devices in the plot', async () => {
        const s = await plotSeries(frame);
        seenSeries = s;
        return plotted.every((l) => s[l]?.points > 20) ? s : undefined;
      }, T(30000), 200).catch(async (e) => {
        throw new Error(`${e.message}; the plot has ${JSON.stringify(seenSeries)}, adds ${await frame.evaluate(() => document.body.dataset.adds)}; status "${await statusText(page)}"`);
      });
      // one axis: the newest points of the two devices are within a second of host time of each
      // other (their own clocks started at different moments)
      const lasts = plotted.map((l) => both[l].last);
      if (Math.abs(lasts[0] - lasts[1]) > 1.0) throw new Error(`the two series end ${lasts.join(' and ')} s apart on the host axis`);
      const axis = await frame.evaluate(() => document.body.dataset.xAxis ?? '');
      if (!/host time/.test(axis)) throw new Error('the plot axis does not say host time');
      const legend = await frame.evaluate(() => document.querySelector('.u-legend')?.textContent ?? '');
      for (const l of plotted) if (!legend.includes(l)) throw new Error(`the legend does not name "${l}": ${legend}`);
      // the status bar follows the focus
      await focusSession(page, NAMES[0]);
      const status = await statusText(page);
      await shot(page, 'two_sessions_plot');
      return { threads, series: both, status: status.slice(0, 80) };
    } finally {
      await endDebugSession(page);
      await waitFor('both sessions to end', async () => (await pane(page, 'Call Stack').locator('.monaco-list-row')
        .filter({ hasText: /node [AB]/ }).count()) === 0, T(20000), 200).catch(() => undefined);
    }
  });
}
