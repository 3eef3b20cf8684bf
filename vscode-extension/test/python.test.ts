import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choosePython, expandPath, installCommand, notInstalledMessage } from '../src/logic/python';

test('the setting wins over the Python extension and the default', () => {
  assert.deepEqual(choosePython({ setting: '/opt/py/bin/python', fromPythonExtension: '/usr/bin/python3.11' }),
    { command: '/opt/py/bin/python', source: 'setting' });
});

test("the Python extension's interpreter is used when the setting is empty", () => {
  assert.deepEqual(choosePython({ setting: '  ', fromPythonExtension: '/venv/bin/python' }),
    { command: '/venv/bin/python', source: 'python-extension' });
});

test('python3 when nothing else is known', () => {
  assert.deepEqual(choosePython({}), { command: 'python3', source: 'default' });
});

test('workspace-relative, ~ and ${workspaceFolder} paths expand; bare names stay for PATH lookup', () => {
  assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', '/w'), '/w/.venv/bin/python');
  assert.equal(expandPath('.venv/bin/python', '/w'), '/w/.venv/bin/python');
  assert.equal(expandPath('~/py/bin/python', '/w', '/home/u'), '/home/u/py/bin/python');
  assert.equal(expandPath('python3.12', '/w'), 'python3.12');
  assert.equal(choosePython({ setting: '${userHome}/x/python', home: '/h' }).command, '/h/x/python');
});

test('the missing-module message is one sentence with the install command', () => {
  const choice = { command: '/usr/bin/python3', source: 'default' as const };
  const msg = notInstalledMessage(choice, "Traceback (most recent call last):\n  File ...\nModuleNotFoundError: No module named 'firmwatch'\n");
  assert.match(msg, /^firmwatch is not installed in the Python "\/usr\/bin\/python3"/);
  assert.match(msg, /run "\/usr\/bin\/python3 -m pip install firmwatch"/);
  assert.match(msg, /No module named 'firmwatch'/);
  assert.doesNotMatch(msg, /Traceback/);
  assert.equal(msg.split(/\.\s/).length, 1, 'one sentence');
});

test('a missing interpreter is reported as such', () => {
  const msg = notInstalledMessage({ command: '/nope/python', source: 'setting' }, 'spawn /nope/python ENOENT');
  assert.match(msg, /was not found/);
  assert.match(msg, /firmwatch\.python setting/);
});

test('install command quotes paths with spaces and the lsp extra', () => {
  assert.equal(installCommand({ command: '/a b/python', source: 'setting' }, 'firmwatch[lsp]'), '"/a b/python" -m pip install "firmwatch[lsp]"');
});

test('the lsp-extra message says the language server cannot start, with the extra to install', () => {
  const msg = notInstalledMessage({ command: 'python3', source: 'default' }, "ModuleNotFoundError: No module named 'pygls'", 'firmwatch[lsp]');
  assert.match(msg, /^The firmwatch language server cannot start in the Python "python3"/);
  assert.match(msg, /run "python3 -m pip install "firmwatch\[lsp\]""/);
});
