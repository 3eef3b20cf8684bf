// Helpers that drive VS Code's workbench (code-server in headless Chromium) through its DOM:
// views, rows, context menus, commands, dialogs. Each one waits on a DOM condition with a
// deadline; none sleeps a fixed time.
import path from 'node:path';
import { REPO, waitFor } from './harness.mjs';

export const ARTIFACTS = process.env.FIRMWATCH_E2E_ARTIFACTS || path.join(REPO, 'test-artifacts', 'vscode-e2e');
const SLOW = Number(process.env.FIRMWATCH_E2E_TIMEOUT_SCALE || '1'); // a loaded machine: scale deadlines
export const T = (ms) => ms * SLOW;
export const log = (...a) => console.log(`[e2e ${new Date().toISOString().slice(11, 23)}]`, ...a);

export const pane = (page, title) => page.locator(`.pane:has(> .pane-header h3.title:text-is("${title}"))`);

export async function paneExpanded(page, title) {
  const p = pane(page, title);
  await waitFor(`the ${title} view`, () => p.count(), T(20000));
  const header = p.locator('> .pane-header');
  if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  return p;
}

/** Rows of a debug tree view: [{name, value}], read in one round trip. */
export async function rows(page, title) {
  return pane(page, title).locator('.monaco-list-row').evaluateAll((els) => els.map((el) => ({
    // the views render "name =" (Watch, Variables) or "name:"; keep the bare name
    name: (el.querySelector('.name')?.textContent ?? el.textContent ?? '').trim().replace(/\s*[=:]$/, ''),
    value: (el.querySelector('.value')?.textContent ?? '').trim(),
    level: Number(el.getAttribute('aria-level') || 0),
    expanded: el.getAttribute('aria-expanded'),
    text: (el.textContent ?? '').trim(),
  })));
}

export const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The row named `name` (a string: exactly, or a RegExp over the name). */
export function row(page, title, name) {
  const re = name instanceof RegExp ? name : new RegExp(`^${escapeRe(name)}\\s*[=:]?$`);
  return pane(page, title).locator('.monaco-list-row').filter({ has: page.locator('.name, .scope', { hasText: re }) }).first();
}

/** Where a virtualised list is scrolled: rows container offset, its height, the viewport height. */
async function listScroll(list) {
  return list.evaluate((el) => {
    const rows = el.querySelector('.monaco-list-rows');
    return { top: -parseFloat(rows?.style.top || '0') || 0, height: parseFloat(rows?.style.height || '0') || 0, view: el.clientHeight };
  });
}

/**
 * The row, scrolled into the visible part of a virtualised tree: towards it when it is rendered
 * outside the viewport, else from the top down, a viewport at a time, to the end of the list.
 * Every wheel step waits for the list to have moved.
 */
export async function findRow(page, title, name, timeoutMs = T(15000)) {
  const r = row(page, title, name);
  const list = pane(page, title).locator('.monaco-list').first();
  const deadline = Date.now() + timeoutMs;
  const visible = async () => {
    if (!(await r.count())) return false;
    const lb = await list.boundingBox();
    const b = await r.boundingBox();
    return !!(lb && b && b.y >= lb.y - 1 && b.y + b.height <= lb.y + lb.height + 1);
  };
  const wheel = async (dy) => {
    const before = await listScroll(list);
    const lb = await list.boundingBox();
    await page.mouse.move(lb.x + lb.width / 2, lb.y + lb.height / 2);
    await page.mouse.wheel(0, dy);
    const atEnd = dy < 0 ? before.top <= 0 : before.top + before.view >= before.height - 1;
    if (!atEnd) await waitFor('the list to scroll', async () => (await listScroll(list)).top !== before.top, Math.max(1000, deadline - Date.now()), 10);
    return !atEnd;
  };
  try {
    if (await visible()) return r;
    if (await r.count()) {
      // rendered just outside the viewport: bring it in
      const lb = await list.boundingBox();
      const b = await r.boundingBox();
      await wheel(b.y < lb.y ? b.y - lb.y - 4 : b.y + b.height - (lb.y + lb.height) + 4);
      if (await visible()) return r;
    }
    while (await wheel(-100000)); // to the top
    for (;;) {
      if (await visible()) return r;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
      const { view } = await listScroll(list);
      if (!(await wheel(Math.max(22, view - 44)))) break; // the end of the list
    }
    if (await visible()) return r;
    throw new Error('it is not in the list');
  } catch (e) {
    // say what the view showed: a failure here should be diagnosable from the log alone
    const shown = (await rows(page, title).catch(() => [])).map((x) => `${x.name}(${x.level})`).join(', ');
    throw new Error(`row ${name} in ${title}: ${e.message}; ${title} shows: ${shown.slice(0, 300)}`);
  }
}

/** Name of the row with the keyboard focus in view `title` while that view's tree has the DOM
 *  focus, else undefined. */
export async function focusedRow(page, title) {
  return page.evaluate((t) => {
    const list = document.activeElement?.closest?.('.monaco-list');
    const pane = list?.closest('.pane')?.querySelector(':scope > .pane-header h3.title')?.textContent;
    const focused = list?.querySelector('.monaco-list-row.focused .name, .monaco-list-row.focused .scope');
    return pane === t && focused ? focused.textContent.trim().replace(/\s*[=:]$/, '') : undefined;
  }, title);
}

/**
 * Expands the Globals scope (or `scope`), then each row of `path` below it, in the Variables
 * view, until row `child` (under the last one; a name or a RegExp) shows, with the live refresh
 * paused meanwhile (firmwatch: Pause Live Refresh). Why: VS Code closes a row again when a
 * refresh renders while the row's first children are still loading (asyncDataTree.ts:
 * asTreeElement gives a `stale` node `collapsed: true`), so under a live refresh a click on a
 * closed row can be undone (docs/vscode.md, point 5). The pause counts from the moment the
 * status bar says `refresh held: paused`, which it does once the adapter's own status lists the
 * hold (before that it says `holding refresh: paused…`, and refreshes still come: at 30 Hz a
 * click made then was undone — the stress_30hz_session failure). The view's rows first appear
 * when VS Code sets the focused frame as its input (variablesView.ts, updateTreeScheduler),
 * which also opens the first non-expensive scope (Memory) by itself: once rows show, that has
 * happened.
 */
export async function expandVariables(page, path, child, { scope } = {}) {
  await paneExpanded(page, 'Variables');
  await waitFor('rows in the Variables view', async () => (await rows(page, 'Variables')).length > 0, T(15000));
  const live = (await statusItem(page).count()) > 0;
  if (live) {
    await runCommand(page, 'firmwatch: Pause Live Refresh');
    await waitFor('the status bar to say the adapter holds the refresh (paused)',
      async () => /refresh held: paused/.test((await statusItem(page).first().textContent()) ?? ''), T(10000), 20);
  }
  let reclicks = 0;
  try {
    let first = scope;
    if (!first) { // the Globals scope, whose name holds a count: read it at the top of the list
      const list = pane(page, 'Variables').locator('.monaco-list').first();
      while (!(await rows(page, 'Variables')).some((r) => /^Globals/.test(r.name))) {
        const before = await listScroll(list);
        if (before.top <= 0) throw new Error('no Globals scope in the Variables view');
        const lb = await list.boundingBox();
        await page.mouse.move(lb.x + lb.width / 2, lb.y + lb.height / 2);
        await page.mouse.wheel(0, -100000);
        await waitFor('the list to scroll to the top', async () => (await listScroll(list)).top < before.top, T(5000), 10);
      }
      first = (await rows(page, 'Variables')).find((r) => /^Globals/.test(r.name)).name;
    }
    const chain = [first, ...path];
    for (let i = 0; i < chain.length; i++) reclicks += await openRow(page, chain[i]);
    // its first children have arrived (until then VS Code would close it again at a refresh)
    await findRow(page, 'Variables', child);
  } finally {
    if (live) await runCommand(page, 'firmwatch: Resume Live Refresh');
  }
  if (live) await waitFor('the status bar to say live again', async () => !/refresh held|holding refresh/.test((await statusItem(page).first().textContent()) ?? ''), T(10000), 20);
  return { reclicks };
}

/**
 * Opens row `name` of the Variables view and waits until its first child is rendered under it.
 * With the refresh held by the adapter no new refresh starts, but one VS Code started before the
 * hold can still render after the click, and it closes the row again (point 5 above): VS Code
 * cannot be asked to finish or drop it, and nothing in the page says it is on its way. A row
 * found closed again after its click was closed by such a render (a click on a closed row
 * always opens it) and is clicked again, as a user would; the refreshes already under way bound
 * how often (one or two), so a third closing fails: then the hold did not hold. Returns the
 * number of clicks made again (logged).
 */
async function openRow(page, name) {
  const list = pane(page, 'Variables').locator('.monaco-list').first();
  for (let click = 1; ; click++) {
    const r = await findRow(page, 'Variables', name);
    if ((await r.getAttribute('aria-expanded')) !== 'true') await r.click();
    const state = await waitFor(`${name} open with its first child shown`, async () => {
      const all = await rows(page, 'Variables');
      const i = all.findIndex((x) => x.name === name);
      if (i < 0) { // scrolled out of the rendered rows: bring it back
        await findRow(page, 'Variables', name);
        return undefined;
      }
      if (all[i].expanded === 'false') return 'closed';
      if (all[i].expanded === 'true' && all[i + 1]?.level === all[i].level + 1) return 'open';
      if (i === all.length - 1) { // the last rendered row: its children would render below the view
        const lb = await list.boundingBox();
        const b = await row(page, 'Variables', name).boundingBox();
        if (lb && b && b.y > lb.y + 1) {
          await page.mouse.move(lb.x + lb.width / 2, lb.y + lb.height / 2);
          await page.mouse.wheel(0, b.y - lb.y);
        }
      }
      return undefined;
    }, T(15000), 20);
    if (state === 'open') return click - 1;
    if (click >= 3) throw new Error(`${name} closed again after each of ${click} clicks with the refresh held`);
    log(`${name} was closed again by a refresh VS Code started before the hold (click ${click}): clicking it again`);
  }
}

export async function varValue(page, title, name) {
  return (await rows(page, title)).find((x) => x.name === name)?.value;
}

export async function watchValue(page, name) {
  const r = (await rows(page, 'Watch')).find((x) => x.name === name);
  return r?.value;
}

/** The extension's status-bar item (not the debug configuration's, which also says firmwatch). */
export const statusItem = (page) => page.locator('.part.statusbar .statusbar-item')
  .filter({ hasText: /firmwatch\s.*(live|lost|reconnecting|connecting)/ });

/**
 * Adds a watch. While a firmwatch session refreshes the views, VS Code's own "Add Expression"
 * edit box lives in a Watch row that every refresh re-creates empty (docs/vscode.md): the
 * extension's "Add Watch Expression…" asks in an input box with the refresh held instead.
 * Without a session the views do not refresh and VS Code's own "+" is used.
 */
export async function addWatch(page, expression) {
  const p = await paneExpanded(page, 'Watch');
  const present = async () => (await rows(page, 'Watch')).some((r) => r.name === expression);
  if (await present()) return;
  if (await statusItem(page).count()) {
    await runCommand(page, 'firmwatch: Add Watch Expression…');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: T(10000) });
    await waitFor('the Add Watch prompt', async () => /Watch view/.test(await page.locator('.quick-input-widget').innerText()), T(10000), 20);
    await input.fill(expression);
    await input.press('Enter');
  } else {
    // the header's actions show once it is hovered; the input takes the focus once VS Code has
    // rendered the new row
    await p.locator('> .pane-header').hover();
    await p.locator('> .pane-header .action-label[aria-label="Add Expression"]').click();
    const input = p.locator('.monaco-list-row input:focus');
    await input.waitFor({ timeout: T(10000) });
    await input.fill(expression);
    await input.press('Enter');
  }
  await waitFor(`watch ${expression} in the Watch view`, present, T(15000), 50);
}

// One CDP session per page, for what the DOM does not show (event listeners).
const cdpSessions = new WeakMap();
async function cdp(page) {
  let session = cdpSessions.get(page);
  if (!session) {
    session = await page.context().newCDPSession(page);
    cdpSessions.set(page, session);
  }
  return session;
}

/** mouseup listeners on the menu item's element (li.action-item). */
async function mouseUpListeners(page, tag) {
  const session = await cdp(page);
  const { result } = await session.send('Runtime.evaluate', { expression: `document.querySelector('[data-fw-item="${tag}"]')` });
  if (!result.objectId) throw new Error('the context menu closed before its item could be clicked');
  try {
    const { listeners } = await session.send('DOMDebugger.getEventListeners', { objectId: result.objectId });
    return listeners.filter((l) => l.type === 'mouseup').length;
  } finally {
    await session.send('Runtime.releaseObject', { objectId: result.objectId }).catch(() => undefined);
  }
}

let menuItemTags = 0;

/** Waits until VS Code's context-menu item acts on a click. A menu item ignores clicks during its
 *  first 100 ms: base/browser/ui/menu/menu.ts (BaseMenuActionViewItem) adds the mouseup listener
 *  that runs the action from a RunOnceScheduler(100) started at render, a timer that the live
 *  refresh's rendering delays further. A click before that is swallowed and the menu stays open.
 *  The item's element has one mouseup listener from BaseActionViewItem until then, two after. */
export async function menuItemReady(page, item) {
  const tag = `i${++menuItemTags}`;
  await item.evaluate((el, t) => el.closest('.action-item')?.setAttribute('data-fw-item', t), tag);
  await waitFor('the context-menu item to accept clicks', async () => (await mouseUpListeners(page, tag)) >= 2, T(10000), 10);
}

/** The visible item `label` of the open context menu. */
export function menuItem(page, label) {
  return page.locator('.context-view .monaco-menu .action-item .action-label').filter({ hasText: new RegExp(`^${escapeRe(label)}$`) }).first();
}

/** The label of the keyboard-focused item of the open context menu ('' when none). */
async function focusedMenuLabel(page) {
  return ((await page.locator('.context-view .monaco-menu .action-item.focused .action-label').first()
    .textContent({ timeout: 200 }).catch(() => '')) ?? '').trim();
}

/**
 * The keyboard path: Shift+F10 on the focused row opens its context menu; Home focuses its first
 * item and Down the next one (the menu's focused item is the state each key press waits on);
 * Enter runs `label`.
 */
export async function keyboardContextMenu(page, label) {
  await page.keyboard.press('Shift+F10');
  const menu = page.locator('.context-view .monaco-menu');
  await menu.waitFor({ state: 'visible', timeout: T(10000) });
  const labels = (await menu.locator('.action-item:not(.disabled) .action-label').allTextContents()).map((t) => t.trim()).filter(Boolean);
  const at = labels.indexOf(label);
  if (at < 0) throw new Error(`"${label}" is not in the context menu (${labels.join(', ')})`);
  await page.keyboard.press('Home');
  await waitFor(`the focus on "${labels[0]}"`, async () => (await focusedMenuLabel(page)) === labels[0], T(5000), 10);
  for (let i = 1; i <= at; i++) {
    await page.keyboard.press('ArrowDown');
    await waitFor(`the focus on "${labels[i]}"`, async () => (await focusedMenuLabel(page)) === labels[i], T(5000), 10);
  }
  await page.keyboard.press('Enter');
}

/** Right-click `target`, then click `label` in VS Code's context menu once it accepts clicks. */
export async function contextMenu(page, target, label) {
  await target.click({ button: 'right' });
  const item = menuItem(page, label);
  await item.waitFor({ state: 'visible', timeout: T(10000) });
  await menuItemReady(page, item);
  await item.click();
}

export async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: T(10000) });
  await input.fill(`>${title}`);
  const item = page.locator('.quick-input-widget .monaco-list-row').filter({ hasText: title }).first();
  await item.waitFor({ state: 'visible', timeout: T(10000) });
  await input.press('Enter');
}

export async function openFile(page, relative) {
  const base = path.basename(relative);
  const tab = page.locator(`.tab:has-text("${base}")`).first();
  if (await tab.count()) {
    await tab.click();
  } else {
    // a webview with the focus keeps keystrokes: give the focus to the workbench first
    await page.locator('.part.sidebar .composite.title').first().click();
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: T(10000) });
    await input.fill(relative);
    await page.locator('.quick-input-widget .monaco-list-row').first().waitFor({ state: 'visible', timeout: T(10000) });
    await input.press('Enter');
  }
  await page.locator(`.tab.active:has-text("${base}")`).first().waitFor({ timeout: T(10000) });
  await page.locator('.editor-instance .view-lines').first().waitFor({ timeout: T(10000) });
}

/** Screen position of the first occurrence of `word` in the visible editor lines. */
export async function wordPosition(page, word) {
  return page.evaluate((w) => {
    const re = new RegExp(`\\b${w}\\b`);
    for (const el of document.querySelectorAll('.editor-instance .view-lines span span')) {
      const m = re.exec(el.textContent || '');
      if (!m || !el.firstChild) continue;
      const r = document.createRange();
      r.setStart(el.firstChild, m.index);
      r.setEnd(el.firstChild, m.index + w.length);
      const b = r.getBoundingClientRect();
      return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
    }
    return null;
  }, word);
}

/** A small screenshot of one region, for docs/vscode.md (copied from the artifacts by hand). */
export async function docShot(page, name, box, pad = 12) {
  if (!box) return;
  const vp = page.viewportSize();
  const x = Math.max(0, box.x - pad);
  const y = Math.max(0, box.y - pad);
  const clip = { x, y, width: Math.min(vp.width - x, box.width + 2 * pad), height: Math.min(vp.height - y, box.height + 2 * pad) };
  await page.screenshot({ path: path.join(ARTIFACTS, `doc-${name}.png`), clip }).catch(() => undefined);
}

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file }).catch(() => undefined);
  return file;
}

export const isNumber = (v) => typeof v === 'string' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v.trim());

/** Accepts VS Code's (simple, in code-server) save dialog at the path the extension proposed,
 *  once the input shows it; returns that path. */
export async function acceptSaveDialog(page, endsWith) {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: T(10000) });
  const value = await waitFor(`the save dialog to propose *${endsWith}`, async () => {
    const v = await input.inputValue();
    return v.endsWith(endsWith) ? v : undefined;
  }, T(10000), 50);
  await input.press('Enter');
  return value;
}

/** The frame of the plot webview (code-server nests it two iframes deep). */
export function plotFrame(page) {
  return waitFor('the plot webview', async () => {
    for (const f of page.frames()) {
      const ok = await f.evaluate(() => !!document.getElementById('chart') && document.body.dataset.points !== undefined).catch(() => false);
      if (ok) return f;
    }
    return undefined;
  }, T(20000), 200);
}


/** Shift+F5, then wait until the firmwatch status item is gone: the adapter stops its device. */
export async function endDebugSession(page) {
  const item = statusItem(page);
  if (!(await item.count())) return;
  await page.locator('.part.sidebar .composite.title').first().click().catch(() => undefined);
  await page.keyboard.press('Shift+F5');
  await waitFor('the debug session to end', async () => !(await item.count()), T(15000), 100)
    .catch((e) => log(`session did not end cleanly: ${e.message}`));
}
