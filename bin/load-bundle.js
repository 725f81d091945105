// Loads the CommonJS build of the CLI bundle (dist/bundle/cjs) through vm.Script with a V8 code
// cache, so that a run compiles almost none of it: the code V8 compiled in an earlier run (the
// functions it ran included) is read back from ~/.cache/gantry/v8 (XDG_CACHE_HOME), one file per
// chunk, keyed by the chunk's name, size and mtime and by Node's version and architecture, in a
// directory per bundle build (the 4 most recent kept: a rebuilt bundle's chunks have new names).
// A chunk's cache is written after the first run that loads it and rewritten after the next one
// (GENERATIONS, the generation in the file name), then holding what both ran (a cold build's
// functions and a no-change rebuild's, which the first run never compiled: without them every
// rebuild compiled them again, ~10% of its CPU); later runs only read it. A cache V8
// rejects (another V8, corrupt) or a missing one is written again, atomically, when the command
// is done; any error of the cache is ignored (the chunk then compiles as usual).
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { homedir } = require('node:os');
const { basename, dirname, join, sep } = require('node:path');
const vm = require('node:vm');

const cacheRoot = join(
  process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
  'gantry',
  'v8',
  `${process.version}-${process.arch}`,
);
const KEEP = 4;
const GENERATIONS = 2;
let cacheDir = cacheRoot;
/** The file names in cacheDir, read once (undefined: none, or unreadable). */
let present;
const modules = new Map();
const pending = [];

/** The name of `file`'s cache without its generation and extension. */
function cacheName(file) {
  const st = statSync(file);
  const key = createHash('sha256').update(`${file}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
  return `${basename(file, '.js')}-${key}`;
}

/** Compiles `file` (CommonJS) as a function of the module's variables, from its code cache if any. */
function compile(file) {
  const source = readFileSync(file, 'utf8');
  let cached;
  let name;
  let generation = 0;
  try {
    name = cacheName(file);
    for (let g = GENERATIONS; g >= 1 && generation === 0; g--) if (present?.has(`${name}.${g}.bin`)) generation = g;
    if (generation > 0) cached = readFileSync(join(cacheDir, `${name}.${generation}.bin`));
  } catch {
    generation = 0;
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cached ? { cachedData: cached } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (name !== undefined) {
    // A cache V8 rejects is written again under its own generation; a missing one as the first.
    const next = !cached ? 1 : script.cachedDataRejected ? generation : generation + 1;
    if (next <= GENERATIONS) pending.push({ script, name, generation: next });
  }
  return script.runInThisContext();
}

function load(file) {
  const known = modules.get(file);
  if (known) return known.exports;
  const module = { exports: {} };
  modules.set(file, module);
  const fn = compile(file);
  const dir = dirname(file);
  const outside = createRequire(file);
  const require = (id) => (id.startsWith('./') ? load(join(dir, id)) : outside(id));
  fn(module.exports, require, module, file, dir);
  return module.exports;
}

/**
 * npm packages' CommonJS builds (`.cjs`: smol-toml, valibot...) through the same code cache: Node
 * 20 compiles every package file from scratch on every run (smol-toml: ~8 ms). Only while the
 * bundle runs; any other file, or a cache error, loads as Node would.
 */
function cachePackages() {
  const Module = require('node:module');
  if (Module._extensions['.cjs'] || typeof Module._extensions['.js'] !== 'function') return;
  const inPackages = `${sep}node_modules${sep}`;
  Module._extensions['.cjs'] = (module, filename) => {
    if (!filename.includes(inPackages)) return Module._extensions['.js'](module, filename);
    const req = (id) => module.require(id);
    req.resolve = (id, options) => Module._resolveFilename(id, module, false, options);
    req.cache = Module._cache;
    req.main = require.main;
    compile(filename)(module.exports, req, module, filename, dirname(filename));
  };
}

/**
 * Makes `dir` and its missing parents one at a time: Node's recursive mkdir never returns where a
 * parent exists but refuses children with ENOENT (a cache under /proc), where this throws.
 */
function mkdirp(dir) {
  const missing = [];
  for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  for (const d of missing) mkdirSync(d);
}

/** Writes the code caches missing or rejected this run (after the command: they hold what it ran). */
function save() {
  if (pending.length === 0) return;
  try {
    mkdirp(cacheDir);
    for (const { script, name, generation } of pending.splice(0)) {
      const where = join(cacheDir, `${name}.${generation}.bin`);
      const tmp = `${where}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, where);
      // Older generations (also one a concurrent first run wrote) would never be read again.
      for (let g = 1; g < generation; g++) rmSync(join(cacheDir, `${name}.${g}.bin`), { force: true });
    }
    // Older bundle builds' caches: all but the most recent KEEP go.
    const builds = readdirSync(cacheRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => ({ path: join(cacheRoot, d.name), mtime: statSync(join(cacheRoot, d.name)).mtimeMs }))
      .sort((a, b) => b.mtime - a.mtime);
    for (const old of builds.slice(KEEP)) if (old.path !== cacheDir) rmSync(old.path, { recursive: true, force: true });
  } catch {}
}

/** The CLI's `run` from the CommonJS bundle in `dir`, and the function that keeps its code cache. */
function loadBundle(dir) {
  const main = statSync(join(dir, 'main.js'));
  cacheDir = join(cacheRoot, createHash('sha256').update(`${dir}\0${main.mtimeMs}`).digest('hex').slice(0, 16));
  try {
    present = new Set(readdirSync(cacheDir));
  } catch {}
  cachePackages();
  return { run: load(join(dir, 'main.js')).run, save };
}

module.exports = { loadBundle };
