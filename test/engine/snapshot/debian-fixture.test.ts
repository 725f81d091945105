// Pins the Debian fixture (test/harness/debian.ts) the build tests stand on: debootstrap's
// bookworm minbase as one layer with apt-get in it, no device nodes or host files, a layout
// skopeo reads; and that it works as a lower: cached by diffID, mounted, apt-get runs in a chroot
// of it, and a step's changes commit as a small layer. The first run builds it (~30 s).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { LayerCache, OverlaySnapshotter, overlayAvailable } from '../../../src/engine/snapshot/index.js';
import { readTar } from '../../../src/layer/tar/reader.js';
import type { TarEntry } from '../../../src/layer/tar/types.js';
import type { Image } from '../../../src/oci/image.js';
import { OciLayout } from '../../../src/oci/layout.js';
import { type DebianImage, debianImage, debianMirror } from '../../harness/debian.js';
import { run } from '../../harness/run.js';
import { entriesOf, tempDir } from './helpers.js';

describe('Debian fixture', () => {
  let fixture: DebianImage;
  let image: Image;
  before(async () => {
    fixture = await debianImage();
    const layout = await OciLayout.open(fixture.layoutDir);
    const [top] = (await layout.readIndex()).manifests;
    assert.ok(top);
    image = await layout.image(top);
  });

  test('is one layer with apt-get, and none of what debootstrap leaves behind', async () => {
    assert.equal(fixture.tag, 'debian');
    const layers = await image.layers();
    assert.equal(layers.length, 1);
    const entries = new Map<string, TarEntry>();
    let sourcesList = '';
    for await (const { entry, body } of readTar(await (layers[0] as (typeof layers)[0]).uncompressed())) {
      entries.set(entry.path, entry);
      if (entry.path === 'etc/apt/sources.list') {
        for await (const chunk of body) sourcesList += (chunk as Buffer).toString('utf8');
      }
    }
    const aptGet = entries.get('usr/bin/apt-get');
    assert.equal(aptGet?.type, 'file');
    assert.equal(aptGet?.mode, 0o755);
    assert.equal(entries.get('tmp')?.mode, 0o1777);
    assert.equal(entries.get('dev')?.type, 'directory');
    for (const p of entries.keys()) {
      assert.ok(!/^(dev|proc|sys)\/./.test(p), `${p} is not image content`);
      assert.ok(!/\.deb$/.test(p), `${p}: downloaded packages are dropped`);
    }
    for (const p of ['etc/resolv.conf', 'etc/hostname', 'var/log/bootstrap.log']) assert.ok(!entries.has(p), p);
    assert.equal(entries.get('var/lib/apt/lists')?.type, 'directory');
    assert.match(
      sourcesList,
      new RegExp(`^deb ${(await debianMirror()).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} bookworm main`, 'm'),
    );
    const config = await image.configFile();
    assert.deepEqual(config.config?.Cmd, ['bash']);
    assert.ok(config.config?.Env?.some((e) => e.startsWith('PATH=/usr/local/sbin:')));
    assert.equal(`${config.os}/${config.architecture}`, fixture.platform);
  });

  test('skopeo reads the layout under the tag debian', async () => {
    const raw = await run('skopeo', ['inspect', '--raw', `oci:${fixture.layoutDir}:debian`]);
    assert.equal(JSON.parse(raw.stdout).layers.length, 1);
  });

  test('works as a lower: apt-get runs in it and a step commits only what it changed', async (t) => {
    if (!(await overlayAvailable())) return t.skip('overlayfs cannot be mounted here');
    const scratch = await tempDir(t);
    const [layer] = await image.layers();
    assert.ok(layer);
    const lower = await new LayerCache(join(scratch, 'cache')).ensureExtracted(layer);
    const snap = await new OverlaySnapshotter({ dir: scratch }).prepare([lower]);
    try {
      const version = await run('chroot', [snap.root, '/usr/bin/apt-get', '--version']);
      assert.match(version.stdout, /^apt \d/);
      await run('chroot', [snap.root, '/bin/sh', '-c', 'echo hi > /root/note && rm /etc/motd && useradd -M app']);
      const changed = (await entriesOf(snap.commit())).map((e) => e.path);
      for (const p of ['etc/.wh.motd', 'etc/passwd', 'etc/group', 'etc/shadow', 'root', 'root/note']) {
        assert.ok(changed.includes(p), `${p} in ${changed.join(' ')}`);
      }
      assert.ok(changed.length < 30, `a small layer: ${changed.join(' ')}`);
    } finally {
      await snap.release();
    }
  });
});
