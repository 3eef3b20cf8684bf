// RTOS awareness (issue 15) in real VS Code: the FreeRTOS demo on QEMU Cortex-M3 behind QEMU's gdb
// stub (transport rsp). While the CPU runs, the Live frame's "RTOS" scope lists the demo's eight
// tasks with their states and keeps refreshing (the kernel's tick moves, the task rows change);
// paused, the Call Stack shows "CPU (task NAME)" and one thread per other task, each of which opens
// on a call stack that ends in the task's entry function, on its source line, and a task frame
// shows its Locals; continued, the task threads go away and the CPU runs again.
import { execFile } from 'node:child_process';
import { waitFor } from './harness.mjs';
import {
  docShot, endDebugSession, escapeRe, expandVariables, findRow, log, pane, paneExpanded, row, rows, runCommand, statusItem, T,
} from './workbench.mjs';

export const RTOS_SCENARIOS = ['rtos_scope_and_task_threads'];
export const RTOS_CONFIG = 'firmwatch: FreeRTOS demo (QEMU Cortex-M3, rsp)';
const SIM = 'cortex-m3-freertos';
// the demo's tasks and the function each one runs (firmware/rtos/rtos_demo.c; the kernel's two)
const ENTRY = {
  stream: 'stream_task', consumer: 'consumer_task', producer: 'producer_task', depth: 'depth_task',
  report: 'report_task', parked: 'parked_task', IDLE: 'prvIdleTask', 'Tmr Svc': 'prvTimerTask',
};
const STATE = /^(running|ready|blocked|suspended|deleted)\b/;
const SESSION_TOOLS = /\b(qemu-system-arm|gdb-multiarch|arm-none-eabi-gdb)\b/;

/** The launch configuration (the firmware is built by the scenario, off the event loop). */
export function rtosConfig() {
  // an emulator has no deadline to miss: 5 % of the time halted, so the table refreshes about every
  // second also on a loaded machine, where QEMU's stub takes tens of milliseconds per halt
  return { type: 'firmwatch', request: 'launch', name: RTOS_CONFIG, sim: SIM, transport: 'rsp', intrusionBudget: 5 };
}

/** The Call Stack's rows in one round trip: threads with their state label, frames with name and file. */
function callStack(page) {
  return pane(page, 'Call Stack').locator('.monaco-list-row').evaluateAll((els) => els.map((el) => ({
    thread: el.querySelector('.thread .name')?.textContent?.trim(),
    state: el.querySelector('.thread .state')?.textContent?.trim() ?? '',
    frame: el.querySelector('.stack-frame .label')?.textContent?.trim(),
    file: el.querySelector('.stack-frame .file')?.textContent?.trim() ?? '',
    level: Number(el.getAttribute('aria-level') || 0),
    expanded: el.getAttribute('aria-expanded'),
  })));
}

const threadRow = (page, name) => pane(page, 'Call Stack').locator('.monaco-list-row')
  .filter({ has: page.locator('.thread .name', { hasText: new RegExp(`^${escapeRe(name)}$`) }) }).first();

/** The frames under thread `name` as the Call Stack shows them (the thread opened). */
async function framesOf(page, name) {
  const all = await callStack(page);
  const i = all.findIndex((r) => r.thread === name);
  if (i < 0 || all[i].expanded !== 'true') return undefined;
  const out = [];
  for (const r of all.slice(i + 1)) {
    if (r.level <= all[i].level) break;
    if (r.frame) out.push(r);
  }
  return out;
}

/** The RTOS scope's rows: kernel line and one row per task (the running one marked ▶). */
async function rtosRows(page) {
  const all = await rows(page, 'Variables');
  const i = all.findIndex((r) => r.name === 'RTOS');
  if (i < 0) return undefined;
  const out = {};
  for (const r of all.slice(i + 1)) {
    if (r.level <= all[i].level) break;
    if (r.level === all[i].level + 1) out[r.name.replace(/^\u25b6\s*/, '')] = { value: r.value, running: /^\u25b6/.test(r.name) };
  }
  return out;
}

export async function rtosScenarios(page, scenario, python, server) {
  await scenario('rtos_scope_and_task_threads', page, async () => {
    await endDebugSession(page);
    await new Promise((resolve, reject) => execFile(python, ['-c', `from firmwatch.sim import build; build(${JSON.stringify(SIM)})`],
      (err, _out, stderr) => (err ? reject(new Error(`building the FreeRTOS demo failed: ${stderr.trim().split('\n').pop()}`)) : resolve())));
    let failed = false;
    try {
      await runCommand(page, 'Debug: Select and Start Debugging');
      const pick = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: RTOS_CONFIG }).first();
      await pick.waitFor({ state: 'visible', timeout: T(10000) });
      await pick.click();
      await waitFor('the firmwatch status-bar item saying live', async () =>
        /live/.test((await statusItem(page).first().textContent().catch(() => '')) ?? ''), T(60000), 100);

      // ---- running: the RTOS scope of the Live frame, refreshing
      await paneExpanded(page, 'Variables');
      await waitFor('the Live frame\'s scopes', async () => (await rows(page, 'Variables')).some((r) => /^Globals/.test(r.name)), T(30000), 200);
      // Globals and Memory may have opened first (hundreds of rows): close every open scope but
      // RTOS, so the RTOS rows are in sight
      await waitFor('the other scopes closed', async () => {
        const open = (await rows(page, 'Variables')).filter((r) => r.level === 1 && r.expanded === 'true' && r.name !== 'RTOS');
        if (!open.length) return true;
        await (await findRow(page, 'Variables', open[0].name)).locator('.monaco-tl-twistie').click();
        return false;
      }, T(15000), 200);
      // opened with the refresh paused (a refresh rendered while a row's first children load closes it
      // again); the scope's first rows wait for the first snapshot (over a halting server, for the
      // intrusion budget: seconds), and until they come the row is not in the list: again, until it is
      let opened;
      await waitFor('the RTOS scope open on its kernel row', async () => {
        opened = await expandVariables(page, [], 'kernel', { scope: 'RTOS' }).then(() => undefined, (e) => e);
        return opened === undefined;
      }, T(60000), 500).catch(async (e) => {
        const stack = (await callStack(page)).map((r) => r.thread ?? r.frame).join(', ');
        throw new Error(`${e.message}: ${opened?.message}; Call Stack: ${stack}`);
      });
      const ticks = new Set();
      const views = new Set();
      let seen;
      const live = await waitFor('all eight tasks with their states in the RTOS scope, refreshing', async () => {
        seen = await rtosRows(page);
        if (!seen) return undefined;
        const tick = /^tick (\d+), scheduler running, (\d+) tasks/.exec(seen.kernel?.value ?? '');
        if (tick) ticks.add(tick[1]);
        const tasks = Object.keys(ENTRY).filter((n) => STATE.test(seen[n]?.value ?? ''));
        if (tasks.length === 8) views.add(tasks.map((n) => seen[n].value).join('|'));
        const running = Object.keys(ENTRY).filter((n) => seen[n]?.running);
        return tick && tick[2] === '8' && tasks.length === 8 && running.length === 1 && /^suspended/.test(seen.parked.value)
          && ticks.size >= 3 && views.size >= 3 ? { tick: tick[1], running: running[0], parked: seen.parked.value } : undefined;
      }, T(60000), 200).catch((e) => { throw new Error(`${e.message}; saw ticks ${[...ticks].join(',')}, rows ${JSON.stringify(seen)?.slice(0, 600)}`); });
      if (!Object.keys(seen).some((n) => /^queue 'rx queue'/.test(n))) throw new Error(`no 'rx queue' row: ${Object.keys(seen).join(', ')}`);
      const box = await row(page, 'Variables', 'RTOS').boundingBox();
      await docShot(page, 'rtos-scope', box && { ...box, width: box.width + 200, height: box.height * 13 });

      // ---- paused: one thread per task, each with its call stack
      const stack = await paneExpanded(page, 'Call Stack');
      // room for the task threads: the views above it close for this part
      for (const title of ['Variables', 'Watch']) {
        const header = pane(page, title).locator('> .pane-header');
        if ((await header.getAttribute('aria-expanded')) === 'true') await header.click();
      }
      await waitFor('the CPU paused', async () => {
        const cpu = (await callStack(page)).find((r) => /^CPU\b/.test(r.thread ?? ''));
        if (cpu && !/running/i.test(cpu.state)) return true;
        // focus the running CPU thread (the Live thread is always stopped), then Debug: Pause
        await threadRow(page, 'CPU').click({ timeout: T(2000) }).catch(() => undefined);
        await page.keyboard.press('F6');
        return waitFor('the stop', async () => {
          const c = (await callStack(page)).find((r) => /^CPU\b/.test(r.thread ?? ''));
          return c && !/running/i.test(c.state);
        }, T(3000), 100).catch(() => false);
      }, T(30000), 200);
      const named = /^(.+) \((ready|blocked|suspended|deleted)\)$/;
      let threads = [];
      await waitFor('"CPU (task …)" and a thread for each other task', async () => {
        threads = (await callStack(page)).filter((r) => r.thread).map((r) => r.thread);
        const tasks = threads.map((t) => named.exec(t)?.[1]).filter(Boolean);
        const cpu = threads.map((t) => /^CPU \(task (.+)\)$/.exec(t)?.[1]).find(Boolean);
        return cpu && tasks.length === 7 && [cpu, ...tasks].sort().join(',') === Object.keys(ENTRY).sort().join(',');
      }, T(20000), 200).catch((e) => { throw new Error(`${e.message}; threads: ${threads.join(' | ')}`); });
      const stacks = {};
      for (const t of threads.filter((x) => named.test(x))) {
        const task = named.exec(t)[1];
        let frames;
        await waitFor(`thread ${t} open on its call stack`, async () => {
          frames = await framesOf(page, t);
          if (frames && frames.length && frames.at(-1).frame === ENTRY[task]) return true;
          const r = threadRow(page, t);
          if ((await r.getAttribute('aria-expanded')) !== 'true') await r.locator('.monaco-tl-twistie').click({ timeout: T(2000) });
          return false;
        }, T(20000), 200).catch((e) => { throw new Error(`${e.message}; frames ${JSON.stringify(frames)}`); });
        // the entry frame is on a line of the task's source file
        if (!/\.c:?\d+$/.test(frames.at(-1).file)) throw new Error(`${task}'s ${ENTRY[task]} frame has no source line: ${JSON.stringify(frames.at(-1))}`);
        stacks[task] = frames.map((f) => f.frame);
        if (task === 'consumer') await docShot(page, 'rtos-threads', await stack.boundingBox());
        // closed again, so the next thread's rows are in sight
        await threadRow(page, t).locator('.monaco-tl-twistie').click({ timeout: T(2000) }).catch(() => undefined);
      }
      // blocked in xQueueReceive, switched out there or at a yield inside the kernel (tests/test_rtos.py)
      const yields = new Set(['xTaskResumeAll', 'vPortExitCritical', 'vPortYield']);
      if (stacks.consumer.slice(-2).join(',') !== 'xQueueReceive,consumer_task' || !stacks.consumer.slice(0, -2).every((f) => yields.has(f))) {
        throw new Error(`consumer's stack: ${stacks.consumer}`);
      }

      // ---- a task frame's variables: consumer_task's Locals hold its item (read from the task's stack)
      const consumerThread = threads.find((t) => named.exec(t)?.[1] === 'consumer');
      await waitFor('the consumer thread open on consumer_task', async () => {
        const f = await framesOf(page, consumerThread);
        if (f && f.some((x) => x.frame === 'consumer_task')) return true;
        const r = threadRow(page, consumerThread);
        if ((await r.getAttribute('aria-expanded')) !== 'true') await r.locator('.monaco-tl-twistie').click({ timeout: T(2000) });
        return false;
      }, T(20000), 200);
      await pane(page, 'Call Stack').locator('.monaco-list-row')
        .filter({ has: page.locator('.stack-frame .label', { hasText: /^consumer_task$/ }) }).first().click();
      let item;
      let lastErr;
      // (no Pause Live Refresh here: the command is the Live frame's; a refresh that overtakes the
      // scope's first rows closes it, so open it again until its rows show)
      await paneExpanded(page, 'Variables');
      await waitFor('consumer_task\'s Locals open on item', async () => {
        item = (await rows(page, 'Variables')).find((r) => r.name === 'item');
        if (item) return true;
        lastErr = await (async () => {
          const r = await findRow(page, 'Variables', 'Locals', T(5000));
          if ((await r.getAttribute('aria-expanded')) !== 'true') await r.click();
          await findRow(page, 'Variables', 'item', T(3000));
        })().then(() => undefined, (e) => e);
        return false;
      }, T(60000), 300).catch(async (e) => {
        const shown = (await rows(page, 'Variables')).map((r) => `${r.name}=${r.value}`).join(', ');
        throw new Error(`${e.message}: ${lastErr?.message}; Variables: ${shown.slice(0, 400)}; `
          + `Call Stack: ${JSON.stringify(await callStack(page)).slice(0, 600)}`);
      });
      if (!/^\d+$/.test(item?.value ?? '')) throw new Error(`consumer_task's item: ${JSON.stringify(item)}`);
      await docShot(page, 'rtos-task-locals', await pane(page, 'Variables').boundingBox());

      // ---- continued: the CPU runs, the task threads are gone
      const cpuName = threads.find((t) => /^CPU /.test(t));
      await waitFor('the CPU running again, without task threads', async () => {
        const now = await callStack(page);
        const cpu = now.find((r) => /^CPU\b/.test(r.thread ?? ''));
        if (cpu && /running/i.test(cpu.state) && !now.some((r) => named.test(r.thread ?? ''))) return true;
        if (cpu && !/running/i.test(cpu.state)) {
          await threadRow(page, cpu.thread).click({ timeout: T(2000) }).catch(() => undefined);
          await page.keyboard.press('F5');
        }
        return false;
      }, T(30000), 300).catch(async (e) => { throw new Error(`${e.message}; Call Stack: ${JSON.stringify(await callStack(page))}`); });
      const running = server.processes(SESSION_TOOLS);
      if (!running.length) throw new Error('no QEMU or gdb process found under this code-server while the session runs');
      return { live, ticks: ticks.size, cpu: cpuName, stacks, item: item.value };
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      for (const title of ['Variables', 'Watch']) {
        const header = pane(page, title).locator('> .pane-header');
        if ((await header.getAttribute('aria-expanded').catch(() => null)) === 'false') await header.click().catch(() => undefined);
      }
      await endDebugSession(page);
      let left = '';
      await waitFor('QEMU and gdb to exit', () => server.processes(SESSION_TOOLS).length === 0, T(15000), 100)
        .catch((e) => { left = `${e.message}: still running ${server.processes(SESSION_TOOLS).join(' ')}`; });
      if (left && failed) log(left);
      else if (left) throw new Error(left); // eslint-disable-line no-unsafe-finally
    }
  });
}
