// checksumSources: the digest changes with content, mode, names and what is copied, and not with
// mtimes, owners' machines or the context's location; the per-file hash cache means a second
// run reads no file content (counted in hashed bytes) and a changed file is read again.
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  checksumSources,
  createMatcher,
  FileHashCache,
  planCopy,
  type ResolveOptions,
  resolveSources,
} from '../../../src/engine/context/index.js';
import { tempDir, writeTree } from './helpers.js';

const PAST = 1_600_000_000;

function fixture(t: { after: (fn: () => void) => void }): string {
  const root = tempDir(t);
  writeTree(root, {
    'app/main.js': 'main',
    'app/lib/util.js': 'util',
    'app/run.sh': { mode: 0o755 },
    'README.md': 'r',
  });
  return root;
}

async function sum(
  root: string,
  options: { sources?: string[]; resolve?: ResolveOptions; cache?: FileHashCache; hashed?: string[] } = {},
): Promise<string> {
  const resolved = await resolveSources(root, options.sources ?? ['app', 'README.md'], options.resolve);
  return checksumSources(planCopy(resolved, '/srv/'), {
    cache: options.cache,
    onFileHashed: (abs, bytes) => options.hashed?.push(`${abs.slice(root.length + 1)}:${bytes}`),
  });
}

test('the checksum is stable across runs and context locations', async (t) => {
  const root = fixture(t);
  const first = await sum(root);
  assert.match(first, /^sha256:[a-f0-9]{64}$/);
  assert.equal(await sum(root), first);
  const moved = join(tempDir(t), 'elsewhere');
  cpSync(root, moved, { recursive: true });
  assert.equal(await sum(moved), first);
});

test('the checksum changes when content changes, even at the same size', async (t) => {
  const root = fixture(t);
  const before = await sum(root);
  writeFileSync(join(root, 'app/lib/util.js'), 'UTIL');
  assert.notEqual(await sum(root), before);
});

test('the checksum changes when a mode changes', async (t) => {
  const root = fixture(t);
  const before = await sum(root);
  chmodSync(join(root, 'app/main.js'), 0o600);
  assert.notEqual(await sum(root), before);
});

test('the checksum changes when a name changes or a file is added', async (t) => {
  const root = fixture(t);
  const before = await sum(root);
  renameSync(join(root, 'app/main.js'), join(root, 'app/index.js'));
  const renamed = await sum(root);
  assert.notEqual(renamed, before);
  writeFileSync(join(root, 'app/new.js'), '');
  assert.notEqual(await sum(root), renamed);
});

test('the checksum changes when a symlink target changes', async (t) => {
  const root = fixture(t);
  writeTree(root, { 'app/link': '-> main.js' });
  const before = await sum(root);
  rmSync(join(root, 'app/link'));
  writeTree(root, { 'app/link': '-> lib/util.js' });
  assert.notEqual(await sum(root), before);
});

test('the checksum does not change when only mtimes change', async (t) => {
  const root = fixture(t);
  const before = await sum(root);
  for (const p of ['app', 'app/main.js', 'app/lib', 'app/lib/util.js', 'README.md']) {
    utimesSync(join(root, p), PAST, PAST);
  }
  assert.equal(await sum(root), before);
});

test('the checksum covers only what the copy reads: .dockerignore and --exclude hide changes', async (t) => {
  const root = fixture(t);
  writeTree(root, { 'app/debug.log': 'one' });
  const ignore = createMatcher(['**/*.log']);
  const ignored = await sum(root, { resolve: { ignore } });
  const excluded = await sum(root, { resolve: { exclude: ['*.log'] } });
  const all = await sum(root);
  writeFileSync(join(root, 'app/debug.log'), 'two');
  assert.equal(await sum(root, { resolve: { ignore } }), ignored);
  assert.equal(await sum(root, { resolve: { exclude: ['*.log'] } }), excluded);
  assert.notEqual(await sum(root), all);
  // Copying less is a different checksum.
  assert.notEqual(await sum(root, { sources: ['app'] }), await sum(root));
});

test('the file hash cache is used on the second run: no content is read again', async (t) => {
  const root = fixture(t);
  const cacheDir = tempDir(t);
  const first: string[] = [];
  const cache = await FileHashCache.open(cacheDir, { racyWindowMs: 0 });
  const digest = await sum(root, { cache, hashed: first });
  assert.deepEqual(first.sort(), ['README.md:1', 'app/lib/util.js:4', 'app/main.js:4', 'app/run.sh:10']);
  await cache.save();
  assert.ok(existsSync(join(cacheDir, 'file-hashes.json')));

  const reopened = await FileHashCache.open(cacheDir, { racyWindowMs: 0 });
  assert.equal(reopened.size, 4);
  const second: string[] = [];
  assert.equal(await sum(root, { cache: reopened, hashed: second }), digest);
  assert.deepEqual(second, []);

  // A changed file is read again, and only that one.
  writeFileSync(join(root, 'app/main.js'), 'MAIN');
  const third: string[] = [];
  const changed = await sum(root, { cache: reopened, hashed: third });
  assert.deepEqual(third, ['app/main.js:4']);
  assert.notEqual(changed, digest);
});

test('an mtime-only change re-reads the file but keeps the checksum', async (t) => {
  const root = fixture(t);
  const cache = await FileHashCache.open(tempDir(t), { racyWindowMs: 0 });
  const digest = await sum(root, { cache });
  utimesSync(join(root, 'README.md'), PAST, PAST);
  const hashed: string[] = [];
  assert.equal(await sum(root, { cache, hashed }), digest);
  assert.deepEqual(hashed, ['README.md:1']);
});

test('files changed within the racy window are hashed but not remembered', async (t) => {
  const root = fixture(t);
  // A window far wider than this test's run: every fixture file is "just changed".
  const cache = await FileHashCache.open(tempDir(t), { racyWindowMs: 3_600_000 });
  await sum(root, { cache });
  const hashed: string[] = [];
  await sum(root, { cache, hashed });
  assert.equal(hashed.length, 4);
  assert.equal(cache.size, 0);
});

test('cacheDir opens and saves a cache; a corrupt cache file starts empty', async (t) => {
  const root = fixture(t);
  const cacheDir = tempDir(t);
  writeFileSync(join(cacheDir, 'file-hashes.json'), '{not json');
  const plan = planCopy(await resolveSources(root, ['app']), '/a/');
  const digest = await checksumSources(plan, { cacheDir });
  assert.equal(await checksumSources(plan), digest);
  const saved = JSON.parse(readFileSync(join(cacheDir, 'file-hashes.json'), 'utf8')) as { version: number };
  assert.equal(saved.version, 1);
});

test('a tree larger than the cache cap keeps every file it used: the next run reads none again', async (t) => {
  const root = fixture(t);
  const cacheDir = tempDir(t);
  // A cap of 2 for a 4-file tree: the cap used to drop 2 of the files this build had just hashed.
  const cache = await FileHashCache.open(cacheDir, { racyWindowMs: 0, maxEntries: 2 });
  const digest = await sum(root, { cache });
  await cache.save();
  const reopened = await FileHashCache.open(cacheDir, { racyWindowMs: 0, maxEntries: 2 });
  assert.equal(reopened.size, 4);
  const again: string[] = [];
  assert.equal(await sum(root, { cache: reopened, hashed: again }), digest);
  assert.deepEqual(again, []);

  // Entries this session did not use are what the cap trims: a build of one file keeps that one
  // and one other (2 in all).
  const other = tempDir(t);
  writeFileSync(join(other, 'only.txt'), 'x');
  const third = await FileHashCache.open(cacheDir, { racyWindowMs: 0, maxEntries: 2 });
  await checksumSources(planCopy(await resolveSources(other, ['only.txt']), '/a/'), { cache: third });
  await third.save();
  const saved = JSON.parse(readFileSync(join(cacheDir, 'file-hashes.json'), 'utf8')) as {
    entries: Record<string, unknown>;
  };
  const kept = Object.keys(saved.entries);
  assert.equal(kept.length, 2);
  assert.ok(kept.includes(join(other, 'only.txt')), kept.join(', '));
});
