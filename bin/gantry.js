#!/usr/bin/env node
// The CLI from dist/bundle (scripts/bundle.mjs) when it is at least as new as the last compile,
// else from dist/src (a `tsc` after an edit makes the bundle stale: never run it). The bundle's
// CommonJS build runs with a V8 code cache (load-bundle.js) where Node's vm can give it dynamic
// import (Node >= 20.12), else its ES build. GANTRY_BUNDLE=0: dist/src; GANTRY_BUNDLE=esm: the ES build.
// CommonJS (bin/package.json): Node starts a CommonJS entry without its ES module loader (~15 ms).
'use strict';
const { statSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const vm = require('node:vm');

// bin/gantry (the command) passes NODE_EXTRA_CA_CERTS as GANTRY_NODE_EXTRA_CA_CERTS so that Node
// does not parse those certificates as it starts: back under its own name for every process gantry
// starts, and noted for src/util/node-tls.ts, which trusts them from the first TLS connection on.
const deferredCas = process.env.GANTRY_NODE_EXTRA_CA_CERTS;
if (deferredCas !== undefined) {
  delete process.env.GANTRY_NODE_EXTRA_CA_CERTS;
  if (deferredCas !== '' && !process.env.NODE_EXTRA_CA_CERTS) {
    process.env.NODE_EXTRA_CA_CERTS = deferredCas;
    globalThis[Symbol.for('gantry.deferredExtraCaCerts')] = deferredCas;
  }
}

const mtime = (rel) => statSync(join(__dirname, rel), { throwIfNoEntry: false })?.mtimeMs;
const mode = process.env.GANTRY_BUNDLE;
const bundled = mtime('../dist/bundle/esm/main.js');
const compiled = mtime('../dist/.tsbuildinfo');
const fresh = mode !== '0' && bundled !== undefined && (compiled === undefined || bundled >= compiled);

/**
 * Ends the process once the command is done and its output written (an empty write's callback
 * runs after every earlier write of the stream went out: a pipe to a busy reader can hold output
 * in Node's queue). A command awaits all its work before it returns, so what is left is idle
 * (keep-alive sockets, unref'd timers) or the heap's teardown, which the process need not wait for.
 */
function finish(code) {
  process.exitCode = code;
  let open = 2;
  const done = () => {
    if (--open === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.writableLength === 0 || stream.destroyed) done();
    else stream.write('', done);
  }
}

async function main() {
  if (fresh && mode !== 'esm' && vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER && mtime('../dist/bundle/cjs/main.js')) {
    const { loadBundle } = require('./load-bundle.js');
    const { run, save } = loadBundle(join(__dirname, '..', 'dist', 'bundle', 'cjs'));
    const code = await run(process.argv.slice(2));
    save();
    finish(code);
  } else {
    const entry = join(__dirname, '..', 'dist', ...(fresh ? ['bundle', 'esm', 'main.js'] : ['src', 'cli', 'main.js']));
    const { run } = await import(pathToFileURL(entry).href);
    finish(await run(process.argv.slice(2)));
  }
}

main();
