// Untrusted image content in the store (issue 8, item 1). Running as root, gantry extracts base
// layers with the image's owners and modes: a setuid-root file from any image must not be
// reachable by other local users, and a device node from an image must never exist on the host
// as a usable device, while the image itself keeps both (the setuid bit, and the device entry
// with its numbers in every layer a step writes).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  LayerCache,
  OverlaySnapshotter,
  overlayAvailable,
  type Snapshotter,
  WalkSnapshotter,
} from '../../../src/engine/snapshot/index.js';
import type { TarEntry, TarInput } from '../../../src/layer/tar/types.js';
import { ensurePrivateDir } from '../../../src/util/fs.js';
import { entriesOf, layerOf, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

function node(path: string, over: Partial<TarEntry>, body?: string): TarInput {
  const bytes = body === undefined ? undefined : Buffer.from(body);
  return {
    entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_000, size: bytes?.length ?? 0, ...over },
    ...(bytes ? { body: bytes } : {}),
  };
}

/** Whether uid/gid 65534 can read `path` (cat exits 0). */
function nobodyCanRead(path: string): boolean {
  return spawnSync('cat', [path], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' }).status === 0;
}

async function snapshotters(dir: string): Promise<Snapshotter[]> {
  const out: Snapshotter[] = [new WalkSnapshotter({ dir })];
  if (await overlayAvailable({ dir })) out.push(new OverlaySnapshotter({ dir }));
  return out;
}

/** Every char or block device under `root` that is not an overlay whiteout (0/0). */
async function devicesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const abs = join(dir, name);
      const st = await lstat(abs);
      if ((st.isCharacterDevice() || st.isBlockDevice()) && st.rdev !== 0) out.push(abs);
      if (st.isDirectory()) await visit(abs);
    }
  };
  await visit(root);
  return out;
}

test('setuid-from-base-not-reachable-by-other-users', { skip: !isRoot && 'needs root' }, async (t) => {
  // A store anyone can traverse (a CI workspace, /var/tmp, --store): the cache must be the barrier.
  // (os.tmpdir() may itself be private, which would hide the hole this pins.)
  const scratch = await mkdtemp(join('/var/tmp', 'gantry-suid-'));
  t.after(() => rm(scratch, { recursive: true, force: true }));
  await chmod(scratch, 0o755);
  const store = join(scratch, 'store');
  const cache = new LayerCache(join(store, 'cache', 'layers'));
  // As an older gantry left it: every directory on the way 0755.
  await mkdir(join(store, 'cache', 'layers', cache.form), { recursive: true, mode: 0o755 });
  await writeFile(join(store, 'public'), 'readable');
  await chmod(join(store, 'public'), 0o644);
  assert.ok(nobodyCanRead(join(store, 'public')), 'the probe works: nobody reads a public file in the store');

  const layer = await layerOf(scratch, 'base', [
    node('usr', { type: 'directory', mode: 0o755 }),
    node('usr/bin', { type: 'directory', mode: 0o755 }),
    node('usr/bin/suidprobe', { mode: 0o4755 }, '#!/bin/sh\nid\n'),
  ]);
  const extracted = await cache.ensureExtracted(layer);
  const probe = join(extracted, 'usr', 'bin', 'suidprobe');
  assert.equal((await lstat(probe)).mode & 0o7777, 0o4755, 'inside the image the file keeps its setuid bit');
  assert.equal((await lstat(join(store, 'cache', 'layers', cache.form))).mode & 0o777, 0o700);
  assert.equal(nobodyCanRead(probe), false, 'another user reaches a setuid-root file from the image');

  for (const snapshotter of await snapshotters(join(store, 'cache', 'snapshots'))) {
    const snap = await snapshotter.prepare([extracted]);
    try {
      const inSnap = join(snap.root, 'usr', 'bin', 'suidprobe');
      assert.equal((await lstat(inSnap)).mode & 0o7777, 0o4755, snapshotter.kind);
      assert.equal(nobodyCanRead(inSnap), false, `${snapshotter.kind}: another user reaches the step root`);
      // A step that touches it writes it into its layer with the mode it has in the image.
      await writeFile(join(snap.root, 'marker'), '');
      await chmod(inSnap, 0o4755);
      const entries = await entriesOf(snap.commit());
      const written = entries.find((e) => e.path === 'usr/bin/suidprobe');
      if (written) assert.equal(written.mode, 0o4755, snapshotter.kind);
    } finally {
      await snap.release();
    }
  }
});

test('device-node-from-image-not-created-on-host', async (t) => {
  const scratch = await tempDir(t);
  const layer = await layerOf(scratch, 'base', [
    node('dev', { type: 'directory', mode: 0o755 }),
    node('dev/disk', { type: 'block', mode: 0o660, gid: 6, devmajor: 8, devminor: 0 }),
    node('dev/mem', { type: 'char', mode: 0o666, devmajor: 1, devminor: 1 }),
    node('dev/zero-alias', { type: 'hardlink', linkname: 'dev/mem' }),
    node('dev/null0', { type: 'char', mode: 0o666, devmajor: 0, devminor: 0 }),
    node('keep', { mode: 0o644 }, 'plain'),
  ]);
  const cache = new LayerCache(join(scratch, 'cache', 'layers'));
  const extracted = await cache.ensureExtracted(layer);
  assert.deepEqual(await devicesUnder(extracted), [], 'a device node from the image exists on the host');
  for (const name of ['disk', 'mem', 'null0']) {
    const st = await lstat(join(extracted, 'dev', name));
    assert.ok(st.isFile() && st.size === 0, `dev/${name} is an empty placeholder file`);
  }
  assert.equal((await lstat(join(extracted, 'dev', 'disk'))).mode & 0o7777, 0o660);

  for (const snapshotter of await snapshotters(join(scratch, 'cache', 'snapshots'))) {
    const snap = await snapshotter.prepare([extracted]);
    try {
      assert.deepEqual(await devicesUnder(snap.root), [], `${snapshotter.kind}: a device node in the step root`);
      assert.equal(await snap.isEmpty(), true, `${snapshotter.kind}: an untouched placeholder is no change`);
      // A step that changes the nodes: the layer gets the devices back, with their numbers.
      await chmod(join(snap.root, 'dev', 'disk'), 0o600);
      await chmod(join(snap.root, 'dev', 'null0'), 0o600);
      const entries = await entriesOf(snap.commit());
      const pick = (path: string) => {
        const e = entries.find((x) => x.path === path);
        return e && { type: e.type, mode: e.mode, gid: e.gid, devmajor: e.devmajor, devminor: e.devminor };
      };
      assert.deepEqual(pick('dev/disk'), { type: 'block', mode: 0o600, gid: 6, devmajor: 8, devminor: 0 });
      assert.deepEqual(pick('dev/null0'), { type: 'char', mode: 0o600, gid: 0, devmajor: 0, devminor: 0 });
      assert.equal(
        entries.find((x) => x.path === 'dev/disk')?.xattrs,
        undefined,
        'the placeholder mark never reaches a layer',
      );
    } finally {
      await snap.release();
    }
  }
});

test('a shared sticky directory (like /tmp) is never narrowed to make the cache private', async (t) => {
  const scratch = await tempDir(t);
  const shared = join(scratch, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o1777);
  await assert.rejects(ensurePrivateDir(shared), { code: 'PRIVATE_DIR_SHARED' });
  assert.equal((await lstat(shared)).mode & 0o7777, 0o1777);
  // A layer cache given the shared directory keeps its layers in a private directory of its own.
  const cache = new LayerCache(shared);
  await cache.ensureExtracted(await layerOf(scratch, 'l', [node('f', {}, 'x')]));
  assert.equal((await lstat(shared)).mode & 0o7777, 0o1777);
  assert.equal((await lstat(join(shared, cache.form))).mode & 0o7777, 0o700);
});
