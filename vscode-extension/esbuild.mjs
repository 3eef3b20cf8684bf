// Bundles the extension (node, CommonJS, `vscode` external) and the plot webview (browser IIFE
// with uPlot inlined, so the webview loads one local script under a strict CSP).
//   node esbuild.mjs [--production] [--watch] [--tests]
import * as esbuild from 'esbuild';
import { readdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const tests = process.argv.includes('--tests');

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'warning' };

const builds = tests
  ? [{
      ...common,
      // the unit tests cover the vscode-free modules only: bundling fails if one imports vscode
      entryPoints: readdirSync('test').filter((f) => f.endsWith('.test.ts')).map((f) => `test/${f}`),
      outdir: 'out/test', platform: 'node', format: 'cjs', target: 'node20', sourcemap: 'inline',
    }]
  : [
      {
        ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js',
        platform: 'node', format: 'cjs', target: 'node20', external: ['vscode'],
      },
      {
        ...common, entryPoints: ['src/plot/webview/main.ts'], outfile: 'dist/plot.js',
        platform: 'browser', format: 'iife', target: 'es2022', loader: { '.css': 'css' },
      },
    ];

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
