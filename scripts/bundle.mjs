#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports from dist/src) into a
// few files under dist/bundle/, so that `gantry` starts without resolving and compiling ~240 ES
// modules one by one (most of a no-change build's CPU time). npm packages stay external (imported
// from node_modules as before); modules the CLI imports on use (front ends, attest, kubernetes...)
// stay separate chunks, loaded on use as before. dist/src stays the library (package "exports").
// bin/gantry.js uses the bundle when it is newer than the last compile (dist/.tsbuildinfo), so a
// plain `tsc` after an edit never runs stale code. Run by `npm run build`, prepare and pretest.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup } from '@rollup/wasm-node';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
// `--out DIR` (tests): another directory, inside the package so that npm packages still resolve.
const outArg = process.argv.indexOf('--out');
const outDir = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist', 'bundle');

/** Rewrites `new URL('<relative>', import.meta.url)` to the same file as seen from the bundle. */
function moduleUrls() {
  const pattern = /new URL\((['"])(\.{1,2}\/[^'"]+)\1, import\.meta\.url\)/g;
  return {
    name: 'gantry-module-urls',
    transform(code, id) {
      if (!code.includes('import.meta.url')) return null;
      const out = code.replace(pattern, (_m, q, rel) => {
        const target = resolve(dirname(id), rel);
        // Both formats sit one level below outDir (esm/, cjs/): the same relative path fits both.
        let fromBundle = relative(join(outDir, 'esm'), target).split('\\').join('/');
        if (!fromBundle.startsWith('.')) fromBundle = `./${fromBundle}`;
        return `new URL(${q}${fromBundle}${q}, import.meta.url)`;
      });
      return out === code ? null : { code: out, map: null };
    },
  };
}

/**
 * Built-ins a no-change build never calls (spawning, compressing, the deflate workers) load on first
 * use in the CommonJS build: each costs ~1 ms to compile at start-up. Their uses are member accesses
 * (`node_zlib.createGunzip()`), so a proxy that requires the module on the first access stands in.
 */
const LAZY_BUILTINS = ['node:zlib', 'node:child_process', 'node:worker_threads'];
const LAZY_HELPER =
  'function __gantryLazy(id) { let m; const get = () => (m ??= require(id)); return new Proxy({}, { get: (_t, k) => get()[k], has: (_t, k) => k in get(), ownKeys: () => Reflect.ownKeys(get()), getOwnPropertyDescriptor: (_t, k) => { const d = Reflect.getOwnPropertyDescriptor(get(), k); return d && { ...d, configurable: true }; } }); }';
/**
 * Escapes non-ASCII characters (`…`, `—` in messages and comments) as \uXXXX, the same text in
 * strings, templates and regular expressions: V8 holds an all-ASCII source as one byte a character,
 * else two (the CommonJS chunks are read as strings on every run: ~0.7 MB less to allocate).
 */
function ascii(code) {
  const out = code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return out === code ? null : { code: out, map: null };
}

function lazyBuiltins() {
  const ids = LAZY_BUILTINS.map((id) => id.replace('/', '\\/')).join('|');
  const declared = new RegExp(`^const (\\w+) = require\\('(${ids})'\\);$`, 'gm');
  return {
    name: 'gantry-lazy-builtins',
    renderChunk(code, _chunk, options) {
      if (options.format !== 'cjs') return null;
      const names = [];
      let out = code.replace(declared, (_m, name, id) => {
        names.push(name);
        return `const ${name} = __gantryLazy('${id}');`;
      });
      if (names.length === 0) return ascii(code);
      // A namespace copy (`_interopNamespace(x)`) would read every key at once: the proxy serves as is.
      for (const name of names)
        out = out.replace(new RegExp(`/\\*#__PURE__\\*/_interopNamespace(?:Default)?\\(${name}\\)`, 'g'), name);
      return ascii(`${LAZY_HELPER}\n${out}`);
    },
  };
}

const started = Date.now();
const bundle = await rollup({
  input: { main: entry },
  // npm packages and Node's built-ins load as before; only dist/src is bundled.
  external: (id) => !id.startsWith('.') && !id.startsWith('/'),
  plugins: [moduleUrls()],
  // Node's built-ins and the npm packages used have no side effect on import (src imports none for
  // its side effects): a chunk that does not use one does not load it.
  treeshake: { moduleSideEffects: 'no-external' },
  onwarn(warning, warn) {
    if (warning.code === 'CIRCULAR_DEPENDENCY') return;
    warn(warning);
  },
});
// Written beside the final directory, then swapped in: a half-written bundle is never used.
const tmp = `${outDir}.tmp-${process.pid}`;
await rm(tmp, { recursive: true, force: true });
await bundle.write({
  dir: join(tmp, 'esm'),
  format: 'es',
  entryFileNames: '[name].js',
  chunkFileNames: '[name]-[hash].js',
  generatedCode: 'es2015',
});
// The same chunks as CommonJS, for bin/load-bundle.js: compiled through vm.Script with a V8 code
// cache (Node 20 has none for ES modules).
await bundle.write({
  dir: join(tmp, 'cjs'),
  format: 'cjs',
  entryFileNames: '[name].js',
  chunkFileNames: '[name]-[hash].js',
  generatedCode: 'es2015',
  // import() of npm packages as require(): V8 drops vm's dynamic import callback from code read
  // back from a code cache (Node 20: "A dynamic import callback was not specified").
  dynamicImportInCjs: false,
  interop: 'auto',
  plugins: [lazyBuiltins()],
  // No empty require() of what the chunks a chunk needs require themselves (they load it anyway,
  // when they run: a lazy built-in stays lazy).
  hoistTransitiveImports: false,
});
await bundle.close();
await writeFile(join(tmp, 'esm', 'package.json'), '{ "type": "module" }\n');
await writeFile(join(tmp, 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
await rm(outDir, { recursive: true, force: true });
await mkdir(dirname(outDir), { recursive: true });
await rename(tmp, outDir);
console.log(`${relative(root, outDir)}: ${relative(root, entry)} bundled in ${Date.now() - started} ms`);
