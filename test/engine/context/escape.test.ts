// Escape attempts from the build context, one named test each: a COPY never reads a host path
// outside the context. Sources with `../` or a leading `/` are taken relative to the context
// root, and symlinks are resolved as if the context root were `/` (BuildKit's rule).
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checksumSources, copyEntries, planCopy, resolveSources } from '../../../src/engine/context/index.js';
import { GantryError } from '../../../src/errors.js';
import { bodyText, collect, tempDir, writeTree } from './helpers.js';

const hostPasswd = readFileSync('/etc/passwd', 'utf8');

function notFound(fragment: string): (err: unknown) => boolean {
  return (err: unknown) =>
    GantryError.is(err) && err.code === 'COPY_SOURCE_NOT_FOUND' && err.message.includes(fragment);
}

async function copiedText(root: string, spec: string): Promise<string> {
  const entries = await collect(copyEntries(planCopy(await resolveSources(root, [spec]), '/out'), { mtime: 0 }));
  const file = entries.find((e) => e.entry.path === 'out');
  assert.ok(file, `nothing copied for ${spec}`);
  return bodyText(file);
}

test('escape: "../" in a source is clamped at the context root', async (t) => {
  const outer = tempDir(t);
  const root = join(outer, 'ctx');
  mkdirSync(root);
  writeFileSync(join(outer, 'outside.txt'), 'outside');
  await assert.rejects(resolveSources(root, ['../outside.txt']), notFound('../outside.txt'));
  await assert.rejects(resolveSources(root, ['../../../../etc/passwd']), notFound('etc/passwd'));
  writeFileSync(join(root, 'outside.txt'), 'inside');
  assert.equal(await copiedText(root, '../outside.txt'), 'inside');
});

test('escape: an absolute source path is read from the context root, not the host root', async (t) => {
  const root = tempDir(t);
  await assert.rejects(resolveSources(root, ['/etc/passwd']), notFound('/etc/passwd'));
  writeTree(root, { 'etc/passwd': 'context passwd' });
  assert.equal(await copiedText(root, '/etc/passwd'), 'context passwd');
});

test('escape: a symlink to /etc/passwd inside the context resolves inside the context', async (t) => {
  const root = tempDir(t);
  symlinkSync('/etc/passwd', join(root, 'passwd'));
  await assert.rejects(resolveSources(root, ['passwd']), notFound('symlink "passwd"'));
  await assert.rejects(resolveSources(root, ['pass*']), notFound('symlink "passwd"'));
  writeTree(root, { 'etc/passwd': 'context passwd' });
  const text = await copiedText(root, 'passwd');
  assert.equal(text, 'context passwd');
  assert.notEqual(text, hostPasswd);
});

test('escape: a symlink climbing with ../ chains stays inside the context', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'a/b/up': '-> ../../../../../../etc/passwd' });
  await assert.rejects(resolveSources(root, ['a/b/up']), notFound('a/b/up'));
  writeTree(root, { 'etc/passwd': 'clamped' });
  assert.equal(await copiedText(root, 'a/b/up'), 'clamped');
});

test('escape: a symlinked directory pointing at /etc is resolved inside the context', async (t) => {
  const root = tempDir(t);
  symlinkSync('/etc', join(root, 'hostetc'));
  await assert.rejects(resolveSources(root, ['hostetc/passwd']), notFound('hostetc/passwd'));
  await assert.rejects(resolveSources(root, ['hostetc/*']), notFound('hostetc'));
});

test('escape: wildcards do not descend through a symlink to a directory outside', async (t) => {
  const root = tempDir(t);
  symlinkSync('/etc', join(root, 'out'));
  writeTree(root, { 'in/passwd': 'inside' });
  const found = await resolveSources(root, ['*/passwd']);
  assert.deepEqual(
    found.map((r) => r.path),
    ['in/passwd'],
  );
});

test('escape: a symlink inside a copied directory is copied as a link, never followed', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'dir/ok.txt': 'ok' });
  symlinkSync('/etc/passwd', join(root, 'dir/passwd'));
  symlinkSync('/etc', join(root, 'dir/etc'));
  const entries = await collect(copyEntries(planCopy(await resolveSources(root, ['dir']), '/app'), { mtime: 0 }));
  const byPath = new Map(entries.map((e) => [e.entry.path, e]));
  assert.equal(byPath.get('app/passwd')?.entry.type, 'symlink');
  assert.equal(byPath.get('app/passwd')?.entry.linkname, '/etc/passwd');
  assert.equal(byPath.get('app/passwd')?.body, undefined);
  assert.equal(byPath.get('app/etc')?.entry.type, 'symlink');
  assert.ok(![...byPath.keys()].some((p) => p.startsWith('app/etc/')));
  // The checksum records the link target, not what it points at.
  const digest = await checksumSources(planCopy(await resolveSources(root, ['dir']), '/app'));
  assert.match(digest, /^sha256:[a-f0-9]{64}$/);
});

test('escape: a file swapped for a symlink after planning is not read through the link', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'data.txt': 'planned' });
  const entries = await collect(copyEntries(planCopy(await resolveSources(root, ['data.txt']), '/out'), { mtime: 0 }));
  rmSync(join(root, 'data.txt'));
  symlinkSync('/etc/passwd', join(root, 'data.txt'));
  const file = entries.find((e) => e.entry.path === 'out');
  assert.ok(file);
  await assert.rejects(bodyText(file), (err: NodeJS.ErrnoException) => err.code === 'ELOOP');
});

test('escape: a symlink loop is an error, not a hang', async (t) => {
  const root = tempDir(t);
  symlinkSync('b', join(root, 'a'));
  symlinkSync('a', join(root, 'b'));
  await assert.rejects(
    resolveSources(root, ['a']),
    (err: unknown) => GantryError.is(err) && err.code === 'SYMLINK_LOOP',
  );
});
