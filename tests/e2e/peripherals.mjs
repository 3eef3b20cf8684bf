// The Peripherals scope (issue 14) in real VS Code, on the fast host simulation: the SVD written
// here describes a "peripheral" whose registers are the demo's counters in RAM, so the values
// move on their own like a timer's, and one register carries readAction as a UART data register
// would: the view must show it unread, with the reason, while the others change.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { waitFor } from './harness.mjs';
import { docShot, expandVariables, findRow, row, rows, T } from './workbench.mjs';

export const PERIPHERAL_SCENARIOS = ['peripherals_scope_live'];

/** Write the demo's SVD next to the workspace; returns its path. */
export function writeDemoSvd(python, elf, file) {
  const code = `from firmwatch.symbols import load\np = load(${JSON.stringify(elf)})\n` +
    "print(p.find_variable('loop_count').address, p.find_variable('heartbeat_counter').address)";
  const r = spawnSync(python, ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`reading the demo's addresses failed: ${r.stderr.trim().split('\n').pop()}`);
  const [loop, beat] = r.stdout.trim().split(/\s+/).map(Number);
  const base = Math.min(loop, beat);
  const reg = (name, addr, extra) => `<register><name>${name}</name><description>${name}</description>` +
    `<addressOffset>${addr - base}</addressOffset>${extra}</register>`;
  fs.writeFileSync(file, `<?xml version="1.0"?>
<device schemaVersion="1.3"><name>FIRMWATCH_DEMO</name><version>1</version><description>the demo's counters</description>
<addressUnitBits>8</addressUnitBits><width>32</width><size>32</size><access>read-write</access>
<peripherals><peripheral><name>DEMO</name><description>counters of the demo firmware</description><baseAddress>${base}</baseAddress>
<addressBlock><offset>0</offset><size>${Math.abs(loop - beat) + 4}</size><usage>registers</usage></addressBlock><registers>
${reg('LOOP', loop, '<fields><field><name>LOW</name><description>low byte</description><bitOffset>0</bitOffset><bitWidth>8</bitWidth></field></fields>')}
${reg('BEAT', beat, '<readAction>clear</readAction>')}
</registers></peripheral></peripherals></device>
`);
  return file;
}

export async function peripheralScenarios(page, scenario) {
  await scenario('peripherals_scope_live', page, async () => {
    // the scope and DEMO opened with the refresh paused: a refresh rendered while a row's first
    // children load closes it again (docs/vscode.md, "Live rows and context menus", point 5)
    const scope = 'Peripherals (FIRMWATCH_DEMO)';
    await expandVariables(page, ['DEMO'], 'LOOP', { scope });
    // live: LOOP moves between refreshes and says so; BEAT (readAction) is never read
    const seen = new Set();
    let changedMark = '';
    let beat = '';
    await waitFor('LOOP to show 3 values, one marked (changed)', async () => {
      await findRow(page, 'Variables', 'BEAT');
      const all = await rows(page, 'Variables');
      const loop = all.find((r) => r.name === 'LOOP')?.value ?? '';
      beat = all.find((r) => r.name === 'BEAT')?.value ?? '';
      if (/^0x[0-9A-F]{8}/.test(loop)) seen.add(loop.slice(0, 10));
      if (/\(changed\)$/.test(loop)) changedMark = loop;
      return seen.size >= 3 && changedMark;
    }, T(20000), 100).catch((e) => { throw new Error(`${e.message}; saw ${[...seen].join(', ')}`); });
    if (!/not read automatically: reading it clears it/.test(beat)) throw new Error(`BEAT shows "${beat}"`);
    await expandVariables(page, ['DEMO', 'LOOP'], /^LOW/, { scope });
    const low = await waitFor('the LOW field decoded', async () => (await rows(page, 'Variables')).find((r) => /^LOW/.test(r.name))?.value, T(10000));
    await docShot(page, 'peripherals', await row(page, 'Variables', scope).boundingBox().then((b) => b && { ...b, height: b.height * 7 }));
    return { loop: changedMark, beat, low };
  }, ['f5_first_live_value']);
}
