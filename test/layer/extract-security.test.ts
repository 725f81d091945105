// Path-safety regressions for extractLayer, one test per attack, in the spirit of node-tar's
// test/ghsa-*.ts. Every test extracts into base/root next to an empty base/outside and checks
// that nothing appeared outside the root, whatever extractLayer decided.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer, type TarEntry, type TarInput, tarStream } from '../../src/layer/index.js';
import { isEmptyDir, tempDir } from './helpers.js';

function entry(path: string, over: Partial<TarEntry> = {}): TarInput {
  const size = over.size ?? (over.type === undefined || over.type === 'file' ? 6 : 0);
  return {
    entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, ...over, size },
    body: size ? Buffer.from('pwned!') : undefined,
  };
}

interface Sandbox {
  readonly base: string;
  readonly root: string;
  readonly outside: string;
}

function sandbox(t: { after: (fn: () => void) => void }): Sandbox {
  const base = tempDir(t, 'gantry-ghsa-');
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  return { base, root, outside };
}

function assertNothingOutside(s: Sandbox): void {
  assert.ok(isEmptyDir(s.outside), `outside holds ${readdirSync(s.outside).join(', ')}`);
  assert.deepEqual(readdirSync(s.base).sort(), ['outside', 'root']);
}

test('dot-dot escape: an entry named ../outside/pwned is refused', async (t) => {
  const s = sandbox(t);
  await assert.rejects(extractLayer(tarStream([entry('../outside/pwned')]), s.root), { code: 'UNSAFE_PATH' });
  await assert.rejects(extractLayer(tarStream([entry('a/../../outside/pwned')]), s.root), { code: 'UNSAFE_PATH' });
  assertNothingOutside(s);
});

test('absolute path: an entry naming the outside directory absolutely lands under the root', async (t) => {
  // containerd reads absolute member names relative to the root (GNU tar -P writes them).
  const s = sandbox(t);
  await extractLayer(tarStream([entry(join(s.outside, 'pwned'))]), s.root);
  assertNothingOutside(s);
  assert.ok(existsSync(join(s.root, s.outside, 'pwned')));
});

test('symlink-then-write-through: x -> <outside>, then x/pwned, stays inside the root', async (t) => {
  const s = sandbox(t);
  // The absolute target means <root><outside> chroot-style, as it would inside the container.
  await extractLayer(tarStream([entry('x', { type: 'symlink', linkname: s.outside }), entry('x/pwned')]), s.root).catch(
    (err: { code?: string }) => assert.equal(err.code, 'UNSAFE_PATH'),
  );
  assertNothingOutside(s);
  if (existsSync(join(s.root, s.outside, 'pwned'))) assert.ok(lstatSync(join(s.root, 'x')).isSymbolicLink());
});

test('symlink-then-write-through across layers: a lower layer symlink is not followed out', async (t) => {
  const s = sandbox(t);
  await extractLayer(tarStream([entry('x', { type: 'symlink', linkname: s.outside })]), s.root);
  await extractLayer(tarStream([entry('x/pwned')]), s.root).catch(() => {});
  assertNothingOutside(s);
});

test('symlink to ../../.. as a parent is clamped at the root', async (t) => {
  // As the kernel does after chroot (and containerd's fs.RootPath): `..` at the root is the root.
  const s = sandbox(t);
  await extractLayer(
    tarStream([entry('up', { type: 'symlink', linkname: '../../..' }), entry('up/outside/pwned')]),
    s.root,
  );
  assert.ok(existsSync(join(s.root, 'outside', 'pwned')));
  await extractLayer(
    tarStream([entry('d/up', { type: 'symlink', linkname: '../..' }), entry('d/up/outside/pwned2')]),
    s.root,
  );
  assert.ok(existsSync(join(s.root, 'outside', 'pwned2')));
  assertNothingOutside(s);
});

test('a chain of symlinks that climbs out step by step is clamped at the root', async (t) => {
  const s = sandbox(t);
  const tar = tarStream([
    entry('a', { type: 'directory', mode: 0o755 }),
    entry('a/b', { type: 'symlink', linkname: '..' }),
    entry('a/c', { type: 'symlink', linkname: 'b/..' }),
    entry('a/c/outside/pwned'),
  ]);
  await extractLayer(tar, s.root);
  assert.ok(existsSync(join(s.root, 'outside', 'pwned')));
  assertNothingOutside(s);
});

test('a symlink loop in a parent is an error, not a hang', async (t) => {
  const s = sandbox(t);
  const tar = tarStream([
    entry('l1', { type: 'symlink', linkname: 'l2' }),
    entry('l2', { type: 'symlink', linkname: 'l1' }),
    entry('l1/pwned'),
  ]);
  await assert.rejects(extractLayer(tar, s.root), { code: 'SYMLINK_LOOP' });
  assertNothingOutside(s);
});

test('hardlink escape: targets outside the root, by .., absolutely, or through a symlink, are refused', async (t) => {
  const s = sandbox(t);
  const secret = join(s.base, 'secret');
  writeFileSync(secret, 'do not link me');
  const attempts: TarInput[][] = [
    [entry('h', { type: 'hardlink', linkname: '../secret' })],
    [entry('h', { type: 'hardlink', linkname: secret })],
    [entry('s', { type: 'symlink', linkname: s.base }), entry('h', { type: 'hardlink', linkname: 's/secret' })],
    [entry('s', { type: 'symlink', linkname: '..' }), entry('h', { type: 'hardlink', linkname: 's/secret' })],
  ];
  for (const inputs of attempts) {
    await assert.rejects(extractLayer(tarStream(inputs), s.root));
  }
  assert.equal(statSync(secret).nlink, 1, 'nothing got a hardlink to the secret');
  // The secret is removed so that the listing check below sees only root and outside.
  rmSync(secret);
  assertNothingOutside(s);
});

test('hardlink through a symlink that points at the final component links the symlink, never its target', async (t) => {
  const s = sandbox(t);
  const secret = join(s.outside, 'secret');
  writeFileSync(secret, 'x');
  await extractLayer(
    tarStream([entry('s', { type: 'symlink', linkname: secret }), entry('h', { type: 'hardlink', linkname: 's' })]),
    s.root,
  );
  assert.equal(statSync(secret).nlink, 1);
  assert.ok(lstatSync(join(s.root, 'h')).isSymbolicLink());
});

test('device file refused: char, block and fifo entries need devices: true', async (t) => {
  const s = sandbox(t);
  for (const type of ['char', 'block', 'fifo'] as const) {
    await assert.rejects(extractLayer(tarStream([entry('dev', { type, devmajor: 8, devminor: 0 })]), s.root), {
      code: 'UNSAFE_PATH',
    });
  }
  assert.ok(isEmptyDir(s.root));
  assertNothingOutside(s);
});

test('a whiteout naming .. or the outside is refused or harmless', async (t) => {
  const s = sandbox(t);
  writeFileSync(join(s.outside, 'keep'), 'x');
  await assert.rejects(extractLayer(tarStream([entry('.wh...', { size: 0 })]), s.root));
  await assert.rejects(extractLayer(tarStream([entry('../outside/.wh.keep', { size: 0 })]), s.root), {
    code: 'UNSAFE_PATH',
  });
  await extractLayer(
    tarStream([entry('x', { type: 'symlink', linkname: s.outside }), entry('x/.wh.keep', { size: 0 })]),
    s.root,
  );
  assert.ok(existsSync(join(s.outside, 'keep')), 'a whiteout under a symlink did not delete outside');
});

test('directory metadata applied at the end does not follow a symlink swapped in later', async (t) => {
  const s = sandbox(t);
  mkdirSync(join(s.outside, 'b'), { mode: 0o700 });
  const tar = tarStream([
    entry('a', { type: 'directory', mode: 0o755 }),
    entry('a/b', { type: 'directory', mode: 0o777 }),
    entry('a', { type: 'symlink', linkname: s.outside }),
  ]);
  await extractLayer(tar, s.root);
  assert.equal(statSync(join(s.outside, 'b')).mode & 0o7777, 0o700);
  assert.deepEqual(readdirSync(s.outside), ['b']);
});
