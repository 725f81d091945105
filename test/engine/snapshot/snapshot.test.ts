// Pins what a build step's layer is: changes made through plain fs calls on a snapshot of the
// busybox rootfs (create, modify, chmod, chown, hardlink, fifo, delete a file, replace a dir by a
// file and a symlink by a dir, delete a dir, delete a dir and make it again) come out as layer
// entries that, extracted over the lower, give back exactly the tree the step saw. The overlay
// and walk snapshotters must give the same entries; a step that changes nothing gives none.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  appendFile,
  chmod,
  lchown,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  OverlaySnapshotter,
  overlayAvailable,
  type Snapshot,
  type Snapshotter,
  WalkSnapshotter,
} from '../../../src/engine/snapshot/index.js';
import { extractLayer } from '../../../src/layer/extract.js';
import { tarStream } from '../../../src/layer/tar/writer.js';
import { busyboxRootfs } from '../../harness/fixtures.js';
import { run } from '../../harness/run.js';
import { collect, copyTree, describeTree, type EntryInfo, entriesOf, tempDir } from './helpers.js';

const EPHEMERAL = ['etc/resolv.conf'];

/** What a RUN step might do, through plain fs calls on the step's root. */
async function changeEverything(root: string): Promise<void> {
  await writeFile(join(root, 'etc', 'motd'), 'hello from a layer\n'); // create
  await link(join(root, 'etc', 'motd'), join(root, 'etc', 'motd.link')); // hardlink
  await appendFile(join(root, 'etc', 'passwd'), 'app:x:1000:1000::/app:/bin/sh\n'); // modify in place
  await chmod(join(root, 'etc', 'group'), 0o600); // chmod only
  await lchown(join(root, 'usr', 'bin', 'awk'), 1000, 1000); // chown a symlink
  await mkdir(join(root, 'app', 'data'), { recursive: true }); // new dirs
  await writeFile(join(root, 'app', 'data', 'x.bin'), Buffer.alloc(70_000, 7));
  await lchown(join(root, 'app', 'data', 'x.bin'), 1000, 1000);
  await chmod(join(root, 'app'), 0o750);
  await promisify(execFile)('mkfifo', [join(root, 'etc', 'fifo')]); // a fifo
  await rm(join(root, 'bin', 'ls')); // delete a file (a symlink)
  await rm(join(root, 'home'), { recursive: true }); // replace a dir by a file
  await writeFile(join(root, 'home'), 'not a directory\n');
  await rm(join(root, 'bin', 'cat')); // replace a symlink by a dir
  await mkdir(join(root, 'bin', 'cat'));
  await rm(join(root, 'sbin'), { recursive: true }); // delete a dir
  await rm(join(root, 'usr', 'sbin'), { recursive: true }); // delete a dir, then make it again: opaque
  await mkdir(join(root, 'usr', 'sbin'));
  await symlink('../../bin/busybox', join(root, 'usr', 'sbin', 'only-this'));
  await writeFile(join(root, 'tmp', 'scratch'), 'gone by the end of the step'); // leaves only an mtime
  await rm(join(root, 'tmp', 'scratch'));
  await writeFile(join(root, 'etc', 'resolv.conf'), 'nameserver 192.0.2.1\n'); // ephemeral
}

/** Extracts the snapshot's layer over a copy of the lower and compares with what the step saw. */
async function assertRoundTrip(snap: Snapshot, lower: string, scratch: string): Promise<void> {
  const rebuilt = join(scratch, 'rebuilt');
  await mkdir(rebuilt);
  await copyTree(lower, rebuilt);
  await extractLayer(tarStream(snap.commit({ ignore: EPHEMERAL })), rebuilt, { devices: true });
  assert.deepEqual(await describeTree(rebuilt), await describeTree(snap.root, EPHEMERAL));
}

function paths(entries: readonly EntryInfo[]): string[] {
  return entries.map((e) => e.path);
}

async function runScenario(snapshotter: Snapshotter, lower: string, scratch: string): Promise<EntryInfo[]> {
  const snap = await snapshotter.prepare([lower]);
  try {
    await changeEverything(snap.root);
    assert.equal(await snap.isEmpty({ ignore: EPHEMERAL }), false);
    const entries = await entriesOf(snap.commit({ ignore: EPHEMERAL }));
    await assertRoundTrip(snap, lower, scratch);
    return entries;
  } finally {
    await snap.release();
  }
}

function assertScenarioEntries(entries: readonly EntryInfo[]): void {
  const got = paths(entries);
  const sorted = [...got].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual(got, sorted, 'entries are sorted by path bytes');
  const byPath = new Map(entries.map((e) => [e.path, e]));
  for (const p of [
    '.wh.sbin',
    'bin/.wh.ls',
    'bin/cat/.wh..wh..opq',
    'usr/sbin/.wh..wh..opq',
    'usr/sbin/only-this',
    'etc/passwd',
    'etc/group',
    'etc/fifo',
    'usr/bin/awk',
  ]) {
    assert.ok(byPath.has(p), `${p} is in the layer`);
  }
  assert.equal(byPath.get('home')?.type, 'file');
  assert.equal(byPath.get('bin/cat')?.type, 'directory');
  assert.equal(byPath.get('etc/motd')?.type, 'file');
  assert.deepEqual(
    { type: byPath.get('etc/motd.link')?.type, linkname: byPath.get('etc/motd.link')?.linkname },
    { type: 'hardlink', linkname: 'etc/motd' },
  );
  assert.equal(byPath.get('etc/group')?.mode, 0o600);
  assert.deepEqual([byPath.get('usr/bin/awk')?.uid, byPath.get('usr/bin/awk')?.gid], [1000, 1000]);
  assert.deepEqual([byPath.get('app/data/x.bin')?.uid, byPath.get('app/data/x.bin')?.size], [1000, 70_000]);
  assert.equal(byPath.get('app')?.mode, 0o750);
  // Nothing under a deleted dir, nothing the step left as it found it, nothing ephemeral.
  for (const p of got) assert.ok(!p.startsWith('sbin/'), `${p} is under a deleted dir`);
  assert.ok(!got.includes('tmp'), 'tmp only had its mtime moved');
  assert.ok(!got.includes('etc/resolv.conf'), 'ephemeral paths stay out');
  assert.ok(!got.includes('usr/bin/env'), 'untouched files stay out');
}

describe('snapshotters on the busybox rootfs', () => {
  let lower: string;
  let overlay = false;
  before(async () => {
    lower = await busyboxRootfs('amd64');
    overlay = await overlayAvailable();
  });

  test('overlay: the upper dir becomes a layer that rebuilds the merged view', async (t) => {
    if (!overlay) return t.skip('overlayfs cannot be mounted here');
    const scratch = await tempDir(t);
    const entries = await runScenario(new OverlaySnapshotter({ dir: scratch }), lower, scratch);
    assertScenarioEntries(entries);
  });

  test('walk: the same changes found by comparison give the same layer entries as overlay', async (t) => {
    const scratch = await tempDir(t);
    const walked = await runScenario(new WalkSnapshotter({ dir: scratch }), lower, scratch);
    assertScenarioEntries(walked);
    if (!overlay) return;
    const scratch2 = await tempDir(t);
    const overlaid = await runScenario(new OverlaySnapshotter({ dir: scratch2 }), lower, scratch2);
    assert.deepEqual(walked, overlaid);
  });

  for (const kind of ['overlay', 'walk'] as const) {
    test(`${kind}: a step that leaves the tree as it found it is an empty diff`, async (t) => {
      if (kind === 'overlay' && !overlay) return t.skip('overlayfs cannot be mounted here');
      const scratch = await tempDir(t);
      const snapshotter =
        kind === 'overlay' ? new OverlaySnapshotter({ dir: scratch }) : new WalkSnapshotter({ dir: scratch });
      const snap = await snapshotter.prepare([lower]);
      try {
        assert.equal(await snap.isEmpty(), true, 'nothing done yet');
        assert.match(await readFile(join(snap.root, 'etc', 'passwd'), 'utf8'), /^root:/);
        await mkdir(join(snap.root, 'tmp', 'build'));
        await writeFile(join(snap.root, 'tmp', 'build', 'obj'), 'x');
        await rm(join(snap.root, 'tmp', 'build'), { recursive: true });
        await writeFile(join(snap.root, 'etc', 'resolv.conf'), 'nameserver 192.0.2.1\n');
        assert.equal(await snap.isEmpty({ ignore: ['/etc/resolv.conf'] }), true);
        assert.deepEqual(await entriesOf(snap.commit({ ignore: ['/etc/resolv.conf'] })), []);
        // Without the executor's word that it is ephemeral, resolv.conf is a change like any other.
        assert.deepEqual(paths(await entriesOf(snap.commit())), ['etc', 'etc/resolv.conf']);
      } finally {
        await snap.release();
      }
    });
  }

  for (const kind of ['overlay', 'walk'] as const) {
    test(`${kind}: file capabilities go into the layer, overlay's own xattrs do not`, async (t) => {
      if (kind === 'overlay' && !overlay) return t.skip('overlayfs cannot be mounted here');
      if (process.getuid?.() !== 0) return t.skip('setting security.capability needs root');
      const scratch = await tempDir(t);
      const snapshotter =
        kind === 'overlay' ? new OverlaySnapshotter({ dir: scratch }) : new WalkSnapshotter({ dir: scratch });
      const snap = await snapshotter.prepare([lower]);
      try {
        const ping = join(snap.root, 'bin', 'my-ping');
        await writeFile(ping, 'not really ping');
        // cap_net_raw+ep, as iputils-ping's postinst sets it.
        await run('setfattr', ['-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', ping]);
        await writeFile(join(snap.root, 'bin', 'plain'), 'no caps');
        const entries = await collect(snap.commit());
        const byPath = new Map(entries.map((i) => [i.entry.path, i.entry]));
        assert.deepEqual(
          byPath.get('bin/my-ping')?.xattrs?.['security.capability']?.toString('hex'),
          '0100000200200000000000000000000000000000',
        );
        assert.equal(byPath.get('bin/plain')?.xattrs, undefined);
        assert.equal(byPath.get('bin')?.xattrs, undefined, 'trusted.overlay.* never leaks into a layer');
      } finally {
        await snap.release();
      }
    });
  }

  test('an aborted prepare fails with ABORTED and leaves nothing behind', async (t) => {
    const scratch = await tempDir(t);
    for (const snapshotter of [new OverlaySnapshotter({ dir: scratch }), new WalkSnapshotter({ dir: scratch })]) {
      await assert.rejects(snapshotter.prepare([lower], { signal: AbortSignal.abort() }), { code: 'ABORTED' });
    }
    const walk = await new WalkSnapshotter({ dir: scratch }).prepare([lower]);
    try {
      await writeFile(join(walk.root, 'etc', 'motd'), 'x');
      await assert.rejects(collect(walk.commit({ signal: AbortSignal.abort() })), { code: 'ABORTED' });
    } finally {
      await walk.release();
    }
    assert.deepEqual(await readdir(scratch), []);
  });

  test('overlay: release unmounts and removes the snapshot, twice is fine', async (t) => {
    if (!overlay) return t.skip('overlayfs cannot be mounted here');
    const scratch = await tempDir(t);
    const snap = await new OverlaySnapshotter({ dir: scratch }).prepare([lower]);
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(mounts.includes(snap.root), 'mounted while prepared');
    await snap.release();
    await snap.release();
    assert.ok(!(await readFile('/proc/self/mountinfo', 'utf8')).includes(snap.root), 'unmounted');
    await assert.rejects(describeTree(snap.upper), { code: 'ENOENT' });
    await assert.rejects(snap.isEmpty(), { code: 'SNAPSHOT_RELEASED' });
  });

  test('walk: a rewrite that puts the mtime back is found by content; touching only the inode is not', async (t) => {
    const scratch = await tempDir(t);
    const snap = await new WalkSnapshotter({ dir: scratch }).prepare([lower]);
    try {
      const passwd = join(snap.root, 'etc', 'passwd');
      const group = join(snap.root, 'etc', 'group');
      const [p0, g0] = [await lstat(passwd), await lstat(group)];
      const text = await readFile(passwd, 'utf8');
      await writeFile(passwd, text.replace('root', 'toor')); // same size
      await utimes(passwd, p0.atime, p0.mtime);
      await chmod(group, g0.mode & 0o7777); // same mode: only the ctime moves
      await utimes(group, g0.atime, g0.mtime);
      assert.equal((await lstat(passwd)).mtimeMs, p0.mtimeMs);
      assert.notEqual((await lstat(passwd)).ctimeMs, p0.ctimeMs);
      assert.deepEqual(paths(await entriesOf(snap.commit())), ['etc', 'etc/passwd']);
    } finally {
      await snap.release();
    }
  });

  test('commit clamps mtimes to SOURCE_DATE_EPOCH', async (t) => {
    const scratch = await tempDir(t);
    const snap = await new WalkSnapshotter({ dir: scratch }).prepare([lower]);
    try {
      await writeFile(join(snap.root, 'etc', 'motd'), 'x');
      const clamped = [];
      for await (const { entry } of snap.commit({ sourceDateEpoch: 1_000 })) clamped.push([entry.path, entry.mtime]);
      assert.deepEqual(clamped, [
        ['etc', 1_000],
        ['etc/motd', 1_000],
      ]);
      const real = Math.floor((await lstat(join(snap.root, 'etc', 'motd'))).mtimeMs / 1000);
      for await (const { entry } of snap.commit({ sourceDateEpoch: real + 1 })) {
        if (entry.path === 'etc/motd') assert.equal(entry.mtime, real, 'older than the epoch: kept');
      }
    } finally {
      await snap.release();
    }
  });
});
