// Pins issue 8 item 7 and issue 7 item 1 together: a base layer's SCHILY.xattr records reach the
// disk when the layer cache extracts it, and a file's security.capability survives into the next
// layer when a step only touches its metadata (`RUN chmod`: the kernel keeps the capability, and
// so must we), with the attr tools and on a fresh machine's PATH (no getfattr/setfattr: GNU tar
// and coreutils cp stand in). Base layers are written by GNU tar and by gantry's own writer. Also
// pins that overlay's opaque markers are written and read without attr.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import {
  LayerCache,
  OverlaySnapshotter,
  overlayAvailable,
  WalkSnapshotter,
} from '../../../src/engine/snapshot/index.js';
import { extractLayer } from '../../../src/layer/extract.js';
import { tarStream } from '../../../src/layer/tar/writer.js';
import { walkDirectory } from '../../../src/layer/walk.js';
import { readXattrPaths, writeXattrs, xattrAccess } from '../../../src/layer/xattr.js';
import type { Layer } from '../../../src/oci/image.js';
import { OciLayout } from '../../../src/oci/layout.js';
import { layerFromDescriptor } from '../../../src/oci/partial.js';
import { MediaType } from '../../../src/oci/types.js';
import { busyboxRootfs } from '../../harness/fixtures.js';
import { freshPath } from '../../harness/fresh-path.js';
import { collect, layerOf, tempDir } from './helpers.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
/** cap_net_raw+ep, as iputils-ping's postinst sets it. */
const CAP = '0100000200200000000000000000000000000000';
const fullPath = process.env.PATH ?? '';

/** getfattr by absolute path, so that it reads even while the test runs on the fresh PATH. */
async function capabilityOf(path: string): Promise<string | undefined> {
  const { stdout } = await exec('/usr/bin/getfattr', ['-h', '-n', 'security.capability', '-e', 'hex', path], {
    env: { PATH: fullPath },
  }).catch(() => ({ stdout: '' }));
  return /security\.capability=0x([0-9a-f]+)/.exec(stdout)?.[1];
}

async function opaqueMark(path: string): Promise<string | undefined> {
  const { stdout } = await exec('/usr/bin/getfattr', ['-h', '-n', 'trusted.overlay.opaque', path], {
    env: { PATH: fullPath },
  }).catch(() => ({ stdout: '' }));
  return /trusted\.overlay\.opaque="(.*)"/.exec(stdout)?.[1];
}

async function sha256File(path: string): Promise<`sha256:${string}`> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** A tree with /bin/ping carrying the capability and an opaque /etc/app (a whiteout marker). */
async function baseTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc', 'app'), { recursive: true });
  await writeFile(join(dir, 'bin', 'ping'), 'not really ping\n');
  await chmod(join(dir, 'bin', 'ping'), 0o755);
  await exec('/usr/bin/setfattr', ['-n', 'security.capability', '-v', `0x${CAP}`, join(dir, 'bin', 'ping')]);
  await writeFile(join(dir, 'etc', 'app', '.wh..wh..opq'), '');
  await writeFile(join(dir, 'etc', 'app', 'new.conf'), 'x\n');
}

/** The base tree archived by GNU tar (PAX SCHILY.xattr records), as a gzip layer in a layout. */
async function gnuTarLayer(dir: string): Promise<Layer> {
  const tree = join(dir, 'gnu-tree');
  await baseTree(tree);
  const tar = join(dir, 'gnu.tar');
  await exec('tar', ['--xattrs', '--xattrs-include=*', '--format=posix', '-C', tree, '-cf', tar, 'bin', 'etc']);
  const gz = join(dir, 'gnu.tar.gz');
  await pipeline(createReadStream(tar), createGzip(), createWriteStream(gz));
  const layout = await OciLayout.init(join(dir, 'gnu-layout'));
  const digest = await sha256File(gz);
  const desc = { mediaType: MediaType.OciLayerGzip, digest, size: (await stat(gz)).size };
  await layout.writeBlob(createReadStream(gz), { digest, size: desc.size });
  return layerFromDescriptor(layout, desc, await sha256File(tar));
}

/** The same tree written by gantry's walker and writer, xattrs included. */
async function gantryLayer(dir: string): Promise<Layer> {
  const tree = join(dir, 'gantry-tree');
  await baseTree(tree);
  return layerOf(dir, 'gantry', walkDirectory(tree, { keepModes: true, xattrs: true }));
}

const machines = [
  { name: 'attr installed', path: async () => fullPath, method: 'attr' },
  { name: 'fresh machine PATH', path: freshPath, method: 'tar' },
] as const;

describe('xattrs through the layer cache and both snapshotters', () => {
  let overlay = false;
  let busybox: string;
  before(async () => {
    overlay = await overlayAvailable();
    busybox = await busyboxRootfs('amd64');
  });
  after(() => {
    process.env.PATH = fullPath;
  });

  for (const machine of machines) {
    for (const writer of ['GNU tar', 'gantry'] as const) {
      for (const kind of ['overlay', 'walk'] as const) {
        test(`${machine.name}, ${writer} base layer, ${kind}: security.capability reaches the disk and survives a chmod into the next layer`, async (t) => {
          if (!isRoot) return t.skip('setting security.capability needs root');
          if (kind === 'overlay' && !overlay) return t.skip('overlayfs cannot be mounted here');
          const scratch = await tempDir(t);
          const layer = writer === 'GNU tar' ? await gnuTarLayer(scratch) : await gantryLayer(scratch);
          process.env.PATH = await machine.path();
          try {
            assert.equal((await xattrAccess()).method, machine.method);
            const cache = new LayerCache(join(scratch, 'cache'));
            const lower = await cache.ensureExtracted(layer);
            assert.equal(await capabilityOf(join(lower, 'bin', 'ping')), CAP, 'extraction set the capability');
            assert.equal(await opaqueMark(join(lower, 'etc', 'app')), 'y', 'the opaque marker is overlay form');
            const snapshotter =
              kind === 'overlay' ? new OverlaySnapshotter({ dir: scratch }) : new WalkSnapshotter({ dir: scratch });
            const snap = await snapshotter.prepare([busybox, lower]);
            try {
              assert.equal(await capabilityOf(join(snap.root, 'bin', 'ping')), CAP, 'the step sees the capability');
              await chmod(join(snap.root, 'bin', 'ping'), 0o700);
              await writeFile(join(snap.root, 'bin', 'plain'), 'no caps');
              await rm(join(snap.root, 'usr', 'sbin'), { recursive: true });
              await mkdir(join(snap.root, 'usr', 'sbin'));
              await writeFile(join(snap.root, 'usr', 'sbin', 'only-this'), 'x');
              const entries = new Map((await collect(snap.commit())).map((i) => [i.entry.path, i.entry]));
              assert.equal(entries.get('bin/ping')?.mode, 0o700);
              assert.equal(entries.get('bin/ping')?.xattrs?.['security.capability']?.toString('hex'), CAP);
              assert.equal(entries.get('bin/plain')?.xattrs, undefined);
              assert.ok(entries.has('usr/sbin/.wh..wh..opq'), 'a dir removed and made again is opaque');
              assert.ok(!entries.has('etc/app'), 'an untouched opaque dir of a lower is no change');
            } finally {
              await snap.release();
            }
          } finally {
            process.env.PATH = fullPath;
          }
        });
      }
    }
  }

  test('fresh machine PATH: reading and writing xattrs keeps content, inode and hardlinks, large files included', async (t) => {
    if (!isRoot) return t.skip('setting security.capability needs root');
    const scratch = await tempDir(t);
    const f = join(scratch, 'f');
    await writeFile(f, 'content\n');
    await link(f, join(scratch, 'g'));
    process.env.PATH = await freshPath();
    try {
      await writeXattrs(new Map([[f, { 'security.capability': Buffer.from(CAP, 'hex'), 'user.k': Buffer.from('v') }]]));
      const read = await readXattrPaths([f, join(scratch, 'g'), scratch], '-');
      assert.equal(read.get(f)?.['security.capability']?.toString('hex'), CAP);
      assert.equal(read.get(join(scratch, 'g'))?.['user.k']?.toString(), 'v', 'the hardlink shares the inode');
      assert.equal(read.has(scratch), false);
      // Large files are read through stand-ins (no content through tar), two of one name included.
      const big = [join(scratch, 'a', 'big'), join(scratch, 'b', 'big')];
      for (const [i, path] of big.entries()) {
        await mkdir(join(path, '..'));
        await writeFile(path, Buffer.alloc(300_000, i));
      }
      await writeXattrs(new Map(big.map((p, i) => [p, { 'user.n': Buffer.from(String(i)) }])));
      const bigRead = await readXattrPaths(big, '^user\\.');
      assert.deepEqual(
        big.map((p) => bigRead.get(p)?.['user.n']?.toString()),
        ['0', '1'],
      );
      assert.equal((await readFile(big[1] as string)).length, 300_000);
      assert.equal(await readFile(join(scratch, 'g'), 'utf8'), 'content\n');
    } finally {
      process.env.PATH = fullPath;
    }
  });

  for (const machine of machines) {
    test(`${machine.name}: a layer's trusted.overlay.* xattrs never reach the disk, and xattrs never follow a symlinked parent out of the root`, async (t) => {
      if (!isRoot) return t.skip('setting security.capability needs root');
      const scratch = await tempDir(t);
      const root = join(scratch, 'root');
      const outside = join(scratch, 'outside');
      await mkdir(join(outside, 'a'), { recursive: true });
      await writeFile(join(outside, 'a', 'f'), 'host file\n');
      const attrs = {
        'trusted.overlay.opaque': Buffer.from('y'),
        'trusted.overlay.redirect': Buffer.from('/etc'),
        'security.capability': Buffer.from(CAP, 'hex'),
      };
      const entry = { type: 'directory' as const, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 };
      const layer = tarStream([
        { entry: { ...entry, path: 'd', xattrs: attrs } },
        { entry: { ...entry, path: 'd/ping', type: 'file', size: 0, xattrs: attrs } },
        { entry: { ...entry, path: 'x' } },
        { entry: { ...entry, path: 'x/a' } },
        { entry: { ...entry, path: 'x/a/f', type: 'file', size: 0, xattrs: { 'user.evil': Buffer.from('1') } } },
        // The parent of the file above becomes a symlink out of the root after the file was written.
        { entry: { ...entry, path: 'x', type: 'symlink', linkname: outside } },
      ]);
      process.env.PATH = await machine.path();
      try {
        await extractLayer(layer, root);
      } finally {
        process.env.PATH = fullPath;
      }
      const onDisk = await readXattrPaths([join(root, 'd'), join(root, 'd', 'ping'), join(outside, 'a', 'f')], '-');
      assert.deepEqual(Object.keys(onDisk.get(join(root, 'd')) ?? {}), ['security.capability']);
      assert.deepEqual(Object.keys(onDisk.get(join(root, 'd', 'ping')) ?? {}), ['security.capability']);
      assert.equal(onDisk.has(join(outside, 'a', 'f')), false, 'nothing written outside the root');
    });
  }
});
