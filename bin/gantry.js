#!/usr/bin/env node
// The CLI from dist/bundle (scripts/bundle.mjs) when it is at least as new as the last compile,
// else from dist/src (a `tsc` after an edit makes the bundle stale: never run it). The bundle's
// CommonJS build runs with a V8 code cache (load-bundle.js) where Node's vm can give it dynamic
// import (Node >= 20.12), else its ES build. GANTRY_BUNDLE=0: dist/src; GANTRY_BUNDLE=esm: the ES build.
import { statSync } from 'node:fs';
import vm from 'node:vm';

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const mode = process.env.GANTRY_BUNDLE;
const bundled = mtime('../dist/bundle/esm/main.js');
const compiled = mtime('../dist/.tsbuildinfo');
const fresh = mode !== '0' && bundled !== undefined && (compiled === undefined || bundled >= compiled);

if (fresh && mode !== 'esm' && vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER && mtime('../dist/bundle/cjs/main.js')) {
  const { loadBundle } = await import('./load-bundle.js');
  const { run, save } = loadBundle(new URL('../dist/bundle/cjs/', import.meta.url).pathname);
  process.exitCode = await run(process.argv.slice(2));
  save();
} else {
  const { run } = await import(fresh ? '../dist/bundle/esm/main.js' : '../dist/src/cli/main.js');
  process.exitCode = await run(process.argv.slice(2));
}
