// A real VS Code (code-server) in headless Chromium, driven by playwright-core.
// Everything waits on DOM or log conditions with a deadline; nothing sleeps a fixed time.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const E2E_HOME = process.env.FIRMWATCH_E2E_HOME ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'firmwatch', 'vscode-e2e');

export function loadPlaywright() {
  const req = createRequire(path.join(E2E_HOME, 'package.json'));
  try {
    return req('playwright-core');
  } catch {
    throw new Error(`playwright-core is not installed in ${E2E_HOME}: run .ci/install-vscode-e2e first.`);
  }
}

export function codeServerBin() {
  const bin = path.join(E2E_HOME, 'node_modules', '.bin', 'code-server');
  if (!fs.existsSync(bin)) throw new Error(`code-server is not installed in ${E2E_HOME}: run .ci/install-vscode-e2e first.`);
  return bin;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `fn` until it returns a truthy value; throws `what` with the last error after `timeoutMs`. */
export async function waitFor(what, fn, timeoutMs = 30000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message ?? last})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class CodeServer {
  constructor({ root, workspace, settings, log }) {
    this.root = root;
    this.workspace = workspace;
    this.userData = path.join(root, 'user-data');
    this.extensions = path.join(root, 'extensions');
    this.settings = settings;
    this.log = log;
    this.proc = undefined;
  }

  env() {
    return {
      ...process.env,
      XDG_CONFIG_HOME: path.join(this.root, 'xdg-config'),
      XDG_DATA_HOME: path.join(this.root, 'xdg-data'),
      XDG_CACHE_HOME: path.join(this.root, 'xdg-cache'),
    };
  }

  installExtension(vsix) {
    fs.mkdirSync(this.extensions, { recursive: true });
    const r = spawnSync(codeServerBin(), ['--user-data-dir', this.userData, '--extensions-dir', this.extensions,
      '--install-extension', vsix, '--force'], { env: this.env(), encoding: 'utf8', timeout: 120000 });
    if (r.status !== 0) throw new Error(`installing ${vsix} into code-server failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  async start() {
    const userDir = path.join(this.userData, 'User');
    fs.mkdirSync(userDir, { recursive: true });
    fs.writeFileSync(path.join(userDir, 'settings.json'), JSON.stringify(this.settings, null, 2));
    this.port = await freePort();
    const out = fs.openSync(this.log, 'a');
    // its own process group (detached): stop() ends code-server, the extension host, the
    // debug adapter and the simulated device together
    this.proc = spawn(codeServerBin(), ['--auth', 'none', '--bind-addr', `127.0.0.1:${this.port}`,
      '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      '--user-data-dir', this.userData, '--extensions-dir', this.extensions, this.workspace],
    { env: this.env(), detached: true, stdio: ['ignore', out, out] });
    this.url = `http://127.0.0.1:${this.port}/`;
    await waitFor('code-server /healthz', async () => {
      if (this.proc.exitCode !== null) throw new Error(`code-server exited with ${this.proc.exitCode}; see ${this.log}`);
      const r = await fetch(this.url + 'healthz');
      return r.ok;
    }, 60000, 200);
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const pgid = this.proc.pid;
    const exited = new Promise((r) => this.proc.once('exit', r));
    try { process.kill(-pgid, 'SIGTERM'); } catch { return; }
    const timer = setTimeout(() => { try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await exited;
    clearTimeout(timer);
    // the extension host and adapters may outlive the main process for a moment
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
    this.stragglers = this.killStragglers();
  }

  /** Pids of processes started under this code-server whose command line matches `re`. Linux only. */
  processes(re) {
    const marker = `XDG_CONFIG_HOME=${this.env().XDG_CONFIG_HOME}`;
    let pids = [];
    try { pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return []; }
    return pids.filter((pid) => {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
        return re.test(cmd) && fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker);
      } catch {
        return false;
      }
    }).map(Number);
  }

  /** Processes started under this code-server that left its process group (a simulated device
   *  runs in a group of its own): found by the XDG_CONFIG_HOME they inherited. Linux only. */
  killStragglers() {
    const marker = `XDG_CONFIG_HOME=${this.env().XDG_CONFIG_HOME}`;
    let pids = [];
    try { pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return []; }
    const killed = [];
    for (const pid of pids) {
      if (Number(pid) === process.pid) continue;
      let env;
      try { env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1'); } catch { continue; }
      if (!env.split('\0').includes(marker)) continue;
      try { process.kill(Number(pid), 'SIGKILL'); killed.push(Number(pid)); } catch { /* gone */ }
    }
    return killed;
  }
}

export async function launchBrowser(profileDir) {
  const { chromium } = loadPlaywright();
  const exe = process.env.FIRMWATCH_E2E_CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
    .find((p) => fs.existsSync(p));
  if (!exe) throw new Error('Chromium is not installed: run .ci/install-vscode-e2e (apt package chromium).');
  return chromium.launchPersistentContext(profileDir, {
    executablePath: exe,
    headless: true,
    viewport: { width: 1600, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
}
