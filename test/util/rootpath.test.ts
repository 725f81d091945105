// The one chroot-style resolver (src/util/rootpath.ts) that COPY, RUN bind mounts, WORKDIR,
// the executor and extraction share. Each test is named after what it pins; every table row is
// checked against a sibling directory `outside` that must never be named by a result.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAX_SYMLINKS, resolveInRoot, rootPath } from '../../src/util/rootpath.js';

function fixture(t: { after: (fn: () => void) => void }): { root: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'gantry-rootpath-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'a/b'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'x');
  symlinkSync('/a/b', join(root, 'abs'));
  symlinkSync('../../../../..', join(root, 'a/up'));
  symlinkSync('b', join(root, 'a/rel'));
  symlinkSync(outside, join(root, 'host'));
  symlinkSync('../outside', join(root, 'sibling'));
  symlinkSync('a/b/file', join(root, 'last'));
  return { root, outside };
}

test('dotdot-clamps-at-root: `..` and climbing symlinks never leave the root', async (t) => {
  const { root } = fixture(t);
  const table: [string, string][] = [
    ['/../../outside/secret', 'outside/secret'],
    ['a/up/outside/secret', 'outside/secret'],
    ['sibling/secret', 'outside/secret'],
    ['/a/b/../../..', ''],
  ];
  for (const [input, want] of table) assert.equal((await rootPath(root, input)).path, want, input);
});

test('absolute-symlink-target-is-the-root: /x in a link means <root>/x, never the host', async (t) => {
  const { root, outside } = fixture(t);
  assert.equal((await rootPath(root, 'host/secret')).path, `${outside.slice(1)}/secret`);
  assert.equal(await resolveInRoot(root, '/abs/c'), '/a/b/c');
});

test('follow-last-or-not: the final symlink is followed only when asked', async (t) => {
  const { root } = fixture(t);
  assert.deepEqual(await rootPath(root, 'last'), { path: 'a/b/file', links: ['last'] });
  assert.deepEqual(await rootPath(root, 'last', { followLast: false }), { path: 'last', links: [] });
  // Parents are always followed.
  assert.equal((await rootPath(root, 'a/rel/x', { followLast: false })).path, 'a/b/x');
});

test('missing-components-are-kept: what does not exist is joined as written, still clamped', async (t) => {
  const { root } = fixture(t);
  assert.equal((await rootPath(root, 'nope/deeper')).path, 'nope/deeper');
  assert.equal((await rootPath(root, 'nope/../a/rel')).path, 'a/b');
  assert.equal((await rootPath(root, 'a/b/file/under-a-missing-file')).path, 'a/b/file/under-a-missing-file');
});

test('symlink-loop-is-one-error: a cycle and an over-long chain both fail with SYMLINK_LOOP', async (t) => {
  const { root } = fixture(t);
  symlinkSync('loop2', join(root, 'loop1'));
  symlinkSync('loop1', join(root, 'loop2'));
  await assert.rejects(rootPath(root, 'loop1/x'), { code: 'SYMLINK_LOOP', phase: 'build' });
  await assert.rejects(rootPath(root, 'loop1', { phase: 'layer' }), { code: 'SYMLINK_LOOP', phase: 'layer' });
  // A chain exactly at the limit resolves; one more link is a loop.
  mkdirSync(join(root, 'chain'));
  writeFileSync(join(root, 'chain', 'end'), 'x');
  symlinkSync('end', join(root, 'chain', `l${MAX_SYMLINKS}`));
  for (let i = MAX_SYMLINKS - 1; i >= 0; i--) symlinkSync(`l${i + 1}`, join(root, 'chain', `l${i}`));
  assert.equal((await rootPath(root, 'chain/l1')).path, 'chain/end');
  await assert.rejects(rootPath(root, 'chain/l0'), { code: 'SYMLINK_LOOP' });
});
