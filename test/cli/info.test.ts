// `gantry info` (issue 7): what this machine gives gantry, as text and as JSON, from the same
// probes a build uses. On the fresh machine's PATH (no attr, no bubblewrap) it must say so: the
// sandbox falls back to unshare + chroot and xattrs go through GNU tar.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { type MachineInfo, machineInfo } from '../../src/engine/info.js';
import { freshPath } from '../harness/fresh-path.js';
import { gantry, repoRoot, withTempDir } from './helpers.js';

async function infoJson(store: string, env: NodeJS.ProcessEnv = {}): Promise<MachineInfo> {
  const r = await gantry(['info', '--format', 'json'], { store, env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as MachineInfo;
}

test('gantry info --format json reports sandbox, snapshotter, xattrs, platforms, store and config files', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const config = join(tmp, 'registries.toml');
    await writeFile(config, '[registry."localhost:5000"]\nhttp = true\n');
    const before = await infoJson(store, { GANTRY_CONFIG: config });
    assert.equal(before.host.platform.startsWith('linux/'), true);
    assert.deepEqual(
      before.sandbox.candidates.map((c) => c.name),
      ['bwrap', 'chroot', 'none'],
    );
    const chosen = before.sandbox.candidates.find((c) => c.available && c.name !== 'none');
    assert.equal(before.sandbox.chosen, chosen?.name, 'the first candidate that works is chosen, never none');
    for (const c of before.sandbox.candidates) assert.ok(c.reason.length > 0, `${c.name} says why`);
    assert.ok(['overlay', 'walk'].includes(before.snapshotter.chosen));
    assert.equal(before.xattrs.method, 'attr', 'the test machine has the attr package');
    assert.ok(before.platforms.native.includes(before.host.platform));
    assert.deepEqual(before.store, { path: store, exists: false, size: 0 }, 'info creates no store');
    assert.deepEqual(before.configFiles[0], { path: config, kind: 'registries.toml', exists: true });
    assert.ok(before.configFiles.some((f) => f.kind === 'certs.d' && f.path === '/etc/docker/certs.d'));

    const built = await gantry(['build', join(repoRoot, 'examples', 'site'), '-t', 'site:dev'], { store });
    assert.equal(built.code, 0, built.stderr);
    const after = await infoJson(store);
    assert.equal(after.store.exists, true);
    assert.ok(after.store.size > 1000, `the store holds the image (${after.store.size} bytes)`);

    // The library function says the same as the command.
    const lib = await machineInfo({ store });
    assert.deepEqual(
      { sandbox: lib.sandbox.chosen, xattrs: lib.xattrs, store: lib.store },
      { sandbox: after.sandbox.chosen, xattrs: after.xattrs, store: after.store },
    );
  });
});

test('gantry info on a fresh machine PATH: no bubblewrap (unshare + chroot instead), xattrs through tar', async () => {
  await withTempDir(async (tmp) => {
    const store = join(tmp, 'store');
    const info = await infoJson(store, { PATH: await freshPath() });
    const bwrap = info.sandbox.candidates.find((c) => c.name === 'bwrap');
    assert.deepEqual(bwrap, { name: 'bwrap', available: false, reason: 'bwrap not installed (bubblewrap)' });
    const chroot = info.sandbox.candidates.find((c) => c.name === 'chroot');
    assert.equal(info.sandbox.chosen, chroot?.available ? 'chroot' : undefined);
    assert.equal(info.xattrs.method, 'tar');
    assert.match(info.xattrs.reason, /getfattr and setfattr not installed/);

    const text = await gantry(['info'], { store, env: { PATH: await freshPath() } });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^sandbox: +(chroot \(unshare \+ chroot|none available)/m);
    assert.match(text.stdout, /^ {2}bwrap +no +bwrap not installed \(bubblewrap\)$/m);
    assert.match(text.stdout, /^snapshotter: +(overlay|walk) \(/m);
    assert.match(text.stdout, /^xattrs: +tar \(/m);
    assert.match(text.stdout, /^platforms: +native linux\//m);
    assert.ok(text.stdout.includes(`store:        ${store} (not created yet)`), text.stdout);
    assert.match(text.stdout, /^ {2}registries\.toml +\S+registries\.toml/m);
  });
});

test('gantry info refuses an unknown --format with a usage error', async () => {
  const r = await gantry(['info', '--format', 'yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /invalid --format yaml: use text or json/);
});
