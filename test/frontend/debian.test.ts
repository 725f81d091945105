// A Dockerfile on the Debian fixture (debootstrap's bookworm minbase): `apt-get update && apt-get
// install` against the mirror this machine's apt uses (the one debootstrap used), then the
// installed program runs in a later RUN, and its files are in the image.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { debianImage, debianMirror } from '../harness/debian.js';
import { seedLayerCache, withImageRoot } from '../harness/image-root.js';
import { buildJson, gantry, rawConfig, withTempDir, writeTree } from './helpers.js';

test('RUN apt-get install on the Debian fixture, then the installed binary runs in a later step', {
  timeout: 300_000,
}, async () => {
  const fixture = await debianImage();
  const mirror = await debianMirror();
  await withTempDir(async (tmp) => {
    // The fixture's layer is extracted once per machine (the Debian fixture test pins extracting it).
    const store = await seedLayerCache(join(tmp, 'store'), fixture.layoutDir, fixture.tag);
    const loaded = await gantry(['load', fixture.layoutDir, '-t', 'debian:fixture'], { store });
    assert.equal(loaded.code, 0, loaded.stderr);
    const context = join(tmp, 'context');
    await writeTree(context, {
      // The fixture's sources.list points at the mirror; it is written again so the test does
      // not depend on that detail of the fixture.
      Dockerfile: `FROM debian:fixture
ENV DEBIAN_FRONTEND=noninteractive
RUN echo "deb ${mirror} bookworm main" > /etc/apt/sources.list \\
 && apt-get update \\
 && apt-get install -y --no-install-recommends hello \\
 && rm -rf /var/lib/apt/lists/*
RUN hello > /greeting.txt && hello --version | head -n 1 > /version.txt
CMD ["hello"]
`,
    });
    const r = await buildJson(['-t', 'hello:1', context], { store });
    assert.equal(r.code, 0, r.stderr);
    // Read from the store (the base's layers are already extracted there by the RUN steps), not
    // from a ~150 MB -o type=local copy of the image.
    await withImageRoot(store, 'hello:1', async (out) => {
      assert.equal(await readFile(join(out, 'greeting.txt'), 'utf8'), 'Hello, world!\n');
      assert.match(await readFile(join(out, 'version.txt'), 'utf8'), /^hello \(GNU Hello\)/);
      assert.ok((await stat(join(out, 'usr', 'bin', 'hello'))).mode & 0o111);
      // dpkg recorded the package; apt's lists were removed in the same step, so not in any layer.
      assert.match(await readFile(join(out, 'var', 'lib', 'dpkg', 'status'), 'utf8'), /^Package: hello$/m);
      const lists = await readdir(join(out, 'var', 'lib', 'apt', 'lists')).catch(() => [] as string[]);
      assert.deepEqual(
        lists.filter((f) => f.includes('Packages')),
        [],
      );
    });
    const cfg = await rawConfig(store, 'hello:1');
    assert.deepEqual(cfg.config.Cmd, ['hello']);
    assert.equal(cfg.rootfs.diff_ids.length, 3, 'the base layer and one layer per RUN');
    const install = r.steps.find((s) => s.name.includes('apt-get install'));
    assert.ok(
      install?.logs.some((l) => /Setting up hello/.test(l)),
      'apt-get ran and its output was streamed',
    );
  });
});
