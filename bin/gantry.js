#!/usr/bin/env node
// The CLI from dist/bundle (a few files: scripts/bundle.mjs) when it is at least as new as the
// last compile, else from dist/src (a `tsc` after an edit makes the bundle stale: never run it).
import { statSync } from 'node:fs';

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const bundled = mtime('../dist/bundle/main.js');
const compiled = mtime('../dist/.tsbuildinfo');
const useBundle =
  process.env.GANTRY_BUNDLE !== '0' && bundled !== undefined && (compiled === undefined || bundled >= compiled);
const { run } = await import(useBundle ? '../dist/bundle/main.js' : '../dist/src/cli/main.js');

process.exitCode = await run(process.argv.slice(2));
